// The POS Agent's ECR protocol v1 over WebSocket, for web tills: an ES module with no build step and no
// dependencies (docs/ecr-protocol.md; the browser counterpart of agent/ecr/client.py).
//
//   import { EcrConnection } from './posagent-ecr.js';
//   const ecr = new EcrConnection({ url: 'ws://127.0.0.1:7411/ecr', client: 'web-till-1' });
//   ecr.addEventListener('ecr-event', (e) => show(e.detail));       // every event exactly once, in order
//   ecr.addEventListener('gap', () => resync());                      // events may have been lost: sale.get
//   await ecr.connect({ pairingCode: 'ABCD-EFGH' });                  // first time only: then the stored token
//   const { sale } = await ecr.request('sale.start', { sale_id: 'A1', amount: '9.90', subject: 'Till 1' });
//
// What it does for the till: pairing (the origin token is kept in localStorage, never the shared ECR
// token, which the agent refuses over WebSocket), hello with replay (the epoch and seq of the last event
// delivered), requests matched to answers by id with timeouts, reconnection with backoff that never
// loses or repeats an event within an epoch (and says `gap` when the agent cannot replay), requests
// resent after a reconnect (every v1 op is idempotent by its business id, except drawer.open), and
// answers whose error is `retryable` retried with backoff until the request's deadline.

/** @typedef {{ v: 1, type: 'evt', seq: number, epoch: string, event: string, body: Record<string, any> }} EcrEvent */
/** @typedef {{ epoch: string, seq: number, agent_version: string, replayed: number, gap: boolean }} HelloAnswer */
/**
 * @typedef {object} Storage  the part of window.localStorage the client uses
 * @property {(key: string) => string | null} getItem
 * @property {(key: string, value: string) => void} setItem
 * @property {(key: string) => void} removeItem
 */
/**
 * @typedef {object} RequestOptions
 * @property {number} [timeoutMs]  overall deadline, reconnects and retries included (default 30 s)
 * @property {boolean} [retry]  retry `retryable` errors and resend after a reconnect (default: true, but
 *   false for drawer.open, which is not idempotent)
 */

/** Ops that are not safe to send twice: never resent or retried on their own. */
const NOT_IDEMPOTENT = new Set(['drawer.open']);
const CONNECTING = 'connecting';
const OPEN = 'open';
const CLOSED = 'closed';

/** An error answer from the agent: program against `code` and `retryable` (the message is for logs). */
export class EcrError extends Error {
  /** @param {string} code @param {string} message @param {boolean} retryable */
  constructor(code, message, retryable) {
    super(`${code}: ${message}`);
    this.name = 'EcrError';
    this.code = code;
    this.description = message;
    this.retryable = Boolean(retryable);
  }
}

/** No answer within the request's deadline (the agent may still have acted: resend with the same id). */
export class EcrTimeoutError extends Error {
  constructor(/** @type {string} */ op, /** @type {number} */ ms) {
    super(`no answer to ${op} within ${ms} ms`);
    this.name = 'EcrTimeoutError';
    this.retryable = true;
  }
}

/**
 * The delay before reconnect attempt `attempt` (0, 1, 2...): exponential, capped, with jitter so that
 * many tills restarted together do not knock at the same moment.
 * @param {number} attempt @param {number} initialMs @param {number} maxMs @param {() => number} [random]
 */
