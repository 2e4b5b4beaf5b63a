// npm run bench:crm — the amoCRM side, measured in one run against the simulator over HTTP:
//   • POST /signup latency with the simulator answering at once vs. 3 s late (the request must not wait on amoCRM);
//   • sign-up → lead latency (the job queue's round trip);
//   • webhook → dashboard latency (a stage/price change by staff in amoCRM until the customer sees it);
//   • the webhook endpoint's throughput (autocannon, distinct X-Amocrm-Requestid per request);
//   • then bench/crm-load.ts: amoCRM requests per customer action, sign-up → lead at steady arrival rates near
//     the 7 requests/s limit, and the queue's sync throughput (leads/minute) for a backlog.
// Options: --n=25 (runs of each latency above), --quick (a short run of everything).
// The app and its worker run in this process (tsx, NODE_ENV=test) on real PostgreSQL: BENCH_DATABASE_URL or
// TEST_DATABASE_URL (a fresh database is created and dropped), else an embedded PostgreSQL in var/bench-postgres.
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { pino } from 'pino';
import { createApp, createServices } from '../src/app.js';
import { findProjectRoot, loadConfig, readEnvironment } from '../src/config.js';
import { createAmoSimulator } from '../src/crm/simulator/simulator.js';
import { createDb, migrate } from '../src/db.js';
import { freePort, startEmbeddedPostgres } from '../src/embedded-postgres.js';
import { todayIn } from '../src/i18n/i18n.js';
import { createWorker } from '../src/services/job-queue.js';
import { createTasks } from '../src/tasks.js';
import { smtpUrl, startSmtp, stopSmtp } from '../test/helpers/smtp.js';
import { drainCrmQueue, fmt, measureCrmLoad, pct } from './crm-load.js';

const QUICK = process.argv.includes('--quick');
const N = Number(process.argv.find((a) => a.startsWith('--n='))?.slice(4) ?? (QUICK ? 8 : 25));
const say = (line: string) => process.stdout.write(`${line}\n`);

