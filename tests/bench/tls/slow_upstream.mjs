#!/usr/bin/env node
// A slow OpenAI-compatible upstream for the TLS benchmark, over http and https at once:
//   node slow_upstream.mjs --cert PEM --key PEM [--words 40] [--delay-ms 100] [--workers N]
// POST /v1/chat/completions: a streamed answer sends its first word at once, then one word
// every --delay-ms, then finish_reason "stop" with usage and [DONE]; a whole answer comes at
// once. --workers processes (default: one per core, node's cluster module) share the ports, so
// that the upstream's own TLS handshakes are not what the benchmark measures. Prints
// "slow_upstream http=PORT https=PORT". Listens on 127.0.0.1 only; node standard library only.
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import cluster from 'node:cluster';
import os from 'node:os';

const args = { words: 40, delayMs: 100, workers: os.cpus().length };
for (let i = 2; i < process.argv.length; i += 2) {
  const [k, v] = [process.argv[i], process.argv[i + 1]];
  if (k === '--cert') args.cert = v;
  else if (k === '--key') args.key = v;
  else if (k === '--words') args.words = Number(v);
  else if (k === '--delay-ms') args.delayMs = Number(v);
  else if (k === '--workers') args.workers = Number(v);
  else { console.error(`unknown argument ${k}`); process.exit(2); }
}

const chunk = (model, delta, finish = null, usage = undefined) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model,
    choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}) })}\n\n`;

function handler(req, res) {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url.startsWith('/v1/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"error":{"message":"no route"}}');
    }
    let body = {};
    try { body = JSON.parse(Buffer.concat(parts).toString('utf8')); } catch { /* empty */ }
    const model = body.model ?? 'bench-model';
    const usage = { prompt_tokens: 5, completion_tokens: args.words, total_tokens: 5 + args.words };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000, model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'word '.repeat(args.words) }, finish_reason: 'stop' }],
        usage }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(chunk(model, { role: 'assistant', content: 'word ' }));
    let sent = 1;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      if (sent < args.words) {
        res.write(chunk(model, { content: 'word ' }));
        sent += 1;
        return;
      }
      clearInterval(timer);
      res.write(chunk(model, {}, 'stop', usage));
      res.end('data: [DONE]\n\n');
    }, args.delayMs);
    res.on('close', () => clearInterval(timer));
  });
}

if (cluster.isPrimary) {
  // Workers listening on port 0 share one port per server: the first to listen says which.
  let printed = false;
  for (let i = 0; i < args.workers; i++) {
    cluster.fork().on('message', (m) => {
      if (printed) return;
      printed = true;
      process.stdout.write(`slow_upstream http=${m.http} https=${m.https}\n`);
    });
  }
  const stop = () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const plain = http.createServer(handler);
  const secure = https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) }, handler);
  for (const s of [plain, secure]) { s.keepAliveTimeout = 60000; s.headersTimeout = 60000; }
  await new Promise((r) => plain.listen(0, '127.0.0.1', 4096, r));
  await new Promise((r) => secure.listen(0, '127.0.0.1', 4096, r));
  process.send({ http: plain.address().port, https: secure.address().port });
}
