// Forms generated from a JSON Schema (a block's or an adapter's config schema), and the
// validation the form shows inline. The messages are catalogue keys with parameters, so they
// are translated; the schema's own words (description, title, errorMessage) are shown as given.

export type Schema = Record<string, any>;

export type FieldKind = 'string' | 'text' | 'number' | 'integer' | 'boolean' | 'enum' | 'list' | 'object' | 'json';

export interface Field {
  key: string;
  kind: FieldKind;
  label: string;
  description?: string;
  required: boolean;
  schema: Schema;
  options?: unknown[];
  /** For kind 'object': the nested fields. */
  fields?: Field[];
}

export interface Problem {
  /** JSON path of the value, e.g. "config.match" or "thinking[2]"; "" for the root. */
  path: string;
  /** Catalogue key under "validation.", e.g. "validation.required". */
  key: string;
  params: Record<string, string | number>;
  /** The schema's own message (errorMessage / description) when it has one. */
  schemaMessage?: string;
}

function typeOf(schema: Schema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t: string) => t !== 'null');
  if (schema.type) return schema.type;
  if (schema.enum) return 'enum';
  if (schema.properties) return 'object';
  return undefined;
}

/** The form's fields for an object schema; null when the schema has no properties to show. */
export function fieldsFor(schema: Schema | null | undefined): Field[] | null {
  if (!schema || typeof schema !== 'object') return null;
  const props = schema.properties as Record<string, Schema> | undefined;
  if (!props || Object.keys(props).length === 0) return null;
  const required = new Set<string>(Array.isArray(schema.required) ? schema.required : []);
  return Object.entries(props).map(([key, s]) => fieldFor(key, s, required.has(key)));
}

function fieldFor(key: string, s: Schema, required: boolean): Field {
  const base = { key, label: s.title ?? key, description: s.description, required, schema: s };
  if (Array.isArray(s.enum)) return { ...base, kind: 'enum', options: s.enum };
  const t = typeOf(s);
  switch (t) {
    case 'string':
      return { ...base, kind: (s.maxLength ?? 0) > 200 || s.format === 'textarea' ? 'text' : 'string' };
    case 'integer':
      return { ...base, kind: 'integer' };
    case 'number':
      return { ...base, kind: 'number' };
    case 'boolean':
      return { ...base, kind: 'boolean' };
    case 'array': {
      const items = (s.items ?? {}) as Schema;
      if (typeOf(items) === 'string' && !items.enum) return { ...base, kind: 'list' };
      return { ...base, kind: 'json' };
    }
    case 'object': {
      const nested = fieldsFor(s);
      if (nested && !s.additionalProperties) return { ...base, kind: 'object', fields: nested };
      return { ...base, kind: 'json' };
    }
    default:
      return { ...base, kind: 'json' };
  }
}

function isInteger(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v);
}

function matchesType(t: string, v: unknown): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'null':
      return v === null;
    default:
      return true;
  }
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function schemaMessage(s: Schema): string | undefined {
  if (typeof s.errorMessage === 'string') return s.errorMessage;
  return undefined;
}

/** Resolves a local "#/definitions/x" reference. */
function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith('#/')) return undefined;
  let node: any = root;
  for (const part of ref.slice(2).split('/')) node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node && typeof node === 'object' ? node : undefined;
}

