// Templates hold no raw visible text: every text node and every user-visible attribute
// (placeholder, title, label, aria-label, alt) must come from the catalogues ($t / t()).
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'vue/compiler-sfc';

// symbols allowed as literal text (no words)
const ALLOWED = /^[\s·×→←↑↓…:：/|+\-–—#%()（）\[\]*.,]*$/;
const VISIBLE_ATTRS = new Set(['placeholder', 'title', 'label', 'aria-label', 'alt', 'value-label', 'summary']);

function vueFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) vueFiles(p, out);
    else if (e.name.endsWith('.vue')) out.push(p);
  }
  return out;
}

export function rawTexts(source: string): string[] {
  const { descriptor } = parse(source);
  const found: string[] = [];
  const visit = (node: any) => {
    if (!node) return;
    if (node.type === 2 /* TEXT */ && !ALLOWED.test(node.content)) found.push(`text "${node.content.trim()}"`);
    if (node.type === 1 /* ELEMENT */) {
      for (const p of node.props ?? []) {
        if (p.type === 6 /* static ATTRIBUTE */ && VISIBLE_ATTRS.has(p.name) && p.value && !ALLOWED.test(p.value.content))
          found.push(`${p.name}="${p.value.content}"`);
      }
    }
    for (const c of node.children ?? []) visit(c);
    for (const b of node.branches ?? []) visit(b);
  };
  visit(descriptor.template?.ast);
  return found;
}

describe('templates hold no raw text', () => {
  const files = vueFiles(path.resolve(__dirname, '../src'));
  it('finds the templates', () => {
    expect(files.length).toBeGreaterThan(10);
  });
  for (const f of files) {
    it(path.basename(f), () => {
      expect(rawTexts(fs.readFileSync(f, 'utf8'))).toEqual([]);
    });
  }
  it('the scanner catches raw text and raw visible attributes', () => {
    expect(rawTexts('<template><div>Hello</div><input placeholder="Name" /><b>{{ t("x") }}</b><i>→</i></template>')).toEqual([
      'text "Hello"',
      'placeholder="Name"',
    ]);
  });
});
