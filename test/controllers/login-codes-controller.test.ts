import { expect } from 'chai';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { createTestApp, recordQueries, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, sessionCookie, sessionIdOf, signUp, submit, uniqueEmail, type Agent } from '../helpers/client.js';
import { mailsTo, waitForMail } from '../helpers/smtp.js';

const SUBJECT = /Код для входа/;

describe('sign in with a code from a mail (/login/code)', () => {
  let t: TestApp;
  before(async () => {
    t = createTestApp();
    await t.startWorker();
  });
  after(() => t.close());

  /** Asks for a code through the real form and reads it from the real SMTP server's mail. */
  async function requestCode(email: string, agent: Agent = client(t.app), count = 1) {
    const res = await submit(agent, '/login/code', { email });
    expect([res.status, res.headers.location]).to.deep.equal([303, `/login/code/verify?email=${encodeURIComponent(email)}`]);
    const mail = await waitForMail(email, { subject: SUBJECT, count });
    const code = /\b(\d{6})\b/.exec(mail.text)![1]!;
    const link = mail.links.find((l) => l.includes('/login/code/verify?'))!;
    return { code, link, mail };
  }

  const verify = (agent: Agent, email: string, code: string, query = '') =>
    submit(agent, `/login/code/verify?email=${encodeURIComponent(email)}`, { email, code }, `/login/code/verify${query}`);

  const userIdOf = async (email: string) => Number((await t.db('users').whereRaw('lower(email) = ?', [email]).first('id')).id);

  it('the login page offers the code, and the code form carries no token (S14)', async () => {
    const login = await client(t.app).get('/login').expect(200);
    expect(login.text).to.include('href="/login/code"').and.include('Войти по коду из письма');
    const page = await client(t.app).get('/login/code').expect(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    expect(page.text).to.include('action="/login/code"').and.not.include('name="_csrf"');
  });

  it('when a code is asked for and typed, then the customer is signed in on a new session id and lands on /account (S9)', async () => {
    const { email } = await signUp(client(t.app));
    const agent = client(t.app);
    const { code, mail } = await requestCode(email, agent);
    expect(mail.text).to.include('Код действует 10 минут');
    expect(mail.html).to.include(code);
    const form = await agent.get(`/login/code/verify?email=${encodeURIComponent(email)}`).expect(200);
    expect(form.text).to.include(`value="${email}"`).and.include('name="code"');
    expect(form.headers['set-cookie']).to.equal(undefined); // a visitor's form: no session row (S12)
    const res = await agent.post('/login/code/verify').type('form').send({ email, code: `${code.slice(0, 3)} ${code.slice(3)}` });
    expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
    const sid = sessionIdOf(sessionCookie(res));
    expect(await t.db('session').where({ sid }).first('sid')).to.not.equal(undefined);
    await agent.get('/account').expect(200);
    const events = await t.db('auth_events').where({ user_id: await userIdOf(email) }).orderBy('id').pluck('event');
    expect(events).to.include.members(['login_code_sent', 'login_ok']);
  });

  it('when an earlier visitor session existed, then signing in with a code gives it a new id (S9)', async () => {
    const { email } = await signUp(client(t.app));
    const agent = client(t.app);
    // A visitor session: the reset link flow stores its token in one.
    const seed = await agent.get('/reset-password?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAA').expect(303);
    const visitorSid = sessionIdOf(sessionCookie(seed));
    const { code } = await requestCode(email, agent);
    const res = await verify(agent, email, code);
    expect(res.status).to.equal(303);
    const newSid = sessionIdOf(sessionCookie(res));
    expect(newSid).to.not.equal(visitorSid);
    expect(await t.db('session').where({ sid: visitorSid }).first('sid')).to.equal(undefined);
  });

  it('stores only a keyed hash of the code, for 10 minutes, and the queue never holds the code', async () => {
    const { email } = await signUp(client(t.app));
    const { code } = await requestCode(email);
    const row = await t.db('login_codes').where({ user_id: await userIdOf(email) }).first();
    expect(Buffer.from(row.code_hash)).to.have.length(32);
    expect(Buffer.from(row.code_hash).toString('hex')).not.to.include(Buffer.from(code).toString('hex'));
    expect(JSON.stringify(row)).not.to.include(code);
    const minutes = (new Date(row.expires_at).getTime() - Date.now()) / 60_000;
    expect(minutes).to.be.within(9, 10.1);
    const dump = await t.db.raw("select string_agg(payload::text, ' ') as all from graphile_worker._private_jobs");
    expect(String(dump.rows[0].all ?? '')).not.to.include(code);
  });

  it('when the code is older than 10 minutes, then it is refused', async () => {
    const { email } = await signUp(client(t.app));
    const { code } = await requestCode(email);
    await t.db('login_codes').where({ user_id: await userIdOf(email) }).update({ expires_at: t.db.raw("now() - interval '1 second'") });
    const agent = client(t.app);
    const res = await verify(agent, email, code);
    expect(res.status).to.equal(422);
    expect(res.text).to.include('Код неверный или устарел');
    await agent.get('/account').expect(303);
  });

  it('a code works once: the same code again, even at the same moment, signs in only once', async () => {
    const { email } = await signUp(client(t.app));
    const { code } = await requestCode(email);
    const [a, b] = [client(t.app), client(t.app)];
    const results = await Promise.all([a.post('/login/code/verify').type('form').send({ email, code }), b.post('/login/code/verify').type('form').send({ email, code })]);
    expect(results.map((r) => r.status).sort()).to.deep.equal([303, 422]);
    const again = await verify(client(t.app), email, code);
    expect(again.status).to.equal(422);
    expect(await t.db('login_codes').where({ user_id: await userIdOf(email) }).first()).to.equal(undefined);
  });

  it('when a newer code is asked for, then the older one dies', async () => {
    const { email } = await signUp(client(t.app));
    const first = await requestCode(email);
    const second = await requestCode(email, client(t.app), 2);
    if (first.code !== second.code) expect((await verify(client(t.app), email, first.code)).status).to.equal(422);
    expect((await verify(client(t.app), email, second.code)).status).to.equal(303);
  });

  it('4 wrong tries leave the code working; after 5 wrong tries it is dead, even for the right code', async () => {
    const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');
    const four = (await signUp(client(t.app))).email;
    const a = await requestCode(four);
    for (let i = 0; i < 4; i++) expect((await verify(client(t.app), four, wrongFor(a.code))).status).to.equal(422);
    expect((await verify(client(t.app), four, a.code)).status).to.equal(303);

    const five = (await signUp(client(t.app))).email;
    const b = await requestCode(five);
    for (let i = 0; i < 5; i++) expect((await verify(client(t.app), five, wrongFor(b.code))).status).to.equal(422);
    const agent = client(t.app);
    const dead = await verify(agent, five, b.code);
    expect(dead.status).to.equal(422);
    expect(dead.text).to.include('Код неверный или устарел');
    await agent.get('/account').expect(303);
  });

  it('when many wrong tries come at the same moment, then no more than 5 are counted against the code before it dies', async () => {
    const { email } = await signUp(client(t.app));
    const { code } = await requestCode(email);
    const wrong = code === '000000' ? '111111' : '000000';
    await Promise.all(Array.from({ length: 8 }, () => client(t.app).post('/login/code/verify').type('form').send({ email, code: wrong })));
    const row = await t.db('login_codes').where({ user_id: await userIdOf(email) }).first('attempts');
    expect(row.attempts).to.equal(5);
    expect((await verify(client(t.app), email, code)).status).to.equal(422);
  });

  describe('enumeration (S3, S4)', () => {
    it('when the address is known or unknown, then the same 303 and the same page; only the known one gets a mail', async () => {
      const { email } = await signUp(client(t.app));
      const unknown = uniqueEmail('nobody');
      const a = await submit(client(t.app), '/login/code', { email });
      const b = await submit(client(t.app), '/login/code', { email: unknown });
      expect([a.status, a.headers.location]).to.deep.equal([303, `/login/code/verify?email=${encodeURIComponent(email)}`]);
      expect([b.status, b.headers.location]).to.deep.equal([303, `/login/code/verify?email=${encodeURIComponent(unknown)}`]);
      expect(a.headers['set-cookie']).to.equal(undefined);
      expect(b.headers['set-cookie']).to.equal(undefined);
      const pageA = await client(t.app).get(a.headers.location!).expect(200);
      const pageB = await client(t.app).get(b.headers.location!).expect(200);
      const blank = (text: string, address: string) => text.replaceAll(address, 'X').replaceAll(encodeURIComponent(address), 'X');
      expect(blank(pageA.text, email)).to.equal(blank(pageB.text, unknown));
      await waitForMail(email, { subject: SUBJECT });
      await new Promise((r) => setTimeout(r, 500));
      expect(mailsTo(unknown)).to.have.length(0);
    });

    it('when the address is known or unknown, then asking for a code does the very same database work', async () => {
      const quiet = createTestApp(); // no worker: only the request's own queries are seen
      try {
        const { email } = await signUp(client(quiet.app));
        const work = async (address: string) => {
          const agent = client(quiet.app);
          const recorded = recordQueries(quiet.db);
          const res = await agent.post('/login/code').type('form').send({ email: address });
          recorded.stop();
          expect(res.status).to.equal(303);
          return recorded.sql;
        };
        const known = await work(email);
        const unknown = await work(uniqueEmail('nobody'));
        expect(known.length).to.be.above(0);
        expect(known).to.deep.equal(unknown);
        expect(known.join('\n')).not.to.match(/"users"/); // the account is looked up by the job, off the request path
      } finally {
        await quiet.close();
      }
    });

    it('when a code is typed for a known address without a code, an unknown address or a wrong code, then the same 422, the same page and the same database work', async () => {
      const quiet = createTestApp();
      try {
        const withoutCode = (await signUp(client(quiet.app))).email;
        const withCode = (await signUp(client(quiet.app))).email;
        await submit(client(quiet.app), '/login/code', { email: withCode }); // no worker: the code is made by hand below
        const { auth } = createServices({ config: quiet.config, db: quiet.db, logger: pino({ level: 'silent' }) });
        await auth.sendLoginCode(withCode, 'ru', { ip: null, userAgent: null });
        const work = async (address: string) => {
          const recorded = recordQueries(quiet.db);
          const res = await client(quiet.app).post('/login/code/verify').type('form').send({ email: address, code: '123456' });
          recorded.stop();
          return { status: res.status, text: res.text.replaceAll(address, 'X'), sql: recorded.sql };
        };
        const unknown = await work(uniqueEmail('nobody'));
        const known = await work(withoutCode);
        expect(unknown.status).to.equal(422);
        expect(known).to.deep.equal(unknown);
        const wrong = await work(withCode); // 123456 is wrong but for one in a million
        expect(wrong.status).to.equal(422);
        expect(wrong.text).to.equal(unknown.text);
        expect(wrong.sql).to.deep.equal(unknown.sql);
      } finally {
        await quiet.close();
      }
    });
  });

  describe('limits (S6)', () => {
    it('when one address asks more than 3 times an hour, then the 4th mail is silently dropped', async () => {
      const { email } = await signUp(client(t.app));
      for (let i = 1; i <= 4; i++) {
        const res = await submit(client(t.app), '/login/code', { email });
        expect([res.status, res.headers.location]).to.deep.equal([303, `/login/code/verify?email=${encodeURIComponent(email)}`]);
      }
      await waitForMail(email, { subject: SUBJECT, count: 3 });
      await new Promise((r) => setTimeout(r, 800));
      expect(mailsTo(email).filter((m) => SUBJECT.test(m.subject))).to.have.length(3);
    });

    it('when one IP asks more than 5 times an hour, then it still gets the same answer but nothing is queued', async () => {
      const ip = '10.211.0.1';
      const emails = Array.from({ length: 6 }, () => uniqueEmail('flood'));
      for (const email of emails) {
        const res = await submit(client(t.app, ip), '/login/code', { email });
        expect([res.status, res.headers.location]).to.deep.equal([303, `/login/code/verify?email=${encodeURIComponent(email)}`]);
      }
      const queued = async (email: string) => (await t.db.raw("select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'auth:login-code' and j.payload->>'email' = ?", [email])).rows[0].n;
      const { email: known } = await signUp(client(t.app));
      const res = await submit(client(t.app, ip), '/login/code', { email: known });
      expect([res.status, res.headers.location]).to.deep.equal([303, `/login/code/verify?email=${encodeURIComponent(known)}`]);
      expect(await queued(emails[5]!)).to.equal(0);
      await new Promise((r) => setTimeout(r, 800));
      expect(mailsTo(known).filter((m) => /Код для входа/.test(m.subject))).to.have.length(0);
    });

    it('when one IP types more than 10 wrong codes in 15 minutes, then it is refused with 429, even with the right code', async () => {
      const ip = '10.212.0.1';
      const { email } = await signUp(client(t.app));
      const { code } = await requestCode(email);
      for (let i = 0; i < 10; i++) {
        const res = await client(t.app, ip).post('/login/code/verify').type('form').send({ email: uniqueEmail('guess'), code: '000000' });
        expect(res.status).to.equal(422);
      }
      const limited = await client(t.app, ip).post('/login/code/verify').type('form').send({ email, code });
      expect(limited.status).to.equal(429);
      expect(limited.text).to.include('Слишком много попыток');
      expect((await verify(client(t.app), email, code)).status).to.equal(303); // the code itself was not spent
    });
  });

  describe('the mailed link', () => {
    it('opens a page with one button; the GET signs nobody in and spends nothing; the button does', async () => {
      const { email } = await signUp(client(t.app));
      const { link } = await requestCode(email);
      expect(link.startsWith(`${t.config.appUrl}/login/code/verify?`)).to.equal(true);
      const url = new URL(link);
      const agent = client(t.app);
      for (let i = 0; i < 6; i++) { // a mail scanner may open it many times
        const page = await agent.get(`${url.pathname}${url.search}`).expect(200);
        expect(page.headers['cache-control']).to.equal('no-store');
        expect(page.headers['referrer-policy']).to.equal('no-referrer');
        expect(page.headers['set-cookie']).to.equal(undefined);
        expect(page.text.match(/<button/g)).to.have.length(1);
        expect(page.text, page.text).to.include('type="hidden" name="code"');
      }
      await agent.get('/account').expect(303);
      const row = await t.db('login_codes').where({ user_id: await userIdOf(email) }).first('attempts');
      expect(row.attempts).to.equal(0);
      const page = await agent.get(`${url.pathname}${url.search}`);
      const fields = Object.fromEntries([...page.text.matchAll(/type="hidden" name="(\w+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replaceAll('&#64;', '@')]));
      const res = await agent.post('/login/code/verify').type('form').send(fields);
      expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
      await agent.get('/account').expect(200);
    });

    it('the link is built from APP_URL, never from the Host header', async () => {
      const { email } = await signUp(client(t.app));
      await client(t.app).post('/login/code').set('Host', 'evil.example').type('form').send({ email }).expect(303);
      const mail = await waitForMail(email, { subject: SUBJECT });
      expect(mail.text).to.include(`${t.config.appUrl}/login/code/verify?`).and.not.include('evil.example');
    });
  });

  describe('return path (S20)', () => {
    it('a safe next is honoured through both steps; a foreign one falls back to /account', async () => {
      const { email } = await signUp(client(t.app));
      const agent = client(t.app);
      const login = await agent.get('/login?next=%2Faccount%2Forders%2Fnew').expect(200);
      expect(login.text).to.include('href="/login/code?next=%2Faccount%2Forders%2Fnew"');
      const form = await agent.get('/login/code?next=%2Faccount%2Forders%2Fnew').expect(200);
      expect(form.text).to.include('action="/login/code?next=%2Faccount%2Forders%2Fnew"');
      const asked = await agent.post('/login/code?next=%2Faccount%2Forders%2Fnew').type('form').send({ email });
      expect(asked.headers.location).to.equal(`/login/code/verify?email=${encodeURIComponent(email)}&next=%2Faccount%2Forders%2Fnew`);
      const page = await agent.get(asked.headers.location!).expect(200);
      expect(page.text).to.include('action="/login/code/verify?next=%2Faccount%2Forders%2Fnew"');
      const { code } = await waitForMail(email, { subject: SUBJECT }).then((m) => ({ code: /\b(\d{6})\b/.exec(m.text)![1]! }));
      const res = await agent.post('/login/code/verify?next=%2Faccount%2Forders%2Fnew').type('form').send({ email, code });
      expect(res.headers.location).to.equal('/account/orders/new');

      const other = (await signUp(client(t.app))).email;
      const second = await requestCode(other);
      for (const next of ['//evil.example/', '/\\evil.example', 'https://evil.example/']) {
        const page = await client(t.app).get(`/login/code?next=${encodeURIComponent(next)}`);
        expect(page.text).to.include('action="/login/code"').and.include('href="/login"');
      }
      const foreign = await client(t.app).post(`/login/code/verify?next=${encodeURIComponent('//evil.example/')}`).type('form').send({ email: other, code: second.code });
      expect(foreign.headers.location).to.equal('/account');
    });
  });

  describe('staff (second factor)', () => {
    it('a staff account gets no code by mail', async () => {
      const { email } = await signUp(client(t.app));
      await t.db('users').where({ id: await userIdOf(email) }).update({ role: 'staff' });
      await submit(client(t.app), '/login/code', { email }).then((res) => expect(res.status).to.equal(303));
      const { email: customer } = await signUp(client(t.app));
      await requestCode(customer); // a later job has run: the staff one was done before it
      await new Promise((r) => setTimeout(r, 500));
      expect(mailsTo(email).filter((m) => SUBJECT.test(m.subject))).to.have.length(0);
      expect(await t.db('login_codes').where({ user_id: await userIdOf(email) }).first()).to.equal(undefined);
    });

    it('a code held by an account that has become staff does not sign it in: the password login is asked for', async () => {
      const { email } = await signUp(client(t.app));
      const { code } = await requestCode(email);
      await t.db('users').where({ id: await userIdOf(email) }).update({ role: 'staff' });
      const agent = client(t.app);
      const res = await verify(agent, email, code);
      expect(res.status).to.equal(403);
      expect(res.text).to.include('Сотрудники входят только с паролем').and.include('href="/login"');
      await agent.get('/account').expect(303);
      await agent.get('/staff').expect(303);
    });
  });

  it('when the password or the email changes after the code was sent, then the code dies', async () => {
    const owner = client(t.app);
    const { email, password } = await signUp(owner);
    const { code } = await requestCode(email);
    const page = await owner.get('/account/password');
    await owner.post('/account/password').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: password, password: 'Novyi parol dlya buketov' }).expect(303);
    expect((await verify(client(t.app), email, code)).status).to.equal(422);
  });

  it('a code signs in an account locked by wrong passwords, and clears the lock (it proves the mailbox, as a reset does)', async () => {
    const { email } = await signUp(client(t.app));
    await t.db('users').whereRaw('lower(email) = ?', [email]).update({ failed_logins: 10, locked_until: t.db.raw("now() + interval '10 minutes'") });
    const { code } = await requestCode(email);
    expect((await verify(client(t.app), email, code)).status).to.equal(303);
    const row = await t.db('users').whereRaw('lower(email) = ?', [email]).first('failed_logins', 'locked_until');
    expect(row).to.deep.equal({ failed_logins: 0, locked_until: null });
  });

  it('the logs never hold the code or the address, not even from the mailed link', async () => {
    const { email } = await signUp(client(t.app));
    const { code, link } = await requestCode(email);
    const url = new URL(link);
    await client(t.app).get(`${url.pathname}${url.search}`).expect(200);
    await verify(client(t.app), email, code).then((res) => expect(res.status).to.equal(303));
    const logged = t.logs.join('');
    expect(logged).to.include('/login/code/verify?');
    expect(logged).not.to.include(code).and.not.include(email).and.not.include(encodeURIComponent(email));
  });

  it('the mail is in the language of the page it was asked from: Russian, or English (text and HTML)', async () => {
    const { email } = await signUp(client(t.app));
    const ru = await requestCode(email);
    expect(ru.mail.text).to.include('Ваш код:').and.include('Или откройте ссылку');
    expect(ru.mail.html).to.include('<html lang="ru">').and.include(`>${ru.code}<`).and.include('Код действует 10 минут');
    const agent = client(t.app).set('Cookie', 'lang=en');
    await agent.post('/login/code').type('form').send({ email }).expect(303);
    const en = await waitForMail(email, { subject: /Your login code/ });
    const code = /\b(\d{6})\b/.exec(en.text)![1]!;
    expect(en.text).to.include('Your code:').and.include('The code works for 10 minutes and only once.').and.include(`${t.config.appUrl}/login/code/verify?email=${encodeURIComponent(email)}&code=${code}`);
    expect(en.html).to.include('<html lang="en">').and.include(`>${code}<`).and.include('Log in</a>');
  });

  it('bad forms re-render with 422 and the typed email, never a 500', async () => {
    const res = await client(t.app).post('/login/code/verify').type('form').send({ email: 'a@example.ru', code: '12ab56' });
    expect(res.status).to.equal(422);
    expect(res.text).to.include('Введите 6 цифр из письма').and.include('value="a@example.ru"');
    const empty = await client(t.app).post('/login/code').type('form').send({ email: '' });
    expect(empty.status).to.equal(422);
    expect(empty.text).to.include('Укажите email');
  });
});
