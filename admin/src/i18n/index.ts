import { createI18n } from 'vue-i18n';
import en from './en.json';
import zh from './zh-CN.json';

export type Locale = 'zh-CN' | 'en';
export const LOCALES: Locale[] = ['zh-CN', 'en'];

export function pickLocale(saved: string | null, languages: readonly string[]): Locale {
  if (saved === 'zh-CN' || saved === 'en') return saved;
  for (const lang of languages) {
    const l = lang.toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
  }
  return 'en';
}

const initial = pickLocale(
  localStorage.getItem('tianshu.locale'),
  navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language],
);

export const i18n = createI18n({
  legacy: false,
  globalInjection: true,
  locale: initial,
  fallbackLocale: 'en',
  messages: { en, 'zh-CN': zh },
});

export function setLocale(locale: Locale): void {
  (i18n.global.locale as unknown as { value: string }).value = locale;
  localStorage.setItem('tianshu.locale', locale);
  document.documentElement.lang = locale;
}
document.documentElement.lang = initial;
