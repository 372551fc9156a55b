import { describe, expect, it } from 'vitest';
import { formatMoney } from '../src/money';

describe('formatMoney', () => {
  it('keeps a charge under a cent visible down to the micro', () => {
    expect(formatMoney('-0.000012', 'en')).toBe('-0.000012');
    expect(formatMoney('0.0042', 'en')).toBe('0.0042');
  });
  it('shows at least two and at most four decimals otherwise', () => {
    expect(formatMoney('12.5', 'en')).toBe('12.50');
    expect(formatMoney('1234.567891', 'en')).toBe('1,234.5679');
    expect(formatMoney(0, 'zh-CN')).toBe('0.00');
  });
  it('passes text that is not a number through unchanged', () => {
    expect(formatMoney('n/a', 'en')).toBe('n/a');
  });
});
