#!/usr/bin/env node
// An example ECR client for the POS Agent, protocol v1 (docs/ecr-protocol.md), in plain Node.js (>= 18):
// no npm dependencies, only `node:net`. It shows everything a till needs: the NDJSON framing (split on
// the byte \n, decode each line as UTF-8), `hello` with the token, requests matched to answers by id,
// events with seq/epoch kept for reconnecting, and a sale driven to its final state.
//
// As a library:
//   import { EcrClient } from './ecr-client.mjs';
//   const ecr = await EcrClient.connect({ port: 7410, token });
//   ecr.on('event', (msg) => console.log(msg.event, msg.body));
//   const { sale } = await ecr.request('sale.start', { sale_id: 'A1', amount: '9.90', subject: 'Till 1', code });
//
// As a command (prints JSON on stdout; progress on stderr):
//   node ecr-client.mjs --port 7410 --token-file /etc/posagent/ecr_token status
//   node ecr-client.mjs --socket /run/posagent/ecr.sock --token-file F sale --amount 9.90 --code CODE
//   node ecr-client.mjs --port 7410 --token-file F request sale.get '{"sale_id":"A1"}'
// Exit codes: 0 done (sale succeeded); 1 the sale failed or was cancelled; 2 bad arguments;
// 3 the agent refused the request (an error code); 4 connection lost, refused or timed out.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// The agent accepts lines of at most 64 KiB from us; its own answers may be longer (a long outbox.list).
const MAX_INCOMING_LINE_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

/** An error answer from the agent: `code` is one of the protocol's stable error codes. */
export class EcrError extends Error {
  constructor(code, message, retryable) {
    super(`${code}: ${message}`);
    this.name = 'EcrError';
    this.code = code;
    this.description = message; // for logs; program against `code` and `retryable`
    this.retryable = Boolean(retryable);
  }
}

/** One connection to the agent. Emits 'event' (every event message), 'unsolicited' (an answer with
 * id null, e.g. to a line the agent could not parse) and 'close'. */
export class EcrClient extends EventEmitter {
  #socket;
  #pending = new Map(); // request id -> { resolve, reject, timer }
  #chunks = []; // bytes of the line being received (a UTF-8 character may span two chunks)
  #nextId = 1;
  #closed = false;