async function database() {
  const root = findProjectRoot();
  const env = readEnvironment(root);
  let serverUrl = env.BENCH_DATABASE_URL ?? loadConfig(env).testDatabaseUrl;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres(path.join(root, 'var', 'bench-postgres'), pino({ level: 'silent' }));
    serverUrl = embedded.url('postgres');
    stopEmbedded = embedded.stop;
  }
  const name = `flowers_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
      await stopEmbedded?.();
    },
  };
}

/** A tiny cookie-keeping client for the form flows. */
function browser(base: string) {
  let cookie = '';
  const ip = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250) + 1}`;
  async function go(method: string, p: string, form?: Record<string, string>) {
    const res = await fetch(`${base}${p}`, {
      method, redirect: 'manual', body: form ? new URLSearchParams(form) : undefined,
      headers: { Cookie: cookie, 'X-Forwarded-For': ip, ...(form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
    });
    const set = res.headers.get('set-cookie');
    if (set && /^sid=/.test(set)) cookie = set.split(';')[0]!;
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }
  // The visitor forms (sign-up, login) carry no token: the cross-origin check protects them (SECURITY S14).
  const csrf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  return { go, csrf };
}

async function main() {
  const db0 = await database();
  const sim = createAmoSimulator({ seedLeadFields: true, rateLimitPerSecond: 7 });
  await startSmtp(); // keeps every mail: the email change follows its confirmation link
  const { url: simUrl } = await sim.listen(0);
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: 'test', PORT: String(port), APP_URL: `http://127.0.0.1:${port}`, DATABASE_URL: db0.url,
    SESSION_SECRET: randomBytes(32).toString('hex'), AMOCRM_WEBHOOK_SECRET: randomBytes(32).toString('hex'),
    AMOCRM_BASE_URL: simUrl, AMOCRM_LONG_LIVED_TOKEN: sim.controls.issueLongLivedToken(), TRUST_PROXY: 'loopback',
    SMTP_URL: smtpUrl(), LOG_LEVEL: 'silent', VAR_DIR: path.join(findProjectRoot(), 'var', 'bench'),
  });
  const logger = pino({ level: 'silent' });
  const db = createDb(db0.url, { poolMax: 10 });
  await migrate(db, db0.url);
  const app = createApp({ config, db, logger });
  const server = await new Promise<import('node:http').Server>((resolve) => { const s = app.listen(port, '127.0.0.1', () => resolve(s)); });
  const worker = createWorker({ connectionString: db0.url, logger, tasks: createTasks({ config, db, logger }), pollInterval: 200 });
  await worker.start();
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const services = createServices({ config, db, logger });
  await services.crmAdmin.registerWebhook(`${config.appUrl}/webhooks/amocrm/${config.amocrm.webhookSecret}`);

  const date = (() => { const d = new Date(`${todayIn('Europe/Moscow')}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 7); return d.toISOString().slice(0, 10); })();
  async function signup() {
    const b = browser(base);
    const form = await b.go('GET', '/signup');
    const email = `bench-${randomUUID()}@example.ru`;
    const started = performance.now();
    const res = await b.go('POST', '/signup', { _csrf: b.csrf(form.text), email, password: 'Tyulpany v marte 2026', bouquet: 'seasonal', address: 'ул. Ленина, 25', deliveryDate: date, interval: 'weekly', wishes: '', consentPersonalData: 'yes' });
    const ms = performance.now() - started;
    if (res.status !== 303) throw new Error(`sign-up answered ${res.status}`);
    return { b, email, ms, at: performance.now() };
  }
  async function leadOf(email: string, since: number, limitMs = 60_000) {
    for (;;) {
      const row = await db('users').where({ email }).first('amo_lead_id');
      if (row?.amo_lead_id) return { leadId: Number(row.amo_lead_id), ms: performance.now() - since };
      if (performance.now() - since > limitMs) throw new Error(`no lead for ${email}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  // Other processes on the machine slow the app and its worker alike: their load is printed before and after.
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  say(`amoCRM bench — ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, load average ${load()}; ${N} runs each`);
  await leadOf((await signup()).email, performance.now()); // warm-up, not counted
  // 1. Sign-up with amoCRM at once, then 3 s late (the customer's request must not notice).
  const instant: number[] = [];
  const toLead: number[] = [];
  const customers: { b: ReturnType<typeof browser>; email: string; leadId: number }[] = [];
  for (let i = 0; i < N; i++) {
    const s = await signup();
    instant.push(s.ms);
    const lead = await leadOf(s.email, s.at);
    toLead.push(lead.ms);
    customers.push({ b: s.b, email: s.email, leadId: lead.leadId });
  }
  sim.controls.delay(3000);
  const delayed: number[] = [];
  for (let i = 0; i < N; i++) delayed.push((await signup()).ms);
  say(`POST /signup, amoCRM answering at once: ${fmt(instant)}`);
  say(`POST /signup, amoCRM answering 3 s late: ${fmt(delayed)}  (p99 ratio ${(pct(delayed, 99) / pct(instant, 99)).toFixed(2)})`);
  say(`sign-up → lead stored (amoCRM at once):  ${fmt(toLead)}`);
  sim.controls.delay(0);
  // Let the queue drain before the next part (the delayed sign-ups' jobs are still running).
  await drainCrmQueue(db, sim);

  // 2. Webhook → dashboard: staff changes the price in amoCRM; the customer's dashboard shows it.
  const toDashboard: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = customers[i % customers.length]!;
    const price = 20_000 + i;
    const shown = `${new Intl.NumberFormat('ru-RU').format(price)}\u00a0₽`.replace(/\s/g, '\u00a0');
    const started = performance.now();
    await sim.controls.staffChangeLead(c.leadId, { price });
    for (;;) {
      const page = await c.b.go('GET', '/account');
      if (page.text.includes(shown)) break;
      if (performance.now() - started > 60_000) throw new Error('dashboard never showed the new sum');
      await new Promise((r) => setTimeout(r, 10));
    }
    toDashboard.push(performance.now() - started);
  }
  say(`webhook → dashboard shows the change:    ${fmt(toDashboard)}`);

  // 3. The webhook endpoint's throughput: answered at once, the work queued.
  const leadIds = customers.map((c) => c.leadId);
  let n = 0;
  const result = await autocannon({
    url: `${base}/webhooks/amocrm/${config.amocrm.webhookSecret}`, connections: 10, duration: QUICK ? 3 : 10,
    requests: [{
      method: 'POST',
      setupRequest: (req) => {
        const id = leadIds[n++ % leadIds.length];
        return { ...req, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-amocrm-requestid': randomUUID() },
          body: `account%5Bid%5D=31415926&leads%5Bupdate%5D%5B0%5D%5Bid%5D=${id}&leads%5Bupdate%5D%5B0%5D%5Bprice%5D=1` };
      },
    }],
  });
  const ok = (result.statusCodeStats as Record<string, { count: number }>)['200']?.count ?? 0;
  say(`POST /webhooks/amocrm (10 connections, ${QUICK ? 3 : 10} s): ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${ok} answered 200, ${result.non2xx} other, ${result.errors} errors`);

  await measureCrmLoad({ db, sim, say, quick: QUICK, worker, browser: () => browser(base), firstDelivery: date });
  say(`\nload average at the end: ${load()}`);

  await worker.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await db.destroy();
  await sim.close();
  await stopSmtp();
  await db0.drop();
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
