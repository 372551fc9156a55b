import { describe, expect, it } from 'vitest';
import { applyEvent, emptyAnswer, responseText, SseParser, type SseEvent } from '../src/sse';

// A playground stream as the gateway sends it: Messages events, a ping, then the trace.
const STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":4,"output_tokens":0}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, "}}\n\n',
  ': keep-alive comment\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"world 你好"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
  'event: tianshu.playground\ndata: {"request_id":"01a2","status":200,"route":{"scenario":"managed","model":"m","reason":"r","by":"chain","rank":1},' +
    '"blocks":[{"name":"system_prompt","kind":"pre","where":"/pre/0","ms":0.02},{"name":"echo","kind":"model","where":"m","ms":12.5}]}\n\n',
].join('');

function parseAll(chunks: string[]): SseEvent[] {
  const p = new SseParser();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...p.feed(c));
  out.push(...p.end());
  return out;
}

describe('SseParser', () => {
  it('reads every event of a whole stream, skipping comments', () => {
    const events = parseAll([STREAM]);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
      'tianshu.playground',
    ]);
  });

  it('gives the same events however the stream is cut (every split point, CRLF too)', () => {
    const whole = parseAll([STREAM]);
    for (const text of [STREAM, STREAM.replace(/\n/g, '\r\n')]) {
      for (let cut = 1; cut < text.length; cut += 7) {
        expect(parseAll([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
      }
      // one character at a time
      expect(parseAll([...text])).toEqual(whole);
    }
  });

  it('joins multi-line data, names unnamed events "message", and ends an unterminated event', () => {
    expect(parseAll(['data: a\ndata: b\n\n'])).toEqual([{ event: 'message', data: 'a\nb' }]);
    expect(parseAll(['event: x\ndata:no-space'])).toEqual([{ event: 'x', data: 'no-space' }]);
    expect(parseAll(['id: 4\nretry: 10\n\n'])).toEqual([]);
  });
});

describe('applyEvent', () => {
  it('grows the answer text and keeps the final trace', () => {
    const answer = emptyAnswer();
    const texts: string[] = [];
    for (const ev of parseAll([STREAM])) {
      applyEvent(answer, ev);
      texts.push(answer.text);
    }
    expect(texts).toContain('Hello, ');
    expect(answer.text).toBe('Hello, world 你好');
    expect(answer.stopReason).toBe('end_turn');
    expect(answer.usage).toEqual({ input_tokens: 4, output_tokens: 5 });
    expect(answer.error).toBeNull();
    expect(answer.trace?.request_id).toBe('01a2');
    expect(answer.trace?.route?.model).toBe('m');
    expect(answer.trace?.blocks.map((b) => [b.kind, b.name])).toEqual([
      ['pre', 'system_prompt'],
      ['model', 'echo'],
    ]);
  });

  it('keeps an error event, and the trace error when none came before', () => {
    const a = emptyAnswer();
    applyEvent(a, { event: 'error', data: '{"type":"error","error":{"type":"overloaded_error","message":"busy"}}' });
    expect(a.error).toEqual({ type: 'overloaded_error', message: 'busy' });
    const b = emptyAnswer();
    applyEvent(b, { event: 'tianshu.playground', data: '{"request_id":"x","status":502,"route":null,"blocks":[],"error":{"type":"upstream","message":"down"}}' });
    expect(b.error).toEqual({ type: 'upstream', message: 'down' });
    expect(b.trace?.status).toBe(502);
  });

  it('ignores data that is not JSON', () => {
    const a = emptyAnswer();
    applyEvent(a, { event: 'content_block_delta', data: '[DONE]' });
    expect(a.text).toBe('');
  });
});

describe('responseText', () => {
  it('joins the text blocks of a whole response', () => {
    expect(responseText({ content: [{ type: 'text', text: 'a' }, { type: 'tool_use' }, { type: 'text', text: 'b' }] })).toBe('ab');
    expect(responseText(null)).toBe('');
  });
});
