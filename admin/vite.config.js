import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

// The gateway serves the built panel at /admin and its API at /admin/api. In development the
// API is proxied to a running gateway (TIANSHU_GATEWAY, default http://127.0.0.1:18080).
const gateway = process.env.TIANSHU_GATEWAY || 'http://127.0.0.1:18080';

export default defineConfig({
  base: '/admin/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // No inline script anywhere: the CSP is script-src 'self'.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1200,
  },
  server: {
    // the chain editor imports ../schemas/chain.schema.json from the repository
    fs: { allow: ['..'] },
    proxy: { '/admin/api': { target: gateway, changeOrigin: false } },
  },
  preview: {
    proxy: { '/admin/api': { target: gateway, changeOrigin: false } },
  },
  test: {
    environment: 'node',
    include: ['tests/**/*.test.{js,ts}'],
  },
});
