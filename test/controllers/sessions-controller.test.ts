import { expect } from 'chai';
import bcrypt from 'bcrypt';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { agentCookie, client, csrfFrom, logIn, sessionCookie, sessionIdOf, signUp, uniqueEmail } from '../helpers/client.js';

describe('sessions (/login, /logout)', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  async function account() {
    const { email, password } = await signUp(client(t.app));
    return { email, password };
  }

  describe('POST /login', () => {
    it('when email and password are right, then 303 to /account on a new session id (S9) and the login is recorded', async () => {
      const { email, password } = await account();
      const agent = client(t.app, '10.1.2.3');
      const page = await agent.get('/login').set('User-Agent', 'TestBrowser/1.0');
      // A visitor session from a flow that needs one (a reset link moved out of the URL): login must not keep its id.
      const before = sessionCookie(await agent.get('/reset-password?token=fixation').expect(303));
      const res = await agent.post('/login').set('User-Agent', 'TestBrowser/1.0').type('form').send({ _csrf: csrfFrom(page.text), email: email.toUpperCase(), password }).expect(303);
      expect(res.headers.location).to.equal('/account');
      expect(sessionIdOf(sessionCookie(res))).to.not.equal(sessionIdOf(before));
      await agent.get('/account').expect(200);
      const user = await t.db('users').whereRaw('lower(email) = ?', [email]).first();
      expect(user.last_login_ip).to.equal('10.1.2.3');
      const event = await t.db('auth_events').where({ user_id: user.id, event: 'login_ok' }).orderBy('id', 'desc').first();
      expect(event).to.include({ ip: '10.1.2.3', user_agent: 'TestBrowser/1.0' });
    });

    it('when the password has spaces around it or capitals, then only the exact same password logs in: never trimmed or case-folded (S2)', async () => {
      const password = '  Roza Vetrov 2026  ';
      const { email } = await signUp(client(t.app), { password });
      expect((await logIn(client(t.app), email, password.trim())).status).to.equal(401);
      expect((await logIn(client(t.app), email, password.toLowerCase())).status).to.equal(401);
      expect((await logIn(client(t.app), email, password.toUpperCase())).status).to.equal(401);
      expect((await logIn(client(t.app), email, password)).status).to.equal(303);
    });

    it('when the email is unknown or the password wrong, then the same 401, the same message and about the same time (S3)', async () => {
      const { email } = await account();
      const timeOf = async (fields: Record<string, string>) => {
        const agent = client(t.app);
        const page = await agent.get('/login');
        const started = process.hrtime.bigint();
        const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), ...fields });
        return { res, ms: Number(process.hrtime.bigint() - started) / 1e6 };
      };
      const unknown: number[] = [];
      const wrong: number[] = [];
      for (let i = 0; i < 3; i++) {
        const u = await timeOf({ email: uniqueEmail('nobody'), password: 'Wrong password 1' });
        const w = await timeOf({ email, password: 'Wrong password 1' });
        expect(u.res.status).to.equal(401);
        expect(w.res.status).to.equal(401);
        const message = (html: string) => /<div class="alert alert--error" role="alert"><p>([^<]+)<\/p>/.exec(html)?.[1];
        expect(message(u.res.text)).to.equal('Неверный email или пароль');
        expect(message(w.res.text)).to.equal(message(u.res.text));
        unknown.push(u.ms);
        wrong.push(w.ms);
      }
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[1]!;
      const ratio = median(unknown) / median(wrong);
      expect(ratio, `unknown ${median(unknown)} ms vs wrong ${median(wrong)} ms`).to.be.within(0.6, 1.6);
      expect(median(unknown)).to.be.greaterThan(50); // a real bcrypt comparison happened
    });

    it('when ?next= is a same-site path, then it is honoured; other sites and tricks go to /account (S20)', async () => {
      const { email, password } = await account();
      const target = async (next: string) => {
        const agent = client(t.app);
        const page = await agent.get(`/login?next=${encodeURIComponent(next)}`);
        const res = await agent.post(`/login?next=${encodeURIComponent(next)}`).type('form').send({ _csrf: csrfFrom(page.text), email, password });
        return res.headers.location;
      };
      expect(await target('/account/password')).to.equal('/account/password');
      for (const evil of ['//evil.example', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/\r\nSet-Cookie:x=1']) {
        expect(await target(evil), evil).to.equal('/account');
      }
    });

    it('when a stored hash has a lower cost, then a successful login rehashes it at cost 12 (S1)', async () => {
      const { email, password } = await account();
      await t.db('users').whereRaw('lower(email) = ?', [email]).update({ password_hash: await bcrypt.hash(password, 10) });
      await logIn(client(t.app), email, password).then((r) => expect(r.status).to.equal(303));
      const row = await t.db('users').whereRaw('lower(email) = ?', [email]).first();
      expect(bcrypt.getRounds(row.password_hash)).to.equal(12);
      expect(await bcrypt.compare(password, row.password_hash)).to.equal(true);
    });
  });

  describe('lockout and limits (S6)', () => {
    it('when 10 wrong passwords come in a row, even through two app processes, then the account locks for 15 minutes; the lock shows only with the right password', async () => {
      const { email, password } = await account();
      const other = createTestApp();
      try {
        for (let i = 0; i < 10; i++) {
          const app = i % 2 ? other.app : t.app; // two processes share the counter in PostgreSQL
          const res = await logIn(client(app), email, `Wrong password ${i}`);
          expect(res.status).to.equal(401);
          expect(res.text).to.include('Неверный email или пароль');
        }
        const row = await t.db('users').whereRaw('lower(email) = ?', [email]).first();
        expect(row.failed_logins).to.equal(10);
        const minutes = (new Date(row.locked_until).getTime() - Date.now()) / 60_000;
        expect(minutes).to.be.within(14, 15.1);
        const wrongWhileLocked = await logIn(client(t.app), email, 'Wrong password again');
        expect(wrongWhileLocked.status).to.equal(401);
        expect(wrongWhileLocked.text).to.include('Неверный email или пароль').and.not.include('заблокирован');
        const rightWhileLocked = await logIn(client(t.app), email, password);
        expect(rightWhileLocked.status).to.equal(401);
        expect(rightWhileLocked.text).to.include('аккаунт заблокирован на 15 минут');
        expect(await t.db('auth_events').where({ user_id: row.id, event: 'locked' }).count('* as n').first()).to.deep.equal({ n: 1 });
        // When the lock has passed, the right password works and the counter starts again.
        await t.db('users').where({ id: row.id }).update({ locked_until: t.db.raw("now() - interval '1 second'") });
        expect((await logIn(client(t.app), email, password)).status).to.equal(303);
        expect((await t.db('users').where({ id: row.id }).first()).failed_logins).to.equal(0);
      } finally {
        await other.close();
      }
    });

    it('when one IP fails 10 logins in 15 minutes, then the 11th attempt from it is refused with 429, while another IP still may try', async () => {
      const ip = '10.200.0.1';
      for (let i = 0; i < 10; i++) {
        const res = await logIn(client(t.app, ip), uniqueEmail('ghost'), 'Wrong password 1');
        expect(res.status).to.equal(401);
      }
      const blocked = await logIn(client(t.app, ip), uniqueEmail('ghost'), 'Wrong password 1');
      expect(blocked.status).to.equal(429);
      expect(blocked.text).to.include('Слишком много попыток');
      expect((await logIn(client(t.app, '10.200.0.2'), uniqueEmail('ghost'), 'Wrong password 1')).status).to.equal(401);
    });

    it('when logins from one IP succeed, then they do not count towards its limit', async () => {
      const { email, password } = await account();
      const ip = '10.201.0.1';
      for (let i = 0; i < 12; i++) expect((await logIn(client(t.app, ip), email, password)).status).to.equal(303);
    });
  });

  describe('POST /logout (S11)', () => {
    it('when posted with the CSRF token, then the session row is deleted, the cookie cleared and Clear-Site-Data sent', async () => {
      const agent = client(t.app);
      await signUp(agent);
      const page = await agent.get('/account').expect(200);
      const sid = sessionIdOf(agentCookie(agent));
      const res = await agent.post('/logout').type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
      expect(res.headers.location).to.equal('/');
      expect(res.headers['clear-site-data']).to.equal('"cache", "cookies"');
      expect(sessionCookie(res)).to.match(/^sid=;.*Expires=Thu, 01 Jan 1970/);
      await agent.get('/account').expect(303).expect('Location', '/login?next=%2Faccount');
      expect(await t.db('session').where({ sid }).first()).to.equal(undefined);
    });

    it('when posted without the token or fetched with GET, then nothing happens', async () => {
      const agent = client(t.app);
      await signUp(agent);
      await agent.post('/logout').type('form').send({}).expect(403);
      await agent.get('/logout').expect(404);
      await agent.get('/account').expect(200);
    });

    it('when "log out everywhere" is used, then every session of the user ends', async () => {
      const { email, password } = await account();
      const phone = client(t.app);
      const laptop = client(t.app);
      await logIn(phone, email, password);
      await logIn(laptop, email, password);
      const page = await laptop.get('/account').expect(200);
      // Both buttons are on the account page, as POST forms with the token.
      expect(page.text).to.match(/<form[^>]*method="post"[^>]*action="\/account\/logout-everywhere"|<form[^>]*action="\/account\/logout-everywhere"[^>]*method="post"/);
      expect(page.text).to.match(/<form[^>]*action="\/logout"/);
      const res = await laptop.post('/account/logout-everywhere').type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
      expect(res.headers.location).to.equal('/login?signed_out=all');
      await phone.get('/account').expect(303);
      await laptop.get('/account').expect(303);
      const user = await t.db('users').whereRaw('lower(email) = ?', [email]).first();
      expect(await t.db('auth_events').where({ user_id: user.id, event: 'logout_all' }).count('* as n').first()).to.deep.equal({ n: 1 });
    });
  });

  describe('session time limits (S12) and cookies (S13)', () => {
    async function loggedIn(extra: Record<string, string> = {}) {
      const { email, password } = await account();
      const agent = client(t.app);
      const res = await logIn(agent, email, password, extra);
      const sid = sessionIdOf(sessionCookie(res));
      const shift = async (field: 'authAt' | 'lastSeenAt', msAgo: number) => {
        const row = await t.db('session').where({ sid }).first();
        const sess = typeof row.sess === 'string' ? JSON.parse(row.sess) : row.sess;
        sess[field] = Date.now() - msAgo;
        if (field === 'authAt' && sess.lastSeenAt > sess[field] + msAgo) sess.lastSeenAt = Date.now();
        await t.db('session').where({ sid }).update({ sess: JSON.stringify(sess) });
      };
      return { agent, res, sid, shift };
    }
    const HOUR = 3600_000;

    it('when idle for more than 24 h without "remember me", then the session ends', async () => {
      const s = await loggedIn();
      await s.shift('lastSeenAt', 23 * HOUR);
      await s.agent.get('/account').expect(200);
      await s.shift('lastSeenAt', 25 * HOUR);
      await s.agent.get('/account').expect(303);
    });

    it('when "remember me" was ticked, then 25 h idle is fine, and 7 days after login it ends anyway', async () => {
      const s = await loggedIn({ remember: '1' });
      expect(sessionCookie(s.res)).to.match(/Expires=/);
      const row = await t.db('session').where({ sid: s.sid }).first();
      expect((new Date(row.expire).getTime() - Date.now()) / HOUR).to.be.within(167, 168.1);
      await s.shift('lastSeenAt', 25 * HOUR);
      await s.agent.get('/account').expect(200);
      await s.shift('authAt', 7 * 24 * HOUR + 60_000);
      await s.agent.get('/account').expect(303);
    });

    it('when a visitor\'s flow needs a session (a reset link moved out of the URL), then the session cookie is HttpOnly, SameSite=Lax, not Secure in development, and lives 2 hours', async () => {
      const res = await client(t.app).get('/reset-password?token=cookie').expect(303);
      const cookie = sessionCookie(res)!;
      expect(cookie).to.match(/^sid=s%3A/).and.match(/HttpOnly/).and.match(/SameSite=Lax/).and.match(/Path=\//);
      expect(cookie).not.to.match(/Secure/);
      const row = await t.db('session').where({ sid: sessionIdOf(cookie) }).first();
      expect((new Date(row.expire).getTime() - Date.now()) / HOUR).to.be.within(1.9, 2.01);
    });

    it('when a visitor only reads the landing page, then no session row is written', async () => {
      const before = await t.db('session').count('* as n').first();
      const res = await client(t.app).get('/').expect(200);
      expect(sessionCookie(res)).to.equal(undefined);
      expect(await t.db('session').count('* as n').first()).to.deep.equal(before);
    });

    it('in production, the cookie is __Host-sid and Secure behind the TLS proxy, and HSTS is sent', async () => {
      const prod = createTestApp({ env: {
        NODE_ENV: 'production', APP_URL: 'https://flowers.example', AMOCRM_BASE_URL: 'https://shop.amocrm.ru', AMOCRM_LONG_LIVED_TOKEN: 'x',
        OPERATOR_NAME: 'ООО «Цветы по подписке»', OPERATOR_ADDRESS: '190000, г. Санкт-Петербург, ул. Цветочная, д. 5', OPERATOR_INN: '7801234567', OPERATOR_EMAIL: 'privacy@flowers.test',
      } });
      try {
        const res = await client(prod.app).get('/reset-password?token=cookie').set('X-Forwarded-Proto', 'https').expect(303);
        expect(sessionCookie(res)).to.match(/^__Host-sid=/).and.match(/Secure/).and.match(/HttpOnly/).and.match(/SameSite=Lax/);
        expect(res.headers['strict-transport-security']).to.equal('max-age=31536000; includeSubDomains');
      } finally {
        await prod.close();
      }
    });
  });
});
