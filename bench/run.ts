// npm run bench [-- --duration 4 --rounds 5 --connections 10 --warmup 3 --anatomy --profile --profile-page=/account
//                   --node-options="…" --next-peer=<dir>]
//
// Throughput and latency of the main pages of the production build — one web process started with the command
// line of deploy/systemd/flowers@.service, NODE_ENV=production, WORKER=off as in deploy/env.example — on real
// PostgreSQL with the amoCRM simulator, beside three baselines measured in the same run: bare Express answering
// "hello", bare Express + Nunjucks rendering the same login template, and the Next.js 15 peer of the design
// document's stack (shared/peers/next-seed, copied to var/peers and built there when missing). The baselines and the GET pages are
// measured in interleaved rounds (A B C A B C …) and reported as medians, so that a noisy neighbour on the machine
// hits all of them alike; so is amoCRM's webhook, beside the Nunjucks baseline. Also: GET /account latency while 10 logins run at once, the gzip weight of every page
// with its stylesheet, and the process's memory after the load. --anatomy adds the app's GET /login built up layer
// by layer (bench/baselines/anatomy.ts); --profile writes a CPU profile of the app and summarises it.
// Targets (docs/PERFORMANCE.md) are reported, not asserted.
//
// Database: BENCH_DATABASE_URL or TEST_DATABASE_URL (a server; a fresh database is created and dropped), else the
// embedded PostgreSQL in var/bench-postgres. Results: printed, and written to var/bench/results.json.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import autocannon from 'autocannon';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { findProjectRoot } from '../src/config.js';
import { createAmoSimulator } from '../src/crm/simulator/simulator.js';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgres } from '../src/embedded-postgres.js';
import { todayIn } from '../src/i18n/i18n.js';
import { Browser, csrfFrom, httpRequest } from '../test/deploy/helpers/http.js';
import { unitCommand } from '../test/deploy/helpers/processes.js';
import { summarise } from './profile-summary.js';

const ROOT = findProjectRoot();
const OUT = path.join(ROOT, 'var', 'bench');
const PASSWORD = 'Tyulpany v marte 2026';
const PROXY_HEADERS = { 'x-forwarded-proto': 'https' }; // as nginx sends them: the app sees HTTPS and sets its Secure cookie
const TARGETS = {
  loginRatio: 1.0, loginNextRatio: 2.5, loginP99Ms: 10, accountRatio: 0.35, accountP99Ms: 25, webhookRatio: 0.5,
  pageGzipBytes: 14 * 1024, rssRatio: 1.5,
};

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    anatomy: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'node-options': { type: 'string', default: '' },
    'next-peer': { type: 'string', default: '' },
    'profile-page': { type: 'string', default: '/account' },
  },
});
const DURATION = Number(args.duration);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
const WARMUP = Number(args.warmup);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const say = (line: string) => process.stdout.write(`${line}\n`);

type Service = { name: string; url: string; pid: number; stop: () => Promise<number | null> };

