import { ref } from 'vue';

export type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const saved = localStorage.getItem('tianshu.theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export const theme = ref<Theme>(initialTheme());
document.documentElement.dataset.theme = theme.value;

export function setTheme(t: Theme): void {
  theme.value = t;
  localStorage.setItem('tianshu.theme', t);
  document.documentElement.dataset.theme = t;
}
