// The database goes away while a real app process runs (what a maintenance window, a failover or
// ALLOW_CONNECTIONS false does): its database stops accepting connections and every open connection is ended,
// while a mail job is held by a slow SMTP server and an amoCRM job by a slow amoCRM. Pages answer the Russian 503
// page with Retry-After, the process stays up, and when the database is back everything goes on: the same form
// works, the interrupted jobs finish exactly once.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { createDb, type Db } from '../../src/db.js';
import { freePort } from '../../src/embedded-postgres.js';
import { daysFromToday, GOOD_PASSWORD, randomIp, uniqueEmail } from '../helpers/client.js';
import { testDatabase, withDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { Browser, csrfFrom, type HttpResponse } from './helpers/http.js';
import { productionEnv, startAppProcess, startSimulator, type AppProcess } from './helpers/processes.js';

/** An SMTP server that keeps each message's answer back until release() (a slow mail provider), counting mails. */
async function startHoldingSmtp() {
  const received: string[] = [];
  let holding = 0;
  let open: () => void = () => undefined;
  let gate = Promise.resolve();
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        holding++;
        void gate.then(() => {
          received.push(...session.envelope.rcptTo.map((r) => r.address.toLowerCase()));
          holding--;
          callback();
        });
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    hold() { gate = new Promise((resolve) => { open = resolve; }); },
    release() { open(); },
    holding: () => holding,
    mailsTo: (address: string) => received.filter((r) => r === address.toLowerCase()).length,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the database goes away while the app runs', function () {
  this.timeout(120_000);
  const name = `flowers_outage_${randomBytes(4).toString('hex')}`;
  let admin: pg.Client;
  let db: Db;
  let smtp: Awaited<ReturnType<typeof startHoldingSmtp>>;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let app: AppProcess;
  const at = (route: string) => `http://127.0.0.1:${app.port}${route}`;
  const visitor = () => new Browser({ headers: { 'x-forwarded-for': randomIp(), 'x-forwarded-proto': 'https' } });
  const signupFields = (email: string) => ({
    email, password: GOOD_PASSWORD, bouquet: 'seasonal', address: 'ул. Ленина, 25, кв. 10',
    deliveryDate: daysFromToday(7), interval: 'weekly', wishes: 'Больше зелени', consentPersonalData: 'yes',
  });
  const leadsOf = (email: string) => sim.simulator.controls.leads().filter((l) => JSON.stringify(l).includes(email)).length;

  before(async () => {
    admin = new pg.Client({ connectionString: testDatabase().serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = withDatabase(testDatabase().serverUrl, name);
    db = createDb(url);
    [smtp, sim] = await Promise.all([startHoldingSmtp(), startSimulator()]);
    app = await startAppProcess({
      port: await freePort(), mode: 'source',
      env: productionEnv({ databaseUrl: url, smtpUrl: smtp.url, amoUrl: sim.url, amoToken: sim.token, worker: 'in-process' }),
    });
  });

  after(async () => {
    await admin.query(`alter database ${name} allow_connections true`).catch(() => undefined);
    if (app) await app.stop();
    await db?.destroy();
    await Promise.all([smtp?.close(), sim?.close()]);
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  });

  function expectUnavailablePage(res: HttpResponse, what: string) {
    expect(res.status, `${what}: ${res.text.slice(0, 300)}`).to.equal(503);
    expect(res.headers['retry-after'], what).to.match(/^\d+$/);
    expect(res.headers['content-type'], what).to.match(/^text\/html/);
    expect(res.text, what).to.include('lang="ru"');
    expect(res.text, what).to.include('Сервис временно недоступен');
  }

  it('when the database refuses connections and ends the open ones during two running jobs, then every page answers 503 with Retry-After, the process lives on, and after the database returns the same form works and each job finishes exactly once', async () => {
    // A customer who is logged in, with a lead in amoCRM already.
    const customer = visitor();
    const customerEmail = uniqueEmail('outage');
    expect((await customer.submit(at('/signup'), signupFields(customerEmail))).status).to.equal(303);
    expect((await customer.get(at('/account'))).status).to.equal(200);
    await waitFor(() => leadsOf(customerEmail) === 1, 20_000, 'the first customer\'s lead');

    // A visitor who opened the sign-up form before the outage.
    const newcomer = visitor();
    const newcomerEmail = uniqueEmail('outage-newcomer');
    const form = await newcomer.get(at('/signup'));
    expect(form.status).to.equal(200);
    const newcomerForm = { _csrf: csrfFrom(form.text), ...signupFields(newcomerEmail) };

    // The sign-up's address-confirmation mail has gone before the outage.
    await waitFor(() => smtp.mailsTo(customerEmail) === 1, 20_000, 'the confirmation mail accepted');

    // Two jobs run when the database goes: a password-reset mail that the SMTP server holds, and a sign-up's
    // amoCRM sync that a slow amoCRM holds.
    smtp.hold();
    expect((await visitor().submit(at('/forgot-password'), { email: customerEmail })).status).to.equal(303);
    await waitFor(() => smtp.holding() === 1, 20_000, 'the reset mail held at the SMTP server');
    sim.simulator.controls.delay(2500);
    const latecomerEmail = uniqueEmail('outage-crm');
    expect((await visitor().submit(at('/signup'), signupFields(latecomerEmail))).status).to.equal(303);
    await waitFor(() => sim.simulator.controls.requests().some((r) => r.status === null), 20_000, 'an amoCRM request in flight');

    await admin.query(`alter database ${name} allow_connections false`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    const outageStarted = Date.now();

    expect((await fetch(at('/healthz'))).status).to.equal(503);
    // A visitor's home and sign-up pages need no database (kept in memory, the categories with them) and go on
    // answering; a visitor's page that must read the database (a referral link) gets the 503 page.
    for (const path of ['/', '/signup', '/?lang=en']) expect((await visitor().get(at(path))).status, `GET ${path}`).to.equal(200);
    expectUnavailablePage(await visitor().get(at('/5b0d3f4e-8c1a-4d2b-9e6f-1a2b3c4d5e6f')), 'GET /<referral id>');
    expectUnavailablePage(await customer.get(at('/account')), 'GET /account, logged in');
    expectUnavailablePage(await newcomer.post(at('/signup'), newcomerForm), 'POST /signup');

    // The held mail is delivered and the amoCRM answers arrive while the database is still away: the jobs end
    // (one done, one failed for want of the database) with nowhere to record it yet.
    smtp.release();
    sim.simulator.controls.delay(0);
    await waitFor(() => smtp.mailsTo(customerEmail) === 2, 10_000, 'the reset mail accepted');
    await new Promise((r) => setTimeout(r, 2500)); // the amoCRM answer that was on its way arrives
    while (Date.now() - outageStarted < 4000) {
      expect(app.child.exitCode, app.output().slice(-3000)).to.equal(null);
      expectUnavailablePage(await customer.get(at('/account')), 'GET /account later in the outage');
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(app.child.exitCode, app.output().slice(-3000)).to.equal(null);

    await admin.query(`alter database ${name} allow_connections true`);
    await waitFor(() => fetch(at('/healthz')).then((r) => r.ok, () => false), 20_000, '/healthz 200 again');
    expect((await visitor().get(at('/'))).status).to.equal(200);
    expect((await customer.get(at('/account'))).status).to.equal(200);

    // The refused sign-up left nothing behind, and the very same form goes through now.
    expect(await db('users').whereRaw('lower(email) = ?', [newcomerEmail]).first()).to.equal(undefined);
    const retried = await newcomer.post(at('/signup'), newcomerForm);
    expect(retried.status, retried.text.slice(0, 300)).to.equal(303);
    expect(retried.headers.location).to.equal('/account');
    expect((await newcomer.get(at('/account'))).text).to.include(newcomerEmail);

    // Every job ends, each exactly once: one reset mail, one lead per customer.
    await waitFor(async () => {
      const { rows } = await db.raw("select count(*)::int as n from graphile_worker.jobs where task_identifier not in ('auth:prune', 'amocrm:reconcile')");
      return rows[0].n === 0;
    }, 30_000, 'the job queue empty');
    expect(await db('users').whereRaw('lower(email) = ?', [newcomerEmail]).count({ n: '*' }).first()).to.deep.equal({ n: 1 });
    expect(smtp.mailsTo(customerEmail), 'the confirmation mail and one reset mail').to.equal(2);
    for (const email of [customerEmail, latecomerEmail, newcomerEmail]) expect(leadsOf(email), email).to.equal(1);
    expect(app.child.exitCode, app.output().slice(-3000)).to.equal(null);
    expect(app.output()).not.to.include('uncaught exception');
    expect(await app.stop(), app.output().slice(-3000)).to.equal(0);
  });
});
