// The chain editor's model: a chain document (schemas/chain.schema.json) as an editable stack
// of blocks — pre blocks, the model (routing), post blocks — and back. Plain TypeScript, no Vue,
// so the round trip and every stack operation are unit-tested.

export type Section = 'pre' | 'post';

export interface StageJson {
  plugin: string;
  config?: Record<string, unknown>;
  on_error?: 'continue' | 'fail';
  deadline_ms?: number;
  [other: string]: unknown;
}

export interface ChainJson {
  id: string;
  description?: string;
  priority?: number;
  tiers: string[];
  models: string[];
  routing: { mode: 'passthrough' | 'managed'; model?: string; [other: string]: unknown };
  pre?: StageJson[];
  post?: StageJson[];
  [other: string]: unknown;
}

export interface Block {
  /** Stable identity inside the editor (drag and drop, list keys); never saved. */
  uid: string;
  plugin: string;
  /** undefined: the stage has no "config" key. */
  config?: Record<string, unknown>;
  on_error?: 'continue' | 'fail';
  deadline_ms?: number;
  /** Keys of the stage this editor does not know, kept as they were. */
  extra: Record<string, unknown>;
}

export interface EditorModel {
  id: string;
  description?: string;
  priority?: number;
  tiers: string[];
  models: string[];
  routing: { mode: 'passthrough' | 'managed'; model?: string; extra: Record<string, unknown> };
  pre: Block[];
  post: Block[];
  /** Whether the document had "pre" / "post" at all (so an absent list stays absent). */
  had: { pre: boolean; post: boolean };
  extra: Record<string, unknown>;
}

/** A plugin as GET /plugins lists it. */
export interface PluginInfo {
  name: string;
  kind: string;
  version?: string;
  description?: string;
  origin?: string;
  config_schema?: Record<string, unknown> | null;
  /** Where the plugin may stand ("pre", "post", "model"), as GET /plugins says. */
  stages?: string[];
  /** Older name of the same idea. */
  hooks?: string[];
}

let counter = 0;
export function newUid(): string {
  counter += 1;
  return `b${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

const STAGE_KEYS = new Set(['plugin', 'config', 'on_error', 'deadline_ms']);
const CHAIN_KEYS = new Set(['id', 'description', 'priority', 'tiers', 'models', 'routing', 'pre', 'post']);

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function pickExtra(obj: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!known.has(k)) extra[k] = clone(v);
  return extra;
}

export function blockFromStage(stage: StageJson): Block {
  const block: Block = { uid: newUid(), plugin: stage.plugin, extra: pickExtra(stage, STAGE_KEYS) };
  if ('config' in stage) block.config = clone(stage.config);
  if ('on_error' in stage) block.on_error = stage.on_error;
  if ('deadline_ms' in stage) block.deadline_ms = stage.deadline_ms;
  return block;
}

export function stageFromBlock(block: Block): StageJson {
  const stage: StageJson = { plugin: block.plugin };
  if (block.config !== undefined) stage.config = clone(block.config);
  if (block.on_error !== undefined) stage.on_error = block.on_error;
  if (block.deadline_ms !== undefined) stage.deadline_ms = block.deadline_ms;
  Object.assign(stage, clone(block.extra));
  return stage;
}

export function fromChain(chain: ChainJson): EditorModel {
  const routing = chain.routing ?? { mode: 'passthrough' };
  const model: EditorModel = {
    id: chain.id,
    tiers: [...(chain.tiers ?? [])],
    models: [...(chain.models ?? [])],
    routing: { mode: routing.mode, extra: pickExtra(routing, new Set(['mode', 'model'])) },
    pre: (chain.pre ?? []).map(blockFromStage),
    post: (chain.post ?? []).map(blockFromStage),
    had: { pre: 'pre' in chain, post: 'post' in chain },
    extra: pickExtra(chain, CHAIN_KEYS),
  };
  if ('model' in routing) model.routing.model = routing.model;
  if ('description' in chain) model.description = chain.description;
  if ('priority' in chain) model.priority = chain.priority;
  return model;
}

export function toChain(model: EditorModel): ChainJson {
  const routing: ChainJson['routing'] = { mode: model.routing.mode };
  if (model.routing.model !== undefined && model.routing.model !== '') routing.model = model.routing.model;
  Object.assign(routing, clone(model.routing.extra));
  const chain: ChainJson = { id: model.id, tiers: [...model.tiers], models: [...model.models], routing };
  if (model.description !== undefined) chain.description = model.description;
  if (model.priority !== undefined) chain.priority = model.priority;
  if (model.had.pre || model.pre.length > 0) chain.pre = model.pre.map(stageFromBlock);
  if (model.had.post || model.post.length > 0) chain.post = model.post.map(stageFromBlock);
  Object.assign(chain, clone(model.extra));
  return chain;
}

export function emptyModel(id = ''): EditorModel {
  return fromChain({ id, tiers: ['*'], models: ['*'], routing: { mode: 'passthrough' }, pre: [], post: [] });
}

/** Which sections a plugin may be placed in. Strategies implement both hooks by default. */
export function sectionsFor(plugin: PluginInfo | undefined): Section[] {
  if (!plugin) return ['pre', 'post'];
  const places = plugin.stages ?? plugin.hooks;
  if (places && places.length) return (['pre', 'post'] as Section[]).filter((s) => places.includes(s));
  switch (plugin.kind) {
    case 'pre':
      return ['pre'];
    case 'post':
      return ['post'];
    case 'model':
    case 'adapter':
      return [];
    default:
      return ['pre', 'post'];
  }
}

/** The plugins that can be dragged into a chain (not model adapters). */
export function paletteOf(plugins: PluginInfo[]): PluginInfo[] {
  return plugins.filter((p) => sectionsFor(p).length > 0).sort((a, b) => a.name.localeCompare(b.name));
}

/** A default config for a new block: the schema's defaults for its properties, else {}. */
export function defaultConfig(schema: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const props = (schema?.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [k, s] of Object.entries(props)) if ('default' in s) out[k] = clone(s.default);
  return out;
}

export function insertBlock(model: EditorModel, section: Section, index: number, plugin: PluginInfo | string): Block {
  const info = typeof plugin === 'string' ? undefined : plugin;
  const name = typeof plugin === 'string' ? plugin : plugin.name;
  const block: Block = { uid: newUid(), plugin: name, config: defaultConfig(info?.config_schema), extra: {} };
  const list = model[section];
  const at = Math.max(0, Math.min(index, list.length));
  list.splice(at, 0, block);
  return block;
}

export function removeBlock(model: EditorModel, section: Section, index: number): Block | undefined {
  return model[section].splice(index, 1)[0];
}

/** Moves a block within or between sections; `to.index` counts in the list after removal. */
export function moveBlock(
  model: EditorModel,
  from: { section: Section; index: number },
  to: { section: Section; index: number },
): boolean {
  const src = model[from.section];
  if (from.index < 0 || from.index >= src.length) return false;
  const [block] = src.splice(from.index, 1);
  const dst = model[to.section];
  const at = Math.max(0, Math.min(to.index, dst.length));
  dst.splice(at, 0, block);
  return true;
}

export function findBlock(model: EditorModel, uid: string): { section: Section; index: number } | null {
  for (const section of ['pre', 'post'] as Section[]) {
    const index = model[section].findIndex((b) => b.uid === uid);
    if (index >= 0) return { section, index };
  }
  return null;
}

/** Splits "a, b\nc" into ["a","b","c"] (pattern and tier pickers' free text). */
export function splitList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
