import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import {
  findBlock,
  fromChain,
  insertBlock,
  moveBlock,
  paletteOf,
  removeBlock,
  sectionsFor,
  toChain,
  emptyModel,
  type ChainJson,
  type PluginInfo,
} from '../src/editor/chainModel';
import { validate } from '../src/editor/schemaForm';
import chainSchema from '../../schemas/chain.schema.json';

const repo = path.resolve(__dirname, '../..');
const SKIP = new Set(['node_modules', 'build', 'dist', '.git', 'e2e-screenshots']);

function walk(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.startsWith('build')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(json|md)$/.test(e.name) && fs.statSync(p).size < 2_000_000) out.push(p);
  }
  return out;
}

function looksLikeChain(v: unknown): v is ChainJson {
  return !!v && typeof v === 'object' && !Array.isArray(v) && 'id' in v && 'tiers' in v && 'models' in v && 'routing' in v;
}

/** Every chain document in the repository: chain JSON files and ```json blocks in the docs. */
function repoChains(): { where: string; chain: ChainJson }[] {
  const found: { where: string; chain: ChainJson }[] = [];
  for (const file of walk(repo)) {
    const text = fs.readFileSync(file, 'utf8');
    const rel = path.relative(repo, file);
    if (file.endsWith('.json')) {
      try {
        const v = JSON.parse(text);
        if (looksLikeChain(v)) found.push({ where: rel, chain: v });
      } catch {
        /* not JSON */
      }
    } else {
      const blocks = text.matchAll(/```json\n([\s\S]*?)```/g);
      let i = 0;
      for (const m of blocks) {
        i++;
        try {
          const v = JSON.parse(m[1]);
          if (looksLikeChain(v)) found.push({ where: `${rel} block ${i}`, chain: v });
        } catch {
          /* an example with an ellipsis */
        }
      }
    }
  }
  return found;
}

const chains = repoChains();

describe('blocks ↔ chain JSON', () => {
  it('finds the chains of the repository (fixtures and docs)', () => {
    expect(chains.length).toBeGreaterThanOrEqual(5);
    expect(chains.some((c) => c.where.includes('README'))).toBe(true);
  });

  for (const { where, chain } of chains) {
    it(`round-trips ${where}`, () => {
      const model = fromChain(chain);
      expect(toChain(model)).toEqual(chain);
      // and once more through JSON text, as the editor saves it
      expect(toChain(fromChain(JSON.parse(JSON.stringify(toChain(model)))))).toEqual(chain);
      expect(model.pre.length).toBe(chain.pre?.length ?? 0);
      expect(model.post.length).toBe(chain.post?.length ?? 0);
    });
  }

  it('keeps keys the editor does not know', () => {
    const chain = { id: 'x', tiers: ['*'], models: ['*'], routing: { mode: 'passthrough', future: 1 }, pre: [{ plugin: 'a', future_key: true }], later: { a: 1 } } as unknown as ChainJson;
    expect(toChain(fromChain(chain))).toEqual(chain);
  });

  it('a new chain is valid against the chain schema', () => {
    expect(validate(chainSchema, toChain(emptyModel('new-one')))).toEqual([]);
  });

  it('reports chain schema problems with their paths', () => {
    const problems = validate(chainSchema, { id: 'Bad Id', tiers: [], models: ['*'], routing: { mode: 'sideways' }, pre: [{}] });
    const paths = problems.map((p) => `${p.path}:${p.key}`);
    expect(paths).toContain('id:validation.pattern');
    expect(paths).toContain('tiers:validation.minItems');
    expect(paths).toContain('routing.mode:validation.enum');
    expect(paths).toContain('pre[0].plugin:validation.required');
  });
});

describe('stack operations', () => {
  const plugins: PluginInfo[] = [
    { name: 'tool_repair', kind: 'strategy', config_schema: { type: 'object', properties: { max: { type: 'integer', default: 3 } } } },
    { name: 'openai_compat', kind: 'model' },
    { name: 'only_pre', kind: 'pre' },
    { name: 'hooks_post', kind: 'strategy', hooks: ['post'] },
  ];

  it('the palette holds blocks, not model adapters', () => {
    expect(paletteOf(plugins).map((p) => p.name)).toEqual(['hooks_post', 'only_pre', 'tool_repair']);
    expect(sectionsFor(plugins[0])).toEqual(['pre', 'post']);
    expect(sectionsFor(plugins[2])).toEqual(['pre']);
    expect(sectionsFor(plugins[3])).toEqual(['post']);
  });

  it('inserts with schema defaults, moves within and across sections, removes', () => {
    const m = emptyModel('ops');
    const a = insertBlock(m, 'pre', 0, plugins[0]);
    expect(a.config).toEqual({ max: 3 });
    insertBlock(m, 'pre', 0, 'only_pre');
    insertBlock(m, 'post', 5, 'hooks_post');
    expect(m.pre.map((b) => b.plugin)).toEqual(['only_pre', 'tool_repair']);
    expect(moveBlock(m, { section: 'pre', index: 1 }, { section: 'pre', index: 0 })).toBe(true);
    expect(m.pre.map((b) => b.plugin)).toEqual(['tool_repair', 'only_pre']);
    moveBlock(m, { section: 'pre', index: 0 }, { section: 'post', index: 1 });
    expect(m.post.map((b) => b.plugin)).toEqual(['hooks_post', 'tool_repair']);
    expect(findBlock(m, a.uid)).toEqual({ section: 'post', index: 1 });
    expect(removeBlock(m, 'post', 0)?.plugin).toBe('hooks_post');
    expect(toChain(m)).toEqual({
      id: 'ops',
      tiers: ['*'],
      models: ['*'],
      routing: { mode: 'passthrough' },
      pre: [{ plugin: 'only_pre', config: {} }],
      post: [{ plugin: 'tool_repair', config: { max: 3 } }],
    });
  });

  it('managed routing saves its model; an empty model is left out', () => {
    const m = emptyModel('r');
    m.routing.mode = 'managed';
    m.routing.model = 'deepseek-chat';
    expect(toChain(m).routing).toEqual({ mode: 'managed', model: 'deepseek-chat' });
    m.routing.model = '';
    expect(toChain(m).routing).toEqual({ mode: 'managed' });
  });
});
