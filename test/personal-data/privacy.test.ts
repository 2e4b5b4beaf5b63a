// Personal data (152-FZ), part two: the customer's privacy page (consents given, optional ones given or withdrawn,
// each step in the consent log) and the export of everything the shop holds about them.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { agentCookie, client, csrfFrom, logIn, signUp, submit } from '../helpers/client.js';

const articleOf = (html: string) => /<article class="document"[\s\S]*?<\/article>\n/.exec(html)?.[0] ?? '';
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Tables holding a user id that the export leaves out, each with the reason. Every other table with a user_id
 * column or a foreign key to users must appear in the export: a new table fails the coverage test until it is
 * considered here or exported.
 */
const NOT_EXPORTED: Record<string, string> = {
  password_resets: 'secret: only hashes of reset tokens, valid for an hour',
  login_codes: 'secret: the keyed hash of a sign-in code',
  email_confirmations: 'secret: hash only of a confirmation link; the address it confirms is exported as profile.pendingEmail',
  staff_totp: 'secret: a staff member\'s sealed TOTP key (staff accounts only)',
  staff_recovery_codes: 'secret: hashes of a staff member\'s recovery codes (staff accounts only)',
  amocrm_sync_log: 'the shop\'s own record of requests to amoCRM; the ids it names are exported under "amocrm"',
  mail_action_uses: 'secret: SHA-256 hashes of used one-click mail links (what a link did is exported as subscription.history)',
  amocrm_lead_history: 'the staff page\'s copy of the lead\'s notes and events in amoCRM: managers\' internal notes are never shown to customers (the stages are exported as amocrm.stageChanges)',
  staff_actions: 'what staff did (audit of staff, not data about the customer); the customer\'s data it touched is exported where it lives',
};
/** Where each exported table shows up in the JSON. */
const EXPORTED: Record<string, string> = {
  users: 'profile, preferences, subscription, amocrm',
  orders: 'orders',
  consent_events: 'consents',
  auth_events: 'signInsLast90Days',
  delivery_exceptions: 'subscription.deliveryExceptions',
  subscription_events: 'subscription.history',
  amocrm_note_outbox: 'amocrm.notes',
  reminders: 'subscription.reminders (the delivery dates reminded of, planned and sent)',
  session: 'devices (browser, system, masked IP, last activity; no session id)',
  user_attribution: 'marketing.attribution',
  analytics_events: 'marketing.analyticsEvents',
  lead_stage_changes: 'amocrm.stageChanges (the stages of the lead shown on the account\'s history)',
  sent_mails: 'mailsSent (which notice was mailed and when)',
};

