import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router';
import { isAdmin, restore } from './api';

// `nav` is the catalogue key of the sidebar entry; `admin` marks operator pages.
export const adminPages: { path: string; name: string; nav: string; component: () => Promise<unknown> }[] = [
  { path: '/dashboard', name: 'dashboard', nav: 'nav.dashboard', component: () => import('./views/DashboardView.vue') },
  { path: '/health', name: 'health', nav: 'nav.health', component: () => import('./views/HealthView.vue') },
  { path: '/channels', name: 'channels', nav: 'nav.channels', component: () => import('./views/ChannelsView.vue') },
  { path: '/models', name: 'models', nav: 'nav.models', component: () => import('./views/ModelsView.vue') },
  { path: '/users', name: 'users', nav: 'nav.users', component: () => import('./views/UsersView.vue') },
  { path: '/tiers', name: 'tiers', nav: 'nav.tiers', component: () => import('./views/TiersView.vue') },
  { path: '/keys', name: 'keys', nav: 'nav.keys', component: () => import('./views/KeysView.vue') },
  { path: '/redemption', name: 'redemption', nav: 'nav.redemption', component: () => import('./views/RedemptionView.vue') },
  { path: '/invitations', name: 'invitations', nav: 'nav.invitations', component: () => import('./views/InvitationsView.vue') },
  { path: '/ledger', name: 'ledger', nav: 'nav.ledger', component: () => import('./views/LedgerView.vue') },
  { path: '/logs', name: 'logs', nav: 'nav.logs', component: () => import('./views/LogsView.vue') },
  { path: '/pipelines', name: 'pipelines', nav: 'nav.pipelines', component: () => import('./views/PipelinesView.vue') },
  { path: '/plugins', name: 'plugins', nav: 'nav.plugins', component: () => import('./views/PluginsView.vue') },
  { path: '/playground', name: 'playground', nav: 'nav.playground', component: () => import('./views/PlaygroundView.vue') },
];

const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/dashboard' },
  { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true } },
  { path: '/me', name: 'self', component: () => import('./views/SelfView.vue'), meta: { self: true } },
  ...adminPages.map((p) => ({ path: p.path, name: p.name, component: p.component as any, meta: { admin: true } })),
  { path: '/:rest(.*)*', redirect: '/dashboard' },
];

export const router = createRouter({ history: createWebHistory('/admin/'), routes });

router.beforeEach(async (to) => {
  if (to.meta.public) return true;
  const me = await restore();
  if (!me) return { name: 'login', query: to.fullPath !== '/dashboard' ? { next: to.fullPath } : {} };
  if (to.meta.admin && !isAdmin(me)) return { name: 'self' };
  return true;
});
