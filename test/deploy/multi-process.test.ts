// Two real app processes (production configuration, each with its own job worker) on one database behave as one
// site: a visitor moves between them freely — session, CSRF token, the OAuth state of amoCRM's consent page —
// and rate limits, account locks, the job queue and the amoCRM token refresh count once for the installation.
// Requests carry X-Forwarded-For / X-Forwarded-Proto as nginx sends them (TRUST_PROXY=loopback).
import { execFile } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { createDb, migrate, type Db } from '../../src/db.js';
import { freePort } from '../../src/embedded-postgres.js';
import { createAmoSimulator } from '../../src/crm/simulator/simulator.js';
import { stepAt, totpCode } from '../../src/services/totp.js';
import { randomIp, daysFromToday, uniqueEmail, GOOD_PASSWORD } from '../helpers/client.js';
import { testDatabase, withDatabase } from '../helpers/db.js';
import { mailsTo, smtpUrl, waitForMail } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { Browser, csrfFrom } from './helpers/http.js';
import { productionEnv, ROOT, startAppProcess, type AppProcess, type Env } from './helpers/processes.js';

const APP_URL = 'https://flowers.test';
const LOCKED = 'аккаунт заблокирован на 15 минут';

describe('several app processes on one database', function () {
  this.timeout(120_000);
  let simulator: ReturnType<typeof createAmoSimulator>;
  let simUrl: string;
  let env: Env;
  let a: AppProcess;
  let b: AppProcess;
  // A database of their own (other tests' jobs would queue ahead of ours in the shared one), created empty: the
  // two processes migrate it as they start.
  const own = { name: `flowers_multi_${randomBytes(4).toString('hex')}`, db: undefined as Db | undefined };
  const db = () => own.db!;
  const at = (p: AppProcess, route: string) => `http://127.0.0.1:${p.port}${route}`;
  /** A visitor behind nginx: its own client address, HTTPS as seen by the proxy. */
  const visitor = (ip = randomIp()) => new Browser({ headers: { 'x-forwarded-for': ip, 'x-forwarded-proto': 'https' } });

  async function signUp(browser: Browser, on: AppProcess, email = uniqueEmail('multi')) {
    const res = await browser.submit(at(on, '/signup'), {
      email, password: GOOD_PASSWORD, bouquet: 'seasonal', address: 'ул. Ленина, 25, кв. 10',
      deliveryDate: daysFromToday(7), interval: 'weekly', wishes: 'Больше зелени', consentPersonalData: 'yes',
    });
    expect(res.status, res.text.slice(0, 500)).to.equal(303);
    return email;
  }

  before(async () => {
    simulator = createAmoSimulator({ seedLeadFields: true, redirectUri: `${APP_URL}/staff/amocrm/callback` });
    simUrl = (await simulator.listen(0, '127.0.0.1')).url;
    const { clientId, clientSecret } = simulator.controls.config();
    const { serverUrl } = testDatabase();
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${own.name}`);
    await admin.end();
    const url = withDatabase(serverUrl, own.name);
    own.db = createDb(url);
    env = {
      ...productionEnv({ databaseUrl: url, smtpUrl: smtpUrl(), amoUrl: simUrl, amoToken: '', appUrl: APP_URL, worker: 'in-process' }),
      AMOCRM_CLIENT_ID: clientId, AMOCRM_CLIENT_SECRET: clientSecret, AMOCRM_AUTH_URL: `${simUrl}/oauth`,
    };
    delete env.AMOCRM_LONG_LIVED_TOKEN;
    [a, b] = await Promise.all([
      startAppProcess({ port: await freePort(), env, mode: 'source' }),
      startAppProcess({ port: await freePort(), env, mode: 'source' }),
    ]);
  });

  after(async () => {
    for (const p of [a, b]) if (p) expect(await p.stop(), p.output()).to.equal(0);
    await simulator?.close();
    await own.db?.destroy();
    const admin = new pg.Client({ connectionString: testDatabase().serverUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${own.name} with (force)`);
    await admin.end();
  });

  /** A new, empty database on the test server for the duration of `work`. */
  async function withFreshDatabase(work: (url: string) => Promise<void>) {
    const { serverUrl } = testDatabase();
    const name = `flowers_fresh_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    try {
      await work(withDatabase(serverUrl, name));
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  }

  it('when four processes migrate a fresh database at the same moment, then they take turns and none fails', async () => {
    // Four pools stand for four processes starting together (the race is a few milliseconds wide; real processes
    // below rarely hit it): knex's own migration lock cannot guard the creation of its tables.
    await withFreshDatabase(async (url) => {
      const pools = [1, 2, 3, 4].map(() => createDb(url));
      try {
        const results = await Promise.allSettled(pools.map((pool) => migrate(pool, url)));
        const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
        expect(failed, failed.join('\n')).to.deep.equal([]);
        const applied = results.map((r) => (r as PromiseFulfilledResult<string[]>).value.length);
        expect(applied.filter((n) => n > 0), 'exactly one of them applied the migrations').to.have.length(1);
      } finally {
        await Promise.all(pools.map((pool) => pool.destroy()));
      }
    });
  });

  it('when three processes start at the same moment on a fresh database, then all of them serve', async () => {
    await withFreshDatabase(async (url) => {
      const started: AppProcess[] = [];
      try {
        const freshEnv = { ...env, DATABASE_URL: url, WORKER: 'off' };
        const ports = [await freePort(), await freePort(), await freePort()];
        const results = await Promise.allSettled(ports.map((port) => startAppProcess({ port, env: freshEnv, mode: 'source' }).then((p) => { started.push(p); return p; })));
        const failed = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
        expect(failed, failed.join('\n')).to.deep.equal([]);
        for (const p of started) expect((await fetch(at(p, '/login'))).status).to.equal(200);
      } finally {
        for (const p of started) await p.stop();
      }
    });
  });

  it('when a visitor signs up on one process, then the other knows the session; logging out on it ends the session on both', async () => {
    const browser = visitor();
    const email = await signUp(browser, a);
    const account = await browser.get(at(b, '/account'));
    expect(account.status).to.equal(200);
    expect(account.text).to.include(email);

    const logout = await browser.post(at(b, '/logout'), { _csrf: csrfFrom(account.text) });
    expect(logout.status).to.equal(303);
    const after = await browser.get(at(a, '/account'));
    expect(after.status).to.equal(303);
    expect(after.headers.location).to.match(/^\/login\?next=/);
  });

  it('when a form comes from one process and is posted to the other, then its CSRF token is accepted there; a token of another session is refused', async () => {
    const browser = visitor();
    const email = await signUp(browser, a);
    const form = await browser.get(at(a, '/account/email'));
    const newEmail = uniqueEmail('moved');
    const res = await browser.post(at(b, '/account/email'), { _csrf: csrfFrom(form.text), email: newEmail, currentPassword: GOOD_PASSWORD });
    expect(res.status, res.text.slice(0, 300)).to.equal(303);
    // The change waits for the new address's confirmation: it is recorded as pending on the account.
    expect((await db()('users').whereRaw('lower(email) = ?', [email]).first('pending_email'))?.pending_email).to.equal(newEmail);

    const stranger = visitor();
    const strangerForm = await stranger.get(at(a, '/forgot-password'));
    const forged = await browser.post(at(b, '/account/email'), { _csrf: csrfFrom(strangerForm.text), email: uniqueEmail('forged'), currentPassword: GOOD_PASSWORD });
    expect(forged.status).to.equal(403);
  });

  it('when failed logins from one address are split over both processes, then they count together: the 11th gets 429', async () => {
    const browser = visitor(randomIp());
    const token = csrfFrom((await browser.get(at(a, '/login'))).text);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await browser.post(at(i % 2 ? b : a, '/login'), { _csrf: token, email: uniqueEmail('nobody'), password: 'Wrong password 1' });
      statuses.push(res.status);
    }
    expect(statuses).to.deep.equal([...Array(10).fill(401), 429]);
  });

  it('when ten wrong passwords for one account arrive at both processes at once, then all ten count and the account is locked on both', async () => {
    const email = await signUp(visitor(), a);
    const attempts = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const browser = visitor(); // a different address each: the per-IP limit is not what stops them
      const page = await browser.get(at(i % 2 ? b : a, '/login'));
      return browser.post(at(i % 2 ? a : b, '/login'), { _csrf: csrfFrom(page.text), email, password: `Wrong password ${i}` });
    }));
    expect(attempts.map((r) => r.status)).to.deep.equal(Array(10).fill(401));
    const row = await db()('users').whereRaw('lower(email) = ?', [email]).first('failed_logins', 'locked_until');
    expect(row.failed_logins).to.equal(10);
    expect(row.locked_until).to.be.instanceOf(Date);
    for (const p of [a, b]) {
      const browser = visitor();
      const res = await browser.submit(at(p, '/login'), { email, password: GOOD_PASSWORD });
      expect(res.status).to.equal(401);
      expect(res.text).to.include(LOCKED);
    }
  });

  it('when jobs are queued through both processes, then their two workers run each job exactly once', async () => {
    const emails: string[] = [];
    for (let i = 0; i < 6; i++) emails.push(await signUp(visitor(), i % 2 ? b : a));
    await Promise.all(emails.map((email, i) => visitor().submit(at(i % 2 ? a : b, '/forgot-password'), { email }).then((r) => expect(r.status).to.equal(303))));
    for (const email of emails) await waitForMail(email, { subject: /парол/i, ms: 20_000 });
    await new Promise((r) => setTimeout(r, 1500)); // a second run of any job would have delivered by now
    for (const email of emails) expect(mailsTo(email).filter((m) => /парол/i.test(m.subject)), email).to.have.length(1);
    const left = await db().raw("select count(*)::int as n from graphile_worker.jobs where task_identifier = 'auth:password-reset'");
    expect(left.rows[0].n).to.equal(0);
  });

  it('when amoCRM is connected through one process and its token expires, then sign-ups on both reach amoCRM once each with a single token refresh', async () => {
    // The first staff user, made with the operator command.
    const staffEmail = `manager-${randomBytes(3).toString('hex')}@flowers.test`;
    const staffPassword = 'Menedzher magazina 2026';
    const cli = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), 'staff:add', staffEmail], {
        cwd: ROOT, env: { PATH: process.env.PATH, ...env, STAFF_PASSWORD: staffPassword },
      }, (error, stdout, stderr) => resolve({ code: error ? 1 : 0, output: `${stdout}${stderr}` }));
    });
    expect(cli.code, cli.output).to.equal(0);
    expect(cli.output).to.include(`${staffEmail} is staff (new account)`);

    // Consent started on A; amoCRM sends the browser back to B, which checks the state kept in the session.
    const staff = visitor();
    const login = await staff.submit(at(a, '/login'), { email: staffEmail, password: staffPassword });
    expect(login.status).to.equal(303);
    // In production staff enrol in TOTP before any staff page opens.
    const enrolment = await staff.get(at(a, '/staff/2fa'));
    expect(enrolment.status).to.equal(200);
    const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(enrolment.text)![1]!.replace(/ /g, '');
    const enrolled = await staff.post(at(a, '/staff/2fa'), { _csrf: csrfFrom(enrolment.text), code: totpCode(secret, stepAt(Date.now())) });
    expect(enrolled.status).to.equal(200);
    const start = await staff.get(at(a, '/staff/amocrm/connect'));
    expect(start.status).to.equal(303);
    const consent = new URL(start.headers.location!);
    const allow = await fetch(`${simUrl}/oauth/allow`, {
      method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: consent.searchParams.get('client_id')!, state: consent.searchParams.get('state')!, mode: 'post_message' }),
    });
    const back = new URL(allow.headers.get('location')!);
    const callback = await staff.get(at(b, `${back.pathname}${back.search}`));
    expect(callback.status).to.equal(303);
    expect((await db()('amocrm_connection').first()).state).to.equal('connected');

    // The access token runs out for both processes at once.
    simulator.controls.expireAccessTokens();
    await db()('amocrm_connection').update({ expires_at: db().raw("now() - interval '1 minute'") });
    const from = Date.now();
    const emails: string[] = [];
    await Promise.all([0, 1, 2, 3].map(async (i) => emails.push(await signUp(visitor(), i % 2 ? b : a))));
    await waitFor(async () => {
      const rows = await db()('users').whereRaw('lower(email) = any(?)', [emails]).whereNotNull('amo_lead_id').count<{ n: string }[]>({ n: '*' });
      return Number(rows[0]!.n) === emails.length;
    }, 30_000, 'every sign-up has its amoCRM lead');

    const refreshes = simulator.controls.requests().filter((r) => r.at >= from && r.path === '/oauth2/access_token');
    expect(refreshes.map((r) => [(r.body as { grant_type?: string }).grant_type, r.status])).to.deep.equal([['refresh_token', 200]]);
    expect((await db()('amocrm_connection').first()).state).to.equal('connected');
    const leadIds = (await db()('users').whereRaw('lower(email) = any(?)', [emails]).pluck('amo_lead_id')).map(Number);
    expect(new Set(leadIds).size).to.equal(emails.length);
    const leads = simulator.controls.leads() as unknown as { id: number }[];
    for (const id of leadIds) expect(leads.filter((l) => l.id === id), `lead ${id}`).to.have.length(1);
  });

  it('when a process gets SIGTERM while a keep-alive client\'s request runs, then the request completes, the socket is closed and the process exits 0 at once', async () => {
    const p = await startAppProcess({ port: await freePort(), env: { ...env, WORKER: 'off' }, mode: 'source' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, route: string, headers: Record<string, string> = {}, body?: string) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: p.port, path: route, method, agent, headers: { 'x-forwarded-proto': 'https', ...headers } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => { text += c.toString(); });
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const page = await send('GET', '/login');
      const cookie = [page.headers['set-cookie'] ?? []].flat().map((c) => c.split(';')[0]).join('; ');
      const body = new URLSearchParams({ _csrf: csrfFrom(page.text), email: uniqueEmail('stopping'), password: 'Wrong password 1' }).toString();
      const login = send('POST', '/login', { cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }, body);
      await new Promise((r) => setTimeout(r, 30)); // the bcrypt comparison is running now
      const signalled = Date.now();
      p.child.kill('SIGTERM');
      expect((await login).status, 'the running request is answered').to.equal(401);
      expect(await p.exited, p.output()).to.equal(0);
      expect(Date.now() - signalled, 'stopped without waiting for the idle keep-alive socket').to.be.lessThan(3000);
    } finally {
      agent.destroy();
      await p.stop();
    }
  });
});
