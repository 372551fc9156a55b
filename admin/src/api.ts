// The admin API client. Sessions are the gateway's HttpOnly cookie plus a CSRF token sent on
// every state-changing call (contract: X-CSRF-Token). A gateway that answers login without
// csrf_token (no cookie sessions yet) is used with the Bearer token instead, kept in
// sessionStorage for the tab's life.
import { reactive } from 'vue';
import { SseParser, type SseEvent } from './sse';

export const BASE = '/admin/api';

export interface Me {
  id: number;
  name: string;
  role: 'root' | 'admin' | 'user';
  auth?: string;
  tier?: string;
  balance?: string;
  invite_code?: string | null;
  csrf_token?: string;
}

export class ApiError extends Error {
  status: number;
  type: string;
  retryAfter: number | null;
  /** The whole error answer (e.g. POST /chains/validate's "problems" list). */
  body: any;
  constructor(status: number, type: string, message: string, retryAfter: number | null, body: any = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

export const session = reactive<{ me: Me | null; csrf: string; bearer: string; checked: boolean }>({
  me: null,
  csrf: '',
  bearer: sessionStorage.getItem('tianshu.bearer') ?? '',
  checked: false,
});

function cookie(name: string): string {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

export function isAdmin(me: Me | null): boolean {
  return !!me && (me.role === 'admin' || me.role === 'root');
}

/** The headers of a call: the Bearer token or, on a change, the session's CSRF token. */
function callHeaders(method: string, hasBody: boolean, accept = 'application/json'): Record<string, string> {
  const headers: Record<string, string> = { Accept: accept };
  if (hasBody) headers['Content-Type'] = 'application/json';
  if (session.bearer) headers.Authorization = `Bearer ${session.bearer}`;
  if (method !== 'GET' && method !== 'HEAD') {
    const csrf = session.csrf || cookie('tianshu_csrf');
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  return headers;
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(BASE + path, {
    method,
    headers: callHeaders(method, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  return readAnswer<T>(res);
}

/** A JSON answer, or the ApiError of an error answer. */
async function readAnswer<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const retry = res.headers.get('Retry-After');
    const err = data?.error ?? {};
    throw new ApiError(res.status, err.type ?? 'http', err.message ?? `HTTP ${res.status}`, retry ? Number(retry) : null, data);
  }
  return data as T;
}

/**
 * POST whose answer may be a stream of server-sent events (fetch + ReadableStream: EventSource
 * can neither POST nor send the CSRF header). Each event goes to `onEvent` as it arrives and the
 * promise resolves at the end of the stream with null; an answer that is not a stream (a whole
 * JSON answer) resolves with its JSON, and an error answer rejects with its ApiError.
 */
export async function postStream<T = any>(path: string, body: unknown, onEvent: (ev: SseEvent) => void, signal?: AbortSignal): Promise<T | null> {
  const res = await fetch(BASE + path, {
    method: 'POST',
    headers: callHeaders('POST', true, 'text/event-stream, application/json'),
    body: JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  });
  if (!res.ok || !(res.headers.get('Content-Type') ?? '').includes('text/event-stream') || !res.body) return readAnswer<T>(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    for (const ev of parser.feed(decoder.decode(value, { stream: true }))) onEvent(ev);
  }
  for (const ev of parser.feed(decoder.decode())) onEvent(ev);
  for (const ev of parser.end()) onEvent(ev);
  return null;
}

export const get = <T = any>(path: string) => api<T>('GET', path);
export const post = <T = any>(path: string, body?: unknown) => api<T>('POST', path, body ?? {});
export const patch = <T = any>(path: string, body: unknown) => api<T>('PATCH', path, body);
export const put = <T = any>(path: string, body: unknown) => api<T>('PUT', path, body);
export const del = <T = any>(path: string) => api<T>('DELETE', path);

/** Every page of a cursor list (at most `max` rows). */
export async function getAll<T = any>(path: string, max = 5000): Promise<T[]> {
  const rows: T[] = [];
  let cursor: string | null = null;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const q: string = cursor ? `${sep}limit=1000&cursor=${encodeURIComponent(cursor)}` : `${sep}limit=1000`;
    const page: { data: T[]; next_cursor: string | null } = await get(path + q);
    rows.push(...(page.data ?? []));
    cursor = page.next_cursor;
  } while (cursor && rows.length < max);
  return rows;
}

export async function login(name: string, password: string): Promise<Me> {
  const res = await api<any>('POST', '/login', { name, password });
  if (res.csrf_token) {
    session.csrf = res.csrf_token;
    session.bearer = '';
    sessionStorage.removeItem('tianshu.bearer');
  } else {
    session.bearer = res.token;
    sessionStorage.setItem('tianshu.bearer', res.token);
  }
  return refreshMe();
}

export async function refreshMe(): Promise<Me> {
  const me = await get<Me>('/me');
  if (me.csrf_token) session.csrf = me.csrf_token;
  session.me = me;
  session.checked = true;
  return me;
}

export async function restore(): Promise<Me | null> {
  if (session.checked) return session.me;
  try {
    return await refreshMe();
  } catch {
    session.me = null;
    session.checked = true;
    return null;
  }
}

export async function logout(): Promise<void> {
  try {
    await api('POST', '/logout', {});
  } catch {
    /* the session may be gone already */
  }
  session.me = null;
  session.csrf = '';
  session.bearer = '';
  sessionStorage.removeItem('tianshu.bearer');
}

export function enc(s: string | number): string {
  return encodeURIComponent(String(s));
}
