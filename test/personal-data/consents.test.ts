// Personal data (152-FZ), part one: the documents, the consent boxes at sign-up, the append-only consent log, and a
// required consent asked for again when its text gets a new version.
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, GOOD_PASSWORD, logIn, signUp, signupFields, submit, uniqueEmail, type Agent } from '../helpers/client.js';
import { CURRENT_DOCUMENTS } from '../../src/services/documents.js';

const OPERATOR = {
  OPERATOR_NAME: 'ООО «Цветы Тест»', OPERATOR_ADDRESS: '190000, г. Санкт-Петербург, ул. Проверочная, д. 9', OPERATOR_INN: '7801234567',
  OPERATOR_EMAIL: 'dpo@flowers.test',
};
const DOCUMENTS = { '/privacy': 'privacy', '/consent/personal-data': 'personal-data', '/consent/marketing': 'marketing', '/consent/analytics': 'analytics' } as const;

/** The document exactly as the page shows it: the <article> the consent log's hash is taken over. */
const articleOf = (html: string) => /<article class="document"[\s\S]*?<\/article>\n/.exec(html)?.[0] ?? '';
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe('personal data: documents, consents at sign-up, consent log (152-FZ)', () => {
  let t: TestApp;
  before(() => { t = createTestApp({ env: OPERATOR }); });
  after(() => t.close());

  const userId = async (email: string) => Number((await t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first('id'))?.id ?? 0);
  const consentRows = (id: number) => t.db('consent_events').where({ user_id: id }).orderBy('id')
    .select('document', 'action', 'version', 'text_sha256', 'language', 'ip', 'user_agent', 'at');

  describe('the documents', () => {
    it('each of the four pages shows its current version and date and the operator from OPERATOR_*, in Russian, and in English with ?lang=en', async () => {
      for (const [path, kind] of Object.entries(DOCUMENTS)) {
        const ru = await client(t.app).get(path).expect(200);
        expect(ru.text, path).to.include('<html lang="ru"').and.include(`Редакция ${CURRENT_DOCUMENTS[kind].version} от 4 декабря 2026`);
        for (const value of ['ООО «Цветы Тест»', '190000, г. Санкт-Петербург, ул. Проверочная, д. 9', '7801234567', 'mailto:dpo@flowers.test']) {
          expect(ru.text, `${path} ${value}`).to.include(value.replace('«', '«').replace('»', '»'));
        }
        expect(ru.text, path).not.to.include('пример для разработки');
        const en = await client(t.app).get(`${path}?lang=en`).expect(200);
        expect(en.text, path).to.include('<html lang="en"').and.include(`Version ${CURRENT_DOCUMENTS[kind].version} of 4 December 2026`).and.include('dpo@flowers.test');
      }
    });

    it('the consent to processing names the data, the purposes, the actions, the processor, the term and how to withdraw, and stands apart from advertising and analytics', async () => {
      const text = (await client(t.app).get('/consent/personal-data').expect(200)).text;
      for (const phrase of ['адрес электронной почты', 'адрес доставки', 'пожелания к букетам', 'история заказов', 'IP-адрес', 'user agent',
        'Для чего', 'хранение', 'ООО «амоСРМ»', 'до его отзыва или до удаления аккаунта', 'Как отозвать', 'отдельный документ']) {
        expect(text, phrase).to.include(phrase);
      }
      expect(text).to.include('href="mailto:dpo@flowers.test"');
      expect(text).not.to.include('Хочу получать рекламу'); // not bundled with the advertising consent
      expect((await client(t.app).get('/consent/marketing').expect(200)).text).to.include('38-ФЗ');
    });

    it('without OPERATOR_* (development) the details are marked on every document as examples', async () => {
      const dev = createTestApp();
      try {
        for (const path of Object.keys(DOCUMENTS)) {
          const res = await client(dev.app).get(path).expect(200);
          expect(res.text, path).to.include('пример для разработки, а не настоящие').and.include('OPERATOR_NAME');
        }
      } finally {
        await dev.close();
      }
    });
  });

  describe('sign-up', () => {
    it('shows a box for each consent, none ticked, the required one marked required, each with a link to its own text', async () => {
      const page = await client(t.app).get('/signup').expect(200);
      const box = (name: string) => new RegExp(`<input id="${name}" name="${name}" type="checkbox"[^>]*>`).exec(page.text)?.[0];
      expect(box('consentPersonalData')).to.match(/value="yes"/).and.match(/ required/).and.not.match(/checked/);
      expect(box('consentMarketing')).to.match(/value="yes"/).and.not.match(/checked|required/);
      expect(page.text).to.include('<label for="consentPersonalData">').and.include('<label for="consentMarketing">');
      expect(page.text).to.include('href="/consent/personal-data"').and.include('href="/consent/marketing"').and.include('href="/privacy"');
      expect(box('consentAnalytics'), 'no analytics configured, no analytics box').to.equal(undefined);
      expect(page.text).not.to.include('/consent/analytics');
      const en = await client(t.app).get('/signup?lang=en').expect(200);
      expect(en.text).to.include('href="/consent/personal-data?lang=en"');
    });

    it('the analytics box is there, unticked, only when Metrica or GA4 is configured, and is then logged when ticked', async () => {
      for (const env of [{ METRICA_COUNTER_ID: '12345678', METRICA_MP_TOKEN: 'test-token', METRICA_ENDPOINT: 'http://127.0.0.1:9/collect' }, { GA4_MEASUREMENT_ID: 'G-TEST123', GA4_API_SECRET: 'test-secret', GA4_ENDPOINT: 'http://127.0.0.1:9' }]) {
        const withAnalytics = createTestApp({ env: { ...OPERATOR, ...env } });
        try {
          const page = await client(withAnalytics.app).get('/signup').expect(200);
          const box = /<input id="consentAnalytics" name="consentAnalytics" type="checkbox"[^>]*>/.exec(page.text)?.[0];
          expect(box, JSON.stringify(env)).to.match(/value="yes"/).and.not.match(/checked|required/);
          expect(page.text).to.include('href="/consent/analytics"');
          const { email } = await signUp(client(withAnalytics.app), { consentAnalytics: 'yes' });
          const id = Number((await withAnalytics.db('users').where({ email }).first('id')).id);
          expect(await withAnalytics.db('consent_events').where({ user_id: id }).orderBy('document').pluck('document')).to.deep.equal(['analytics', 'personal-data']);
        } finally {
          await withAnalytics.close();
        }
      }
      // Without analytics configured the field is not part of the form: sending it is refused and stores nothing.
      const fields = signupFields({ consentAnalytics: 'yes' });
      const forged = await submit(client(t.app), '/signup', fields);
      expect(forged.status).to.equal(422);
      expect(forged.text).to.include('Форма заполнена неправильно');
      expect(await userId(fields.email!)).to.equal(0);
    });

    it('when the required box is not ticked (or not "yes"), then 422 with the message beside the box, the other boxes as ticked, and nothing stored', async () => {
      const countAll = async () => Number((await t.db('consent_events').count('* as n').first())!.n);
      const total = await countAll();
      for (const value of [undefined, '', 'no', 'on', 'YES']) {
        const fields = signupFields({ consentMarketing: 'yes' });
        if (value === undefined) delete fields.consentPersonalData;
        else fields.consentPersonalData = value;
        const res = await submit(client(t.app), '/signup', fields);
        expect(res.status, String(value)).to.equal(422);
        const field = /<input id="consentPersonalData"[^>]*>\s*<label[^>]*>[^<]*<\/label>\s*<\/div>\s*<span class="hint check-note" id="consentPersonalData-hint">.*?<\/span>\s*<p class="error" id="consentPersonalData-error">([^<]*)<\/p>/s.exec(res.text);
        expect(field?.[1], String(value)).to.equal('Без согласия на обработку персональных данных мы не можем вести аккаунт — отметьте этот пункт.');
        expect(res.text).to.match(/<input id="consentPersonalData"[^>]*aria-invalid="true"/);
        expect(res.text).to.match(/<input id="consentMarketing"[^>]*checked/);
        expect(res.text).not.to.match(/<input id="consentPersonalData"[^>]*checked/);
        expect(await userId(fields.email!), String(value)).to.equal(0);
      }
      expect(await countAll(), 'no consent logged').to.equal(total);
    });

    it('a sign-up logs each ticked consent with its version, the SHA-256 of the exact text the page shows, the time, IP and user agent, in one transaction with the account', async () => {
      const agent = client(t.app, '10.77.0.5').set('User-Agent', 'Consent-Test/1.0');
      const shownRu = articleOf((await client(t.app).get('/consent/personal-data').expect(200)).text);
      const shownMarketing = articleOf((await client(t.app).get('/consent/marketing').expect(200)).text);
      expect(shownRu).to.include('ООО «амоСРМ»');
      const before = new Date(Date.now() - 1000);
      const { email } = await signUp(agent, { consentMarketing: 'yes' });
      const rows = await consentRows(await userId(email));
      expect(rows.map(({ at: _at, ...r }) => r)).to.deep.equal([
        { document: 'personal-data', action: 'grant', version: '1', text_sha256: sha256(shownRu), language: 'ru', ip: '10.77.0.5', user_agent: 'Consent-Test/1.0' },
        { document: 'marketing', action: 'grant', version: '1', text_sha256: sha256(shownMarketing), language: 'ru', ip: '10.77.0.5', user_agent: 'Consent-Test/1.0' },
      ]);
      expect(rows[0]!.at).to.be.within(before, new Date(Date.now() + 1000));

      // Without the marketing box only the required consent is logged; in English, the English text's hash.
      const english = client(t.app);
      await english.get('/?lang=en');
      const shownEn = articleOf((await client(t.app).get('/consent/personal-data?lang=en').expect(200)).text);
      expect(sha256(shownEn)).not.to.equal(sha256(shownRu));
      const second = await signUp(english);
      const enRows = await consentRows(await userId(second.email));
      expect(enRows.map((r) => [r.document, r.language, r.text_sha256])).to.deep.equal([['personal-data', 'en', sha256(shownEn)]]);
    });

    it('when the account cannot be created (address taken), then no consent is logged either', async () => {
      const { email } = await signUp(client(t.app));
      const id = await userId(email);
      const before = (await consentRows(id)).length;
      const total = Number((await t.db('consent_events').count('* as n').first())!.n);
      expect((await submit(client(t.app), '/signup', signupFields({ email, consentMarketing: 'yes' }))).status).to.equal(422);
      expect((await consentRows(id)).length).to.equal(before);
      expect(Number((await t.db('consent_events').count('* as n').first())!.n)).to.equal(total);
    });
  });

  describe('the consent log is append-only', () => {
    it('the database refuses UPDATE, DELETE and TRUNCATE on consent_events, and the rows stay as they were', async () => {
      const { email } = await signUp(client(t.app));
      const id = await userId(email);
      const rows = await consentRows(id);
      expect(rows).to.have.length(1);
      const refused = async (what: string, run: () => Promise<unknown>, message = 'consent_events is append-only') => {
        let error: unknown;
        try { await run(); } catch (e) { error = e; }
        expect(error, what).to.be.instanceOf(Error);
        expect((error as Error).message, what).to.include(message);
      };
      await refused('update', () => t.db('consent_events').where({ user_id: id }).update({ version: '0' }));
      await refused('delete', () => t.db('consent_events').where({ user_id: id }).delete());
      await refused('truncate', () => t.db.raw('truncate consent_events'));
      // Nor does removing the account take its consent record with it.
      await refused('deleting the user', () => t.db('users').where({ id }).delete(), 'consent_events_user_id_foreign');
      expect(await consentRows(id)).to.deep.equal(rows);
      // Inserting stays possible: that is how withdrawals are recorded.
      await t.db('consent_events').insert({ user_id: id, document: 'personal-data', action: 'withdraw', version: '1', text_sha256: rows[0]!.text_sha256, language: 'ru' });
    });
  });

  describe('a required document gets a new version', () => {
    let v2: TestApp;
    before(() => {
      v2 = createTestApp({ env: OPERATOR, documents: { ...CURRENT_DOCUMENTS, 'personal-data': { version: '2', date: '2027-01-15', template: 'documents/personal-data/1' } } });
    });
    after(() => v2.close());

    async function customerOnV2(extra: Record<string, string> = {}): Promise<{ agent: Agent; id: number }> {
      const { email, password } = await signUp(client(t.app), extra); // agreed to version 1
      const agent = client(v2.app);
      expect((await logIn(agent, email, password)).status).to.equal(303);
      return { agent, id: await userId(email) };
    }

    it('a customer who does not agree to the new version can still delete the account: the interstitial links the delete page, which the gate leaves open', async () => {
      const { agent, id } = await customerOnV2();
      const interstitial = await agent.get('/account/consent').expect(200);
      expect(interstitial.text).to.include('href="/account/delete"');
      const page = await agent.get('/account/delete').expect(200);
      expect(page.text).to.include('name="currentPassword"');
      const res = await agent.post('/account/delete').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: GOOD_PASSWORD });
      expect(res.status).to.equal(303);
      expect(res.headers.location).to.equal('/goodbye');
      expect((await t.db('users').where({ id }).first('deleted_at')).deleted_at).to.be.an.instanceOf(Date);
      expect((await consentRows(id)).map((r) => r.version)).to.deep.equal(['1']);
    });

    it('a logged-in customer meets the interstitial before /account and every other account page; agreeing logs version 2 and lets them through', async () => {
      const { agent, id } = await customerOnV2({ consentMarketing: 'yes' });
      for (const path of ['/account', '/account/preferences', '/account/password', '/account/email', '/account/orders/new']) {
        const res = await agent.get(path).expect(303);
        expect(res.headers.location, path).to.equal(path === '/account' ? '/account/consent' : `/account/consent?next=${encodeURIComponent(path)}`);
      }
      const preferences = await agent.get('/account/preferences');
      const token = csrfFrom((await agent.get('/account/consent')).text);
      const post = await agent.post('/account/preferences').type('form').send({ _csrf: token, bouquet: 'luxe', address: 'ул. Новая, 1', deliveryDate: '2099-01-01', interval: 'weekly', wishes: '' });
      expect(post.status, 'a form post to an account page waits too').to.equal(303);
      expect(post.headers.location).to.equal('/account/consent');
      expect((await t.db('users').where({ id }).first('bouquet')).bouquet).to.equal('seasonal');

      const page = await agent.get(preferences.headers.location!).expect(200);
      expect(page.text).to.include('Редакция 2 от 15 января 2027').and.include('href="/consent/personal-data"');
      expect(page.text).to.match(/<input id="consentPersonalData"[^>]*type="checkbox"[^>]*>/).and.not.match(/<input id="consentPersonalData"[^>]*checked/);
      expect(page.text).to.include('name="_csrf"').and.include('action="/account/consent?next=%2Faccount%2Fpreferences"');

      // Without the box: 422 and the message beside it, nothing logged, still held back.
      const unticked = await agent.post('/account/consent?next=%2Faccount%2Fpreferences').type('form').send({ _csrf: csrfFrom(page.text) });
      expect(unticked.status).to.equal(422);
      expect(unticked.text).to.include('id="consentPersonalData-error"').and.include('отметьте этот пункт');
      expect((await consentRows(id)).map((r) => r.version)).to.deep.equal(['1', '1']);
      // Without its token: refused like every logged-in form.
      expect((await agent.post('/account/consent').type('form').send({ consentPersonalData: 'yes' })).status).to.equal(403);
      await agent.get('/account').expect(303);

      const shownV2 = articleOf((await client(v2.app).get('/consent/personal-data').expect(200)).text);
      expect(shownV2).to.include('Редакция 2');
      const agreed = await agent.post('/account/consent?next=%2Faccount%2Fpreferences').set('User-Agent', 'Renewal/2').type('form')
        .send({ _csrf: csrfFrom(page.text), consentPersonalData: 'yes' });
      expect(agreed.status).to.equal(303);
      expect(agreed.headers.location).to.equal('/account/preferences');
      const rows = await consentRows(id);
      expect(rows.map((r) => [r.document, r.action, r.version])).to.deep.equal([['personal-data', 'grant', '1'], ['marketing', 'grant', '1'], ['personal-data', 'grant', '2']]);
      expect(rows[2]!.text_sha256).to.equal(sha256(shownV2));
      expect(rows[2]!.user_agent).to.equal('Renewal/2');
      for (const path of ['/account', '/account/preferences', '/account/password']) await agent.get(path).expect(200);
      // Once agreed, the interstitial sends on and logs nothing more; a new session does not ask again.
      expect((await agent.get('/account/consent').expect(303)).headers.location).to.equal('/account');
      const { email } = await t.db('users').where({ id }).first('email');
      const again = client(v2.app);
      await logIn(again, email, (await signupFields()).password!);
      await again.get('/account').expect(200);
      expect(await consentRows(id)).to.have.length(3);
    });

    it('an interstitial ?next= that leaves the site falls back to /account', async () => {
      const { agent } = await customerOnV2();
      const page = await agent.get('/account/consent?next=%2F%2Fevil.example').expect(200);
      expect(page.text).to.include('action="/account/consent"');
      const res = await agent.post('/account/consent?next=%2F%2Fevil.example').type('form').send({ _csrf: csrfFrom(page.text), consentPersonalData: 'yes' });
      expect(res.headers.location).to.equal('/account');
    });

    it('the optional consents are never asked for again: a customer who gave the current required consent but no optional one goes straight in', async () => {
      const agent = client(t.app);
      const { email } = await signUp(agent);
      expect(await consentRows(await userId(email))).to.have.length(1);
      await agent.get('/account').expect(200);
      await agent.get('/account/preferences').expect(200);
      const fresh = client(t.app);
      await logIn(fresh, email, (await signupFields()).password!);
      await fresh.get('/account').expect(200);
    });

    it('a customer whose required consent was withdrawn or never logged (an account from before) is asked too', async () => {
      const { agent, id } = await customerOnV2();
      await agent.post('/account/consent').type('form').send({ _csrf: csrfFrom((await agent.get('/account/consent')).text), consentPersonalData: 'yes' }).expect(303);
      await t.db('consent_events').insert({ user_id: id, document: 'personal-data', action: 'withdraw', version: '2', text_sha256: '0'.repeat(64), language: 'ru' });
      const { email, password } = { email: (await t.db('users').where({ id }).first('email')).email as string, password: signupFields().password! };
      const later = client(v2.app);
      await logIn(later, email, password);
      expect((await later.get('/account').expect(303)).headers.location).to.equal('/account/consent');
      // An account from before the consent log: nothing logged at all.
      const old = uniqueEmail('old');
      await signUp(client(t.app), { email: old });
      const [oldId] = [await userId(old)];
      await t.db.raw('alter table consent_events disable trigger consent_events_no_update_delete');
      try {
        await t.db('consent_events').where({ user_id: oldId }).delete();
      } finally {
        await t.db.raw('alter table consent_events enable trigger consent_events_no_update_delete');
      }
      const oldAgent = client(t.app);
      await logIn(oldAgent, old, password);
      expect((await oldAgent.get('/account').expect(303)).headers.location).to.equal('/account/consent');
    });
  });
});
