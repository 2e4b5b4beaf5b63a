import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { agentCookie, client, csrfFrom, logIn, randomIp, sessionIdOf, signUp, uniqueEmail, type Agent } from '../helpers/client.js';
import { confirmationLink, waitForMail } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';

describe('account (/account, /account/password, /account/email)', () => {
  let t: TestApp;
  before(async () => {
    t = createTestApp();
    await t.startWorker();
  });
  after(() => t.close());

  it('when a visitor asks for the account, then they are sent to log in and come back afterwards (S22)', async () => {
    const { email, password } = await signUp(client(t.app));
    const agent = client(t.app);
    const res = await agent.get('/account').expect(303);
    expect(res.headers.location).to.equal('/login?next=%2Faccount');
    const loginUrl = res.headers.location!;
    const page = await agent.get(loginUrl);
    const back = await agent.post(loginUrl).type('form').send({ _csrf: csrfFrom(page.text), email, password }).expect(303);
    expect(back.headers.location).to.equal('/account');
  });

  it('shows email, preferences, account sum and referral link, and is never cached; no password hash anywhere (S19)', async () => {
    const agent = client(t.app);
    const { email } = await signUp(agent, { bouquet: 'romantic', interval: 'biweekly', address: 'пр. Мира, 1' });
    const res = await agent.get('/account').expect(200);
    expect(res.headers['cache-control']).to.equal('no-store');
    expect(res.text).to.include(email).and.include('Романтический').and.include('1 раз в 2 недели').and.include('пр. Мира, 1');
    expect(res.text).to.include('4\u00a0500\u00a0₽');
    expect(res.text).not.to.match(/\$2[aby]\$/);
  });

  describe('changing the password (S10, S16, S17)', () => {
    it('when the current password is right, then the password changes, other sessions end, this one stays on a new id, and a notice is mailed', async () => {
      const laptop = client(t.app);
      const { email, password } = await signUp(laptop);
      const phone = client(t.app);
      await logIn(phone, email, password);
      await phone.get('/account').expect(200);
      const page = await laptop.get('/account/password').expect(200);
      const res = await laptop.post('/account/password').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: password, password: 'Sovsem novyi parol 77' }).expect(303);
      expect(res.headers.location).to.equal('/account');
      await laptop.get('/account').expect(200);
      await phone.get('/account').expect(303);
      const mail = await waitForMail(email, { subject: /Пароль изменён/ });
      expect(mail.text).to.include('/forgot-password');
      expect((await logIn(client(t.app), email, 'Sovsem novyi parol 77')).status).to.equal(303);
    });

    it('when the current password is wrong or the new one breaks a rule, then 422 with the message next to the field and nothing changes', async () => {
      const agent = client(t.app);
      const { email, password } = await signUp(agent);
      const page = await agent.get('/account/password');
      const wrong = await agent.post('/account/password').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: 'not my password', password: 'Sovsem novyi parol 77' });
      expect(wrong.status).to.equal(422);
      expect(wrong.text).to.include('id="currentPassword-error"').and.include('Неверный текущий пароль');
      const tooLong = await agent.post('/account/password').type('form').send({ _csrf: csrfFrom(wrong.text), currentPassword: password, password: 'я'.repeat(37) });
      expect(tooLong.status).to.equal(422);
      expect(tooLong.text).to.include('не больше 72 байт');
      expect((await logIn(client(t.app), email, password)).status).to.equal(303);
    });
  });

  describe('changing the email (S16, S17)', () => {
    it('when the current password is right, then the email changes only once the new address confirms: the old one logs in until then and is told', async () => {
      const agent = client(t.app);
      const { email, password } = await signUp(agent);
      const next = uniqueEmail('moved');
      const page = await agent.get('/account/email').expect(200);
      await agent.post('/account/email').type('form').send({ _csrf: csrfFrom(page.text), email: next, currentPassword: password }).expect(303);
      const waiting = await agent.get('/account').expect(200);
      expect(waiting.text).to.include('Мы отправили ссылку на новый адрес').and.include(`Новый адрес ${next} ждёт подтверждения`);
      const requested = await waitForMail(email, { subject: /^Запрошена смена email$/ });
      expect(requested.text).to.include(next);
      expect((await logIn(client(t.app), next, password)).status).to.equal(401);
      expect((await logIn(client(t.app), email, password)).status).to.equal(303);

      const link = new URL(await confirmationLink(next));
      const button = await agent.get(`${link.pathname}${link.search}`).expect(200);
      const confirmed = await agent.post('/confirm-email').type('form').send({ token: /name="token" value="([^"]+)"/.exec(button.text)![1] });
      expect([confirmed.status, confirmed.headers.location]).to.deep.equal([303, '/account']);
      const account = await agent.get('/account').expect(200);
      expect(account.text).to.include(next).and.include('Email изменён').and.not.include('ждёт подтверждения');
      const notice = await waitForMail(email, { subject: /Email аккаунта изменён/ });
      expect(notice.text).to.include(next);
      expect((await logIn(client(t.app), next, password)).status).to.equal(303);
      expect((await logIn(client(t.app), email, password)).status).to.equal(401);
    });

    it('when the password is wrong or the address belongs to someone else, then 422 and nothing changes', async () => {
      const other = await signUp(client(t.app));
      const agent = client(t.app);
      const { email, password } = await signUp(agent);
      const page = await agent.get('/account/email');
      const wrong = await agent.post('/account/email').type('form').send({ _csrf: csrfFrom(page.text), email: uniqueEmail(), currentPassword: 'not my password' });
      expect(wrong.status).to.equal(422);
      expect(wrong.text).to.include('Неверный текущий пароль');
      const taken = await agent.post('/account/email').type('form').send({ _csrf: csrfFrom(wrong.text), email: other.email, currentPassword: password });
      expect(taken.status).to.equal(422);
      expect(taken.text).to.include('уже зарегистрирован');
      expect((await t.db('users').whereRaw('lower(email) = ?', [email]).first())).to.not.equal(undefined);
    });
  });

  describe('bcrypt cannot be used as a weapon from an account (S6)', () => {
    /** Posts the password form (even i) or the email form (odd i) with the given current password, from the given IP. */
    async function post(agent: Agent, i: number, currentPassword: string, ip = randomIp()) {
      const path = i % 2 ? '/account/email' : '/account/password';
      const page = await agent.get(path).expect(200);
      const fields = i % 2 ? { email: uniqueEmail('moved'), currentPassword } : { currentPassword, password: 'Sovsem novyi parol 77' };
      return agent.post(path).set('X-Forwarded-For', ip).type('form').send({ _csrf: csrfFrom(page.text), ...fields });
    }
    const lock = (email: string) => t.db('users').whereRaw('lower(email) = ?', [email]).update({ locked_until: t.db.raw("now() + interval '15 minutes'") });

    it('when wrong current passwords are typed 10 times on the password and email forms, then the account locks like after 10 failed logins, and even the right one is refused then', async () => {
      const agent = client(t.app);
      const { email, password } = await signUp(agent);
      for (let i = 0; i < 10; i++) {
        const res = await post(agent, i, `Wrong password ${i}`);
        expect(res.status).to.equal(422);
        expect(res.text).to.include(i < 9 ? 'Неверный текущий пароль' : 'аккаунт заблокирован на 15 минут');
      }
      const row = await t.db('users').whereRaw('lower(email) = ?', [email]).first('id', 'failed_logins', 'locked_until');
      expect(row.failed_logins).to.equal(10);
      expect(new Date(row.locked_until).getTime()).to.be.greaterThan(Date.now() + 14 * 60_000);
      expect(await t.db('auth_events').where({ user_id: row.id, event: 'locked' }).count('* as n').first()).to.deep.equal({ n: 1 });
      const login = await logIn(client(t.app), email, password);
      expect(login.status).to.equal(401);
      expect(login.text).to.include('аккаунт заблокирован на 15 минут');
    });

    it('when one customer posts the password and email forms more than 10 times in 15 minutes, from any IPs, then the 11th is refused with the 429 page', async () => {
      const agent = client(t.app);
      const { email } = await signUp(agent);
      await lock(email); // a locked account answers without bcrypt: the limit is what is tested here
      for (let i = 0; i < 10; i++) expect((await post(agent, i, 'Wrong password 1')).status).to.equal(422);
      const refused = await post(agent, 10, 'Wrong password 1');
      expect(refused.status).to.equal(429);
      expect(refused.text).to.include('Слишком много попыток');
      expect((await post(agent, 11, 'Wrong password 1')).status).to.equal(429);
    });

    it('when 20 of these forms come from one IP within 15 minutes, then the 21st from it is refused with 429, while another IP still may post', async () => {
      const ip = randomIp();
      const agents: Agent[] = [];
      for (let i = 0; i < 3; i++) {
        const agent = client(t.app);
        await lock((await signUp(agent)).email);
        agents.push(agent);
      }
      for (let i = 0; i < 20; i++) expect((await post(agents[i % 3]!, i, 'Wrong password 1', ip)).status).to.equal(422);
      expect((await post(agents[2]!, 20, 'Wrong password 1', ip)).status).to.equal(429);
      expect((await post(agents[2]!, 21, 'Wrong password 1', randomIp())).status).to.equal(422);
    });

    it('when many current-password checks arrive at once, then those past the bounded hash queue get a 503 with Retry-After, and a login at the same moment still succeeds', async () => {
      const flooders: Agent[] = [];
      for (let i = 0; i < 3; i++) {
        const agent = client(t.app);
        await signUp(agent);
        flooders.push(agent);
      }
      const { email, password } = await signUp(client(t.app));
      const forms = await Promise.all(flooders.map(async (agent) => csrfFrom((await agent.get('/account/email').expect(200)).text)));
      const started = Date.now();
      const flood = flooders.flatMap((agent, n) => Array.from({ length: 10 }, () => agent.post('/account/email').set('X-Forwarded-For', randomIp())
        .type('form').send({ _csrf: forms[n]!, email: uniqueEmail('moved'), currentPassword: 'Wrong password 1' })));
      const login = logIn(client(t.app), email, password).then((res) => ({ status: res.status, ms: Date.now() - started }));
      const results = await Promise.all(flood);
      const busy = results.filter((r) => r.status === 503);
      expect(results.filter((r) => r.status !== 503).every((r) => r.status === 422)).to.equal(true);
      expect(busy.length).to.be.at.least(30 - 16);
      expect(busy[0]!.headers['retry-after']).to.equal('5');
      expect(busy[0]!.text).to.include('Сервис временно недоступен');
      const loggedIn = await login;
      expect(loggedIn.status).to.equal(303);
      process.stdout.write(`      (login answered in ${loggedIn.ms} ms during the flood; ${busy.length} of 30 checks refused with 503)\n`);
    });
  });

  it('when a stray request fails between a change and the page after it, then the notice still shows once on that page', async () => {
    const agent = client(t.app);
    await signUp(agent);
    const page = await agent.get('/account/preferences');
    const date = /name="deliveryDate" type="date" value="([^"]+)"/.exec(page.text)![1]!;
    await agent.post('/account/preferences').type('form')
      .send({ _csrf: csrfFrom(page.text), bouquet: 'luxe', address: 'ул. Садовая, 3', deliveryDate: date, interval: 'weekly', wishes: '' }).expect(303);
    await agent.get('/apple-touch-icon.png').expect(404);
    expect((await agent.get('/account').expect(200)).text).to.include('Предпочтения сохранены');
    expect((await agent.get('/account').expect(200)).text).not.to.include('Предпочтения сохранены');
  });

  it('when a change ends in a redirect, then the redirect is sent only after the session row holds the notice', async () => {
    const agent = client(t.app);
    await signUp(agent);
    const page = await agent.get('/account/preferences');
    const date = /name="deliveryDate" type="date" value="([^"]+)"/.exec(page.text)![1]!;
    const cookie = agentCookie(agent);
    const sid = sessionIdOf(cookie);
    const form = new URLSearchParams({ _csrf: csrfFrom(page.text), bouquet: 'luxe', address: 'ул. Садовая, 5', deliveryDate: date, interval: 'weekly', wishes: '' }).toString();
    const server = t.app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const lock = await t.db.transaction(); // holds the session row, so its save waits
    try {
      await lock('session').where({ sid }).forUpdate().first();
      const { rows: [{ pid: lockPid }] } = await lock.raw('select pg_backend_pid() as pid');
      let answered = false;
      const response = new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest({
          host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'POST', path: '/account/preferences',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(form) },
        }, (res) => { answered = true; resolve(res); });
        req.on('error', reject);
        req.end(form);
      });
      // Wait, however long it takes, until the app's write of the session row is blocked on this lock.
      const blocked = await waitFor(async () => (await t.db.raw(
        `select query from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and ? = any(pg_blocking_pids(pid))`,
        [lockPid])).rows[0]?.query as string | undefined, 15_000, 'the session save blocked on the lock');
      expect(blocked).to.match(/"session"/);
      // A redirect sent before the save would have been written before the save reached PostgreSQL; one more
      // round trip lets the event loop read it.
      await t.db.raw('select 1');
      await new Promise((resolve) => setImmediate(resolve));
      expect(answered, 'redirect sent while the session row was still unsaved').to.equal(false);
      await lock.commit();
      const res = await response;
      res.resume();
      expect(res.statusCode).to.equal(303);
      expect((await t.db('session').where({ sid }).first()).sess.flash).to.equal('flash.preferences_saved');
    } finally {
      if (!lock.isCompleted()) await lock.rollback();
      server.closeAllConnections();
      server.close();
    }
  });
});
