// npm run bench:staff [-- --customers 100000 --orders 1000000 --n 30 --fresh --no-browser --database flowers_staff_scale]
//
// The staff area at scale, in one run:
//   1. a database with 100,000 customers, 1,000,000 orders, 200,000 skips and moves and 10,000 pauses
//      (scripts/seed-scale.ts), kept between runs as `flowers_staff_scale` (or --database) on BENCH_DATABASE_URL's / TEST_DATABASE_URL's server (else the embedded PostgreSQL in
//      var/bench-postgres); --fresh seeds it again;
//   2. server render time of every staff page (sequential requests, p50/p95/max; goal: under 100 ms), with
//      each page's gzip weight including the stylesheet (goal: ≤ 10 KB);
//   3. EXPLAIN (ANALYZE, BUFFERS) of the deliveries and customer-search queries at that size;
//   4. first render of each page in Chromium throttled like 2G (250 kbit/s, 300 ms round trip; gzip in front as
//      nginx does it), with a cold cache (goal: under 2 s).
// The app runs in this process (as the tests do) with the amoCRM simulator. Results: printed and written to
// var/bench/staff.json and var/bench/staff-explain.txt. `benchStaff()` is what a combined bench can call.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createGzip, gzipSync } from 'node:zlib';
import pg from 'pg';
import { pino } from 'pino';
import { createApp, createServices } from '../src/app.js';
import { findProjectRoot, loadConfig, readEnvironment } from '../src/config.js';
import { createAmoSimulator } from '../src/crm/simulator/simulator.js';
import { createDb, type Db } from '../src/db.js';
import { startEmbeddedPostgres } from '../src/embedded-postgres.js';
import { todayIn } from '../src/i18n/i18n.js';
import { BY_PRIMARY_KEY, BY_TRIGRAMS, containsPattern, customerMatchesSql, customerPageSql } from '../src/models/staff-customer-model.js';
import { deliveryCountSql, deliveryListSql, deliveryPageSql, type Statement } from '../src/models/staff-delivery-model.js';
import { seedScale } from '../scripts/seed-scale.js';

const ROOT = findProjectRoot();
const OUT = path.join(ROOT, 'var', 'bench');
const DEFAULT_DATABASE = 'flowers_staff_scale';
const STAFF = { email: 'bench-staff@flowers.test', password: 'Menedzher magazina 2026' };
export const GOALS = { renderMs: 100, gzipBytes: 10 * 1024, firstRenderMs: 2000 };
/** 2G as the issue puts it: 250 kbit/s both ways, 300 ms round trip. */
export const TWO_G = { latencyMs: 300, bytesPerSecond: 250_000 / 8 };

export type StaffBenchOptions = { database?: string; customers: number; orders: number; n: number; fresh: boolean; browser: boolean; log: (line: string) => void };
export type PageTiming = { name: string; path: string; status: number; p50: number; p95: number; max: number; htmlGzip: number; withCss: number };
export type FirstRender = { name: string; path: string; firstContentfulPaintMs: number; loadMs: number; bytes: number; requests: string[] };
export type StaffBenchResult = { customers: number; orders: number; deliveriesToday: number; pages: PageTiming[]; csv: PageTiming; firstRender: FirstRender[]; explain: string };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};

