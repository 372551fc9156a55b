// Server-sent events read from a fetch body (EventSource cannot POST or send the CSRF header):
// a parser fed text chunks as they arrive, cut anywhere, and the playground's reading of an
// Anthropic Messages stream (the answer's text as it grows, the final trace event).

export interface SseEvent {
  /** The `event:` field; "message" when the event named none. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
}

/** Splits SSE text into events. Comments (": ping") and `id:`/`retry:` fields are ignored. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];

  /** The events completed by `chunk` (text decoded with TextDecoder's stream mode). */
  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const nl = this.buffer.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
      if (this.buffer[nl] === '\r' && nl === this.buffer.length - 1) break;
      const width = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + width);
      this.line(line, out);
    }
    return out;
  }

  /** The event still open when the stream ended without its blank line, if any. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.buffer) this.line(this.buffer, out);
    this.buffer = '';
    this.line('', out);
    return out;
  }

  private line(line: string, out: SseEvent[]) {
    if (line === '') {
      if (this.data.length || this.event) out.push({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}

/** One block of a playground run, as POST /admin/api/playground reports it. */
export interface BlockTiming {
  name: string;
  kind: 'pre' | 'model' | 'post';
  where?: string;
  ms: number;
  answered?: boolean;
  failed?: boolean;
}

/** What a playground run did besides its answer. */
export interface PlaygroundTrace {
  request_id: string;
  status: number;
  chain?: string;
  channel?: string;
  route: { scenario: string; model: string; reason: string; by: string; rank: number } | null;
  blocks: BlockTiming[];
  error?: { type: string; message: string };
}

/** A streamed answer as it grows. */
export interface StreamedAnswer {
  text: string;
  thinking: string;
  stopReason: string | null;
  usage: { input_tokens?: number; output_tokens?: number };
  error: { type: string; message: string } | null;
  trace: PlaygroundTrace | null;
}

export function emptyAnswer(): StreamedAnswer {
  return { text: '', thinking: '', stopReason: null, usage: {}, error: null, trace: null };
}

/** Applies one event of the playground's stream (Messages events, then tianshu.playground). */
export function applyEvent(answer: StreamedAnswer, ev: SseEvent): StreamedAnswer {
  let data: any;
  try {
    data = JSON.parse(ev.data);
  } catch {
    return answer; // a ping or a keep-alive without JSON
  }
  switch (ev.event) {
    case 'message_start':
      answer.usage = { ...(data?.message?.usage ?? {}) };
      break;
    case 'content_block_delta':
      if (data?.delta?.type === 'text_delta') answer.text += data.delta.text ?? '';
      else if (data?.delta?.type === 'thinking_delta') answer.thinking += data.delta.thinking ?? '';
      break;
    case 'message_delta':
      answer.stopReason = data?.delta?.stop_reason ?? answer.stopReason;
      answer.usage = { ...answer.usage, ...(data?.usage ?? {}) };
      break;
    case 'error':
      answer.error = data?.error ?? { type: 'error', message: ev.data };
      break;
    case 'tianshu.playground':
      answer.trace = data as PlaygroundTrace;
      if (data?.error && !answer.error) answer.error = data.error;
      break;
  }
  return answer;
}

/** The text of a whole (non-streamed) Messages response. */
export function responseText(response: any): string {
  const content = response?.content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((b: any) => b?.type === 'text')
    .map((b: any) => b.text)
    .join('');
}
