import { describe, expect, it } from 'vitest';
import { hasChanges, jsonDiff, lineDiff, stableStringify } from '../src/editor/diff';

describe('version diff', () => {
  it('orders keys so only real changes show', () => {
    expect(stableStringify({ b: 1, a: { d: 1, c: 2 } })).toBe(stableStringify({ a: { c: 2, d: 1 }, b: 1 }));
    expect(hasChanges(jsonDiff({ b: 1, a: 2 }, { a: 2, b: 1 }))).toBe(false);
  });
  it('marks added and removed lines', () => {
    const d = lineDiff('a\nb\nc', 'a\nc\nd');
    expect(d).toEqual([
      { op: ' ', text: 'a' },
      { op: '-', text: 'b' },
      { op: ' ', text: 'c' },
      { op: '+', text: 'd' },
    ]);
  });
  it('a block added to a chain is one + line group', () => {
    const before = { id: 'c', pre: [{ plugin: 'a' }] };
    const after = { id: 'c', pre: [{ plugin: 'a' }, { plugin: 'b' }] };
    const changed = jsonDiff(before, after).filter((l) => l.op !== ' ');
    expect(changed.every((l) => l.op === '+')).toBe(true);
    expect(changed.map((l) => l.text.trim()).join('')).toContain('"plugin": "b"');
  });
});
