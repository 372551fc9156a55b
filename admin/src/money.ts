// Money as the hub keeps it (micros), formatted for one locale: at least 2 decimals, up to 4,
// and down to the micro for amounts under a cent, so a small charge never reads "-0.00".
export function formatMoney(s: string | number | null | undefined, locale: string): string {
  const n = typeof s === 'string' ? Number(s) : s ?? 0;
  if (!Number.isFinite(n)) return String(s ?? '');
  const tiny = n !== 0 && Math.abs(n) < 0.01;
  return new Intl.NumberFormat(locale, {
    minimumFractionDigits: 2,
    maximumFractionDigits: tiny ? 6 : 4,
  }).format(n);
}
