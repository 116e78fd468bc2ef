// The example web till (index.html): the whole journey against the agent, with nothing but the module.
// Open it as index.html?agent=ws://127.0.0.1:PORT/ecr from any web server (its origin is what you pair).
import { EcrConnection, EcrError } from '../../../clients/js/posagent-ecr.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
const params = new URLSearchParams(location.search);
const agentUrl = params.get('agent') ?? 'ws://127.0.0.1:7411/ecr';
const ecr = new EcrConnection({
  url: agentUrl,
  client: params.get('client') ?? 'web-till',
  initialBackoffMs: Number(params.get('backoff_ms') ?? 250),
});
/** The sale on screen, kept across reloads of this tab: after a gap it is read again (sale.get). */
let saleId = sessionStorage.getItem('till.sale') ?? null;
let loyaltyUpdate = null;
const scanArrivals = []; // [{ masked, source, atMs }]: for the bench (scan to page)

$('agent-url').textContent = agentUrl;
$('origin').textContent = location.origin;

function showError(/** @type {unknown} */ err) {
  const text = err instanceof EcrError ? `${err.code}: ${err.description}` : String(err instanceof Error ? err.message : err);
  $('error').textContent = text;
}

async function act(/** @type {() => Promise<void>} */ action) {
  $('error').textContent = '';
  try {
    await action();
  } catch (err) {
    showError(err);
  }
}

// ---- connection -------------------------------------------------------------------------------------

ecr.addEventListener('state', (/** @type {any} */ e) => {
  const { state, attempt, delayMs, reason } = e.detail;
  $('connection').dataset.state = state;
  $('connection').textContent = state;
  $('connection-detail').textContent = state === 'connecting' && reason
    ? `(lost: ${reason}; attempt ${attempt} in ${delayMs} ms)` : '';
});
ecr.addEventListener('unauthorized', (/** @type {any} */ e) => {
  $('pairing-status').textContent = `refused: ${e.detail.message}`;
});
ecr.addEventListener('gap', () => act(resync));
ecr.addEventListener('ecr-event', (/** @type {any} */ e) => onEvent(e.detail));

async function start(/** @type {string | undefined} */ pairingCode) {
  await ecr.connect({ pairingCode });
  $('pairing-status').textContent = 'paired';
  await resync();
}

/** After a gap (the agent restarted): what the events would have said, asked again. */
async function resync() {
  if (saleId) {
    try {
      showSale((await ecr.request('sale.get', { sale_id: saleId })).sale);
    } catch (err) {
      if (!(err instanceof EcrError && err.code === 'NOT_FOUND')) throw err;
    }
  }
}

$('pair').addEventListener('click', () => act(async () => {
  const code = input('pairing-code').value.trim();
  input('pairing-code').value = '';
  await start(code);
}));
$('forget').addEventListener('click', () => {
  ecr.close();
  ecr.forget();
  $('pairing-status').textContent = 'not paired';
});

// ---- the journey ------------------------------------------------------------------------------------

$('enroll').addEventListener('click', () => act(async () => {
  const { enrollment, job } = await ecr.request('member.enroll', { job_id: `E${Date.now()}` });
  $('slip-state').textContent = `${job.state} (enrollment ${enrollment.job_id})`;
}));

$('start-sale').addEventListener('click', () => act(async () => {
  saleId = `W${Date.now()}`;
  sessionStorage.setItem('till.sale', saleId);
  for (const id of ['member-card', 'member-level', 'member-points', 'member-source', 'sale-reason']) $(id).textContent = '-';
  $('sale-id').textContent = saleId;
  // No code: the sale waits for the customer's payment code at the agent's scanner.
  showSale((await ecr.request('sale.start', { sale_id: saleId, amount: input('amount').value, subject: 'Web till' })).sale);
}));

$('cancel-sale').addEventListener('click', () => act(async () => {
  if (saleId) showSale((await ecr.request('sale.cancel', { sale_id: saleId })).sale);
}));