describe('personal data: the privacy page and the data export (152-FZ)', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  const userId = async (email: string) => Number((await t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first('id')).id);
  const events = (id: number) => t.db('consent_events').where({ user_id: id }).orderBy('id').select('document', 'action', 'version', 'text_sha256', 'language', 'ip', 'user_agent');

  async function customer(overrides: Record<string, string> = {}) {
    const agent = client(t.app, '203.0.113.77');
    const account = await signUp(agent, overrides);
    return { agent, ...account, id: await userId(account.email) };
  }

  describe('GET/POST /account/privacy', () => {
    it('lists the consents given with document, version and date, and is linked from the account page', async () => {
      const { agent, email } = await customer({ consentMarketing: 'yes' });
      expect((await agent.get('/account').expect(200)).text).to.include('href="/account/privacy"');
      const page = await agent.get('/account/privacy').expect(200);
      expect(page.headers['cache-control']).to.equal('no-store');
      const given = /<section class="panel" aria-labelledby="given-title">[\s\S]*?<\/section>/.exec(page.text)![0];
      expect(given).to.include('Согласие на обработку персональных данных').and.include('Согласие на получение рекламной рассылки');
      // version and date of each: the log's own time, as shown times are (shop time zone)
      const at = (await t.db('consent_events').where({ user_id: await userId(email), document: 'marketing' }).first('at')).at as Date;
      const shown = new Intl.DateTimeFormat('ru-RU', { timeZone: 'Europe/Moscow', day: 'numeric', month: 'long', year: 'numeric' }).format(at).replace(' г.', '');
      expect(given.match(/Редакция 1, дано /g)).to.have.length(2);
      expect(given).to.include(`Редакция 1, дано ${shown}`);
      expect(page.text).to.include('name="_csrf"').and.include('href="/account/data.json"');
      // withdrawing the required consent means deleting the account: only said in text, no button for it
      expect(page.text).to.include('удалить аккаунт').and.not.include('value="personal-data"');
    });

    it('withdrawing and giving marketing append rows with version, SHA-256 of the exact text, IP and user agent; the list follows', async () => {
      const { agent, id } = await customer({ consentMarketing: 'yes' });
      const before = (await events(id)).length;
      const res = await agent.post('/account/privacy').set('User-Agent', 'PrivacyTest/1.0').type('form')
        .send({ _csrf: csrfFrom((await agent.get('/account/privacy')).text), document: 'marketing', action: 'withdraw' }).expect(303);
      expect(res.headers.location).to.equal('/account/privacy');
      const text = articleOf((await client(t.app).get('/consent/marketing').expect(200)).text);
      let rows = await events(id);
      expect(rows).to.have.length(before + 1);
      expect(rows.at(-1)).to.deep.equal({ document: 'marketing', action: 'withdraw', version: '1', text_sha256: sha256(text), language: 'ru', ip: '203.0.113.77', user_agent: 'PrivacyTest/1.0' });
      let page = (await agent.get('/account/privacy')).text;
      expect(/aria-labelledby="given-title">[\s\S]*?<\/section>/.exec(page)![0]).not.to.include('рекламной рассылки');
      expect(page).to.include('value="grant"');

      await submit(agent, '/account/privacy', { document: 'marketing', action: 'grant' }).then((r) => expect(r.status).to.equal(303));
      rows = await events(id);
      expect(rows.at(-1)).to.include({ document: 'marketing', action: 'grant', version: '1', text_sha256: sha256(text) });
      page = (await agent.get('/account/privacy')).text;
      expect(/aria-labelledby="given-title">[\s\S]*?<\/section>/.exec(page)![0]).to.include('рекламной рассылки');

      // in English the hash is of the English text shown
      await submit(agent, '/account/privacy?lang=en', { document: 'marketing', action: 'withdraw' });
      const en = articleOf((await client(t.app).get('/consent/marketing?lang=en').expect(200)).text);
      expect((await events(id)).at(-1)).to.include({ action: 'withdraw', language: 'en', text_sha256: sha256(en) });
    });

    it('offers no analytics toggle and refuses an analytics form when analytics is not configured; offers it when configured', async () => {
      const { agent, id } = await customer();
      const page = (await agent.get('/account/privacy')).text;
      expect(page).not.to.include('value="analytics"').and.not.include('/consent/analytics');
      const before = (await events(id)).length;
      expect((await submit(agent, '/account/privacy', { document: 'analytics', action: 'grant' })).status).to.equal(422);
      expect(await events(id)).to.have.length(before);

      const withAnalytics = createTestApp({ env: { METRICA_COUNTER_ID: '12345678', METRICA_MP_TOKEN: 'test-token', METRICA_ENDPOINT: 'http://127.0.0.1:9/collect' } });
      try {
        const other = client(withAnalytics.app);
        const { email } = await signUp(other);
        expect((await other.get('/account/privacy')).text).to.include('value="analytics"');
        expect((await submit(other, '/account/privacy', { document: 'analytics', action: 'grant' })).status).to.equal(303);
        const otherId = Number((await withAnalytics.db('users').whereRaw('lower(email) = ?', [email]).first('id')).id);
        expect(await withAnalytics.db('consent_events').where({ user_id: otherId, document: 'analytics' }).select('action')).to.deep.equal([{ action: 'grant' }]);
      } finally {
        await withAnalytics.close();
      }
    });

    it('refuses forged forms (unknown document, the required consent, bad action) with 422 and records nothing', async () => {
      const { agent, id } = await customer();
      const before = (await events(id)).length;
      for (const fields of <Record<string, string>[]>[{ document: 'personal-data', action: 'withdraw' }, { document: 'marketing', action: 'delete' }, { document: 'marketing' }, { document: 'marketing', action: 'grant', extra: '1' }]) {
        expect((await submit(agent, '/account/privacy', fields)).status, JSON.stringify(fields)).to.equal(422);
      }
      expect(await events(id)).to.have.length(before);
    });

    it('needs a login', async () => {
      expect((await client(t.app).get('/account/privacy').expect(303)).headers.location).to.equal('/login?next=%2Faccount%2Fprivacy');
      expect((await client(t.app).get('/account/data.json').expect(303)).headers.location).to.match(/^\/login/);
    });
  });

  describe('GET /account/data.json', () => {
    it('is a download, never stored, with profile, preferences, orders, consents, sign-ins, amoCRM ids, subscription and devices', async () => {
      const { agent, id, email, password } = await customer({ consentMarketing: 'yes' });
      await t.db('users').where({ id }).update({ amo_lead_id: 777001, amo_contact_id: 888001, paused_from: '2027-01-01', paused_until: '2027-02-01' });
      await t.db('delivery_exceptions').insert({ user_id: id, scheduled_date: '2027-03-03', kind: 'skip', source: 'account' });
      await t.db('orders').insert({ user_id: id, bouquet: 'romantic', delivery_date: '2027-01-10', address: 'ул. Экспортная, 1', wishes: '', price_kopecks: 350000,
        recipient_name: 'Анна Петрова', recipient_phone: '+79123456789', card_message: 'С днём рождения!' });
      await t.db('auth_events').insert({ user_id: id, event: 'login', ip: '198.51.100.9', user_agent: 'Old', at: t.db.raw("now() - interval '91 days'") });
      await t.db('lead_stage_changes').insert({ user_id: id, status_id: 4242, pipeline_id: 17, stage_name: 'Доставка запланирована', changed_at: new Date('2026-12-01T10:00:00Z'), source: 'amocrm' });
      await t.db('sent_mails').insert({ user_id: id, kind: 'password-changed', sent_at: new Date('2026-12-02T11:00:00Z') });
      const second = client(t.app, '198.51.100.42');
      await logIn(second, email, password);

      const res = await agent.get('/account/data.json').buffer(true).parse((r, cb) => { let s = ''; r.on('data', (c: Buffer) => { s += c; }); r.on('end', () => cb(null, s)); }).expect(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.headers['content-disposition']).to.match(/^attachment; filename="?flowers-data-\d{4}-\d{2}-\d{2}\.json"?$/);
      const data = JSON.parse(res.body as string);
      expect(data.profile).to.include({ id, email });
      expect(data.preferences).to.include({ bouquet: 'seasonal', address: 'ул. Ленина, 25, кв. 10', interval: 'weekly', wishes: 'Больше зелени, без роз' });
      expect(data.amocrm).to.include({ leadId: 777001, contactId: 888001 });
      expect(data.amocrm.stageChanges).to.deep.equal([{ statusId: 4242, pipelineId: 17, stageName: 'Доставка запланирована', changedAt: '2026-12-01T10:00:00.000Z', source: 'amocrm', recordedAt: data.amocrm.stageChanges[0].recordedAt }]);
      expect(data.mailsSent).to.deep.equal([{ kind: 'password-changed', sentAt: '2026-12-02T11:00:00.000Z' }]);
      expect(data.amocrm).not.to.have.property('history'); // managers' notes are never shown to customers
      expect(data.subscription).to.include({ pausedFrom: '2027-01-01', pausedUntil: '2027-02-01' });
      expect(data.subscription.deliveryExceptions).to.deep.equal([{ scheduled_date: '2027-03-03', kind: 'skip', new_date: null, source: 'account', created_at: data.subscription.deliveryExceptions[0].created_at }]);
      expect(data.orders.map((o: { address: string }) => o.address)).to.deep.equal(['ул. Экспортная, 1']);
      expect(data.orders[0]).to.include({ recipient_name: 'Анна Петрова', recipient_phone: '+79123456789', card_message: 'С днём рождения!' }); // a gift's recipient
      expect(data.consents.map((c: { document: string; action: string }) => `${c.document} ${c.action}`)).to.deep.equal(['personal-data grant', 'marketing grant']);
      expect(data.signInsLast90Days.map((e: { user_agent: string }) => e.user_agent)).not.to.include('Old');
      expect(data.signInsLast90Days.length).to.be.greaterThan(0);
      expect(data.devices).to.have.length(2);
      expect(data.devices.map((d: { ip: string }) => d.ip).sort()).to.deep.equal(['198.51.100.*', '203.0.113.*']);
      expect(Object.keys(data.devices[0]).sort()).to.deep.equal(['browser', 'current', 'ip', 'lastSeenAt', 'system']);
    });

    it('leaves out what managers wrote in amoCRM: the staff page\'s copy of the lead\'s notes and events is not exported', async () => {
      const { agent, id } = await customer();
      await t.db('users').where({ id }).update({ amo_lead_id: 777002 });
      await t.db('amocrm_lead_history').insert({ user_id: id, lead_id: 777002, fetched_at: new Date('2026-12-02T10:00:00Z'), entries: JSON.stringify([
        { kind: 'note', at: '2026-12-01T09:05:00.000Z', author: 'Менеджер Ольга', text: 'Просила пионы' },
        { kind: 'event', at: '2026-12-01T09:00:00.000Z', text: 'Сделка создана' },
      ]) });
      const res = await agent.get('/account/data.json').buffer(true).parse((r, cb) => { let s = ''; r.on('data', (c: Buffer) => { s += c; }); r.on('end', () => cb(null, s)); }).expect(200);
      const data = JSON.parse(res.body as string);
      expect(data.amocrm).to.include({ leadId: 777002 });
      expect(data.amocrm).not.to.have.property('history');
      expect(res.body).not.to.include('Просила пионы').and.not.include('Ольга').and.not.include('Сделка создана');
    });

    it('holds no secret: no password hash, reset token hash, code hash, session id; and nothing of another customer', async () => {
      const { agent, id, email } = await customer();
      const other = await customer({ address: 'ул. Чужая, 99', wishes: 'Чужие пожелания' });
      await submit(client(t.app), '/forgot-password', { email });
      await t.db('orders').insert({ user_id: other.id, bouquet: 'romantic', delivery_date: '2027-01-11', address: 'ул. Чужая, 99', wishes: 'Чужой заказ', price_kopecks: 350000 });
      await t.db('delivery_exceptions').insert({ user_id: other.id, scheduled_date: '2027-04-04', kind: 'skip', source: 'account' });
      await t.db('auth_events').insert({ user_id: other.id, event: 'login', ip: '192.0.2.200', user_agent: 'ChuzhoiBrowser/1' });
      await t.db('password_resets').insert({ user_id: id, token_hash: createHash('sha256').update('x').digest('hex'), auth_version: 1, expires_at: t.db.raw("now() + interval '1 hour'") }).catch(() => undefined);
      const res = await agent.get('/account/data.json').buffer(true).parse((r, cb) => { let s = ''; r.on('data', (c: Buffer) => { s += c; }); r.on('end', () => cb(null, s)); }).expect(200);
      const json = res.body as string;
      expect(json).not.to.include('$2b$').and.not.include('password_hash').and.not.include('passwordHash');
      const user = await t.db('users').where({ id }).first('password_hash');
      expect(json).not.to.include(user.password_hash);
      for (const row of await t.db('password_resets').where({ user_id: id }).select('token_hash')) expect(json).not.to.include(row.token_hash);
      const sid = decodeURIComponent(agentCookie(agent).replace(/^sid=/, '')).replace(/^s:/, '').split('.')[0]!;
      expect(sid).to.have.length.greaterThan(10);
      expect(json).not.to.include(sid);
      for (const row of await t.db('session').select('sid')) expect(json).not.to.include(row.sid);
      expect(json).not.to.include(other.email).and.not.include('ул. Чужая, 99').and.not.include('Чужие пожелания').and.not.include('Чужой заказ')
        .and.not.include('2027-04-04').and.not.include('ChuzhoiBrowser').and.not.include('192.0.2.200');
      expect(json).not.to.include('"sid"').and.not.include('handle').and.not.include('token');
    });

    it('allows a few downloads an hour per user, then a 429 page; another user is not affected', async () => {
      const { agent } = await customer();
      for (let i = 0; i < 5; i++) await agent.get('/account/data.json').expect(200);
      const refused = await agent.get('/account/data.json').expect(429);
      expect(refused.headers['content-type']).to.match(/^text\/html/);
      expect(refused.headers['content-disposition']).to.equal(undefined);
      const { agent: someone } = await customer();
      await someone.get('/account/data.json').expect(200);
    });

    it('covers every table that holds a user id: each is exported or listed, with its reason, as not personal or secret', async () => {
      const tables: { table_name: string }[] = (await t.db.raw(`
        select distinct c.table_name from information_schema.columns c
         where c.table_schema = 'public' and c.column_name = 'user_id'
        union
        select distinct tc.table_name from information_schema.table_constraints tc
          join information_schema.constraint_column_usage ccu on ccu.constraint_name = tc.constraint_name and ccu.table_schema = tc.table_schema
         where tc.constraint_type = 'FOREIGN KEY' and tc.table_schema = 'public' and ccu.table_name = 'users'
        order by 1`)).rows;
      // the session table keeps its user inside the JSON of `sess` (an index, no column): listed by hand
      const found = [...tables.map((r) => r.table_name), 'session'];
      expect(found).to.include.members(['orders', 'consent_events', 'auth_events', 'password_resets']);
      for (const table of found) {
        expect(table in EXPORTED || table in NOT_EXPORTED, `table "${table}" holds a user id: export it in privacy-service.ts or list it in NOT_EXPORTED with a reason`).to.equal(true);
      }
    });
  });
});
