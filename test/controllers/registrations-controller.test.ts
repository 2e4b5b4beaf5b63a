import { expect } from 'chai';
import bcrypt from 'bcrypt';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, sessionCookie, signUp, signupFields, submit, uniqueEmail } from '../helpers/client.js';
import { mailsTo, waitForMail } from '../helpers/smtp.js';

describe('registrations (/signup, referral links)', () => {
  let t: TestApp;
  before(async () => {
    t = createTestApp();
    await t.startWorker();
  });
  after(() => t.close());

  const userRow = (email: string) => t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first();

  describe('GET /signup', () => {
    it('shows every field with a visible label and the categories with their prices', async () => {
      const res = await client(t.app).get('/signup').expect(200);
      for (const name of ['email', 'password', 'bouquet', 'address', 'deliveryDate', 'interval', 'wishes']) {
        expect(res.text).to.include(`<label for="${name}">`).and.include(`name="${name}"`);
      }
      expect(res.text).to.include('Сезонный — 5\u00a0000\u00a0₽').and.include('1 раз в 2 недели');
      expect(res.headers['cache-control']).to.equal('no-store');
    });

    it('when a visitor opens the form, then each required choice starts with an empty placeholder, and a re-rendered form keeps what was chosen', async () => {
      const firstOption = (html: string, name: string) => new RegExp(`<select id="${name}"[^>]*>\\s*<option([^>]*)>([^<]*)</option>`).exec(html)?.slice(1);
      const selected = (html: string, name: string) => /<option value="([^"]*)" selected>/.exec(new RegExp(`<select id="${name}"[\\s\\S]*?</select>`).exec(html)![0])?.[1];
      const page = await client(t.app).get('/signup').expect(200);
      expect(firstOption(page.text, 'bouquet')).to.deep.equal([' value=""', 'Выберите букет']);
      expect(firstOption(page.text, 'interval')).to.deep.equal([' value=""', 'Выберите, как часто']);
      expect(selected(page.text, 'bouquet')).to.equal(undefined); // nothing chosen yet: the placeholder shows
      const wrong = await submit(client(t.app, '10.200.1.1'), '/signup', signupFields({ email: 'not-an-email', bouquet: 'luxe', interval: 'monthly' }));
      expect(wrong.status).to.equal(422);
      expect(selected(wrong.text, 'bouquet')).to.equal('luxe');
      expect(selected(wrong.text, 'interval')).to.equal('monthly');
      const empty = await submit(client(t.app, '10.200.1.1'), '/signup', signupFields({ bouquet: '', interval: '' }));
      expect(empty.status).to.equal(422);
      expect(empty.text).to.include('Выберите категорию букета.').and.include('Выберите интервал доставки.');
    });
  });

  describe('POST /signup', () => {
    it('when the form is valid, then the account is created with the category price, logged in on a new session id, and sent to /account', async () => {
      const agent = client(t.app);
      const page = await agent.get('/signup');
      const visitorCookie = sessionCookie(page);
      const fields = signupFields({ bouquet: 'luxe', email: uniqueEmail('Anna').replace('anna', 'Anna') });
      const res = await agent.post('/signup').type('form').send({ _csrf: csrfFrom(page.text), ...fields }).expect(303);
      expect(res.headers.location).to.equal('/account');
      expect(sessionCookie(res)?.split(';')[0]).to.not.equal(visitorCookie?.split(';')[0]); // S9
      const row = await userRow(fields.email!);
      expect(row.email).to.equal(fields.email!.toLowerCase());
      expect(row.account_sum_kopecks).to.equal(900_000);
      expect(row.bouquet).to.equal('luxe');
      expect(row.delivery_date).to.equal(fields.deliveryDate);
      expect(row.referral_id).to.match(/^[0-9a-f-]{36}$/);
      expect(bcrypt.getRounds(row.password_hash)).to.equal(12); // S1
      expect(await bcrypt.compare(fields.password!, row.password_hash)).to.equal(true);
      const account = await agent.get('/account').expect(200);
      expect(account.text).to.include(fields.email!.toLowerCase()).and.include('9\u00a0000\u00a0₽');
      expect(account.text).to.include(`${t.config.appUrl}/${row.referral_id}`);
      expect(account.text).to.include('Добро пожаловать');
    });

    it('when the form tries to set the account sum, then it is refused as an unknown field and nothing is stored', async () => {
      const fields = signupFields();
      const res = await submit(client(t.app), '/signup', { ...fields, accountSum: '1' });
      expect(res.status, res.text.slice(0, 300)).to.equal(422);
      expect(res.text).to.include('Форма заполнена неправильно');
      expect(await userRow(fields.email!)).to.equal(undefined);
    });

    it('when fields are wrong, then 422 with a message next to each field, the typed values kept and the password never echoed', async () => {
      const fields = signupFields({ email: 'not-an-email', password: 'short', bouquet: 'tulips', address: '', deliveryDate: daysFromToday(-1), interval: 'daily', wishes: 'Пионы' });
      const res = await submit(client(t.app), '/signup', fields);
      expect(res.status, res.text.slice(0, 300)).to.equal(422);
      expect(res.text).to.include('id="email-error"').and.include('Укажите email в виде name@example.ru.');
      expect(res.text).to.include('id="password-error"').and.include('не короче 8 символов');
      expect(res.text).to.include('id="bouquet-error"');
      expect(res.text).to.include('id="address-error"');
      expect(res.text).to.include('id="deliveryDate-error"').and.include('Дата не может быть в прошлом.');
      expect(res.text).to.include('id="interval-error"');
      expect(res.text).to.include('value="not-an-email"').and.include('>Пионы</textarea>');
      expect(res.text).not.to.include('value="short"');
      expect(res.text).to.include('aria-invalid="true"');
    });

    it('when the email is already registered, then the form says so (any letter case) and the owner is told by mail (S5)', async () => {
      const first = await signUp(client(t.app));
      const res = await submit(client(t.app), '/signup', signupFields({ email: first.email.toUpperCase() }));
      expect(res.status, res.text.slice(0, 300)).to.equal(422);
      expect(res.text).to.include('Этот email уже зарегистрирован');
      const mail = await waitForMail(first.email, { subject: /Попытка регистрации/ });
      expect(mail.text).to.include(`${t.config.appUrl}/forgot-password`);
      expect(await t.db('users').whereRaw('lower(email) = ?', [first.email]).count('* as n').first()).to.deep.equal({ n: 1 });
    });

    it('when an address that has an account is tried again and again, then its owner is told at most 3 times an hour, while the form still says it is taken', async () => {
      const { email } = await signUp(client(t.app));
      for (let i = 1; i <= 5; i++) {
        const res = await submit(client(t.app), '/signup', signupFields({ email }));
        expect(res.status).to.equal(422);
        expect(res.text).to.include('Этот email уже зарегистрирован');
      }
      await waitForMail(email, { subject: /Попытка регистрации/, count: 3 });
      const queued = await t.db.raw("select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'mail:send' and j.payload->>'to' = ?", [email]);
      expect(queued.rows[0].n).to.equal(0);
      await new Promise((r) => setTimeout(r, 800));
      expect(mailsTo(email).filter((m) => /Попытка регистрации/.test(m.subject))).to.have.length(3);
    });

    it('when one IP has sent 10 sign-up forms within the hour, then the 11th is refused with 429 and stores nothing, while another IP may sign up (S5, S6)', async () => {
      const ip = '10.200.0.7';
      for (let i = 0; i < 10; i++) {
        const res = await submit(client(t.app, ip), '/signup', signupFields({ email: 'not-an-email' }));
        expect(res.status, `attempt ${i + 1}`).to.equal(422);
      }
      const fields = signupFields();
      const refused = await submit(client(t.app, ip), '/signup', fields);
      expect(refused.status).to.equal(429);
      expect(refused.text).to.include('<h1>');
      expect(await userRow(fields.email!)).to.equal(undefined);
      expect((await submit(client(t.app, '10.200.0.8'), '/signup', signupFields())).status).to.equal(303);
    });

    it('when wishes contain markup, then the account page shows it escaped', async () => {
      const agent = client(t.app);
      await signUp(agent, { wishes: '<script>alert(1)</script> и «ромашки»' });
      const res = await agent.get('/account').expect(200);
      expect(res.text).to.include('&lt;script&gt;alert(1)&lt;/script&gt; и «ромашки»');
      expect(res.text).not.to.include('<script>');
    });
  });

  describe('GET /:referralId', () => {
    it('when a friend opens a referral link and signs up, then the new account remembers the referrer and the referrer sees the count', async () => {
      const referrerAgent = client(t.app);
      const referrer = await signUp(referrerAgent);
      const referrerRow = await userRow(referrer.email);
      const friend = client(t.app);
      const res = await friend.get(`/${referrerRow.referral_id}`).expect(303);
      expect(res.headers.location).to.equal('/signup');
      const form = await friend.get('/signup').expect(200);
      expect(form.text).to.include('Вас пригласил друг');
      const { email } = await signUp(friend);
      expect((await userRow(email)).referred_by).to.equal(referrerRow.id);
      const account = await referrerAgent.get('/account').expect(200);
      expect(account.text).to.include('Друзей зарегистрировалось по ссылке: 1');
    });

    it('when the id is unknown or malformed, then the normal 404 page', async () => {
      await client(t.app).get('/6f1c2b3a-1bcd-4e67-b85e-bdd90399d501').expect(404);
      const res = await client(t.app).get('/not-a-uuid').expect(404);
      expect(res.text).to.include('Страница не найдена');
    });
  });
});