$('update-points').addEventListener('click', () => act(async () => {
  const cardNo = $('member-card').textContent ?? '';
  loyaltyUpdate = `U${Date.now()}`;
  const body = { update_id: loyaltyUpdate, card_no: cardNo, points: input('points-total').value,
    delta: input('points-delta').value, reason: 'purchase', occur_time: new Date().toISOString() };
  if (!body.delta) delete body.delta;
  const { update } = await ecr.request('loyalty.update', body);
  $('points-state').textContent = update.state;
}));

function showSale(/** @type {any} */ sale) {
  if (!sale || sale.sale_id !== saleId) return;
  $('sale-id').textContent = sale.sale_id;
  $('sale-state').textContent = sale.state;
  $('sale-state').dataset.final = String(sale.final);
  $('sale-reason').textContent = sale.reason ?? '';
  if (sale.member_card_no && sale.member_card_no !== $('member-card').textContent) {
    $('member-card').textContent = sale.member_card_no;
    $('member-source').textContent = sale.member_card_source ?? '-';
    act(() => lookUp(sale.member_card_no));
  }
}

async function lookUp(/** @type {string} */ cardNo) {
  const { member } = await ecr.request('member.lookup', { card_no: cardNo });
  $('member-level').textContent = member.level ?? '-';
  $('member-points').textContent = member.points ?? '-';
}

const seen = []; // "epoch:seq" of every event delivered, heartbeats included (the tests check: each once)

function onEvent(/** @type {any} */ msg) {
  seen.push(`${msg.epoch}:${msg.seq}`);
  const body = msg.body ?? {};
  const item = document.createElement('li');
  item.dataset.epoch = msg.epoch;
  item.dataset.seq = String(msg.seq);
  item.dataset.event = msg.event;
  let summary = '';
  switch (msg.event) {
    case 'sale.updated':
      summary = `${body.sale.sale_id} ${body.sale.state}`;
      showSale(body.sale);
      break;
    case 'scan':
      // Never the raw code (the agent sends only `masked`, and `code` for member cards).
      summary = `${body.class} ${body.masked} (${body.source})`;
      scanArrivals.push({ masked: body.masked, source: body.source, atMs: performance.timeOrigin + performance.now() });
      $('last-scan').textContent = `${body.class} ${body.masked} from the ${body.source}`;
      break;
    case 'print.updated':
      summary = `${body.job.job_id} ${body.job.state}`;
      if (String(body.job.job_id).startsWith('enroll-')) $('slip-state').textContent = body.job.state;
      break;
    case 'member.opened':
      summary = `${body.card_no} (${body.job_id})`;
      $('opened-card').textContent = body.card_no;
      break;
    case 'loyalty.updated':
      summary = `${body.update_id} ${body.state}`;
      if (body.update_id === loyaltyUpdate) {
        $('points-state').textContent = body.state;
        if (body.state === 'done') act(() => lookUp(body.card_no));
      }
      break;
    case 'heartbeat':
      return; // proves the link is alive; not worth a line
    default:
      summary = JSON.stringify(body).slice(0, 120);
  }
  item.textContent = `${msg.seq} ${msg.event} ${summary}`;
  $('events').append(item);
  $('events').scrollTop = $('events').scrollHeight;
}

// ---- for the tests and bench/ -------------------------------------------------------------------------

/** `n` status.get round trips, one after the other, in milliseconds (performance.now()). */
async function benchStatus(/** @type {number} */ n) {
  const times = [];
  for (let i = 0; i < n; i += 1) {
    const t0 = performance.now();
    await ecr.request('status.get');
    times.push(performance.now() - t0);
  }
  return times;
}

Object.assign(window, { till: { ecr, benchStatus, scanArrivals, seen, dropConnection: () => ecr.socket?.close(4001, 'dropped by the test') } });

if (ecr.paired) act(() => start(undefined));
else $('pairing-status').textContent = 'not paired';