async function startService(name: string, argv: string[], env: Record<string, string>, port: number, readyPath: string, cwd = ROOT): Promise<Service> {
  const log = createWriteStream(path.join(OUT, `${name}.log`));
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited during start-up: see ${path.join(OUT, `${name}.log`)}`);
    const ok = await fetch(`${url}${readyPath}`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${name} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name, url, pid: child.pid!,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

type Row = {
  name: string; rps: number; p50: number; p99: number; max: number; requests: number;
  statuses: Record<string, number>; errors: number; unexpected: number; note?: string;
};

/** One autocannon run (after a warm-up unless told otherwise); statuses outside `expected` count as unexpected. */
async function measure(name: string, options: autocannon.Options, expected: number[], o: { warmup?: boolean; quiet?: boolean; settleMs?: number } = {}): Promise<Row> {
  if ((o.warmup ?? true) && WARMUP > 0) await autocannon({ connections: CONNECTIONS, ...options, duration: WARMUP });
  // Slow requests left in flight by the warm-up (bcrypt) must finish before the measured run starts.
  if (o.settleMs) await new Promise((r) => setTimeout(r, o.settleMs));
  const r = await autocannon({ connections: CONNECTIONS, ...options, duration: DURATION });
  const statuses = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]));
  const unexpected = Object.entries(statuses).filter(([code]) => !expected.includes(Number(code))).reduce((n, [, c]) => n + c, 0);
  const row: Row = {
    name, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, requests: r.requests.total,
    statuses, errors: r.errors + r.timeouts, unexpected,
  };
  if (!o.quiet) say(`  ${name}: ${row.rps.toFixed(0)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ${JSON.stringify(statuses)}${row.errors ? `, ${row.errors} errors` : ''}`);
  return row;
}

type Scenario = { name: string; options: autocannon.Options; expected: number[] };

/**
 * Interleaved rounds: every scenario once per round, in the same order, after one warm-up each. Reported per
 * scenario: median req/s, median p50 and p99 over the rounds, summed counts; and the per-round values.
 */
async function measureRounds(scenarios: Scenario[]): Promise<(Row & { perRound: number[] })[]> {
  for (const sc of scenarios) await autocannon({ connections: CONNECTIONS, ...sc.options, duration: WARMUP });
  const runs = scenarios.map(() => [] as Row[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, sc] of scenarios.entries()) runs[i]!.push(await measure(sc.name, sc.options, sc.expected, { warmup: false, quiet: true }));
    say(`  round ${round + 1}/${ROUNDS}: ${scenarios.map((sc, i) => `${sc.name.split(' (')[0]} ${runs[i]!.at(-1)!.rps.toFixed(0)}`).join(' · ')}`);
  }
  return scenarios.map((sc, i) => {
    const rs = runs[i]!;
    const statuses: Record<string, number> = {};
    for (const r of rs) for (const [c, k] of Object.entries(r.statuses)) statuses[c] = (statuses[c] ?? 0) + k;
    return {
      name: sc.name, rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)),
      max: Math.max(...rs.map((r) => r.max)), requests: rs.reduce((n, r) => n + r.requests, 0), statuses,
      errors: rs.reduce((n, r) => n + r.errors, 0), unexpected: rs.reduce((n, r) => n + r.unexpected, 0), perRound: rs.map((r) => r.rps),
    };
  });
}

/** Fresh sessions with their CSRF token, each good for one successful login or sign-up (the session id changes). */
async function sessionPool(app: string, size: number, page: string): Promise<{ cookie: string; token: string }[]> {
  const pool: { cookie: string; token: string }[] = [];
  for (let i = 0; i < size; i++) {
    const browser = new Browser({ headers: PROXY_HEADERS });
    const res = await browser.get(`${app}${page}`);
    pool.push({ cookie: browser.cookieHeader(), token: csrfFrom(res.text) });
  }
  return pool;
}

/**
 * The Next.js peer, built once in var/peers/next-seed from a copy of shared/peers/next-seed (found beside the
 * project or one level up; --next-peer=<dir> names it). Returns the directory to start `next start` in.
 */
function nextPeer(): string {
  const source = [args['next-peer'], path.join(ROOT, '..', 'shared', 'peers', 'next-seed'), path.join(ROOT, '..', '..', 'shared', 'peers', 'next-seed')]
    .filter(Boolean).find((dir) => existsSync(path.join(dir, 'package.json')));
  const dir = path.join(ROOT, 'var', 'peers', 'next-seed');
  if (!existsSync(path.join(dir, 'package.json'))) {
    if (!source) throw new Error('the Next.js peer (shared/peers/next-seed) was not found: name it with --next-peer=<dir>');
    say(`copying the Next.js peer from ${source}…`);
    cpSync(source, dir, { recursive: true, filter: (p) => !/\/(node_modules|\.next)(\/|$)/.test(p) });
  }
  const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };
  if (!existsSync(path.join(dir, 'node_modules', 'next'))) {
    say('installing the Next.js peer (npm ci)…');
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit', env });
  }
  if (!existsSync(path.join(dir, '.next', 'BUILD_ID'))) {
    say('building the Next.js peer (next build, about a minute)…');
    execFileSync(process.execPath, [path.join(dir, 'node_modules', 'next', 'dist', 'bin', 'next'), 'build'], { cwd: dir, stdio: 'inherit', env });
  }
  return dir;
}

const randomIp = () => `10.${(Math.random() * 256) | 0}.${(Math.random() * 256) | 0}.${1 + ((Math.random() * 254) | 0)}`;

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  say('building the production build and the baselines (tsc)…');
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'bench/tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  const nextDir = nextPeer();

  // The database: a server's fresh database, or the embedded PostgreSQL.
  let embedded: EmbeddedPostgres | undefined;
  let serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    embedded = await startEmbeddedPostgres(path.join(ROOT, 'var', 'bench-postgres'), { info() {}, warn() {} } as never);
    serverUrl = embedded.url('postgres');
  }
  const dbName = `flowers_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const pgVersion = (await admin.query('show server_version')).rows[0].server_version as string;
  const dbUrl = new URL(serverUrl);
  dbUrl.pathname = `/${dbName}`;

  const smtp = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, onData(stream, _s, cb) { stream.resume(); stream.on('end', () => cb()); } });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  const simulator = createAmoSimulator({ seedLeadFields: true });
  const sim = await simulator.listen(0, '127.0.0.1');
  const webhookSecret = randomBytes(24).toString('hex');

  const services: Service[] = [];
  try {
    const appEnv = {
      NODE_ENV: 'production', APP_URL: 'https://flowers.test', DATABASE_URL: dbUrl.toString(),
      SESSION_SECRET: randomBytes(36).toString('base64url'), SMTP_URL: `smtp://127.0.0.1:${(smtp.server.address() as { port: number }).port}`,
      MAIL_FROM: 'Цветочная подписка <shop@flowers.test>', AMOCRM_BASE_URL: sim.url, AMOCRM_LONG_LIVED_TOKEN: simulator.controls.issueLongLivedToken(),
      AMOCRM_WEBHOOK_SECRET: webhookSecret, TRUST_PROXY: 'loopback', LOG_LEVEL: 'info', WORKER: 'off',
      OPERATOR_NAME: 'ООО «Цветы по подписке»', OPERATOR_ADDRESS: '190000, г. Санкт-Петербург, ул. Цветочная, д. 5', OPERATOR_INN: '7801234567', OPERATOR_EMAIL: 'privacy@flowers.test',
    };
    const profileDir = path.join(OUT, 'profiles');
    const extraFlags = args['node-options'].split(/\s+/).filter(Boolean);
    const appPort = await freePort();
    // Exactly what systemd runs (flowers@.service), plus any flags asked for here.
    const unit = unitCommand('flowers@.service', appPort);
    const node = unit.findIndex((a) => a === process.execPath || a.endsWith('/node'));
    const appCommand = [...unit.slice(0, node + 1), ...extraFlags, ...unit.slice(node + 1)];
    const app = await startService('app', appCommand, appEnv, appPort, '/healthz');
    services.push(app);
    const build = path.join(ROOT, 'var', 'bench-build', 'bench', 'baselines');
    const hello = await startService('baseline-hello', [process.execPath, path.join(build, 'hello.js')], { NODE_ENV: 'production' }, await freePort(), '/');
    services.push(hello);
    const njk = await startService('baseline-nunjucks', [process.execPath, path.join(build, 'nunjucks.js')], { NODE_ENV: 'production' }, await freePort(), '/login');
    services.push(njk);
    const nextPort = await freePort();
    const next = await startService('baseline-next', [process.execPath, path.join(nextDir, 'node_modules', 'next', 'dist', 'bin', 'next'), 'start', '-H', '127.0.0.1', '-p', String(nextPort)],
      { NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1' }, nextPort, '/login', nextDir);
    services.push(next);

    // A customer for the logged-in pages.
    const customer = new Browser({ headers: { ...PROXY_HEADERS, 'x-forwarded-for': randomIp() } });
    const email = `bench-${randomBytes(4).toString('hex')}@example.ru`;
    const signup = await customer.submit(`${app.url}/signup`, {
      email, password: PASSWORD, bouquet: 'seasonal', address: 'ул. Ленина, 25, кв. 10', deliveryDate: todayIn('Europe/Moscow'),
      interval: 'weekly', wishes: 'Больше зелени, без роз', consentPersonalData: 'yes',
    });
    if (signup.status !== 303) throw new Error(`sign-up for the benchmark failed: ${signup.status}`);
    const cookie = customer.cookieHeader();
    const loginHtml = (await new Browser({ headers: PROXY_HEADERS }).get(`${app.url}/login`)).text;
    const baselineHtml = (await fetch(`${njk.url}/login`).then((r) => r.text()));
    const sizeRatio = baselineHtml.length / loginHtml.length;
    if (sizeRatio < 0.95 || sizeRatio > 1.05) throw new Error(`the Nunjucks baseline renders ${baselineHtml.length} bytes, the app ${loginHtml.length}: not the same page`);

    const rows: Row[] = [];
    // A visitor holding a session (here from a reset link moved out of the URL): the full path, not the memory.
    const holder = new Browser({ headers: PROXY_HEADERS });
    await holder.get(`${app.url}/reset-password?token=bench`);
    if (!holder.cookieHeader()) throw new Error('the reset link gave the visitor no session');
    say(`\nGET pages and baselines: ${ROUNDS} interleaved rounds of ${DURATION} s, ${CONNECTIONS} connections, after ${WARMUP} s warm-up each`);
    const roundRows = await measureRounds([
      { name: 'bare Express: GET / "hello"', options: { url: hello.url }, expected: [200] },
      { name: 'bare Express + Nunjucks: GET /login', options: { url: `${njk.url}/login` }, expected: [200] },
      { name: 'Next.js 15: GET /login (static)', options: { url: `${next.url}/login` }, expected: [200] },
      { name: 'Next.js 15: GET /login-dynamic', options: { url: `${next.url}/login-dynamic` }, expected: [200] },
      { name: 'GET /login (visitor: from memory)', options: { url: `${app.url}/login`, headers: PROXY_HEADERS }, expected: [200] },
      { name: 'GET / (visitor: from memory)', options: { url: `${app.url}/`, headers: PROXY_HEADERS }, expected: [200] },
      { name: 'GET /login (visitor holding a session: full path)', options: { url: `${app.url}/login`, headers: { ...PROXY_HEADERS, cookie: holder.cookieHeader() } }, expected: [200] },
      { name: 'GET /account (logged in)', options: { url: `${app.url}/account`, headers: { ...PROXY_HEADERS, cookie } }, expected: [200] },
    ]);
    rows.push(...roundRows);
    // The baseline's memory after the load it shares with the pages (before it also runs beside the webhook below).
    const njkMemory = memory(njk.pid);
    const perRound = (name: string) => roundRows.find((r) => r.name.startsWith(name))!.perRound;
    const ratios = (page: string, base: string) => perRound(page).map((rps, i) => rps / perRound(base)[i]!);
    const loginRatios = ratios('GET /login (visitor', 'bare Express + Nunjucks');
    const loginNextRatios = ratios('GET /login (visitor', 'Next.js 15: GET /login (static)');
    const accountRatios = ratios('GET /account', 'bare Express + Nunjucks');

    say(`\nPOST and mixed scenarios: ${DURATION} s each after ${WARMUP} s warm-up`);
    // Successful logins: one fresh session (cookie + token) per request, as each login renews the session id.
    const logins = await sessionPool(app.url, 30 * (WARMUP + DURATION), '/login');
    const loginRequest = (): autocannon.Request => ({
      method: 'POST', path: '/login',
      setupRequest: (req: autocannon.Request) => {
        const s = logins.pop() ?? { cookie: '', token: 'exhausted' };
        // Many customers from many addresses: one address would meet the login limit (10 at a time in flight).
        return { ...req, headers: { ...PROXY_HEADERS, 'x-forwarded-for': randomIp(), cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _csrf: s.token, email, password: PASSWORD }).toString() };
      },
    });
    rows.push(await measure('POST /login (bcrypt cost 12, success)', { url: app.url, requests: [loginRequest()] }, [303], { settleMs: 4000 }));

    // GET /account while 10 logins run at once: the event loop must keep serving pages while bcrypt works.
    say('  GET /account, 2 connections, alone and then beside 10 concurrent logins:');
    const alone = await measure('  GET /account alone (2 connections)', { url: `${app.url}/account`, headers: { ...PROXY_HEADERS, cookie }, connections: 2 }, [200]);
    logins.push(...await sessionPool(app.url, 30 * (WARMUP + DURATION), '/login'));
    // The logins run for the whole window; GET /account is measured once they have filled the thread pool.
    const loginLoad = autocannon({ url: app.url, requests: [loginRequest()], connections: 10, duration: DURATION + 3 });
    await new Promise((r) => setTimeout(r, 2000));
    const during = await measure('  GET /account during 10 logins', { url: `${app.url}/account`, headers: { ...PROXY_HEADERS, cookie }, connections: 2 }, [200], { warmup: false });
    const loginsDuring = await loginLoad;
    say(`    (the 10 logins meanwhile: ${loginsDuring.requests.average.toFixed(1)} req/s, ${JSON.stringify(loginsDuring.statusCodeStats)})`);
    await new Promise((r) => setTimeout(r, 4000)); // let the queued logins finish
    rows.push({ ...alone, name: 'GET /account alone (2 conn.)' }, { ...during, name: 'GET /account during 10 concurrent logins' });

    // Sign-ups: a fresh session, a new address and a new client address each (the per-IP limit is 10 an hour).
    const signups = await sessionPool(app.url, 30 * (WARMUP + DURATION), '/signup');
    let n = 0;
    const deliveryDate = todayIn('Europe/Moscow');
    rows.push(await measure('POST /signup (bcrypt cost 12, transaction + job)', {
      url: app.url,
      requests: [{
        method: 'POST', path: '/signup',
        setupRequest: (req: autocannon.Request) => {
          const s = signups.pop() ?? { cookie: '', token: 'exhausted' };
          return { ...req, headers: { ...PROXY_HEADERS, 'x-forwarded-for': randomIp(), cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ _csrf: s.token, email: `signup-${process.pid}-${n++}@example.ru`, password: PASSWORD, bouquet: 'romantic',
              address: 'ул. Мира, 1', deliveryDate, interval: 'monthly', wishes: '', consentPersonalData: 'yes' }).toString() };
        },
      }],
    }, [303], { settleMs: 4000 }));

    // amoCRM's webhook: a lead status change, each with its own request id (duplicates are cheaper).
    let webhookRatios: number[] = [];
    const webhookProbe = await fetch(`${app.url}/webhooks/amocrm/${webhookSecret}`, { method: 'POST' });
    if (webhookProbe.status === 404) {
      rows.push({ name: 'POST /webhooks/amocrm/:secret', rps: 0, p50: 0, p99: 0, max: 0, requests: 0, statuses: {}, errors: 0, unexpected: 0, note: 'route not present in this build' });
    } else {
      // Interleaved with the Nunjucks baseline, like the GET pages: the ratio is the median of the rounds' ratios.
      let id = 0;
      say(`  webhook and the Nunjucks baseline: ${ROUNDS} interleaved rounds of ${DURATION} s`);
      const [njkAgain, webhook] = await measureRounds([{ name: 'bare Express + Nunjucks: GET /login (beside the webhook)', options: { url: `${njk.url}/login` }, expected: [200] }, {
        name: 'POST /webhooks/amocrm/:secret (status_lead)', expected: [200],
        options: {
          url: app.url,
          requests: [{
            method: 'POST', path: `/webhooks/amocrm/${webhookSecret}`,
            setupRequest: (req: autocannon.Request) => ({
              ...req, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-amocrm-requestid': `bench-${process.pid}-${id++}` },
              body: new URLSearchParams({
                'leads[status][0][id]': String(1000 + (id % 50)), 'leads[status][0][status_id]': '142', 'leads[status][0][pipeline_id]': '7',
                'leads[status][0][old_status_id]': '141', 'leads[status][0][old_pipeline_id]': '7', 'account[id]': '31415926', 'account[subdomain]': 'flowers',
              }).toString(),
            }),
          }],
        },
      }]);
      rows.push(njkAgain!, webhook!);
      webhookRatios = webhook!.perRound.map((rps, i) => rps / njkAgain!.perRound[i]!);
      say(`  ${webhook!.name}: ${webhook!.rps.toFixed(0)} req/s (median), p99 ${webhook!.p99} ms; the baseline beside it ${njkAgain!.rps.toFixed(0)} req/s`);
    }

    // Memory after the load, then page weights (gzip as nginx sends them).
    const mem = { app: memory(app.pid), hello: memory(hello.pid), nunjucks: njkMemory, next: memory(next.pid) };
    const level = Number(/gzip_comp_level (\d+);/.exec(readFileSync(path.join(ROOT, 'deploy', 'nginx', 'flowers.conf'), 'utf8'))?.[1] ?? 6);
    const cssPath = /<link rel="stylesheet" href="([^"]+)"/.exec(loginHtml)![1]!;
    const css = (await httpRequest(`${app.url}${cssPath}`)).body;
    const cssGzip = gzipSync(css, { level }).length;
    const weights: { page: string; status: number; html: number; gzip: number; total: number }[] = [];
    const visitor = new Browser({ headers: PROXY_HEADERS });
    const staffless = ['/', '/signup', '/login', '/forgot-password', '/forgot-password/sent', '/reset-password', '/no-such-page'];
    const logged = ['/account', '/account/password', '/account/email', '/account/preferences', '/account/orders/new'];
    for (const [who, pages] of [[visitor, staffless], [customer, logged]] as const) {
      for (const p of pages) {
        const res = await who.get(`${app.url}${p}`);
        if (!/text\/html/.test(String(res.headers['content-type']))) continue;
        const gz = gzipSync(res.body, { level }).length;
        weights.push({ page: p, status: res.status, html: res.body.length, gzip: gz, total: gz + cssGzip });
      }
    }

    // --anatomy: the app's GET /login built up layer by layer, in interleaved rounds of its own.
    let anatomyRows: (Row & { perRound: number[] })[] = [];
    if (args.anatomy) {
      const steps = ['0 Nunjucks render', '1 + security headers', '2 + public/ assets handler', '3 + request log', '4 + body parser, session, language, origin check, CSRF, locals (rendered per request)', '5 steps 0–3 + visitor page cache (the app)'];
      const anatomy: Service[] = [];
      for (const [i] of steps.entries()) {
        anatomy.push(await startService(`anatomy-${i}`, [process.execPath, path.join(build, 'anatomy.js')],
          { NODE_ENV: 'production', ANATOMY_STEP: String(i), DATABASE_URL: dbUrl.toString(), SESSION_SECRET: appEnv.SESSION_SECRET }, await freePort(), '/login'));
      }
      services.push(...anatomy);
      say(`\nanatomy of GET /login: ${ROUNDS} interleaved rounds of ${DURATION} s`);
      anatomyRows = await measureRounds(steps.map((name, i) => ({ name: `anatomy ${name}`, options: { url: `${anatomy[i]!.url}/login`, headers: PROXY_HEADERS }, expected: [200] })));
      for (const a of anatomy) await a.stop();
    }

    // --profile: a second app process, profiled while it serves one page (--profile-page, GET /account logged in by default).
    let profileSummary = '';
    if (args.profile) {
      const port = await freePort();
      const unitArgs = unitCommand('flowers@.service', port);
      const at = unitArgs.findIndex((a) => a === process.execPath || a.endsWith('/node'));
      const profiled = await startService('app-profiled', [...unitArgs.slice(0, at + 1), '--cpu-prof', `--cpu-prof-dir=${profileDir}`, ...unitArgs.slice(at + 1)], appEnv, port, '/healthz');
      const profileCookie: Record<string, string> = args['profile-page'].startsWith('/account') ? { cookie } : {};
      await measure(`GET ${args['profile-page']}, profiled`, { url: `${profiled.url}${args['profile-page']}`, headers: { ...PROXY_HEADERS, ...profileCookie } }, [200]);
      await profiled.stop();
      const newest = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1)!;
      profileSummary = summarise(path.join(profileDir, newest));
    }

    // The report.
    const byName = (prefix: string) => rows.find((r) => r.name.startsWith(prefix))!;
    const helloRow = byName('bare Express: GET /');
    const njkRow = byName('bare Express + Nunjucks');
    const loginRow = byName('GET /login (visitor: from memory');
    const nextRow = byName('Next.js 15: GET /login (static)');
    const accountRow = byName('GET /account (logged in)');
    const webhookRow = byName('POST /webhooks/amocrm');
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB RAM, ${os.type()} ${os.release()}, Node ${process.version}, PostgreSQL ${pgVersion}`;
    say(`\n${new Date().toISOString()} — ${machine}`);
    say(`${CONNECTIONS} connections (unless noted); GET rows: median of ${ROUNDS} interleaved rounds of ${DURATION} s; others: one run of ${DURATION} s; autocannon shares the CPU with the servers\n`);
    say('| scenario | req/s | p50 ms | p99 ms | ÷ hello | ÷ Nunjucks | ÷ Next.js /login | statuses |');
    say('|---|---:|---:|---:|---:|---:|---:|---|');
    for (const r of [...rows, ...anatomyRows]) {
      const ratio = (base: Row) => (r.rps && base.rps ? (r.rps / base.rps).toFixed(3) : '—');
      const statuses = r.note ?? `${Object.entries(r.statuses).map(([c, k]) => `${c}×${k}`).join(' ')}${r.errors ? ` errors×${r.errors}` : ''}`;
      say(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${ratio(helloRow)} | ${ratio(njkRow)} | ${ratio(nextRow)} | ${statuses} |`);
    }
    say(`\nMemory after the load (RSS / peak): app ${(mem.app.rss / 2 ** 20).toFixed(1)} MB / ${(mem.app.peak / 2 ** 20).toFixed(1)} MB; ` +
      `hello ${(mem.hello.rss / 2 ** 20).toFixed(1)} MB; Nunjucks ${(mem.nunjucks.rss / 2 ** 20).toFixed(1)} MB; Next.js ${(mem.next.rss / 2 ** 20).toFixed(1)} MB`);
    say(`\nPage weight, gzip level ${level} as nginx sends it, stylesheet ${css.length} B → ${cssGzip} B:`);
    say('| page | status | HTML B | HTML gzip B | + CSS gzip B |');
    say('|---|---:|---:|---:|---:|');
    for (const w of weights) say(`| ${w.page} | ${w.status} | ${w.html} | ${w.gzip} | ${w.total} |`);

    const loginRatio = median(loginRatios);
    const loginNextRatio = median(loginNextRatios);
    const accountRatio = median(accountRatios);
    const webhookRatio = webhookRatios.length ? median(webhookRatios) : webhookRow.rps / njkRow.rps;
    const rssRatio = mem.app.rss / mem.nunjucks.rss;
    const perRoundLine = (label: string, xs: number[]) => say(`${label} per round: ${xs.map((r) => r.toFixed(3)).join(', ')} (median ${median(xs).toFixed(3)})`);
    say('');
    perRoundLine('GET /login ÷ Nunjucks baseline', loginRatios);
    perRoundLine('GET /login ÷ Next.js static /login', loginNextRatios);
    perRoundLine('GET /account ÷ Nunjucks baseline', accountRatios);
    if (webhookRatios.length) perRoundLine('webhook POST ÷ Nunjucks baseline', webhookRatios);
    if (profileSummary) say(`\n${profileSummary}`);
    const heaviest = weights.reduce((a, b) => (b.total > a.total ? b : a));
    const targets = [
      [`GET /login ≥ ${TARGETS.loginRatio} × Nunjucks baseline`, loginRatio >= TARGETS.loginRatio, `${loginRatio.toFixed(3)}`],
      [`GET /login ≥ ${TARGETS.loginNextRatio} × Next.js static /login`, loginNextRatio >= TARGETS.loginNextRatio, `${loginNextRatio.toFixed(3)}`],
      [`GET /login p99 ≤ ${TARGETS.loginP99Ms} ms at ${CONNECTIONS} connections`, loginRow.p99 <= TARGETS.loginP99Ms, `${loginRow.p99} ms`],
      [`GET /account ≥ ${TARGETS.accountRatio} × Nunjucks baseline`, accountRatio >= TARGETS.accountRatio, `${accountRatio.toFixed(3)}`],
      [`GET /account p99 ≤ ${TARGETS.accountP99Ms} ms`, accountRow.p99 <= TARGETS.accountP99Ms, `${accountRow.p99} ms`],
      [`webhook POST ≥ ${TARGETS.webhookRatio} × Nunjucks baseline`, webhookRatio >= TARGETS.webhookRatio, `${webhookRatio.toFixed(3)}`],
      ['every page ≤ 14 KB gzip with its stylesheet', heaviest.total <= TARGETS.pageGzipBytes, `heaviest ${heaviest.page} ${heaviest.total} B`],
      [`RSS after the load ≤ ${TARGETS.rssRatio} × the Nunjucks baseline's`, rssRatio <= TARGETS.rssRatio, `${rssRatio.toFixed(2)} (${(mem.app.rss / 2 ** 20).toFixed(1)} MB ÷ ${(mem.nunjucks.rss / 2 ** 20).toFixed(1)} MB)`],
      ['no failed request in any scenario', rows.every((r) => r.errors === 0 && r.unexpected === 0), rows.filter((r) => r.errors || r.unexpected).map((r) => r.name).join(', ') || 'none'],
    ] as const;
    say('\nTargets:');
    for (const [what, met, value] of targets) say(`  ${met ? 'met   ' : 'MISSED'}  ${what}: ${value}`);

    writeFileSync(path.join(OUT, 'results.json'), `${JSON.stringify({
      at: new Date().toISOString(), machine, connections: CONNECTIONS, duration: DURATION, rounds: ROUNDS, warmup: WARMUP, appCommand: appCommand.join(' '),
      rows, anatomy: anatomyRows, loginRatios, loginNextRatios, accountRatios, webhookRatios, memory: mem, weights, cssGzip, gzipLevel: level, targets, profile: profileSummary,
    }, null, 2)}\n`);
    say(`\nresults: ${path.relative(ROOT, path.join(OUT, 'results.json'))}; logs: ${path.relative(ROOT, OUT)}/*.log`);
  } finally {
    for (const s of services.reverse()) await s.stop();
    await simulator.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    await embedded?.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
