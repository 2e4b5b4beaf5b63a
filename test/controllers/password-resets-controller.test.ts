import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { createTestApp, recordQueries, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, logIn, signUp, submit, uniqueEmail, type Agent } from '../helpers/client.js';
import { freshDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { confirmationLink, mailsTo, waitForMail } from '../helpers/smtp.js';

describe('password recovery (/forgot-password, /reset-password)', () => {
  let t: TestApp;
  before(async () => {
    t = createTestApp();
    await t.startWorker();
  });
  after(() => t.close());

  const NEW_PASSWORD = 'Novyi parol dlya buketov';

  async function requestLink(email: string, agent: Agent = client(t.app), count = 1) {
    const res = await submit(agent, '/forgot-password', { email });
    expect(res.status).to.equal(303);
    const mail = await waitForMail(email, { subject: /Восстановление пароля/, count });
    const link = mail.links.find((l) => l.includes('/reset-password?token='))!;
    return { link, token: new URL(link).searchParams.get('token')!, mail };
  }

  /** Opens the mailed link like a browser: the token moves into the session, then the form is shown. */
  async function openLink(agent: Agent, link: string) {
    const url = new URL(link);
    const first = await agent.get(`${url.pathname}${url.search}`).expect(303);
    expect(first.headers.location).to.equal('/reset-password');
    return agent.get('/reset-password');
  }

  describe('POST /forgot-password (S4)', () => {
    it('when the address is known or unknown, then the same 303 to the same page; only the known one gets a mail', async () => {
      const { email } = await signUp(client(t.app));
      const unknown = uniqueEmail('nobody');
      const a = await submit(client(t.app), '/forgot-password', { email });
      const b = await submit(client(t.app), '/forgot-password', { email: unknown });
      expect([a.status, a.headers.location]).to.deep.equal([303, '/forgot-password/sent']);
      expect([b.status, b.headers.location]).to.deep.equal([303, '/forgot-password/sent']);
      const sent = await client(t.app).get('/forgot-password/sent').expect(200);
      expect(sent.text).to.include('Если аккаунт с этим адресом существует');
      const mail = await waitForMail(email, { subject: /Восстановление пароля/ });
      expect(mail.text).to.include('Ссылка действует 60 минут');
      expect(mail.html).to.include('/reset-password?token=');
      await new Promise((r) => setTimeout(r, 500));
      expect(mailsTo(unknown)).to.have.length(0);
    });

    it('when the address is known or unknown, then the request does the very same database work, so its time cannot tell them apart (S4)', async () => {
      const quiet = createTestApp(); // no worker: only the request's own queries are seen
      try {
        const { email } = await signUp(client(quiet.app));
        const work = async (address: string) => {
          const agent = client(quiet.app);
          const page = await agent.get('/forgot-password');
          const recorded = recordQueries(quiet.db);
          const res = await agent.post('/forgot-password').type('form').send({ _csrf: csrfFrom(page.text), email: address });
          recorded.stop();
          const sql = recorded.sql;
          expect([res.status, res.headers.location]).to.deep.equal([303, '/forgot-password/sent']);
          return sql;
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

    it('when the mail server fails, then the visitor sees the same page and the error is only logged (S4)', async () => {
      const database = await freshDatabase(); // its own queue: no other test's worker may send this mail
      const broken = createTestApp({ databaseUrl: database.url, env: { SMTP_URL: 'smtp://127.0.0.1:9' } });
      await broken.startWorker();
      try {
        const { email } = await signUp(client(broken.app));
        const agent = client(broken.app);
        const res = await submit(agent, '/forgot-password', { email });
        expect([res.status, res.headers.location]).to.deep.equal([303, '/forgot-password/sent']);
        const sent = await agent.get('/forgot-password/sent').expect(200);
        expect(sent.text).not.to.match(/ECONNREFUSED|SMTP|ошибк/i);
        const failure = await waitFor(() => broken.logs.find((line) => line.includes('auth:password-reset') && line.includes('"level":50')), 15_000, 'the failed mail is logged');
        expect(failure).to.include('ECONNREFUSED').and.include('"task":"auth:password-reset"').and.not.include(email);
      } finally {
        await broken.close();
        await database.drop();
      }
    });

    it('when one address asks more than 3 times an hour, then the 4th mail is silently dropped', async () => {
      const { email } = await signUp(client(t.app));
      for (let i = 1; i <= 4; i++) {
        const res = await submit(client(t.app), '/forgot-password', { email });
        expect(res.headers.location).to.equal('/forgot-password/sent');
      }
      await waitForMail(email, { subject: /Восстановление пароля/, count: 3 });
      await new Promise((r) => setTimeout(r, 800));
      expect(mailsTo(email).filter((m) => /Восстановление/.test(m.subject))).to.have.length(3);
    });

    it('when one IP asks more than 5 times an hour, then it still sees the same page but nothing is queued', async () => {
      const ip = '10.210.0.1';
      const emails = Array.from({ length: 6 }, () => uniqueEmail('flood'));
      for (const email of emails) {
        const res = await submit(client(t.app, ip), '/forgot-password', { email });
        expect([res.status, res.headers.location]).to.deep.equal([303, '/forgot-password/sent']);
      }
      const queued = await t.db.raw("select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks k on k.id = j.task_id where k.identifier = 'auth:password-reset' and j.payload->>'email' = ?", [emails[5]!]);
      expect(queued.rows[0].n).to.equal(0);
    });
  });

  describe('reset tokens (S7, S8)', () => {
    it('stores only the SHA-256 of the token, never the token itself, for 60 minutes', async () => {
      const { email } = await signUp(client(t.app));
      const { token } = await requestLink(email);
      expect(Buffer.from(token, 'base64url')).to.have.length(32);
      const row = await t.db('password_resets as r').join('users as u', 'u.id', 'r.user_id').whereRaw('lower(u.email) = ?', [email]).first('r.*');
      expect(Buffer.from(row.token_hash).equals(createHash('sha256').update(token).digest())).to.equal(true);
      const minutes = (new Date(row.expires_at).getTime() - Date.now()) / 60_000;
      expect(minutes).to.be.within(59, 60.1);
      const dump = await t.db.raw("select string_agg(payload::text, ' ') as all from graphile_worker._private_jobs");
      expect(String(dump.rows[0].all ?? '')).not.to.include(token);
    });

    it('when the link is opened, then the token leaves the URL, the page is not cached or referred, and a GET never uses it up', async () => {
      const { email } = await signUp(client(t.app));
      const { link } = await requestLink(email);
      const agent = client(t.app);
      const form = await openLink(agent, link);
      expect(form.status).to.equal(200);
      expect(form.headers['cache-control']).to.equal('no-store');
      expect(form.headers['referrer-policy']).to.equal('no-referrer');
      await openLink(agent, link).then((again) => expect(again.status).to.equal(200)); // a mail scanner's prefetch changes nothing
      const done = await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), password: NEW_PASSWORD });
      expect([done.status, done.headers.location]).to.deep.equal([303, '/login?reset=done']);
    });

    it('when a password is reset, then every session ends, the lock is cleared, a notice is mailed, the old password fails and the new one works; the link works once', async () => {
      const owner = client(t.app);
      const { email, password } = await signUp(owner);
      await owner.get('/account').expect(200);
      await t.db('users').whereRaw('lower(email) = ?', [email]).update({ failed_logins: 10, locked_until: t.db.raw("now() + interval '10 minutes'") });
      const { link } = await requestLink(email);
      const agent = client(t.app);
      const form = await openLink(agent, link);
      await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), password: NEW_PASSWORD }).expect(303);
      await owner.get('/account').expect(303); // the session from before the reset is gone
      await agent.get('/account').expect(303); // not logged in automatically
      const row = await t.db('users').whereRaw('lower(email) = ?', [email]).first();
      expect(row.failed_logins).to.equal(0);
      expect(row.locked_until).to.equal(null);
      await waitForMail(email, { subject: /Пароль изменён/ });
      expect((await logIn(client(t.app), email, password)).status).to.equal(401);
      expect((await logIn(client(t.app), email, NEW_PASSWORD)).status).to.equal(303);
      const reuse = client(t.app);
      const url = new URL(link);
      await reuse.get(`${url.pathname}${url.search}`).expect(303);
      const gone = await reuse.get('/reset-password');
      expect(gone.status).to.equal(410);
      expect(gone.text).to.include('Ссылка недействительна');
    });

    it('when the new password breaks a rule, then the form says so and the token still works', async () => {
      const { email } = await signUp(client(t.app));
      const { link } = await requestLink(email);
      const agent = client(t.app);
      const form = await openLink(agent, link);
      const weak = await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), password: 'password123' });
      expect(weak.status).to.equal(422);
      expect(weak.text).to.include('слишком распространён');
      const local = email.split('@')[0]!;
      const likeEmail = await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(weak.text), password: local });
      expect(likeEmail.status).to.equal(422);
      expect(likeEmail.text).to.include('не должен повторять ваш email');
      await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(likeEmail.text), password: NEW_PASSWORD }).expect(303);
    });

    it('when the token is older than 60 minutes, then it is refused', async () => {
      const { email } = await signUp(client(t.app));
      const { link } = await requestLink(email);
      await t.db('password_resets').whereIn('user_id', t.db('users').select('id').whereRaw('lower(email) = ?', [email])).update({ expires_at: t.db.raw("now() - interval '1 second'") });
      const agent = client(t.app);
      const page = await openLink(agent, link);
      expect(page.status).to.equal(410);
      const other = await agent.get('/forgot-password'); // any form of the site gives this session's CSRF token
      const post = await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(other.text), password: NEW_PASSWORD });
      expect(post.status).to.equal(410);
    });

    it('when the password changes after the link was sent, or a newer link is asked for, then the old link dies', async () => {
      const owner = client(t.app);
      const { email, password } = await signUp(owner);
      const first = await requestLink(email);
      const second = await requestLink(email, client(t.app), 2);
      expect((await openLink(client(t.app), first.link)).status).to.equal(410); // replaced by the newer one
      const page = await owner.get('/account/password');
      await owner.post('/account/password').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: password, password: NEW_PASSWORD }).expect(303);
      expect((await openLink(client(t.app), second.link)).status).to.equal(410);
    });

    it('when the email changes (the new address confirmed) after the link was sent, then the link dies (S7)', async () => {
      const owner = client(t.app);
      const { email, password } = await signUp(owner);
      const { link } = await requestLink(email);
      const next = uniqueEmail('moved');
      const page = await owner.get('/account/email');
      await owner.post('/account/email').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: password, email: next }).expect(303);
      const confirm = new URL(await confirmationLink(next));
      await owner.post('/confirm-email').type('form').send({ token: confirm.searchParams.get('token') }).expect(303);
      expect((await openLink(client(t.app), link)).status).to.equal(410);
    });

    it('when the same link is submitted twice at the same moment, then exactly one reset happens (S7)', async () => {
      const { email } = await signUp(client(t.app));
      const { link } = await requestLink(email);
      const [a, b] = [client(t.app), client(t.app)];
      const [formA, formB] = [await openLink(a, link), await openLink(b, link)];
      const results = await Promise.all([
        a.post('/reset-password').type('form').send({ _csrf: csrfFrom(formA.text), password: NEW_PASSWORD }),
        b.post('/reset-password').type('form').send({ _csrf: csrfFrom(formB.text), password: 'Drugoi novyi parol 77' }),
      ]);
      expect(results.map((r) => r.status).sort()).to.deep.equal([303, 410]);
      const winner = results[0]!.status === 303 ? NEW_PASSWORD : 'Drugoi novyi parol 77';
      expect((await logIn(client(t.app), email, winner)).status).to.equal(303);
      const user = await t.db('users').whereRaw('lower(email) = ?', [email]).first('id');
      expect(await t.db('auth_events').where({ user_id: user.id, event: 'reset_done' }).count('* as n').first()).to.deep.equal({ n: 1 });
    });

    it('when the request comes with a forged Host header, then the mailed link still uses APP_URL', async () => {
      const { email } = await signUp(client(t.app));
      const agent = client(t.app);
      const page = await agent.get('/forgot-password').set('Host', 'evil.example');
      await agent.post('/forgot-password').set('Host', 'evil.example').type('form').send({ _csrf: csrfFrom(page.text), email }).expect(303);
      const mail = await waitForMail(email, { subject: /Восстановление пароля/ });
      expect(mail.text).to.include(`${t.config.appUrl}/reset-password?token=`).and.not.include('evil.example');
    });
  });
});