  constructor(socket) {
    super();
    this.#socket = socket;
    this.hello = null; // the answer to hello: { epoch, seq, agent_version, replayed, gap }
    this.epoch = null; // the epoch and seq of the last event seen: pass them to the next connect()
    this.lastSeq = null;
    socket.on('data', (chunk) => this.#receive(chunk));
    socket.on('error', () => {}); // 'close' follows and rejects whatever is pending
    socket.on('close', () => this.#onClose());
  }

  /** Connect over TCP ({host, port}) or a Unix socket ({path}), then authenticate with hello. */
  static async connect({ host = '127.0.0.1', port, path, token, client = 'node-example', lastSeq, epoch,
    timeoutMs = 10_000 } = {}) {
    const socket = await new Promise((resolve, reject) => {
      const sock = path ? net.createConnection({ path }) : net.createConnection({ host, port });
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('connect timed out')); }, timeoutMs);
      sock.once('connect', () => { clearTimeout(timer); resolve(sock); });
      sock.once('error', (err) => { clearTimeout(timer); reject(err); });
    });
    const ecr = new EcrClient(socket);
    const body = { token, client };
    if (lastSeq != null) body.last_seq = lastSeq; // replay the events after it (same epoch only)
    if (epoch != null) body.epoch = epoch;
    try {
      ecr.hello = await ecr.request('hello', body, { timeoutMs });
    } catch (err) {
      ecr.close();
      throw err;
    }
    ecr.epoch ??= ecr.hello.epoch;
    return ecr;
  }

  /** Send a request; resolves with the answer's body, rejects with EcrError (or a connection error). */
  request(op, body = {}, { timeoutMs = 30_000 } = {}) {
    if (this.#closed) return Promise.reject(new Error('the connection is closed'));
    const id = `n${this.#nextId++}`;
    const line = `${JSON.stringify({ v: 1, type: 'req', id, op, body })}\n`;
    return new Promise((resolve, reject) => {
      // A timed-out request may still be served: resend it with the same business id (sale_id...).
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#socket.write(line, 'utf8');
    });
  }

  /** The next event named `name` whose body satisfies `predicate`. Register it before the request
   * that causes the event: events can arrive before that request's answer. */
  waitFor(name, predicate = () => true, { timeoutMs = 120_000 } = {}) {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      const onEvent = (msg) => {
        if (msg.event === name && predicate(msg.body ?? {})) { cleanup(); resolve(msg); }
      };
      const onClose = () => { cleanup(); reject(new Error('the agent closed the connection')); };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${name} event within ${timeoutMs} ms`)); },
        timeoutMs);
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  close() {
    this.#socket.end();
  }

  // Framing: split on the byte \n; decode each complete line as UTF-8; skip blank lines.
  #receive(chunk) {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0; nl = chunk.indexOf(NEWLINE, start)) {
      this.#chunks.push(chunk.subarray(start, nl));
      const line = Buffer.concat(this.#chunks).toString('utf8').trim();
      this.#chunks = [];
      start = nl + 1;
      if (line) this.#line(line);
    }
    if (start < chunk.length) this.#chunks.push(chunk.subarray(start));
    const buffered = this.#chunks.reduce((n, c) => n + c.length, 0);
    if (buffered > MAX_INCOMING_LINE_BYTES) this.#socket.destroy(new Error('line too long from the agent'));
  }

  #line(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // not ours to crash on: ignore a line that is not JSON
    }
    if (msg?.type === 'evt') {
      this.epoch = msg.epoch; // keep both: hello({lastSeq, epoch}) after a reconnect replays what was missed
      this.lastSeq = msg.seq;
      this.emit('event', msg);
      this.emit(msg.event, msg.body ?? {}, msg);
    } else if (msg?.type === 'res') {
      const waiting = this.#pending.get(msg.id);
      if (!waiting) {
        this.emit('unsolicited', msg);
        return;
      }
      this.#pending.delete(msg.id);
      clearTimeout(waiting.timer);
      if (msg.ok) waiting.resolve(msg.body ?? {});
      else waiting.reject(new EcrError(msg.error?.code, msg.error?.message, msg.error?.retryable));
    } // unknown message types and unknown fields are ignored: the protocol grows by adding them
  }

  #onClose() {
    this.#closed = true;
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(new Error('the agent closed the connection'));
    }
    this.#pending.clear();
    this.emit('close');
  }
}

/** Start a sale and resolve with the sale once it is final (succeeded, failed or cancelled). */
export async function runSale(ecr, { saleId, amount, subject, code, scanId, timeoutMs = 120_000 },
  onUpdate = () => {}) {
  const mine = (body) => body.sale?.sale_id === saleId;
  const progress = (body) => { if (mine(body)) onUpdate(body.sale); };
  ecr.on('sale.updated', progress);
  const final = ecr.waitFor('sale.updated', (body) => mine(body) && body.sale.final, { timeoutMs });
  final.catch(() => {}); // handled below; avoids an unhandled rejection if the request itself fails
  try {
    const body = { sale_id: saleId, amount, subject };
    if (scanId) body.scan_id = scanId;
    else if (code) body.code = code;
    const { sale } = await ecr.request('sale.start', body);
    if (sale.final) return sale; // a resent sale.start answers the current state
    return (await final).body.sale;
  } finally {
    ecr.off('sale.updated', progress);
  }
}

/**
 * A moment as loyalty.update's occur_time wants it: "yyyy-MM-dd HH:mm:ss" in China time (UTC+8), whatever
 * this PC's time zone. (The agent also takes ISO 8601 with its offset: `date.toISOString()` works too.)
 */
export function chinaTime(date = new Date()) {
  const china = new Date(date.getTime() + 8 * 3600 * 1000); // read in UTC, this is China's wall clock
  return china.toISOString().slice(0, 19).replace('T', ' ');
}

// ---- command line -----------------------------------------------------------------------------------

const USAGE = `usage: node ecr-client.mjs [--host H] (--port P | --socket PATH) --token-file F COMMAND
commands:
  status                                         status.get
  sale --amount A (--code C | --scan-id S) [--sale-id ID] [--subject S] [--timeout SEC]
                                                 sale.start, then wait for the sale's final state
  get --sale-id ID | cancel --sale-id ID         sale.get, sale.cancel
  request OP [JSON-BODY]                         any operation
  watch                                          print events as they come (Ctrl-C to stop)`;

class UsageError extends Error {}

function parseCommandLine(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, socket: { type: 'string' },
      'token-file': { type: 'string' }, amount: { type: 'string' }, code: { type: 'string' },
      'scan-id': { type: 'string' }, 'sale-id': { type: 'string' }, subject: { type: 'string', default: 'ECR sale' },
      timeout: { type: 'string', default: '120' }, help: { type: 'boolean' },
    },
  });
  if (values.help || positionals.length === 0) throw new UsageError(USAGE);
  if (!values['token-file']) throw new UsageError('--token-file is required');
  if (!values.port === !values.socket) throw new UsageError('give --port or --socket');
  return { values, command: positionals[0], rest: positionals.slice(1) };
}

const print = (data) => process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
// As the agent masks codes: payment codes are secrets, never printed or logged in full.
const maskCode = (code) => {
  if (code.length >= 18) return `${code.slice(0, 2)}${'*'.repeat(code.length - 6)}${code.slice(-4)}`;
  if (code.length >= 12) return `${'*'.repeat(code.length - 4)}${code.slice(-4)}`;
  return '*'.repeat(code.length);
};

async function main(argv) {
  let args;
  try {
    args = parseCommandLine(argv);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const { values, command, rest } = args;
  let token;
  try {
    token = readFileSync(values['token-file'], 'utf8').trim();
  } catch (err) {
    process.stderr.write(`error: cannot read the token file: ${err.code ?? err.message}\n`);
    return 2;
  }
  const timeoutMs = Number(values.timeout) * 1000;
  let ecr;
  try {
    ecr = await EcrClient.connect({ host: values.host, port: values.port && Number(values.port), path: values.socket,
      token, client: 'node-example' });
    switch (command) {
      case 'status':
        print(await ecr.request('status.get'));
        return 0;
      case 'get':
      case 'cancel':
        if (!values['sale-id']) throw new UsageError('--sale-id is required');
        print(await ecr.request(`sale.${command}`, { sale_id: values['sale-id'] }));
        return 0;
      case 'request': {
        if (!rest[0]) throw new UsageError('request needs an operation name');
        let body = {};
        try { body = rest[1] ? JSON.parse(rest[1]) : {}; } catch { throw new UsageError('the body is not valid JSON'); }
        print(await ecr.request(rest[0], body));
        return 0;
      }
      case 'watch':
        ecr.on('event', (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`));
        await new Promise((resolve) => ecr.once('close', resolve));
        return 4;
      case 'sale': {
        if (!values.amount || !(values.code || values['scan-id'])) {
          throw new UsageError('sale needs --amount and --code or --scan-id');
        }
        const saleId = values['sale-id'] ?? `N${Date.now()}`;
        if (values.code) process.stderr.write(`sale ${saleId}: ${values.amount} with code ${maskCode(values.code)}\n`);
        const sale = await runSale(ecr, { saleId, amount: values.amount, subject: values.subject, code: values.code,
          scanId: values['scan-id'], timeoutMs }, (s) => process.stderr.write(`sale ${saleId}: ${s.state}\n`));
        print({ sale });
        return sale.state === 'succeeded' ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown command ${command}\n${USAGE}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof EcrError) {
      process.stderr.write(`error: ${err.code}: ${err.description}${err.retryable ? ' (retryable)' : ''}\n`);
      return 3;
    }
    process.stderr.write(`error: ${err.code ?? ''} ${err.message}\n`);
    return 4;
  } finally {
    ecr?.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
