// The amoCRM side under the 7 requests/s limit, for npm run bench:crm (bench/crm.ts runs it after its own
// latencies, on the same app, worker, simulator and database):
//   1. amoCRM requests per customer action, counted in the simulator's request log with the queue drained
//      (webhook echoes of the site's own writes included), by endpoint;
//   2. sign-up → lead stored while sign-ups arrive at a steady rate near the limit, beside sign-ups one at a time;
//   3. the queue's sync throughput (leads/minute) for a backlog of sign-ups, beside its ceiling at 7 requests/s.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { REQUEST_SPACING_MS } from '../src/crm/connection.js';
import type { RecordedRequest } from '../src/crm/simulator/request-log.js';
import type { AmoSimulator } from '../src/crm/simulator/simulator.js';
import { CRM_QUEUE } from '../src/services/crm-sync/queue.js';
import { confirmationLink } from '../test/helpers/smtp.js';

const LIMIT_PER_SECOND = 7;
const PASSWORD = 'Tyulpany v marte 2026';

export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
export const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms (n=${xs.length})`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Page = { status: number; text: string; location: string | null };
type BenchBrowser = { go(method: string, path: string, form?: Record<string, string>): Promise<Page>; csrf(html: string): string };
type LoadWorld = {
  db: Knex; sim: AmoSimulator; say: (line: string) => void; quick: boolean;
  worker: { start(): Promise<void>; stop(): Promise<void> };
  browser: () => BenchBrowser;
  /** The first delivery date every sign-up asks for (a week ahead). */
  firstDelivery: string;
};

/**
 * Waits until the amoCRM queue is empty and every webhook amoCRM sent about the site's own writes has been
 * answered (its job is then queued too), twice in a row.
 */
export async function drainCrmQueue(db: Knex, sim: AmoSimulator, limitMs = 300_000): Promise<void> {
  const started = performance.now();
  let quiet = 0;
  while (quiet < 2) {
    const { rows } = await db.raw('select count(*)::int as n from graphile_worker.jobs where queue_name = ? and attempts < max_attempts', [CRM_QUEUE]);
    await sim.controls.webhooksSettled();
    quiet = rows[0].n === 0 ? quiet + 1 : 0;
    if (performance.now() - started > limitMs) throw new Error('the amoCRM queue did not drain');
    await sleep(quiet ? 150 : 50);
  }
}

/** One query every 20 ms for every sign-up still waiting: resolves with the moment users.amo_lead_id was seen. */
function leadWatcher(db: Knex) {
  const waiting = new Map<string, { resolve: (at: number) => void; since: number }>();
  let running = false;
  async function loop() {
    running = true;
    while (waiting.size) {
      const rows: { email: string }[] = await db('users').whereIn('email', [...waiting.keys()]).whereNotNull('amo_lead_id').select('email');
      const at = performance.now();
      for (const { email } of rows) {
        waiting.get(email)?.resolve(at);
        waiting.delete(email);
      }
      for (const [email, w] of waiting) if (at - w.since > 300_000) throw new Error(`no lead for ${email} after 5 minutes`);
      await sleep(20);
    }
    running = false;
  }
  return (email: string): Promise<number> => new Promise((resolve, reject) => {
    waiting.set(email, { resolve, since: performance.now() });
    if (!running) loop().catch(reject);
  });
}

/** The endpoint of a recorded request, with ids replaced and the kind of GET /leads named. */
function endpoint(r: RecordedRequest): string {
  const path = r.path.replace(/\/\d+(?=\/|$)/g, '/{id}');
  const q = r.query as Record<string, unknown>;
  const suffix = r.method === 'GET' && q.query !== undefined ? '?query=…' : r.method === 'GET' && q.filter !== undefined ? '?filter[…]' : '';
  return `${r.method} ${path}${suffix}`;
}
/** The most requests amoCRM received within any one second, and the shortest gap between two (its limit counts a sliding second). */
function densest(requests: RecordedRequest[]): { perSecond: number; minGapMs: number } {
  const at = requests.map((q) => q.at).sort((a, b) => a - b);
  let perSecond = 0;
  let minGapMs = Infinity;
  for (let i = 0, j = 0; i < at.length; i++) {
    while (at[i]! - at[j]! >= 1000) j++;
    perSecond = Math.max(perSecond, i - j + 1);
    if (i > 0) minGapMs = Math.min(minGapMs, at[i]! - at[i - 1]!);
  }
  return { perSecond, minGapMs };
}
const isNote = (e: string) => /^POST \/api\/v4\/leads(\/\{id\})?\/notes$/.test(e);

type Customer = { b: BenchBrowser; email: string; csrf: string };

export async function measureCrmLoad(w: LoadWorld): Promise<void> {
  const { db, sim, say } = w;
  let sectionStart = performance.now();
  const took = () => {
    const s = `took ${((performance.now() - sectionStart) / 1000).toFixed(0)} s`;
    sectionStart = performance.now();
    return s;
  };
  const watch = leadWatcher(db);
  const log = () => sim.controls.requests();
  const form = (extra: Record<string, string> = {}) => ({
    bouquet: 'seasonal', address: 'ул. Ленина, 25', deliveryDate: w.firstDelivery, interval: 'weekly', wishes: '', ...extra,
  });

  /** A sign-up through the form (after following a referral link when given); `at` is when POST /signup was answered. */
  async function signup(referralId?: string) {
    const b = w.browser();
    if (referralId) await b.go('GET', `/${referralId}`);
    const page = await b.go('GET', '/signup');
    const email = `load-${randomUUID()}@example.ru`;
    const started = performance.now();
    const res = await b.go('POST', '/signup', { _csrf: b.csrf(page.text), email, password: PASSWORD, ...form(), consentPersonalData: 'yes' });
    const at = performance.now();
    if (res.status !== 303) throw new Error(`sign-up answered ${res.status}`);
    return { b, email, postMs: at - started, at };
  }
  async function customer(referralId?: string): Promise<Customer> {
    const s = await signup(referralId);
    await watch(s.email);
    const page = await s.b.go('GET', '/account');
    return { b: s.b, email: s.email, csrf: s.b.csrf(page.text) };
  }
  async function post(c: Customer, path: string, fields: Record<string, string> = {}): Promise<Page> {
    const res = await c.b.go('POST', path, { _csrf: c.csrf, ...fields });
    if (res.status !== 303) throw new Error(`POST ${path} answered ${res.status}`);
    return res;
  }

  // ---- 1. Requests per action --------------------------------------------------------------------------
  await drainCrmQueue(db, sim);
  type Counted = { requests: RecordedRequest[]; echoes: number };
  /** Runs the action, drains the queue, and returns the amoCRM requests it caused. */
  async function counted(action: () => Promise<unknown>): Promise<Counted> {
    await drainCrmQueue(db, sim);
    const from = log().length;
    const delivered = sim.controls.webhookDeliveries().length;
    await action();
    await drainCrmQueue(db, sim);
    return { requests: log().slice(from), echoes: sim.controls.webhookDeliveries().length - delivered };
  }
  const referrer = await customer(); // warm-up: fields and pipelines are read and cached here
  await drainCrmQueue(db, sim);
  const referralId = String((await db('users').where({ email: referrer.email }).first('referral_id')).referral_id);
  const actions: { name: string; runs: Counted[] }[] = [];
  const REPEAT = 2;
  async function action(name: string, run: (c: Customer) => Promise<unknown>) {
    const runs: Counted[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const c = await customer();
      await drainCrmQueue(db, sim);
      runs.push(await counted(() => run(c)));
    }
    actions.push({ name, runs });
  }
  const plain: Counted[] = [];
  const referred: Counted[] = [];
  for (let i = 0; i < REPEAT; i++) plain.push(await counted(() => customer()));
  for (let i = 0; i < REPEAT; i++) referred.push(await counted(() => customer(referralId)));
  actions.push({ name: 'sign-up', runs: plain }, { name: 'sign-up through a referral link', runs: referred });
  await action('preferences: one field (wishes)', (c) => post(c, '/account/preferences', form({ wishes: 'Без лилий, пожалуйста' })));
  await action('preferences: three fields (bouquet, address, wishes)', (c) => post(c, '/account/preferences',
    form({ bouquet: 'romantic', address: 'пр. Мира, 7, кв. 3', wishes: 'Побольше зелени' })));
  await action('preferences: interval weekly → monthly', (c) => post(c, '/account/preferences', form({ interval: 'monthly' })));
  await action('subscription: skip a delivery', (c) => post(c, `/account/deliveries/${w.firstDelivery}/skip`));
  const pauseUntil = (() => { const d = new Date(`${w.firstDelivery}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 30); return d.toISOString().slice(0, 10); })();
  await action('subscription: pause', (c) => post(c, '/account/pause', { until: pauseUntil }));
  await action('subscription: cancel', (c) => post(c, '/account/cancel', { reason: 'quality', comment: 'Бенчмарк' }));
  await action('order placed (not yet confirmed)', (c) => post(c, '/account/orders', { bouquet: 'romantic', address: 'ул. Садовая, 3', deliveryDate: w.firstDelivery, wishes: '' }));
  await action('order placed and confirmed by the customer', async (c) => {
    const res = await post(c, '/account/orders', { bouquet: 'romantic', address: 'ул. Садовая, 3', deliveryDate: w.firstDelivery, wishes: '' });
    const id = /\/account\/orders\/(\d+)$/.exec(res.location ?? '')?.[1];
    if (!id) throw new Error(`no order id in ${res.location}`);
    await post(c, `/account/orders/${id}/confirm`);
  });
  await action('email change, confirmed from the mail', async (c) => {
    const to = `changed-${randomUUID()}@example.ru`;
    await post(c, '/account/email', { currentPassword: PASSWORD, email: to });
    const link = new URL(await confirmationLink(to));
    const shown = await c.b.go('GET', `${link.pathname}${link.search}`);
    if (shown.status !== 200) throw new Error(`the confirmation link answered ${shown.status}`);
    const done = await c.b.go('POST', '/confirm-email', { token: link.searchParams.get('token')! });
    if (done.status !== 303) throw new Error(`POST /confirm-email answered ${done.status}`);
  });

  const counts = (runs: Counted[]) => runs.map((r) => r.requests.length);
  const span = (xs: number[]) => (Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)}`);
  const breakdown = (runs: Counted[]) => {
    const by = new Map<string, number>();
    for (const r of runs) for (const q of r.requests) by.set(endpoint(q), (by.get(endpoint(q)) ?? 0) + 1);
    return [...by].map(([e, n]) => `${n / runs.length === 1 ? '' : `${+(n / runs.length).toFixed(1)} × `}${e}`).join(', ') || '—';
  };
  const notes = (runs: Counted[]) => +(runs.reduce((n, r) => n + r.requests.filter((q) => isNote(endpoint(q))).length, 0) / runs.length).toFixed(1);
  say(`\n1. amoCRM requests per action (each run ${REPEAT}× on a fresh customer, counted with the queue drained, after warm-up; ${took()})`);
  say('   Included: the webhooks amoCRM sends back about the site\'s own writes (update_lead), each read back with one GET of the lead.');
  say('| action | requests | of them notes | webhooks back | 429 | by endpoint (per action) |');
  say('|---|---:|---:|---:|---:|---|');
  for (const a of actions) {
    const n429 = a.runs.reduce((n, r) => n + r.requests.filter((q) => q.status === 429).length, 0);
    const echoes = +(a.runs.reduce((n, r) => n + r.echoes, 0) / a.runs.length).toFixed(1);
    say(`| ${a.name} | ${span(counts(a.runs))} | ${notes(a.runs)} | ${echoes} | ${n429} | ${breakdown(a.runs)} |`);
  }
  const creates = [...plain, ...referred].flatMap((r) => r.requests).filter((q) => endpoint(q) === 'POST /api/v4/leads/complex');
  const tagsOf = (q: RecordedRequest) => ((q.body as { _embedded?: { tags?: { name: string }[] } }[] | null)?.[0]?._embedded?.tags ?? []).map((t) => t.name);
  say(`Tags ride in the lead's create request (POST /api/v4/leads/complex, _embedded.tags): ${creates.filter((q) => tagsOf(q).length).length} of ${creates.length} creates carried them ` +
    `(${[...new Set(creates.map((q) => tagsOf(q).join('+')))].join('; ')}): 0 extra requests. Notes are POST …/notes: one request per action that adds any (a batch of up to 50 notes).`);

  // ---- 2. Sign-up → lead at a steady arrival rate ------------------------------------------------------
  const perSignup = counts(plain).reduce((a, b) => a + b, 0) / plain.length;
  const spacingPerSecond = 1000 / REQUEST_SPACING_MS;
  const ceilingPerSecond = LIMIT_PER_SECOND / perSignup;
  const seconds = w.quick ? 8 : 25;
  // Below the limit, and once above it (for that one, less time: its backlog only grows).
  const plan = [[0.5, seconds], [0.7, seconds], [0.85, seconds], [1.1, Math.round(seconds * 0.6)]] as const;
  say(`\n2. sign-up → lead stored (from POST /signup answered until users.amo_lead_id is set), amoCRM limit ${LIMIT_PER_SECOND} req/s;`);
  say(`   a sign-up costs ${+perSignup.toFixed(2)} requests, so the limit allows ${ceilingPerSecond.toFixed(2)} sign-ups/s ` +
    `(the app spaces its own requests ${REQUEST_SPACING_MS} ms apart: ${(spacingPerSecond / perSignup).toFixed(2)}/s).`);
  say(`   Sign-ups arrive on a fixed schedule at ${plan.map(([f]) => `${Math.round(f * 100)} %`).join(', ')} of that, for ${plan.map(([, t]) => t).join(', ')} s.`);
  await drainCrmQueue(db, sim);
  const alone: number[] = [];
  const alonePost: number[] = [];
  for (let i = 0; i < (w.quick ? 5 : 10); i++) {
    const s = await signup();
    alone.push((await watch(s.email)) - s.at);
    alonePost.push(s.postMs);
    await drainCrmQueue(db, sim);
  }
  type Row = { label: string; lead: number[]; post: number[]; n429: number; requests: number; lateMs: number; densest: ReturnType<typeof densest> | null };
  const rows: Row[] = [{ label: 'baseline: one at a time, queue idle', lead: alone, post: alonePost, n429: 0, requests: NaN, lateMs: 0, densest: null }];
  for (const [fraction, duration] of plan) {
    const rate = Math.round(fraction * ceilingPerSecond * 100) / 100;
    await drainCrmQueue(db, sim);
    const from = log().length;
    const count = Math.max(3, Math.round(rate * duration));
    const t0 = performance.now();
    let lateMs = 0;
    const runs: Promise<{ lead: number; post: number }>[] = [];
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / rate;
      const now = performance.now();
      if (due > now) await sleep(due - now);
      lateMs = Math.max(lateMs, performance.now() - due);
      runs.push(signup().then(async (s) => ({ lead: (await watch(s.email)) - s.at, post: s.postMs })));
    }
    const done = await Promise.all(runs);
    await drainCrmQueue(db, sim);
    const requests = log().slice(from);
    rows.push({
      label: `${rate.toFixed(2)} sign-ups/s (${Math.round((rate / ceilingPerSecond) * 100)} % of the limit)`, lead: done.map((d) => d.lead), post: done.map((d) => d.post),
      n429: requests.filter((q) => q.status === 429).length, requests: requests.length / count, lateMs, densest: densest(requests),
    });
  }
  say(`   (${took()})`);
  say('| arrivals | n | lead p50 ms | lead p95 ms | lead p99 ms | lead max ms | p95 < 2 s | POST /signup p95 ms | amoCRM req/sign-up | most req in 1 s | 429 |');
  say('|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|');
  for (const r of rows) {
    say(`| ${r.label} | ${r.lead.length} | ${pct(r.lead, 50).toFixed(0)} | ${pct(r.lead, 95).toFixed(0)} | ${pct(r.lead, 99).toFixed(0)} | ${Math.max(...r.lead).toFixed(0)} | ` +
      `${pct(r.lead, 95) < 2000 ? 'yes' : 'NO'} | ${pct(r.post, 95).toFixed(0)} | ${Number.isNaN(r.requests) ? '—' : r.requests.toFixed(2)} | ${r.densest?.perSecond ?? '—'} | ${r.n429} |`);
  }
  const late = Math.max(...rows.map((r) => r.lateMs));
  if (late > 200) say(`(the arrivals ran up to ${late.toFixed(0)} ms behind schedule: the machine was busy)`);

  // ---- 3. Sync throughput for a backlog ----------------------------------------------------------------
  const n = w.quick ? 30 : 60;
  await drainCrmQueue(db, sim);
  await w.worker.stop(); // the sign-ups queue their syncs; nothing is sent until the worker starts again
  const emails: string[] = [];
  const making = Array.from({ length: 4 }, async () => {
    while (emails.length < n) {
      const slot = emails.push('') - 1;
      emails[slot] = (await signup()).email;
    }
  });
  await Promise.all(making);
  const from = log().length;
  const t0 = performance.now();
  const seen = emails.map((e) => watch(e).then((at) => at - t0));
  await w.worker.start();
  const times = (await Promise.all(seen)).sort((a, b) => a - b);
  await drainCrmQueue(db, sim);
  const requests = log().slice(from);
  const total = times.at(-1)!;
  const [i10, i90] = [Math.floor(n * 0.1), Math.ceil(n * 0.9) - 1];
  const steady = ((i90 - i10) / (times[i90]! - times[i10]!)) * 60_000;
  const perLead = requests.length / n;
  const by = new Map<string, number>();
  for (const q of requests) by.set(endpoint(q), (by.get(endpoint(q)) ?? 0) + 1);
  const dense = densest(requests);
  say(`\n3. sync throughput: ${n} sign-ups queued while the worker was stopped, then the worker started (one amoCRM queue, jobs one at a time; ${took()})`);
  say('| measure | value |');
  say('|---|---:|');
  say(`| all ${n} leads stored after | ${(total / 1000).toFixed(1)} s |`);
  say(`| leads/minute, whole backlog | ${((n / total) * 60_000).toFixed(1)} |`);
  say(`| leads/minute, 10 %→90 % of the backlog | ${steady.toFixed(1)} |`);
  say(`| amoCRM requests, total (per lead) | ${requests.length} (${perLead.toFixed(2)}) |`);
  say(`| amoCRM requests/s while syncing | ${(requests.length / (total / 1000)).toFixed(2)} |`);
  say(`| ceiling at ${LIMIT_PER_SECOND} req/s: ${LIMIT_PER_SECOND} × 60 ÷ ${perLead.toFixed(2)} | ${((LIMIT_PER_SECOND * 60) / perLead).toFixed(1)} leads/minute |`);
  say(`| ceiling of the app's own spacing (${REQUEST_SPACING_MS} ms): ${spacingPerSecond.toFixed(2)} × 60 ÷ ${perLead.toFixed(2)} | ${((spacingPerSecond * 60) / perLead).toFixed(1)} leads/minute |`);
  say(`| most requests within one second; shortest gap | ${dense.perSecond}; ${dense.minGapMs} ms |`);
  say(`| 429 answers from the simulator | ${requests.filter((q) => q.status === 429).length} |`);
  say(`by endpoint: ${[...by].map(([e, k]) => `${k} × ${e}`).join(', ')}`);
}