/** Validates a value against the subset of JSON Schema (draft 7) that plugin configs use. */
export function validate(schema: Schema | null | undefined, value: unknown, path = '', root?: Schema): Problem[] {
  const out: Problem[] = [];
  if (!schema || typeof schema !== 'object') return out;
  root ??= schema;
  if (typeof schema.$ref === 'string') {
    const target = resolveRef(root, schema.$ref);
    return target ? validate(target, value, path, root) : out;
  }
  const push = (key: string, params: Record<string, string | number> = {}) =>
    out.push({ path, key: `validation.${key}`, params, schemaMessage: schemaMessage(schema) });

  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    push('const', { value: JSON.stringify(schema.const) });
    return out;
  }
  if (Array.isArray(schema.enum)) {
    if (!schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) {
      push('enum', { values: schema.enum.map((e: unknown) => JSON.stringify(e)).join(', ') });
      return out;
    }
  }
  const types: string[] = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length && !types.some((t) => matchesType(t, value))) {
    push('type', { type: types.join(' | ') });
    return out;
  }

  if (typeof value === 'string') {
    const len = [...value].length;
    if (typeof schema.minLength === 'number' && len < schema.minLength) {
      if (schema.minLength === 1) push('empty');
      else push('minLength', { min: schema.minLength });
    }
    if (typeof schema.maxLength === 'number' && len > schema.maxLength) push('maxLength', { max: schema.maxLength });
    if (typeof schema.pattern === 'string') {
      let re: RegExp | null = null;
      try {
        re = new RegExp(schema.pattern, 'u');
      } catch {
        re = null;
      }
      if (re && !re.test(value)) push('pattern', { pattern: schema.pattern });
    }
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) push('minimum', { min: schema.minimum });
    if (typeof schema.maximum === 'number' && value > schema.maximum) push('maximum', { max: schema.maximum });
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum)
      push('exclusiveMinimum', { min: schema.exclusiveMinimum });
    if (typeof schema.exclusiveMaximum === 'number' && value >= schema.exclusiveMaximum)
      push('exclusiveMaximum', { max: schema.exclusiveMaximum });
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) push('minItems', { min: schema.minItems });
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) push('maxItems', { max: schema.maxItems });
    if (schema.uniqueItems) {
      const seen = new Set(value.map((v) => JSON.stringify(v)));
      if (seen.size !== value.length) push('uniqueItems');
    }
    if (schema.items && typeof schema.items === 'object' && !Array.isArray(schema.items)) {
      value.forEach((item, i) => out.push(...validate(schema.items, item, join(path, i), root)));
    }
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of Array.isArray(schema.required) ? schema.required : []) {
      if (!(key in obj) || obj[key] === undefined) {
        const sub = props[key] ?? {};
        out.push({ path: join(path, key), key: 'validation.required', params: { field: key }, schemaMessage: schemaMessage(sub) });
      }
    }
    for (const [key, v] of Object.entries(obj)) {
      if (v === undefined) continue;
      if (key in props) {
        out.push(...validate(props[key], v, join(path, key), root));
      } else if (schema.additionalProperties === false) {
        out.push({ path: join(path, key), key: 'validation.additional', params: { field: key } });
      } else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        out.push(...validate(schema.additionalProperties, v, join(path, key), root));
      }
    }
    if (typeof schema.minProperties === 'number' && Object.keys(obj).length < schema.minProperties)
      push('minProperties', { min: schema.minProperties });
  }
  return out;
}

/** Problems grouped by path, for showing each under its field. */
export function byPath(problems: Problem[]): Record<string, Problem[]> {
  const out: Record<string, Problem[]> = {};
  for (const p of problems) (out[p.path] ??= []).push(p);
  return out;
}

/**
 * Turns a form input's text into the value the schema expects. Returns `undefined` for an empty
 * optional input (the key is then left out), and the raw text when it cannot be converted (so
 * validation reports the type problem instead of losing the input).
 */
export function parseInput(field: Field, text: string): unknown {
  switch (field.kind) {
    case 'integer':
    case 'number': {
      if (text.trim() === '') return undefined;
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    case 'list':
      return text
        .split('\n')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'json': {
      if (text.trim() === '') return undefined;
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    }
    case 'string':
    case 'text':
      return text === '' && !field.required ? undefined : text;
    default:
      return text;
  }
}

/** The text a form input shows for a value. */
export function formatInput(field: Field, value: unknown): string {
  if (value === undefined || value === null) return '';
  switch (field.kind) {
    case 'list':
      return Array.isArray(value) ? value.join('\n') : String(value);
    case 'json':
      return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    default:
      return String(value);
  }
}