/** The seeded scale database (created on first use, kept between runs; `fresh` seeds it again), on the bench's PostgreSQL. */
export async function scaleDatabase(o: Pick<StaffBenchOptions, 'database' | 'customers' | 'orders' | 'fresh' | 'log'>): Promise<{ url: string; stop: () => Promise<void> }> {
  const DATABASE = o.database ?? DEFAULT_DATABASE;
  const env = readEnvironment(ROOT);
  let serverUrl = env.BENCH_DATABASE_URL ?? loadConfig(env).testDatabaseUrl ?? undefined;
  let stop = async () => {};
  if (!serverUrl) {
    const embedded = await startEmbeddedPostgres(path.join(ROOT, 'var', 'bench-postgres'), pino({ level: 'silent' }));
    serverUrl = embedded.url('postgres');
    stop = embedded.stop;
  }
  const url = new URL(serverUrl);
  url.pathname = `/${DATABASE}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    if (o.fresh) await admin.query(`drop database if exists ${DATABASE} with (force)`);
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [DATABASE]);
    let seeded = false;
    if (rowCount) {
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      const { rows } = await c.query("select count(*)::int as n from users where role = 'customer'").catch(() => ({ rows: [{ n: 0 }] }));
      await c.end();
      seeded = rows[0].n >= o.customers;
      if (!seeded && rows[0].n > 0) throw new Error(`${DATABASE} has ${rows[0].n} customers, not ${o.customers}: run with --fresh`);
    }
    if (!seeded) {
      o.log(`seeding ${DATABASE}: ${o.customers} customers, ${o.orders} orders …`);
      await seedScale(url.toString(), { customers: o.customers, orders: o.orders, log: (m) => o.log(`  ${m}`) });
    }
  } finally {
    await admin.end();
  }
  return { url: url.toString(), stop };
}

/** A cookie-keeping client (one session) for the in-process app. */
function session(base: string) {
  let cookie = '';
  return {
    async get(p: string, extra: Record<string, string> = {}) {
      const res = await fetch(`${base}${p}`, { redirect: 'manual', headers: { Cookie: cookie, 'X-Forwarded-For': '10.9.9.9', ...extra } });
      const set = res.headers.get('set-cookie');
      if (set && /^sid=/.test(set)) cookie = set.split(';')[0]!;
      return { status: res.status, text: await res.text() };
    },
    async post(p: string, form: Record<string, string>) {
      const res = await fetch(`${base}${p}`, {
        method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
        headers: { Cookie: cookie, 'X-Forwarded-For': '10.9.9.9', 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      const set = res.headers.get('set-cookie');
      if (set && /^sid=/.test(set)) cookie = set.split(';')[0]!;
      return { status: res.status, location: res.headers.get('location') };
    },
    get cookie() {
      return cookie;
    },
  };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What nginx does in front of the app: gzip for text. */
function gzipProxy(target: string): Server {
  const upstream = new URL(target);
  return createServer((req, res) => {
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, 'accept-encoding': 'identity' } }, (up: IncomingMessage) => {
      const type = String(up.headers['content-type'] ?? '');
      const gzip = /gzip/.test(String(req.headers['accept-encoding'] ?? '')) && /^(text\/|application\/json)/.test(type);
      const headers = { ...up.headers };
      if (gzip) {
        delete headers['content-length'];
        headers['content-encoding'] = 'gzip';
        headers.vary = headers.vary ? `${headers.vary}, Accept-Encoding` : 'Accept-Encoding';
      }
      res.writeHead(up.statusCode ?? 502, headers);
      (gzip ? up.pipe(createGzip({ level: 6 })) : up).pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
}

async function explainAll(db: Db, today: string, rare: string, broad: string): Promise<string> {
  const monthEnd = (() => {
    const d = new Date(`${today}T00:00:00Z`);
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).toISOString().slice(0, 10);
  })();
  const run = async (title: string, statement: Statement, settings?: string) => {
    const rows = await db.transaction(async (trx) => {
      if (settings) await trx.raw(settings);
      return (await trx.raw(`explain (analyze, buffers) ${statement.sql}`, statement.bindings)).rows as { 'QUERY PLAN': string }[];
    });
    return `── ${title}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}\n`;
  };
  const parts = [
    await run(`deliveries of ${today}, page 1`, deliveryPageSql(today, 50, 0)),
    await run(`deliveries of ${monthEnd} (month end), page 1`, deliveryPageSql(monthEnd, 50, 0)),
    await run(`deliveries of ${today}, count (overview)`, deliveryCountSql(today)),
    await run(`deliveries of ${today}, whole day (CSV)`, deliveryListSql(today)),
    await run(`customer search "${rare}" (rare: trigram indexes)`, customerMatchesSql({ pattern: containsPattern(rare), number: null, limit: 51 }), BY_TRIGRAMS),
    await run(`customer search "${broad}" (broad: trigram indexes stop at 1001 matches …)`, customerMatchesSql({ pattern: containsPattern(broad), number: null, limit: 51 }), BY_TRIGRAMS),
    await run(`customer search "${broad}" (… then newest first through the primary key)`, customerPageSql({ pattern: containsPattern(broad), number: null, limit: 51 }), BY_PRIMARY_KEY),
  ];
  return parts.join('\n');
}

async function firstRenders(proxyUrl: string, cookie: string, pages: { name: string; path: string }[]): Promise<FirstRender[]> {
  const { launchBrowser } = await import('../test/helpers/browser.js');
  const browser = await launchBrowser();
  const out: FirstRender[] = [];
  try {
    for (const p of pages) {
      // A fresh context each time: nothing cached, the stylesheet is fetched too.
      const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 800 }, locale: 'ru-RU' });
      const [name, ...rest] = cookie.split('=');
      await context.addCookies([{ name: name!, value: rest.join('='), url: proxyUrl }]);
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false, latency: TWO_G.latencyMs, downloadThroughput: TWO_G.bytesPerSecond, uploadThroughput: TWO_G.bytesPerSecond,
      });
      let bytes = 0;
      const requests: string[] = [];
      cdp.on('Network.loadingFinished', (e: { encodedDataLength: number }) => { bytes += e.encodedDataLength; });
      page.on('request', (r) => requests.push(new URL(r.url()).pathname.replace(/\.[0-9a-f]{10}\.css$/, '.css')));
      const started = Date.now();
      await page.goto(`${proxyUrl}${p.path}`, { waitUntil: 'load' });
      const loadMs = Date.now() - started;
      // The paint entry may be recorded just after the load event; its time is from the start of navigation.
      let paint = -1;
      for (let i = 0; i < 40 && paint < 0; i++) {
        paint = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1);
        if (paint < 0) await new Promise((r) => setTimeout(r, 50));
      }
      out.push({ name: p.name, path: p.path, firstContentfulPaintMs: Math.round(paint), loadMs, bytes, requests });
      await context.close();
    }
  } finally {
    await browser.close();
  }
  return out;
}

export async function benchStaff(o: StaffBenchOptions): Promise<StaffBenchResult> {
  mkdirSync(OUT, { recursive: true });
  const database = await scaleDatabase(o);
  const simulator = createAmoSimulator({ seedLeadFields: true });
  const { url: amoUrl } = await simulator.listen(0);
  const config = loadConfig({
    NODE_ENV: 'test', APP_URL: 'http://127.0.0.1:3999', DATABASE_URL: database.url, LOG_LEVEL: 'warn',
    SESSION_SECRET: 'bench-session-secret-bench-session-secret-0123456789', AMOCRM_WEBHOOK_SECRET: 'bench-webhook-secret-bench-webhook-secret-0123',
    AMOCRM_BASE_URL: amoUrl, AMOCRM_LONG_LIVED_TOKEN: simulator.controls.issueLongLivedToken(), TRUST_PROXY: 'loopback',
    SMTP_URL: 'smtp://127.0.0.1:9', MAIL_FROM: 'bench@flowers.test',
  }, { root: ROOT });
  const logger = pino({ level: 'warn' });
  const db = createDb(database.url, { logger });
  const app = createApp({ config, db, logger });
  const server = createServer(app);
  const base = await listen(server);
  const proxy = gzipProxy(base);
  const proxyUrl = await listen(proxy);
  try {
    await createServices({ config, db, logger }).auth.addStaff(STAFF.email, STAFF.password);
    const staff = session(base);
    // The login form carries no token (S14: the forms before login rely on the cross-origin check).
    const login = await staff.post('/login', { email: STAFF.email, password: STAFF.password });
    if (login.status !== 303) throw new Error(`staff login failed (${login.status})`);

    const today = todayIn(config.shopTimeZone);
    const deliveriesToday = (await db.raw(deliveryCountSql(today).sql, deliveryCountSql(today).bindings)).rows[0].n as number;
    const lastPage = Math.max(1, Math.ceil(deliveriesToday / 50));
    const { rows: [busy] } = await db.raw('select user_id from orders where user_id in (select id from users order by id desc limit 2000) group by user_id order by count(*) desc limit 1');
    const { rows: [sample] } = await db.raw("select email from users where role = 'customer' order by id limit 1 offset 4321");
    const rare = String(sample.email).split('@')[0]!; // one customer (and those whose number continues it)
    const broad = 'москва';
    const { rows: [deep] } = await db.raw("select id from users where role = 'customer' order by id desc limit 1 offset 20000");
    const css = readFileSync(path.join(ROOT, 'public', 'css', 'site.css'));
    const cssGzip = gzipSync(css).length;

    const pages = [
      { name: 'overview', path: '/staff' },
      { name: 'deliveries today, page 1', path: '/staff/deliveries' },
      { name: `deliveries today, last page (${lastPage})`, path: `/staff/deliveries?date=${today}&page=${lastPage}` },
      { name: 'customers, newest', path: '/staff/customers' },
      { name: `search "${rare}" (rare)`, path: `/staff/customers?q=${encodeURIComponent(rare)}` },
      { name: `search "${broad}" (broad)`, path: `/staff/customers?q=${encodeURIComponent(broad)}` },
      { name: `search "${broad}", a page deep`, path: `/staff/customers?q=${encodeURIComponent(broad)}&after=${deep.id}` },
      { name: 'search "Садовая, д. 1"', path: `/staff/customers?q=${encodeURIComponent('Садовая, д. 1')}` },
      { name: `customer ${busy.user_id} (most orders)`, path: `/staff/customers/${busy.user_id}` },
      { name: 'amoCRM', path: '/staff/amocrm' },
    ];
    const time = async (p: { name: string; path: string }): Promise<PageTiming> => {
      for (let i = 0; i < 3; i++) await staff.get(p.path);
      const ms: number[] = [];
      let last = { status: 0, text: '' };
      for (let i = 0; i < o.n; i++) {
        const t0 = performance.now();
        last = await staff.get(p.path);
        ms.push(performance.now() - t0);
      }
      const htmlGzip = gzipSync(last.text).length;
      return { ...p, status: last.status, p50: pct(ms, 50), p95: pct(ms, 95), max: Math.max(...ms), htmlGzip, withCss: htmlGzip + cssGzip };
    };
    const timings: PageTiming[] = [];
    for (const p of pages) timings.push(await time(p));
    const csv = await time({ name: `deliveries.csv (whole day, ${deliveriesToday} rows)`, path: `/staff/deliveries.csv?date=${today}` });

    const explain = await explainAll(db, today, rare, broad);
    const firstRender = o.browser ? await firstRenders(proxyUrl, staff.cookie, pages) : [];
    const { rows: [counts] } = await db.raw("select (select count(*) from users where role = 'customer')::int as customers, (select count(*) from orders)::int as orders");
    return { customers: counts.customers, orders: counts.orders, deliveriesToday, pages: timings, csv, firstRender, explain };
  } finally {
    await new Promise((r) => proxy.close(r));
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await db.destroy();
    await simulator.close();
    await database.stop();
  }
}

export function report(r: StaffBenchResult, log: (line: string) => void): void {
  const ok = (pass: boolean) => (pass ? '✓' : '✗');
  log(`\nStaff pages at ${r.customers.toLocaleString('en')} customers, ${r.orders.toLocaleString('en')} orders (${r.deliveriesToday} deliveries today)`);
  log(`server render, sequential requests (goal < ${GOALS.renderMs} ms) · gzip HTML + CSS (goal ≤ ${GOALS.gzipBytes} B)`);
  for (const t of [...r.pages, r.csv]) {
    const isPage = t !== r.csv;
    log(`  ${ok(t.p95 < GOALS.renderMs)} ${t.name.padEnd(44)} ${t.status}  p50 ${t.p50.toFixed(1).padStart(6)} ms  p95 ${t.p95.toFixed(1).padStart(6)} ms  max ${t.max.toFixed(1).padStart(6)} ms` +
      (isPage ? `   ${ok(t.withCss <= GOALS.gzipBytes)} ${String(t.withCss).padStart(5)} B` : `   ${(t.htmlGzip / 1024).toFixed(0)} KB gzip`));
  }
  if (r.firstRender.length) {
    log(`first render in Chromium at 2G (${TWO_G.bytesPerSecond * 8 / 1000} kbit/s, ${TWO_G.latencyMs} ms RTT), cold cache, gzip (goal < ${GOALS.firstRenderMs} ms)`);
    for (const f of r.firstRender) {
      log(`  ${ok(f.firstContentfulPaintMs > 0 && f.firstContentfulPaintMs < GOALS.firstRenderMs)} ${f.name.padEnd(44)} first paint ${String(f.firstContentfulPaintMs).padStart(5)} ms  load ${String(f.loadMs).padStart(5)} ms  ${f.bytes} B: ${f.requests.length} requests (${f.requests.slice(1).join(', ')})`);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      database: { type: 'string', default: DEFAULT_DATABASE }, customers: { type: 'string', default: '100000' }, orders: { type: 'string', default: '1000000' }, n: { type: 'string', default: '30' },
      fresh: { type: 'boolean', default: false }, 'no-browser': { type: 'boolean', default: false }, explain: { type: 'boolean', default: false },
    },
  });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const result = await benchStaff({
    database: values.database, customers: Number(values.customers), orders: Number(values.orders), n: Number(values.n), fresh: values.fresh, browser: !values['no-browser'], log,
  });
  report(result, log);
  writeFileSync(path.join(OUT, 'staff.json'), JSON.stringify({ ...result, explain: undefined }, null, 2));
  writeFileSync(path.join(OUT, 'staff-explain.txt'), result.explain);
  log(values.explain ? `\n${result.explain}` : `\nEXPLAIN (ANALYZE, BUFFERS) of the queries: var/bench/staff-explain.txt (or --explain)`);
}