export function backoffDelay(attempt, initialMs, maxMs, random = Math.random) {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * One logical connection to the agent that survives disconnects. Dispatches:
 * - `ecr-event` (detail: the event message) for each event, exactly once per (epoch, seq), in order;
 * - `gap` (detail: the hello answer) when events may have been lost (agent restarted): ask sale.get;
 * - `state` (detail: {state, attempt, delayMs?, reason?}) as it connects, opens, closes;
 * - `hello` (detail: the hello answer) after each successful hello;
 * - `unauthorized` (detail: {message}) when the agent refuses the token: it stops, the page pairs again.
 */
export class EcrConnection extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.url  ws://127.0.0.1:PORT/ecr
   * @param {string} [options.client]  a name for the agent's log
   * @param {Storage | null} [options.storage]  where the origin token is kept (default: localStorage)
   * @param {string} [options.storageKey]
   * @param {typeof WebSocket} [options.WebSocket]  for tests or other runtimes
   * @param {number} [options.initialBackoffMs]
   * @param {number} [options.maxBackoffMs]
   * @param {number} [options.heartbeatTimeoutMs]  no message for this long: reconnect. Default: 3 x the
   *   interval between the agent's heartbeat events, as seen (its heartbeat_seconds is configurable);
   *   no watchdog until two heartbeats were seen (the agent's WebSocket pings cover dead peers meanwhile)
   */
  constructor({ url, client = 'web-till', storage, storageKey, WebSocket: Socket, initialBackoffMs = 250,
    maxBackoffMs = 10_000, heartbeatTimeoutMs }) {
    super();
    this.url = url;
    this.client = client;
    this.storage = storage === undefined ? globalThis.localStorage ?? null : storage;
    this.storageKey = storageKey ?? `posagent.ecr.token ${url}`;
    this.Socket = Socket ?? globalThis.WebSocket;
    this.initialBackoffMs = initialBackoffMs;
    this.maxBackoffMs = maxBackoffMs;
    /** @type {number | null} */
    this.heartbeatTimeoutMs = heartbeatTimeoutMs ?? null;
    this.learnHeartbeat = heartbeatTimeoutMs === undefined;
    /** @type {number | null} the agent's time of the last heartbeat delivered (ms) */
    this.lastHeartbeatAt = null;
    /** @type {string | null} the epoch and seq of the last event delivered: hello replays what follows */
    this.epoch = null;
    /** @type {number | null} */
    this.lastSeq = null;
    /** @type {HelloAnswer | null} */
    this.hello = null;
    this.state = CLOSED;
    this.attempt = 0;
    /** @type {WebSocket | null} */
    this.socket = null;
    this.nextId = 1;
    /** @type {Map<string, Pending>} requests waiting for an answer on the current socket */
    this.inFlight = new Map();
    /** @type {Pending[]} requests waiting for a connection */
    this.queued = [];
    this.stopped = true;
    /** @type {string | null} */
    this.pairingCode = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.reconnectTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.watchdog = null;
    /** @type {((hello: HelloAnswer) => void) | null} */
    this.onFirstHello = null;
    /** @type {((err: Error) => void) | null} */
    this.onFirstFailure = null;
  }

  /** The stored origin token, if this page was paired (the page never sees the shared ECR token). */
  get token() {
    return this.storage?.getItem(this.storageKey) ?? null;
  }

  get paired() {
    return this.token !== null;
  }

  /** Forget the origin token (e.g. after the technician revoked the origin). */
  forget() {
    this.storage?.removeItem(this.storageKey);
  }

  /**
   * Connect (pairing first if `pairingCode` is given), then keep connected until close(). Resolves with
   * the first hello answer; rejects if pairing or hello is refused (no retry: a person must act).
   * @param {{ pairingCode?: string }} [options]
   * @returns {Promise<HelloAnswer>}
   */
  connect({ pairingCode } = {}) {
    if (!pairingCode && !this.paired) return Promise.reject(new Error('not paired: enter a pairing code'));
    this.pairingCode = pairingCode ?? null;
    this.stopped = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const previous = this.socket;
    if (previous) {
      // Connecting again (e.g. pairing again): the old socket is dropped quietly, its requests move over.
      this.socket = null;
      previous.close(1000, 'reconnecting');
      for (const pending of this.inFlight.values()) {
        if (pending.retry) this.queued.push(pending);
        else pending.fail(new Error(`the connection was replaced before ${pending.op} was answered: check before sending it again`));
      }
      this.inFlight.clear();
      this.state = CONNECTING; // requests wait for the new connection
    }
    this.onFirstFailure?.(new Error('connect() was called again'));
    return new Promise((resolve, reject) => {
      this.onFirstHello = resolve;
      this.onFirstFailure = reject;
      this.open();
    });
  }

  /** Close for good: pending requests are rejected, no reconnect. */
  close() {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.socket?.close(1000, 'closed by the till');
    for (const pending of [...this.inFlight.values(), ...this.queued]) pending.fail(new Error('the connection was closed'));
    this.inFlight.clear();
    this.queued = [];
    this.setState(CLOSED, {});
  }

  /**
   * Send a request; resolves with the answer's body, rejects with EcrError, EcrTimeoutError or Error.
   * While disconnected it waits for the next connection (within its deadline).
   * @param {string} op @param {Record<string, any>} [body] @param {RequestOptions} [options]
   * @returns {Promise<Record<string, any>>}
   */
  request(op, body = {}, { timeoutMs = 30_000, retry = !NOT_IDEMPOTENT.has(op) } = {}) {
    if (op === 'hello' || op === 'pair') return Promise.reject(new Error(`${op} is sent by connect()`));
    if (this.stopped) return Promise.reject(new Error('not connected: call connect() first'));
    return new Promise((resolve, reject) => {
      const pending = new Pending(op, body, retry, resolve, reject);
      pending.timer = setTimeout(() => {
        this.forgetPending(pending);
        pending.fail(new EcrTimeoutError(op, timeoutMs));
      }, timeoutMs);
      this.dispatch(pending);
    });
  }

  // ---- inside ---------------------------------------------------------------------------------------

  /** @param {Pending} pending */
  dispatch(pending) {
    if (pending.done) return;
    if (this.state !== OPEN || !this.socket) {
      this.queued.push(pending);
      return;
    }
    pending.id = `w${this.nextId++}`;
    this.inFlight.set(pending.id, pending);
    this.socket.send(JSON.stringify({ v: 1, type: 'req', id: pending.id, op: pending.op, body: pending.body }));
  }

  /** @param {Pending} pending */
  forgetPending(pending) {
    if (pending.id) this.inFlight.delete(pending.id);
    this.queued = this.queued.filter((p) => p !== pending);
  }

  open() {
    this.setState(CONNECTING, { attempt: this.attempt });
    let socket;
    try {
      socket = new this.Socket(this.url);
    } catch (err) {
      this.lost(`cannot connect: ${err instanceof Error ? err.message : err}`);
      return;
    }
    this.socket = socket;
    /** @type {Map<string, (msg: any) => void>} answers to pair/hello on this socket */
    const handshake = new Map();
    socket.onopen = () => this.handshake(socket, handshake);
    socket.onmessage = (message) => {
      if (socket !== this.socket) return;
      this.receive(message.data, handshake);
      this.armWatchdog(); // after: a heartbeat may have just taught the interval
    };
    socket.onclose = (close) => {
      if (socket !== this.socket) return;
      this.socket = null;
      if (close.code === 1008 && /revoked/i.test(close.reason)) {
        // The technician revoked this origin (or its token): every reconnect would be refused (an HTTP
        // 403 a page cannot even read), so stop and say so: pairing again is the way back.
        this.refused({ code: 'UNAUTHORIZED', message: `${close.reason}: pair this page again` }, socket);
        return;
      }
      this.lost(close.reason || `closed (${close.code})`);
    };
    socket.onerror = () => {}; // a close follows, with what little the browser tells
  }

  /**
   * pair (when a code was given), then hello with the replay cursor.
   * @param {WebSocket} socket @param {Map<string, (msg: any) => void>} handshake
   */
  async handshake(socket, handshake) {
    const ask = (/** @type {string} */ op, /** @type {Record<string, any>} */ body) => new Promise((resolve) => {
      const id = `${op}${this.nextId++}`;
      handshake.set(id, resolve);
      socket.send(JSON.stringify({ v: 1, type: 'req', id, op, body }));
    });
    try {
      if (this.pairingCode) {
        const paired = /** @type {any} */ (await ask('pair', { code: this.pairingCode }));
        if (!paired.ok) return this.refused(paired.error, socket);
        this.pairingCode = null; // single use: a reconnect says hello with the token
        this.storage?.setItem(this.storageKey, paired.body.token);
      }
      const body = /** @type {Record<string, any>} */ ({ token: this.token, client: this.client });
      if (this.lastSeq !== null) Object.assign(body, { last_seq: this.lastSeq, epoch: this.epoch });
      const answer = /** @type {any} */ (await ask('hello', body));
      if (!answer.ok) return this.refused(answer.error, socket);
      this.welcome(answer.body);
    } catch {
      // the socket closed during the handshake: onclose reconnects
    }
  }

  /** @param {HelloAnswer} hello */
  welcome(hello) {
    const gap = Boolean(hello.gap);
    if (hello.epoch !== this.epoch) {
      // A new epoch (first connect or the agent restarted): events of the old one can never come again;
      // with a cursor the agent replays every kept event of the new one (seq from 1), without one nothing.
      const hadCursor = this.lastSeq !== null;
      this.epoch = hello.epoch;
      this.lastSeq = hadCursor ? 0 : hello.seq;
    }
    this.hello = hello;
    this.attempt = 0;
    this.setState(OPEN, {});
    this.dispatchEvent(new CustomEvent('hello', { detail: hello }));
    if (gap) this.dispatchEvent(new CustomEvent('gap', { detail: hello }));
    const waiting = this.queued;
    this.queued = [];
    for (const pending of waiting) this.dispatch(pending);
    this.onFirstHello?.(hello);
    this.onFirstHello = this.onFirstFailure = null;
  }

  /** The agent refused the code or the token: stop, a person must act (pair again). */
  refused(/** @type {any} */ error, /** @type {WebSocket} */ socket) {
    const message = `${error?.code ?? 'REFUSED'}: ${error?.message ?? ''}`;
    this.stopped = true;
    if (error?.code === 'UNAUTHORIZED' && !this.pairingCode) this.forget();
    this.pairingCode = null;
    socket.close(1000, 'refused');
    this.socket = null;
    for (const pending of [...this.inFlight.values(), ...this.queued]) pending.fail(new EcrError(error?.code, error?.message, false));
    this.inFlight.clear();
    this.queued = [];
    this.setState(CLOSED, { reason: message });
    this.dispatchEvent(new CustomEvent('unauthorized', { detail: { message } }));
    this.onFirstFailure?.(new EcrError(error?.code, error?.message, false));
    this.onFirstHello = this.onFirstFailure = null;
  }

  /** @param {unknown} data @param {Map<string, (msg: any) => void>} handshake */
  receive(data, handshake) {
    let msg;
    try {
      msg = JSON.parse(String(data));
    } catch {
      return; // not JSON: not ours to crash on
    }
    if (msg?.type === 'evt') {
      this.deliver(msg);
    } else if (msg?.type === 'res') {
      const step = handshake.get(msg.id);
      if (step) {
        handshake.delete(msg.id);
        step(msg);
        return;
      }
      const pending = this.inFlight.get(msg.id);
      if (!pending) return; // an answer to a request that timed out, or id null
      this.inFlight.delete(msg.id);
      if (msg.ok) {
        pending.succeed(msg.body ?? {});
        return;
      }
      const error = new EcrError(msg.error?.code, msg.error?.message, msg.error?.retryable);
      if (error.retryable && pending.retry) {
        // Unchanged, later (the code's meaning: the same request may succeed if sent again).
        const delay = backoffDelay(pending.retries++, this.initialBackoffMs * 2, this.maxBackoffMs);
        pending.retryTimer = setTimeout(() => this.dispatch(pending), delay);
        pending.lastError = error;
        return;
      }
      pending.fail(error);
    } // unknown types and fields are ignored: the protocol grows by adding them
  }

  /** Deliver an event once: within an epoch, a seq at or below the last one delivered is a repeat. */
  deliver(/** @type {EcrEvent} */ event) {
    if (event.epoch === this.epoch && this.lastSeq !== null && event.seq <= this.lastSeq) return;
    if (event.event === 'heartbeat' && this.learnHeartbeat) {
      // The agent's own clock (body.time), not arrival times: replayed heartbeats arrive in a burst.
      const at = Number(event.body?.time) * 1000;
      const last = this.lastHeartbeatAt;
      if (last !== null && event.epoch === this.epoch && at > last) this.heartbeatTimeoutMs = 3 * Math.max(1000, at - last);
      this.lastHeartbeatAt = Number.isFinite(at) ? at : null;
    }
    this.epoch = event.epoch;
    this.lastSeq = event.seq;
    this.dispatchEvent(new CustomEvent('ecr-event', { detail: event }));
  }

  /** @param {string} reason */
  lost(reason) {
    if (this.watchdog) clearTimeout(this.watchdog);
    // Requests sent on the lost socket: resend on the next one when safe, else fail now.
    for (const pending of this.inFlight.values()) {
      if (pending.retry) this.queued.push(pending);
      else pending.fail(new Error(`the connection was lost before ${pending.op} was answered: check before sending it again`));
    }
    this.inFlight.clear();
    if (this.stopped) return;
    // A refused handshake (origin not paired, revoked) is only a close to a page (1006): keep trying,
    // slowly; the state event tells the cashier. A refused token is answered, and stops (refused()).
    const delayMs = backoffDelay(this.attempt++, this.initialBackoffMs, this.maxBackoffMs);
    this.setState(CONNECTING, { attempt: this.attempt, delayMs, reason });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped) this.open();
    }, delayMs);
  }

  armWatchdog() {
    if (this.watchdog) clearTimeout(this.watchdog);
    if (this.heartbeatTimeoutMs === null) return;
    const socket = this.socket;
    this.watchdog = setTimeout(() => {
      if (socket === this.socket) socket?.close(4000, 'no heartbeat'); // onclose reconnects
    }, this.heartbeatTimeoutMs);
  }

  /** @param {string} state @param {Record<string, any>} detail */
  setState(state, detail) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, ...detail } }));
  }
}

/** A request until it is answered, fails or times out (it may be sent on several sockets). */
class Pending {
  /**
   * @param {string} op @param {Record<string, any>} body @param {boolean} retry
   * @param {(body: Record<string, any>) => void} resolve @param {(err: Error) => void} reject
   */
  constructor(op, body, retry, resolve, reject) {
    this.op = op;
    this.body = body;
    this.retry = retry;
    this.resolve = resolve;
    this.reject = reject;
    /** @type {string | null} */
    this.id = null;
    this.retries = 0;
    this.done = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;
    /** @type {EcrError | null} */
    this.lastError = null;
  }

  /** @param {Record<string, any>} body */
  succeed(body) {
    if (this.done) return;
    this.finish();
    this.resolve(body);
  }

  /** @param {Error} err */
  fail(err) {
    if (this.done) return;
    this.finish();
    // A deadline reached while retrying: the agent's own error says more than "no answer".
    this.reject(err instanceof EcrTimeoutError && this.lastError ? this.lastError : err);
  }

  finish() {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
