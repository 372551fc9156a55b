import { describe, expect, it } from 'vitest';
import { byPath, fieldsFor, formatInput, parseInput, validate } from '../src/editor/schemaForm';
import en from '../src/i18n/en.json';
import zh from '../src/i18n/zh-CN.json';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['match', 'answer'],
  properties: {
    match: { type: 'string', minLength: 1, description: 'substring of the last user message' },
    answer: { type: 'string', maxLength: 5 },
    position: { enum: ['start', 'end'] },
    retries: { type: 'integer', minimum: 0, maximum: 5 },
    ratio: { type: 'number', exclusiveMinimum: 0 },
    enabled: { type: 'boolean' },
    models: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true },
    thinking: { type: 'object', additionalProperties: { enum: ['anthropic', 'none'] } },
    nested: { type: 'object', properties: { depth: { type: 'integer', maximum: 3 } } },
    code: { type: 'string', pattern: '^[a-z]+$', errorMessage: 'lower-case letters only' },
  },
};

function keys(value: unknown) {
  return validate(schema, value).map((p) => `${p.path} ${p.key}`);
}

describe('schema-form validation', () => {
  it('accepts a valid config', () => {
    expect(validate(schema, { match: 'ping', answer: 'pong', position: 'end', retries: 2, models: ['a'], thinking: { 'x-*': 'none' }, nested: { depth: 1 } })).toEqual([]);
  });
  it('required', () => {
    expect(keys({})).toEqual(['match validation.required', 'answer validation.required']);
  });
  it('type', () => {
    expect(keys({ match: 3, answer: 'a', retries: 1.5, enabled: 'yes' })).toEqual([
      'match validation.type',
      'retries validation.type',
      'enabled validation.type',
    ]);
  });
  it('enum, also inside additionalProperties', () => {
    expect(keys({ match: 'a', answer: 'b', position: 'middle', thinking: { m: 'other' } })).toEqual([
      'position validation.enum',
      'thinking.m validation.enum',
    ]);
    const p = validate(schema, { match: 'a', answer: 'b', position: 'middle' })[0];
    expect(p.params).toEqual({ values: '"start", "end"' });
  });
  it('minimum, maximum, exclusiveMinimum, lengths, items, pattern, unknown keys', () => {
    expect(keys({ match: '', answer: 'toolong', retries: -1, ratio: 0, models: [], code: 'ABC', extra: 1, nested: { depth: 9 } })).toEqual([
      'match validation.empty',
      'answer validation.maxLength',
      'retries validation.minimum',
      'ratio validation.exclusiveMinimum',
      'models validation.minItems',
      'code validation.pattern',
      'extra validation.additional',
      'nested.depth validation.maximum',
    ]);
    expect(keys({ match: 'a', answer: 'b', retries: 6, models: ['a', 'a'] })).toEqual(['retries validation.maximum', 'models validation.uniqueItems']);
  });
  it("keeps the schema's own message", () => {
    const p = validate(schema, { match: 'a', answer: 'b', code: 'X' });
    expect(p[0].schemaMessage).toBe('lower-case letters only');
  });
  it('every message key exists in both catalogues with the parameters it is given', () => {
    const all = [
      ...validate(schema, {}),
      ...validate(schema, { match: 3, answer: 'toolong', position: 'x', retries: 9, ratio: -1, models: [], code: 'A', extra: 1 }),
      ...validate(schema, { match: '', answer: 'a', retries: -1, models: ['a', 'a'] }),
    ];
    for (const p of all) {
      for (const cat of [en, zh] as Record<string, any>[]) {
        const msg = p.key.split('.').reduce((o, k) => o?.[k], cat);
        expect(typeof msg, p.key).toBe('string');
        const wanted = [...(msg as string).matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        expect(wanted, p.key).toEqual(Object.keys(p.params).sort());
      }
    }
  });
  it('groups problems by path for inline display', () => {
    const g = byPath(validate(schema, { match: '', answer: 'toolong' }));
    expect(Object.keys(g).sort()).toEqual(['answer', 'match']);
  });
});

describe('generated fields', () => {
  it('one field per property with the right input', () => {
    const f = fieldsFor(schema)!;
    const kinds = Object.fromEntries(f.map((x) => [x.key, x.kind]));
    expect(kinds).toEqual({
      match: 'string',
      answer: 'string',
      position: 'enum',
      retries: 'integer',
      ratio: 'number',
      enabled: 'boolean',
      models: 'list',
      thinking: 'json',
      nested: 'object',
      code: 'string',
    });
    expect(f.find((x) => x.key === 'match')!.required).toBe(true);
    expect(f.find((x) => x.key === 'position')!.options).toEqual(['start', 'end']);
    expect(fieldsFor({ type: 'object' })).toBeNull();
    expect(fieldsFor(null)).toBeNull();
  });
  it('parses and formats inputs', () => {
    const f = Object.fromEntries(fieldsFor(schema)!.map((x) => [x.key, x]));
    expect(parseInput(f.retries, '3')).toBe(3);
    expect(parseInput(f.retries, '')).toBeUndefined();
    expect(parseInput(f.models, 'a\n b \n\n')).toEqual(['a', 'b']);
    expect(parseInput(f.thinking, '{"a":"none"}')).toEqual({ a: 'none' });
    expect(parseInput(f.thinking, '{bad')).toBe('{bad');
    expect(parseInput(f.code, '')).toBeUndefined();
    expect(parseInput(f.match, '')).toBe('');
    expect(formatInput(f.models, ['a', 'b'])).toBe('a\nb');
    expect(formatInput(f.thinking, { a: 1 })).toBe('{\n  "a": 1\n}');
  });
});
