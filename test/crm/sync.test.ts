// Customers mirrored into amoCRM: the real worker, a real database of its own, the simulator over HTTP.
import { createDecipheriv, hkdfSync } from 'node:crypto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { findProjectRoot } from '../../src/config.js';
import { createDb } from '../../src/db.js';
import { createCrm } from '../../src/crm/crm.js';
import { dateToUnix } from '../../src/crm/field-map.js';
import { amoSettingsFrom } from '../../src/app.js';
import type { AmoSimulator } from '../../src/crm/simulator/simulator.js';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { crmWorld } from '../helpers/amocrm.js';
import { client, csrfFrom, logIn, signUp, uniqueEmail } from '../helpers/client.js';
import { confirmationLink } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';

type Lead = { id: number; price: number; custom_fields_values: { field_id: number; field_name: string; values: { value: unknown; enum_id?: number; enum_code?: string }[] }[]; _embedded?: { contacts?: { id: number }[] } };

describe('amoCRM sync of customers', function () {
  this.timeout(120_000);

  const world = crmWorld;

  const leadsOf = (sim: AmoSimulator) => sim.controls.leads() as unknown as Lead[];
  const apiRequests = (sim: AmoSimulator) => sim.controls.requests().filter((r) => r.path.startsWith('/api/v4/') || r.path.startsWith('/oauth2/'));
  const userRow = (t: TestApp, email: string) => t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first();

  /** The most requests in any one-second window. */
  function peakPerSecond(times: number[]): number {
    const sorted = [...times].sort((a, b) => a - b);
    let peak = 0;
    for (let i = 0, j = 0; i < sorted.length; i++) {
      while (sorted[i]! - sorted[j]! >= 1000) j++;
      peak = Math.max(peak, i - j + 1);
    }
    return peak;
  }

  describe('sign-up → lead with contact', () => {
    let w: Awaited<ReturnType<typeof world>>;
    before(async () => { w = await world(); });
    after(() => w.close());

    it('when a customer signs up, then one lead with the eight fields by field_id and one contact with the email (WORK) are created, and their ids stored', async () => {
      const agent = client(w.t.app);
      const { email, fields } = await signUp(agent, { bouquet: 'seasonal', interval: 'monthly', wishes: 'Только белые цветы' });
      const user = await waitFor(async () => { const u = await userRow(w.t, email); return u.amo_lead_id ? u : null; }, 10_000, 'lead id stored');
      const leads = leadsOf(w.simulator);
      expect(leads).to.have.length(1);
      const lead = leads[0]!;
      expect(Number(user.amo_lead_id)).to.equal(lead.id);
      expect(lead.price).to.equal(5000);
      const byName = Object.fromEntries(lead.custom_fields_values.map((cf) => [cf.field_name, cf.values[0]!.value]));
      expect(byName['Сумма счёта']).to.equal('5000'); // numeric fields read back as strings
      expect(byName['Выбор букета (категория)']).to.equal('Сезонный');
      expect(byName['Адрес доставки']).to.equal(fields.address);
      expect(byName['Дата доставки']).to.equal(dateToUnix(fields.deliveryDate!, 'Europe/Moscow'));
      expect(byName['Интервал поставки букетов']).to.equal('1 раз в месяц');
      expect(byName['Пожелания к букетам']).to.equal('Только белые цветы');
      expect(byName.Email).to.equal(email);
      expect(byName['Реферальная ссылка']).to.equal(`${w.t.config.appUrl}/${user.referral_id}`);
      const contacts = w.simulator.controls.contacts() as unknown as { id: number; custom_fields_values: { field_code: string; values: { value: string; enum_code: string }[] }[] }[];
      expect(contacts).to.have.length(1);
      expect(Number(user.amo_contact_id)).to.equal(contacts[0]!.id);
      expect(lead._embedded?.contacts?.[0]?.id).to.equal(contacts[0]!.id);
      const emailField = contacts[0]!.custom_fields_values.find((f) => f.field_code === 'EMAIL')!;
      expect(emailField.values[0]).to.include({ value: email, enum_code: 'WORK' });
      // Every custom field went out by id, never by name alone.
      for (const r of apiRequests(w.simulator).filter((r) => r.method !== 'GET')) {
        expect(JSON.stringify(r.body)).not.to.match(/"field_name"/);
      }
      const create = apiRequests(w.simulator).find((r) => r.path === '/api/v4/leads/complex')!;
      expect(create.status).to.equal(200);
    });

    it('when the email changes, then only the changed fields and the contact are patched', async () => {
      const agent = client(w.t.app);
      const { email, password } = await signUp(agent);
      await waitFor(async () => (await userRow(w.t, email)).amo_lead_id, 10_000, 'lead');
      const before = apiRequests(w.simulator).length;
      const next = uniqueEmail('renamed');
      const page = await agent.get('/account/email');
      await agent.post('/account/email').type('form').send({ _csrf: csrfFrom(page.text), email: next, currentPassword: password }).expect(303);
      const confirm = new URL(await confirmationLink(next)); // the address changes, and goes to amoCRM, once confirmed
      await agent.post('/confirm-email').type('form').send({ token: confirm.searchParams.get('token') }).expect(303);
      await waitFor(() => apiRequests(w.simulator).slice(before).some((r) => r.method === 'PATCH' && r.path.startsWith('/api/v4/contacts/')), 10_000, 'contact patched');
      const patch = apiRequests(w.simulator).slice(before).find((r) => r.method === 'PATCH' && r.path.startsWith('/api/v4/leads/'))!;
      const body = patch.body as { name: string; custom_fields_values: { field_id: number }[] };
      expect(body.name).to.equal(`Цветочная подписка — ${next}`);
      expect(body.custom_fields_values).to.have.length(1); // the Email field only
      const lead = leadsOf(w.simulator).find((l) => String(l.id) === patch.path.split('/').pop())!;
      expect(lead.custom_fields_values.find((cf) => cf.field_name === 'Email')!.values[0]!.value).to.equal(next);
    });
  });

  describe('when amoCRM is down or busy', () => {
    let w: Awaited<ReturnType<typeof world>>;
    before(async () => { w = await world(); });
    after(() => w.close());

    it('when amoCRM answers 503 for a while during 20 sign-ups, then all 20 accounts are made at once and 20 leads exactly once after recovery', async () => {
      w.simulator.controls.failNext(12, 503);
      const started = Date.now();
      const emails: string[] = [];
      for (let i = 0; i < 20; i++) emails.push((await signUp(client(w.t.app))).email);
      const signupMs = Date.now() - started;
      expect(await w.t.db('users').whereIn(w.t.db.raw('lower(email)') as never, emails).count('* as n').first()).to.deep.equal({ n: 20 });
      expect(signupMs / 20).to.be.below(2000); // an instant 503 cannot show that sign-ups never wait: see the next test
      await waitFor(async () => Number((await w.t.db('users').whereNotNull('amo_lead_id').count('* as n').first())!.n) === 20, 90_000, '20 leads');
      expect(leadsOf(w.simulator)).to.have.length(20);
      expect(new Set(leadsOf(w.simulator).map((l) => l.id)).size).to.equal(20);
      const retried = await w.t.db('amocrm_sync_log').where({ outcome: 'retry', http_status: 503 }).count('* as n').first();
      expect(Number(retried!.n)).to.be.greaterThan(0);
    });

    it('when amoCRM answers only after 4 s, then each sign-up answers far sooner, before amoCRM has answered, and the lead follows', async () => {
      const DELAY = 4000;
      const emails: string[] = [];
      w.simulator.controls.delay(DELAY);
      try {
        for (let i = 0; i < 3; i++) {
          const from = Date.now();
          const { email } = await signUp(client(w.t.app));
          const took = Date.now() - from;
          expect(took, `sign-up ${i + 1}`).to.be.below(DELAY / 2);
          expect((await userRow(w.t, email)).amo_lead_id, 'no lead yet when the customer was answered').to.equal(null);
          emails.push(email);
        }
        // amoCRM is being asked meanwhile, and has not answered yet: the delay is real.
        await waitFor(() => apiRequests(w.simulator).some((r) => r.status === null), 10_000, 'a request waiting on amoCRM');
      } finally {
        w.simulator.controls.delay(0);
      }
      await waitFor(async () => Number((await w.t.db('users').whereIn(w.t.db.raw('lower(email)') as never, emails).whereNotNull('amo_lead_id').count('* as n').first())!.n) === 3, 60_000, '3 leads');
    });

    it('when amoCRM answers 429 again and again, then no second ever sees more than 7 requests and nothing is lost', async () => {
      w.simulator.controls.failNext(6, 429);
      const from = Date.now();
      const emails: string[] = [];
      for (let i = 0; i < 8; i++) emails.push((await signUp(client(w.t.app))).email);
      await waitFor(async () => Number((await w.t.db('users').whereIn(w.t.db.raw('lower(email)') as never, emails).whereNotNull('amo_lead_id').count('* as n').first())!.n) === 8, 90_000, '8 leads');
      const times = apiRequests(w.simulator).filter((r) => r.at >= from).map((r) => r.at);
      expect(peakPerSecond(times)).to.be.at.most(7);
      expect(apiRequests(w.simulator).some((r) => r.at >= from && r.status === 429)).to.equal(true);
    });
  });

  describe('refused requests, pauses and staff', () => {
    let w: Awaited<ReturnType<typeof world>>;
    let staff: ReturnType<typeof client>;
    before(async () => {
      w = await world();
      const { auth } = (await import('../../src/app.js')).createServices({ config: w.t.config, db: w.t.db, logger: (await import('pino')).pino({ level: 'silent' }) });
      await auth.addStaff('manager@flowers.test', 'Menedzher magazina 2026');
      staff = client(w.t.app);
      expect((await logIn(staff, 'manager@flowers.test', 'Menedzher magazina 2026')).headers.location).to.equal('/staff');
    });
    after(() => w.close());

    it('when amoCRM refuses a lead with 400, then the job is not retried and staff sees amoCRM\'s validation errors', async () => {
      w.simulator.controls.failNext(1, 400, {
        'validation-errors': [{ request_id: '0', errors: [{ code: 'InvalidType', path: 'custom_fields_values.0.values.0.value', detail: 'This value should be of type int.' }] }],
        title: 'Bad Request', type: 'https://httpstatus.es/400', status: 400, detail: 'Request validation failed',
      });
      const { email } = await signUp(client(w.t.app));
      const user = await userRow(w.t, email);
      await waitFor(async () => w.t.db('amocrm_sync_log').where({ user_id: user.id, outcome: 'failed' }).first(), 10_000, 'failure logged');
      await new Promise((r) => setTimeout(r, 1500));
      const attempts = await w.t.db('amocrm_sync_log').where({ user_id: user.id }).pluck('outcome');
      expect(attempts).to.deep.equal(['failed']); // no retry
      expect((await userRow(w.t, email)).amo_lead_id).to.equal(null);
      const page = await staff.get('/staff/amocrm').expect(200);
      expect(page.text).to.include('Отклонено amoCRM').and.include('This value should be of type int.');
      // Staff sends the customer again: now it goes through.
      const csrf = csrfFrom(page.text);
      await staff.post(`/staff/customers/${user.id}/resync`).type('form').send({ _csrf: csrf }).expect(303);
      await waitFor(async () => (await userRow(w.t, email)).amo_lead_id, 10_000, 'lead after resync');
    });

    it('when amoCRM answers 402, then sending pauses, staff sees it, and after "resume" the waiting job completes', async () => {
      w.simulator.controls.setAccountState('payment_required');
      const { email } = await signUp(client(w.t.app));
      await waitFor(async () => (await w.t.db('amocrm_connection').first()).state === 'paused', 10_000, 'paused');
      const page = await staff.get('/staff/amocrm').expect(200);
      expect(page.text).to.include('Отправка приостановлена').and.include('402');
      w.simulator.controls.setAccountState('ok');
      await staff.post('/staff/amocrm/resume').type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
      await waitFor(async () => (await userRow(w.t, email)).amo_lead_id, 15_000, 'lead after resume');
    });

    it('refuses the staff page to customers (403) and sends visitors to log in', async () => {
      const customer = client(w.t.app);
      await signUp(customer);
      await customer.get('/staff/amocrm').expect(403);
      const visitor = await client(w.t.app).get('/staff/amocrm').expect(303);
      expect(visitor.headers.location).to.equal('/login?next=%2Fstaff%2Famocrm');
    });
  });

  describe('fields missing in the account', () => {
    let w: Awaited<ReturnType<typeof world>>;
    before(async () => { w = await world({ seedLeadFields: false }); });
    after(() => w.close());

    it('when the fields do not exist, then the sync fails with a clear message; "create missing fields" creates all ten with their options', async () => {
      const { email } = await signUp(client(w.t.app));
      const user = await userRow(w.t, email);
      const failure = await waitFor(async () => w.t.db('amocrm_sync_log').where({ user_id: user.id, outcome: 'failed' }).first(), 10_000, 'failure');
      expect(failure.message).to.include('«Сумма счёта»');
      const crm = createCrm({ db: w.t.db, settings: amoSettingsFrom(w.t.config), secrets: w.t.config.sessionSecrets, names: w.t.config.amocrm.fieldNames, timeZone: 'Europe/Moscow' });
      const result = await crm.fields.createMissing();
      expect(result.missing).to.deep.equal([]);
      expect(result.created).to.have.length(10); // the eight of the design document, the subscription status, the marketing consent
      const created = w.simulator.controls.customFields() as unknown as { name: string; type: string; enums: { value: string }[] | null }[];
      expect(created.find((f) => f.name === 'Интервал поставки букетов')!.enums!.map((e) => e.value)).to.deep.equal(['1 раз в неделю', '1 раз в 2 недели', '1 раз в месяц']);
      expect(created.find((f) => f.name === 'Дата доставки')!.type).to.equal('date');
    });
  });

  describe('OAuth 2.0', () => {
    let w: Awaited<ReturnType<typeof world>>;
    let staff: ReturnType<typeof client>;
    before(async () => {
      w = await world({ env: { AMOCRM_LONG_LIVED_TOKEN: '', AMOCRM_CLIENT_ID: 'placeholder', AMOCRM_CLIENT_SECRET: 'placeholder' }, worker: false });
      // The app must use the simulator's registered integration.
      const sim = w.simulator.controls.config();
      await w.t.close();
      w.t = createTestApp({ databaseUrl: w.database.url, env: { AMOCRM_BASE_URL: w.url, AMOCRM_LONG_LIVED_TOKEN: '', AMOCRM_AUTH_URL: `${w.url}/oauth`, AMOCRM_CLIENT_ID: sim.clientId, AMOCRM_CLIENT_SECRET: sim.clientSecret } });
      await w.t.startWorker();
      const { auth } = (await import('../../src/app.js')).createServices({ config: w.t.config, db: w.t.db, logger: (await import('pino')).pino({ level: 'silent' }) });
      await auth.addStaff('oauth-manager@flowers.test', 'Menedzher magazina 2026');
      staff = client(w.t.app);
      await logIn(staff, 'oauth-manager@flowers.test', 'Menedzher magazina 2026');
    });
    after(() => w.close());

    async function connectThroughConsentPage() {
      const start = await staff.get('/staff/amocrm/connect').expect(303);
      const consent = new URL(start.headers.location!);
      expect(`${consent.origin}${consent.pathname}`).to.equal(`${w.url}/oauth`);
      const state = consent.searchParams.get('state')!;
      const allow = await fetch(`${w.url}/oauth/allow`, { method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: consent.searchParams.get('client_id')!, state, mode: 'post_message' }) });
      const back = new URL(allow.headers.get('location')!);
      expect(back.searchParams.get('state')).to.equal(state);
      return staff.get(`${back.pathname}${back.search}`);
    }

    it('when staff connects through the consent page, then tokens are stored encrypted and a sign-up reaches amoCRM', async () => {
      const before = await staff.get('/staff/amocrm').expect(200);
      expect(before.text).to.include('Не подключено').and.include('href="/staff/amocrm/connect"');
      const res = await connectThroughConsentPage();
      expect(res.status).to.equal(303);
      const after = await staff.get('/staff/amocrm').expect(200);
      expect(after.text).to.include('amoCRM подключена').and.include('Подключено');
      const row = await w.t.db('amocrm_connection').first();
      expect(row.access_token_enc).to.match(/^v1\./);
      const { email } = await signUp(client(w.t.app));
      await waitFor(async () => (await userRow(w.t, email)).amo_lead_id, 10_000, 'lead via OAuth');
      const api = apiRequests(w.simulator).filter((r) => r.path.startsWith('/api/v4/'));
      expect(api.every((r) => /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(r.authorization ?? ''))).to.equal(true); // JWT-shaped access token
      // S23: neither the access token nor its parts are readable in the database or the logs.
      const bearer = api[0]!.authorization!.slice('Bearer '.length);
      const stored = JSON.stringify(await w.t.db('amocrm_connection').first());
      for (const part of [bearer, ...bearer.split('.').filter((p) => p.length > 20)]) {
        expect(stored).not.to.include(part);
        expect(w.t.logs.join('')).not.to.include(part);
      }
      // Both tokens are AES-256-GCM with a key derived from SESSION_SECRET by HKDF, and shown nowhere.
      const key = Buffer.from(hkdfSync('sha256', w.t.config.sessionSecrets[0]!, 'flowers-amocrm', 'amocrm token encryption v1', 32));
      const open = (sealed: string) => {
        const [version, iv, tag, body] = sealed.split('.');
        expect(version).to.equal('v1');
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag!, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(body!, 'base64url')), decipher.final()]).toString('utf8');
      };
      const tokens = await w.t.db('amocrm_connection').first('access_token_enc', 'refresh_token_enc');
      expect(open(tokens.access_token_enc)).to.equal(bearer);
      const refresh = open(tokens.refresh_token_enc);
      expect(refresh).to.have.length.above(20);
      expect(stored).not.to.include(refresh);
      expect(w.t.logs.join('')).not.to.include(refresh);
      const page = (await staff.get('/staff/amocrm').expect(200)).text;
      expect(page).not.to.include(refresh).and.not.include(bearer);
    });

    it('when the callback carries another state, then nothing is stored', async () => {
      const res = await staff.get('/staff/amocrm/callback?code=stolen&state=forged').expect(303);
      expect(res.headers.location).to.equal('/staff/amocrm');
      const page = await staff.get('/staff/amocrm');
      expect(page.text).to.include('ответ не относится к этой попытке');
    });

    it('when the access token has expired, then the next job refreshes it once and goes on', async () => {
      w.simulator.controls.expireAccessTokens();
      const from = Date.now();
      const { email } = await signUp(client(w.t.app));
      await waitFor(async () => (await userRow(w.t, email)).amo_lead_id, 10_000, 'lead after refresh');
      const refreshes = apiRequests(w.simulator).filter((r) => r.at >= from && r.path === '/oauth2/access_token');
      expect(refreshes).to.have.length(1);
      expect((refreshes[0]!.body as { grant_type: string }).grant_type).to.equal('refresh_token');
      expect(apiRequests(w.simulator).filter((r) => r.at >= from && r.status === 401)).to.have.length(1);
    });

    it('when two processes need a refresh at the same moment, then only one refresh happens and the spent refresh token is never sent again', async () => {
      await w.t.db('amocrm_connection').update({ expires_at: w.t.db.raw("now() - interval '1 minute'") });
      const from = Date.now();
      const pools = [createDb(w.database.url), createDb(w.database.url)];
      try {
        const crms = pools.map((db) => createCrm({ db, settings: amoSettingsFrom(w.t.config), secrets: w.t.config.sessionSecrets, names: w.t.config.amocrm.fieldNames, timeZone: 'Europe/Moscow' }));
        const tokens = await Promise.all(crms.map((c) => c.connection.accessToken()));
        expect(tokens[0]).to.equal(tokens[1]);
      } finally {
        await Promise.all(pools.map((p) => p.destroy()));
      }
      const refreshes = apiRequests(w.simulator).filter((r) => r.at >= from && r.path === '/oauth2/access_token');
      expect(refreshes).to.have.length(1);
      expect(refreshes[0]!.status).to.equal(200);
      expect((await w.t.db('amocrm_connection').first()).state).to.equal('connected');
    });

    it('when amoCRM refuses the refresh, then jobs wait and the staff page says "needs re-authorization"; after connecting again they complete', async () => {
      if ((await w.t.db('amocrm_connection').first()).state !== 'connected') await connectThroughConsentPage();
      w.simulator.controls.revokeRefreshTokens();
      w.simulator.controls.expireAccessTokens();
      const { email } = await signUp(client(w.t.app));
      const from = Date.now();
      await waitFor(async () => (await w.t.db('amocrm_connection').first()).state === 'needs_reauth', 10_000, 'needs_reauth');
      const page = await staff.get('/staff/amocrm').expect(200);
      expect(page.text).to.include('Нужна повторная авторизация');
      expect((await userRow(w.t, email)).amo_lead_id).to.equal(null);
      const pending = await w.t.db.raw("select count(*)::int as n from graphile_worker.jobs where queue_name = 'amocrm'");
      expect(pending.rows[0].n).to.be.greaterThan(0); // nothing lost
      await new Promise((r) => setTimeout(r, 3500)); // the job's next attempt comes and goes without sending
      const refreshes = apiRequests(w.simulator).filter((r) => r.at >= from && r.path === '/oauth2/access_token');
      expect(refreshes.length).to.be.at.most(1); // the refused refresh token was not sent again
      await connectThroughConsentPage();
      await waitFor(async () => (await userRow(w.t, email)).amo_lead_id, 15_000, 'lead after re-authorization');
    });
  });

  describe('a worker killed in the middle of a job', () => {
    let w: Awaited<ReturnType<typeof world>>;
    before(async () => { w = await world({ worker: false }); });
    after(() => w.close());

    it('when the worker dies after amoCRM made the lead but before the answer arrived, then after restart the lead exists once and is adopted', async () => {
      const { email } = await signUp(client(w.t.app));
      w.simulator.controls.delay(1500);
      const root = findProjectRoot();
      const env = {
        ...process.env, ...TEST_ENV, DATABASE_URL: w.database.url, AMOCRM_BASE_URL: w.url,
        AMOCRM_LONG_LIVED_TOKEN: w.t.config.amocrm.longLivedToken!, SMTP_URL: w.t.config.smtpUrl!, LOG_LEVEL: 'warn',
      };
      const worker = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli.ts'), 'worker'], { cwd: root, env, stdio: 'ignore' });
      await waitFor(() => w.simulator.controls.requests().some((r) => r.path === '/api/v4/leads/complex'), 30_000, 'create request sent');
      worker.kill('SIGKILL');
      await new Promise((r) => worker.once('exit', r));
      w.simulator.controls.delay(0);
      await waitFor(() => leadsOf(w.simulator).length === 1, 5000, 'amoCRM finished making the lead');
      expect((await userRow(w.t, email)).amo_lead_id).to.equal(null); // the answer never arrived
      // The dead worker's lock is released (an operator's `graphile_worker.force_unlock_workers`), then a new worker runs.
      await w.t.db.raw("select graphile_worker.force_unlock_workers(array(select distinct locked_by from graphile_worker.jobs where locked_by is not null))");
      await w.t.startWorker();
      await waitFor(async () => (await userRow(w.t, email)).amo_lead_id, 15_000, 'lead adopted');
      expect(leadsOf(w.simulator)).to.have.length(1);
      expect(Number((await userRow(w.t, email)).amo_lead_id)).to.equal(leadsOf(w.simulator)[0]!.id);
      await waitFor(async () => w.t.db('amocrm_sync_log').where({ outcome: 'ok', message: 'adopted' }).first(), 5000, 'adoption logged');
    });
  });
});
