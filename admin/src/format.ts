// Number, money and time formatting in the panel's current language.
import { i18n } from './i18n';
import { formatMoney } from './money';

function loc(): string {
  return (i18n.global.locale as unknown as { value: string }).value;
}
export function num(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '0';
  return new Intl.NumberFormat(loc(), { maximumFractionDigits: 2 }).format(n);
}
export function compact(n: number | null | undefined): string {
  if (!n) return '0';
  return new Intl.NumberFormat(loc(), { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}
export function money(s: string | number | null | undefined): string {
  return formatMoney(s, loc());
}
export function pct(x: number | null | undefined): string {
  return new Intl.NumberFormat(loc(), { style: 'percent', maximumFractionDigits: 2 }).format(x ?? 0);
}
export function time(sec: number | null | undefined): string {
  if (!sec) return '';
  return new Date(sec * 1000).toLocaleString(loc());
}
export function timeMs(ms: number | null | undefined): string {
  if (!ms) return '';
  return new Date(ms).toLocaleString(loc());
}
