import { describe, expect, it } from 'vitest';
import en from '../src/i18n/en.json';
import zh from '../src/i18n/zh-CN.json';

function flatten(o: Record<string, unknown>, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object') flatten(v as Record<string, unknown>, key, out);
    else out[key] = String(v);
  }
  return out;
}
const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('message catalogues', () => {
  const e = flatten(en);
  const z = flatten(zh);
  it('zh-CN and en have identical key sets', () => {
    expect(Object.keys(z).sort()).toEqual(Object.keys(e).sort());
  });
  it('every message has the same {placeholders} in both languages', () => {
    for (const k of Object.keys(e)) expect(placeholders(z[k] ?? ''), k).toEqual(placeholders(e[k]));
  });
  it('no message is empty, and none uses vue-i18n syntax by accident (| or @)', () => {
    for (const [k, v] of [...Object.entries(e), ...Object.entries(z)]) {
      expect(v.trim().length, k).toBeGreaterThan(0);
      expect(/[|@]/.test(v), k).toBe(false);
    }
  });
  it('Chinese messages are translated (CJK text wherever English has words)', () => {
    const untranslated = Object.keys(e).filter((k) => /[a-z]{3,}/i.test(e[k].replace(/\{\w+\}/g, '')) && z[k] === e[k]);
    // names that stay the same in both languages
    const same = new Set(['header.zh', 'header.en', 'pipelines.tab.json', 'plugins.lua']);
    expect(untranslated.filter((k) => !same.has(k))).toEqual([]);
  });
});

describe('every key the code uses exists', () => {
  const e = flatten(en);
  const fs = require('node:fs') as typeof import('node:fs');
  const path = require('node:path') as typeof import('node:path');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const x of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, x.name);
      if (x.isDirectory()) walk(p);
      else if (/\.(vue|ts)$/.test(x.name)) files.push(p);
    }
  };
  walk(path.resolve(__dirname, '../src'));
  const used = new Set<string>();
  for (const f of files) {
    const src = fs.readFileSync(f, 'utf8');
    for (const m of src.matchAll(/\bt\('([a-zA-Z0-9_.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/(?:nav|nameKey): '([a-zA-Z0-9_.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/key: 'validation\.' \+ '(\w+)'|push\('(\w+)'/g)) used.add(`validation.${m[1] ?? m[2]}`);
  }
  it('finds the keys', () => {
    expect(used.size).toBeGreaterThan(100);
  });
  it('all of them are in the catalogues', () => {
    expect([...used].filter((k) => !(k in e)).sort()).toEqual([]);
  });
});
