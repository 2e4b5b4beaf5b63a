// SECURITY S10 (auth_version in the session; a password change keeps only the current session, on a new id; a
// reset ends them all), S12 (remember-me unticked by default; the 7-day absolute limit for an active session;
// expired rows pruned by the real auth:prune job) and S13 (resave: false; SESSION_SECRET rotation), driven
// through the real HTTP forms, the real session table and the real job worker.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import request from 'supertest';
import { createJobQueue } from '../../src/services/job-queue.js';
import { CRONTAB } from '../../src/tasks.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { agentCookie, client, csrfFrom, logIn, randomIp, sessionCookie, sessionIdOf, signUp, submit, type Agent } from '../helpers/client.js';
import { testDatabase } from '../helpers/db.js';
import { waitForMail } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const NEW_PASSWORD = 'Sirenevyi tuman 2027';
const TO_LOGIN = '/login?next=%2Faccount';

type Sess = { cookie: Record<string, unknown>; passport?: { user?: { id: number; v: number } }; authAt?: number; lastSeenAt?: number; remember?: boolean } & Record<string, unknown>;

describe('session rules (S10, S12, S13)', () => {
  let t: TestApp;
  before(async () => {
    t = createTestApp();
    await t.startWorker();
  });
  after(() => t.close());

  async function userOf(email: string): Promise<{ id: number; auth_version: number }> {
    return t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first('id', 'auth_version');
  }

  async function sessOf(sid: string): Promise<Sess | undefined> {
    const row = await t.db('session').where({ sid }).first('sess');
    return row && (typeof row.sess === 'string' ? JSON.parse(row.sess) : row.sess);
  }

  /** Session rows that name the user (connect-pg-simple's JSON, as passport serialised it). */
  function sessionRowsOfUser(userId: number) {
    return t.db('session').whereRaw("(sess::jsonb #>> '{passport,user,id}')::bigint = ?", [userId]).select('sid');
  }

  /** Sets fields of the stored session JSON, as time passing would have. */
  async function patchSess(sid: string, fields: Partial<Sess>): Promise<void> {
    const sess = await sessOf(sid);
    if (!sess) throw new Error(`no session row ${sid}`);
    await t.db('session').where({ sid }).update({ sess: JSON.stringify({ ...sess, ...fields }) });
  }

  async function changePassword(agent: Agent, currentPassword: string) {
    const page = await agent.get('/account/password').expect(200);
    return agent.post('/account/password').type('form')
      .send({ _csrf: csrfFrom(page.text), currentPassword, password: NEW_PASSWORD }).expect(303);
  }

  describe('other sessions and auth_version (S10)', () => {
    it('when another device\'s session row survives a password change untouched, then its stale auth_version alone logs it out (S10)', async () => {
      const a = client(t.app);
      const { email, password } = await signUp(a);
      const b = client(t.app);
      const login = await logIn(b, email, password);
      expect(login.status).to.equal(303);
      const bSid = sessionIdOf(sessionCookie(login));
      await b.get('/account').expect(200);
      const before = await userOf(email);
      expect((await sessOf(bSid))!.passport!.user).to.deep.equal({ id: before.id, v: before.auth_version });
      // B's row exactly as stored: text copies, so that not a byte of it changes on the way back.
      const copy = await t.db('session').where({ sid: bSid }).first('sid', t.db.raw('sess::text as sess'), t.db.raw('expire::text as expire'));

      await changePassword(a, password);
      expect(await t.db('session').where({ sid: bSid }).first()).to.equal(undefined); // the change deleted it (S10)
      await t.db('session').insert(copy); // … but suppose it had survived: only auth_version can stop it now
      const after = await userOf(email);
      expect(after.auth_version).to.equal(before.auth_version + 1);
      expect(await t.db('session').where({ sid: bSid }).first(t.db.raw('sess::text as sess'), t.db.raw('expire::text as expire')))
        .to.deep.equal({ sess: copy.sess, expire: copy.expire });

      const res = await b.get('/account').expect(303);
      expect(res.headers.location).to.equal(TO_LOGIN);

      // Control: the very same row with the current auth_version is a working login, so the version was what stopped it.
      const current = JSON.parse(copy.sess) as Sess;
      current.passport!.user!.v = after.auth_version;
      await t.db('session').where({ sid: bSid }).delete();
      await t.db('session').insert({ sid: bSid, sess: JSON.stringify(current), expire: copy.expire });
      await b.get('/account').expect(200);
    });

    it('when the password is changed, then the current session stays logged in on a new id: the old row is gone, the new one holds the new auth_version (S10)', async () => {
      const a = client(t.app);
      const { email, password } = await signUp(a);
      await a.get('/account').expect(200);
      const oldSid = sessionIdOf(agentCookie(a));
      expect(await t.db('session').where({ sid: oldSid }).first()).to.not.equal(undefined);

      const res = await changePassword(a, password);
      expect(res.headers.location).to.equal('/account');
      const newSid = sessionIdOf(sessionCookie(res));
      expect(newSid).to.not.equal(oldSid);
      expect(sessionIdOf(agentCookie(a))).to.equal(newSid);
      expect(await t.db('session').where({ sid: oldSid }).first()).to.equal(undefined);
      const user = await userOf(email);
      expect((await sessOf(newSid))?.passport?.user).to.deep.equal({ id: user.id, v: user.auth_version });
      await a.get('/account').expect(200);
      expect((await sessionRowsOfUser(user.id)).map((r) => r.sid)).to.deep.equal([newSid]);
    });

    it('when a password is reset, then every session of the user ends, the logged-in one that asked for the reset included (S10)', async () => {
      const owner = client(t.app);
      const { email, password } = await signUp(owner);
      await owner.get('/account').expect(200);
      const phone = client(t.app);
      expect((await logIn(phone, email, password)).status).to.equal(303);
      await phone.get('/account').expect(200);
      const { id } = await userOf(email);
      expect(await sessionRowsOfUser(id)).to.have.length(2);

      // The logged-in owner asks for the link and uses it in that same session.
      const asked = await submit(owner, '/forgot-password', { email });
      expect(asked.headers.location).to.equal('/forgot-password/sent');
      const mail = await waitForMail(email, { subject: /Восстановление пароля/ });
      const url = new URL(mail.links.find((l) => l.includes('/reset-password?token='))!);
      await owner.get(`${url.pathname}${url.search}`).expect(303);
      const form = await owner.get('/reset-password').expect(200);
      const askingSid = sessionIdOf(agentCookie(owner));
      expect((await sessOf(askingSid))?.passport?.user?.id).to.equal(id); // the asking session is a logged-in one
      const done = await owner.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), password: NEW_PASSWORD }).expect(303);
      expect(done.headers.location).to.equal('/login?reset=done');

      expect(await sessionRowsOfUser(id), 'session rows still naming the user after the reset').to.deep.equal([]);
      expect((await owner.get('/account').expect(303)).headers.location).to.equal(TO_LOGIN);
      expect((await phone.get('/account').expect(303)).headers.location).to.equal(TO_LOGIN);
    });
  });

  describe('time limits and pruning (S12)', () => {
    it('when the login page is shown, then «Запомнить меня» is there and unticked, and a login without it is not remembered (S12)', async () => {
      const agent = client(t.app);
      const page = await agent.get('/login').expect(200);
      const checkbox = /<input[^>]*\bid="remember"[^>]*>/.exec(page.text)?.[0];
      expect(checkbox, 'the remember-me checkbox').to.be.a('string');
      expect(checkbox).to.include('type="checkbox"').and.include('name="remember"');
      expect(checkbox).not.to.match(/\bchecked\b/);
      expect(page.text).to.include('<label for="remember">Запомнить меня');

      // The form sent as it stands (box unticked, so no field): an ordinary 24-hour session.
      const { email, password } = await signUp(client(t.app));
      const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(page.text), email, password }).expect(303);
      const sid = sessionIdOf(sessionCookie(res));
      expect((await sessOf(sid))?.remember).to.equal(false);
      const row = await t.db('session').where({ sid }).first('expire');
      expect((new Date(row.expire).getTime() - Date.now()) / HOUR).to.be.within(23.9, 24.01);
    });

    it('when a session without "remember me" stays active every day, then it still ends 7 days after login (S12)', async () => {
      const { email, password } = await signUp(client(t.app));
      const agent = client(t.app);
      const sid = sessionIdOf(sessionCookie(await logIn(agent, email, password)));
      expect((await sessOf(sid))?.remember).to.equal(false);
      // Active all week: seen six minutes ago each time, so never idle for long, and lastSeenAt moves on.
      for (const daysAgo of [1, 3, 5, 6, 7 - 1 / 24]) {
        const now = Date.now();
        await patchSess(sid, { authAt: now - daysAgo * DAY, lastSeenAt: now - 6 * MINUTE });
        await agent.get('/account').expect(200);
        expect((await sessOf(sid))!.lastSeenAt).to.be.closeTo(Date.now(), MINUTE); // refreshed: the session is active
      }
      const now = Date.now();
      await patchSess(sid, { authAt: now - 7 * DAY - MINUTE, lastSeenAt: now - 6 * MINUTE });
      const res = await agent.get('/account').expect(303);
      expect(res.headers.location).to.equal(TO_LOGIN);
      expect(await t.db('session').where({ sid }).first()).to.equal(undefined); // replaced, not kept
      await agent.get('/account').expect(303);
    });

    it('when the hourly auth:prune job runs on the worker, then expired session rows, reset tokens and rate-limit windows go and live ones stay (S12)', async () => {
      expect(CRONTAB).to.match(/^0 \* \* \* \* auth:prune\b/m); // the production worker schedules it every hour
      const tag = randomBytes(4).toString('hex');
      const cookieJson = (ms: number) => JSON.stringify({ cookie: { originalMaxAge: ms, expires: new Date(Date.now() + ms).toISOString(), httpOnly: true, path: '/', sameSite: 'lax' }, csrfToken: tag });

      // A real visitor session (a reset link moved out of the URL), aged past its expiry, plus stored rows expired
      // a minute and three days ago.
      const visitor = client(t.app);
      const visitorSid = sessionIdOf(sessionCookie(await visitor.get(`/reset-password?token=prune${tag}`).expect(303)));
      await t.db('session').where({ sid: visitorSid }).update({ expire: t.db.raw("now() - interval '1 second'") });
      const expiredSids = [visitorSid, `prune-${tag}-old-1`, `prune-${tag}-old-2`];
      await t.db('session').insert([
        { sid: expiredSids[1], sess: cookieJson(-MINUTE), expire: t.db.raw("now() - interval '1 minute'") },
        { sid: expiredSids[2], sess: cookieJson(-3 * DAY), expire: t.db.raw("now() - interval '3 days'") },
      ]);
      // Live: a logged-in customer's session and a stored visitor row with an hour left.
      const customer = client(t.app);
      const { email } = await signUp(customer);
      await customer.get('/account').expect(200);
      const customerSid = sessionIdOf(agentCookie(customer));
      const liveSids = [customerSid, `prune-${tag}-live`];
      await t.db('session').insert({ sid: liveSids[1], sess: cookieJson(HOUR), expire: t.db.raw("now() + interval '1 hour'") });

      const { id, auth_version } = await userOf(email);
      const oldToken = randomBytes(32);
      const liveToken = randomBytes(32);
      await t.db('password_resets').insert([
        { token_hash: oldToken, user_id: id, auth_version, expires_at: t.db.raw("now() - interval '1 minute'") },
        { token_hash: liveToken, user_id: id, auth_version, expires_at: t.db.raw("now() + interval '30 minutes'") },
      ]);
      await t.db('rate_limits').insert([
        { key: `prune:${tag}:old`, hits: 7, reset_at: t.db.raw("now() - interval '1 minute'") },
        { key: `prune:${tag}:live`, hits: 7, reset_at: t.db.raw("now() + interval '10 minutes'") },
      ]);

      await createJobQueue().add(t.db, 'auth:prune', {});
      const line = await waitFor(() => t.logs.find((l) => l.includes('expired rows pruned')), 15_000, 'the auth:prune job ran');
      const { pruned } = JSON.parse(line) as { pruned: { sessions: number; resets: number; counters: number } };
      expect(pruned.sessions).to.be.at.least(3);
      expect(pruned.resets).to.be.at.least(1);
      expect(pruned.counters).to.be.at.least(1);

      expect(await t.db('session').whereIn('sid', expiredSids).select('sid')).to.deep.equal([]);
      expect((await t.db('session').whereIn('sid', liveSids).pluck('sid')).sort()).to.deep.equal([...liveSids].sort());
      expect((await t.db('password_resets').where({ user_id: id }).pluck('token_hash')).map((h: Buffer) => h.toString('hex'))).to.deep.equal([liveToken.toString('hex')]);
      expect((await t.db('rate_limits').where('key', 'like', `prune:${tag}:%`).pluck('key'))).to.deep.equal([`prune:${tag}:live`]);
      await customer.get('/account').expect(200); // the live login is untouched
    });
  });

  describe('cookies (S13)', () => {
    it('when a logged-in customer only reads pages, then the session row is not rewritten (resave: false); a due lastSeenAt refresh is (S13)', async () => {
      const agent = client(t.app);
      await signUp(agent);
      await agent.get('/account').expect(200); // the first page after sign-up shows (and so uses up) the welcome notice
      const sid = sessionIdOf(agentCookie(agent));
      // xmin/ctid change on any write of the row, even one that writes identical values.
      const snapshot = () => t.db('session').where({ sid })
        .first(t.db.raw('xmin::text as xmin'), t.db.raw('ctid::text as ctid'), t.db.raw('sess::text as sess'), t.db.raw('expire::text as expire'));
      const writes: string[] = [];
      const listen = (query: { sql: string }) => {
        if (/session/i.test(query.sql) && /^\s*(insert|update|delete)/i.test(query.sql)) writes.push(query.sql);
      };

      const before = await snapshot();
      t.db.on('query', listen);
      try {
        await agent.get('/account').expect(200);
        await agent.get('/account').expect(200);
      } finally {
        t.db.off('query', listen);
      }
      expect(writes).to.deep.equal([]);
      expect(await snapshot()).to.deep.equal(before);

      // Control: once lastSeenAt is over five minutes old, the same GET does write the row, and the snapshot sees it.
      await patchSess(sid, { lastSeenAt: Date.now() - 6 * MINUTE });
      const stale = await snapshot();
      t.db.on('query', listen);
      try {
        await agent.get('/account').expect(200);
      } finally {
        t.db.off('query', listen);
      }
      expect(writes).to.have.length.greaterThan(0);
      const refreshed = await snapshot();
      expect(refreshed.xmin).to.not.equal(stale.xmin);
      expect(refreshed.sess).to.not.equal(stale.sess);
    });

    it('when SESSION_SECRET is rotated to "new,old", then a cookie signed with the old secret still works; with "new" alone it no longer does (S13)', async () => {
      const OLD = `old-session-secret-${'o'.repeat(30)}`;
      const NEW = `new-session-secret-${'n'.repeat(30)}`;
      const databaseUrl = testDatabase().url; // one database, as processes of one installation share it
      const oldApp = createTestApp({ env: { SESSION_SECRET: OLD }, databaseUrl });
      const rotated = createTestApp({ env: { SESSION_SECRET: `${NEW},${OLD}` }, databaseUrl });
      const newOnly = createTestApp({ env: { SESSION_SECRET: NEW }, databaseUrl });
      try {
        expect(rotated.config.sessionSecrets).to.deep.equal([NEW, OLD]);
        const ip = randomIp();
        const account = (app: TestApp, cookie: string) => request(app.app).get('/account').set('X-Forwarded-For', ip).set('Cookie', cookie);

        const agent = client(oldApp.app, ip);
        const { email, password } = await signUp(agent);
        await agent.get('/account').expect(200);
        const oldCookie = agentCookie(agent);
        await account(oldApp, oldCookie).expect(200);

        await account(rotated, oldCookie).expect(200);
        const refused = await account(newOnly, oldCookie).expect(303);
        expect(refused.headers.location).to.equal(TO_LOGIN);
        expect(await t.db('session').where({ sid: sessionIdOf(oldCookie) }).first()).to.not.equal(undefined); // only the signature was refused
        await account(rotated, oldCookie).expect(200);

        // After the rotation, new cookies are signed with the new secret: they work once the old one is dropped.
        const fresh = client(rotated.app, ip);
        expect((await logIn(fresh, email, password)).status).to.equal(303);
        const newCookie = agentCookie(fresh);
        await account(newOnly, newCookie).expect(200);
        await account(oldApp, newCookie).expect(303);
      } finally {
        await Promise.all([oldApp.close(), rotated.close(), newOnly.close()]);
      }
    });
  });
});
