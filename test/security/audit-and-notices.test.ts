// SECURITY S17 (notices after a password change, a password reset and an email change) and S18 (the
// auth_events audit trail, last login on the user, and what must never reach the audit rows or the logs),
// each driven through the real HTTP forms with their CSRF tokens and the real job worker.
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { createTestApp, TEST_ENV, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, randomIp, signUp, uniqueEmail, type Agent } from '../helpers/client.js';
import { confirmationLink, mailsTo, waitForMail, type ReceivedMail } from '../helpers/smtp.js';

const APP_URL = TEST_ENV.APP_URL!;
const FORGOT_URL = `${APP_URL}/forgot-password`;
const NEW_PASSWORD = 'Pionovyi sad v iyune 2027';

const RU_MONTHS = ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря'];

/** A moment as the shop (Europe/Moscow) shows it in Russian mail: "8 октября 2025, 14:05" — computed here on its own. */
function moscowTime(moment: Date): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Moscow', year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(moment);
  const part = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${Number(part('day'))} ${RU_MONTHS[Number(part('month')) - 1]} ${part('year')}, ${part('hour')}:${part('minute')}`;
}

/** Every shop-time minute between two moments (so a change that straddles a minute boundary still matches). */
function minutesBetween(from: number, to: number): string[] {
  const out = new Set<string>();
  for (let t = Math.floor(from / 60_000) * 60_000; t <= to; t += 60_000) out.add(moscowTime(new Date(t)));
  return [...out];
}

/** What a flow used that must never be written down: passwords, raw reset tokens, CSRF tokens, and (in logs) emails. */
type Secrets = { passwords: string[]; tokens: string[]; csrf: string[]; emails: string[] };

describe('audit trail and security notices (S17, S18)', () => {
  let t: TestApp;
  before(async () => {
    t = createTestApp();
    await t.startWorker();
  });
  after(() => t.close());

  /** A browser with its own IP and a distinctive User-Agent, both sent on every request. */
  function browser() {
    const ip = randomIp();
    const ua = `AuditProbe/${randomBytes(4).toString('hex')} (S18 test)`;
    return { agent: client(t.app, ip).set('User-Agent', ua) as Agent, ip, ua };
  }

  function secretsFor(email: string, ...passwords: string[]): Secrets {
    return { passwords, tokens: [], csrf: [], emails: [email] };
  }

  /** GETs the page with the form, then POSTs the fields with that page's CSRF token if it has one (kept in `secrets`). */
  async function post(agent: Agent, pagePath: string, postPath: string, fields: Record<string, string>, secrets: Secrets) {
    const page = await agent.get(pagePath);
    const token = csrfFrom(page.text);
    if (token) secrets.csrf.push(token);
    return agent.post(postPath).type('form').send({ _csrf: token, ...fields });
  }

  async function userByEmail(email: string) {
    const row = await t.db('users').whereRaw('lower(email) = lower(?)', [email]).first('id', 'last_login_at', 'last_login_ip');
    expect(row, `user ${email}`).to.not.equal(undefined);
    return row as { id: number; last_login_at: Date | null; last_login_ip: string | null };
  }

  /** The audit rows written for one browser (its IP and User-Agent are unique to the test). */
  async function eventsOf(b: { ip: string; ua: string }) {
    return t.db('auth_events').where({ ip: b.ip, user_agent: b.ua }).orderBy('id').select('at', 'user_id', 'event', 'ip', 'user_agent') as Promise<
      { at: Date; user_id: number | null; event: string; ip: string; user_agent: string }[]>;
  }

  async function expectEvent(b: { ip: string; ua: string }, event: string, userId: number | null, since: number) {
    const rows = (await eventsOf(b)).filter((r) => r.event === event);
    expect(rows, `${event} rows from ${b.ip}`).to.have.length(1);
    const row = rows[0]!;
    expect(row).to.include({ user_id: userId, event, ip: b.ip, user_agent: b.ua });
    expect(row.at.getTime()).to.be.within(since - 5_000, Date.now() + 5_000);
    return row;
  }

  /** No secret in any auth_events row; no secret and no plain email in any log line. */
  async function expectNothingLeaked(secrets: Secrets) {
    const hidden = [...secrets.passwords, ...secrets.tokens, ...secrets.csrf];
    expect(hidden.every((s) => s.length >= 8), 'the secrets looked for are real').to.equal(true);
    const rows = JSON.stringify(await t.db('auth_events').select('*'));
    const logs = t.logs.join('\n');
    expect(logs.length, 'the app did log').to.be.above(0);
    for (const secret of hidden) {
      expect(rows.includes(secret), `auth_events holds a secret (${secret.slice(0, 4)}…)`).to.equal(false);
      expect(logs.includes(secret), `the logs hold a secret (${secret.slice(0, 4)}…)`).to.equal(false);
    }
    for (const email of secrets.emails) {
      const line = t.logs.find((l) => l.toLowerCase().includes(email.toLowerCase()));
      expect(line, `a log line holds the plain email ${email} (S18: emails only as a hash)`).to.equal(undefined);
    }
  }

  /** The S17 notice checks shared by all three: time of the change in shop time, and the "this wasn't me" link. */
  function expectNotice(mail: ReceivedMail, from: number, to: number) {
    const candidates = minutesBetween(from, to);
    const shown = (body: string) => candidates.some((c) => body.includes(c));
    expect(shown(mail.text), `text part shows the time (${candidates.join(' or ')}):\n${mail.text}`).to.equal(true);
    expect(shown(mail.html), `HTML part shows the time (${candidates.join(' or ')}):\n${mail.html}`).to.equal(true);
    expect(mail.text).to.include('Это были не вы?');
    expect(mail.html).to.include('Это были не вы?');
    expect(mail.links).to.include(FORGOT_URL);
    expect(mail.text).to.match(new RegExp(`Это были не вы\\?[^\\n]*${FORGOT_URL.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(\\s|$)`));
    expect(mail.html).to.include(`href="${FORGOT_URL}"`);
  }

  async function openResetLink(agent: Agent, link: string) {
    const url = new URL(link);
    await agent.get(`${url.pathname}${url.search}`).expect(303);
    return agent.get('/reset-password').expect(200);
  }

  describe('auth_events (S18)', () => {
    it('when a customer logs in, then login_ok is recorded with their id, IP and user agent, and last_login_at/last_login_ip are set on the user (S18)', async () => {
      const { email, password } = await signUp(client(t.app));
      const secrets = secretsFor(email, password);
      const b = browser();
      const started = Date.now();
      const res = await post(b.agent, '/login', '/login', { email, password }, secrets);
      expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
      const user = await userByEmail(email);
      await expectEvent(b, 'login_ok', user.id, started);
      expect(user.last_login_ip).to.equal(b.ip);
      expect(user.last_login_at).to.be.instanceOf(Date);
      expect(user.last_login_at!.getTime()).to.be.within(started - 5_000, Date.now() + 5_000);
      await expectNothingLeaked(secrets);
    });

    it('when the email is unknown, then login_fail is recorded with no user id; when the password is wrong, with the account\'s id; neither touches last_login (S18)', async () => {
      const { email, password } = await signUp(client(t.app));
      const unknown = uniqueEmail('nobody');
      const wrong = 'Ne tot parol sovsem 42';
      const secrets: Secrets = { passwords: [password, wrong], tokens: [], csrf: [], emails: [email, unknown] };
      const stranger = browser();
      const started = Date.now();
      expect((await post(stranger.agent, '/login', '/login', { email: unknown, password: wrong }, secrets)).status).to.equal(401);
      await expectEvent(stranger, 'login_fail', null, started);
      const guesser = browser();
      expect((await post(guesser.agent, '/login', '/login', { email, password: wrong }, secrets)).status).to.equal(401);
      const user = await userByEmail(email);
      await expectEvent(guesser, 'login_fail', user.id, started);
      expect((await eventsOf(guesser)).map((r) => r.event)).to.deep.equal(['login_fail']);
      expect(user.last_login_ip).to.not.equal(guesser.ip);
      await expectNothingLeaked(secrets);
    });

    it('when the 10th wrong password locks the account, then "locked" is recorded once with the account\'s id, IP and user agent, after 10 login_fail rows (S18)', async () => {
      const { email, password } = await signUp(client(t.app));
      const secrets = secretsFor(email, password);
      const b = browser();
      const started = Date.now();
      for (let i = 0; i < 10; i++) {
        const wrong = `Wrong password number ${i}`;
        secrets.passwords.push(wrong);
        expect((await post(b.agent, '/login', '/login', { email, password: wrong }, secrets)).status).to.equal(401);
      }
      const user = await userByEmail(email);
      await expectEvent(b, 'locked', user.id, started);
      const rows = await eventsOf(b);
      expect(rows.map((r) => r.event)).to.deep.equal([...Array(10).fill('login_fail'), 'locked']);
      expect(rows.every((r) => r.user_id === user.id)).to.equal(true);
      await expectNothingLeaked(secrets);
    });

    it('when a reset is asked for and done, then reset_requested (IP and agent of the request, recorded by the job) and reset_done are recorded; the raw token is nowhere (S18)', async () => {
      const { email, password } = await signUp(client(t.app));
      const secrets = secretsFor(email, password, NEW_PASSWORD);
      const asker = browser();
      const started = Date.now();
      const res = await post(asker.agent, '/forgot-password', '/forgot-password', { email }, secrets);
      expect([res.status, res.headers.location]).to.deep.equal([303, '/forgot-password/sent']);
      const mail = await waitForMail(email, { subject: /Восстановление пароля/ });
      const link = mail.links.find((l) => l.includes('/reset-password?token='))!;
      const token = new URL(link).searchParams.get('token')!;
      expect(token).to.have.length.above(20);
      secrets.tokens.push(token);
      const user = await userByEmail(email);
      await expectEvent(asker, 'reset_requested', user.id, started);

      const resetter = browser();
      const form = await openResetLink(resetter.agent, link);
      expect(csrfFrom(form.text)).to.equal(''); // a form used before login: no token (S14)
      const done = await resetter.agent.post('/reset-password').type('form').send({ password: NEW_PASSWORD });
      expect([done.status, done.headers.location]).to.deep.equal([303, '/login?reset=done']);
      await expectEvent(resetter, 'reset_done', user.id, started);
      // The token-bearing URL was logged, masked (so the check below is not vacuous).
      expect(t.logs.some((l) => l.includes('/reset-password?token=[redacted]'))).to.equal(true);
      await waitForMail(email, { subject: /Пароль изменён/ }); // the worker's logging of the notice is done too
      await expectNothingLeaked(secrets);
    });

    it('when the password is changed on /account/password, then password_changed is recorded with the user\'s id, IP and user agent (S18)', async () => {
      const b = browser();
      const { email, password } = await signUp(b.agent);
      const secrets = secretsFor(email, password, NEW_PASSWORD);
      const started = Date.now();
      const res = await post(b.agent, '/account/password', '/account/password', { currentPassword: password, password: NEW_PASSWORD }, secrets);
      expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
      const user = await userByEmail(email);
      await expectEvent(b, 'password_changed', user.id, started);
      await waitForMail(email, { subject: /Пароль изменён/ });
      await expectNothingLeaked(secrets);
    });

    it('when the email change is asked for on /account/email and confirmed by the link, then email_change_requested and email_changed are recorded with the user\'s id, IP and user agent, and neither address is logged (S18)', async () => {
      const b = browser();
      const { email, password } = await signUp(b.agent);
      const next = uniqueEmail('moved');
      const secrets: Secrets = { passwords: [password], tokens: [], csrf: [], emails: [email, next] };
      const started = Date.now();
      const res = await post(b.agent, '/account/email', '/account/email', { email: next, currentPassword: password }, secrets);
      expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
      const user = await userByEmail(email);
      await expectEvent(b, 'email_change_requested', user.id, started);
      const link = new URL(await confirmationLink(next));
      secrets.tokens.push(link.searchParams.get('token')!);
      await b.agent.get(`${link.pathname}${link.search}`).expect(200);
      await b.agent.post('/confirm-email').type('form').send({ token: link.searchParams.get('token') }).expect(303);
      expect((await userByEmail(next)).id).to.equal(user.id);
      await expectEvent(b, 'email_changed', user.id, started);
      await waitForMail(email, { subject: /Email аккаунта изменён/ });
      await expectNothingLeaked(secrets);
    });

    it('when the customer logs out, then logout is recorded with their id, IP and user agent (S18)', async () => {
      const b = browser();
      const { email, password } = await signUp(b.agent);
      const secrets = secretsFor(email, password);
      const started = Date.now();
      const res = await post(b.agent, '/account', '/logout', {}, secrets);
      expect([res.status, res.headers.location]).to.deep.equal([303, '/']);
      await b.agent.get('/account').expect(303);
      const user = await userByEmail(email);
      await expectEvent(b, 'logout', user.id, started);
      await expectNothingLeaked(secrets);
    });

    it('when the customer logs out everywhere, then logout_all is recorded with their id, IP and user agent (S18)', async () => {
      const b = browser();
      const { email, password } = await signUp(b.agent);
      const secrets = secretsFor(email, password);
      const started = Date.now();
      const res = await post(b.agent, '/account', '/account/logout-everywhere', {}, secrets);
      expect([res.status, res.headers.location]).to.deep.equal([303, '/login?signed_out=all']);
      await b.agent.get('/account').expect(303);
      const user = await userByEmail(email);
      await expectEvent(b, 'logout_all', user.id, started);
      await expectNothingLeaked(secrets);
    });
  });

  describe('security notices (S17)', () => {
    it('when the password is changed, then the account\'s address gets a notice with the time of the change in shop time and a "this wasn\'t me" link to APP_URL/forgot-password, in text and HTML (S17)', async () => {
      const agent = client(t.app);
      const { email, password } = await signUp(agent);
      const page = await agent.get('/account/password');
      const from = Date.now();
      await agent.post('/account/password').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: password, password: NEW_PASSWORD }).expect(303);
      const to = Date.now();
      const mail = await waitForMail(email, { subject: /^Пароль изменён$/ });
      expectNotice(mail, from, to);
    });

    it('when the password is reset, then the account\'s address gets a notice with the time of the reset in shop time and a "this wasn\'t me" link to APP_URL/forgot-password, in text and HTML (S17)', async () => {
      const { email } = await signUp(client(t.app));
      const asker = client(t.app);
      const forgot = await asker.get('/forgot-password');
      await asker.post('/forgot-password').type('form').send({ _csrf: csrfFrom(forgot.text), email }).expect(303);
      const resetMail = await waitForMail(email, { subject: /Восстановление пароля/ });
      const agent = client(t.app);
      const form = await openResetLink(agent, resetMail.links.find((l) => l.includes('/reset-password?token='))!);
      const from = Date.now();
      await agent.post('/reset-password').type('form').send({ _csrf: csrfFrom(form.text), password: NEW_PASSWORD }).expect(303);
      const to = Date.now();
      const mail = await waitForMail(email, { subject: /^Пароль изменён$/ });
      expectNotice(mail, from, to);
    });

    it('when the email change is asked for and then confirmed, then the OLD address gets a notice each time with the time in shop time and a "this wasn\'t me" link to APP_URL/forgot-password, in text and HTML; the new one gets none (S17)', async () => {
      const agent = client(t.app);
      const { email, password } = await signUp(agent);
      const next = uniqueEmail('moved');
      const page = await agent.get('/account/email');
      let from = Date.now();
      await agent.post('/account/email').type('form').send({ _csrf: csrfFrom(page.text), email: next, currentPassword: password }).expect(303);
      let to = Date.now();
      const requested = await waitForMail(email, { subject: /^Запрошена смена email$/ });
      expect(requested.to).to.deep.equal([email.toLowerCase()]);
      expectNotice(requested, from, to);
      expect(requested.text).to.include(next);

      const link = new URL(await confirmationLink(next));
      from = Date.now();
      await agent.post('/confirm-email').type('form').send({ token: link.searchParams.get('token') }).expect(303);
      to = Date.now();
      const mail = await waitForMail(email, { subject: /^Email аккаунта изменён$/ });
      expect(mail.to).to.deep.equal([email.toLowerCase()]);
      expectNotice(mail, from, to);
      expect(mail.text).to.include(next);
      expect(mailsTo(next).filter((m) => /изменён|смена/.test(m.subject))).to.have.length(0);
    });
  });
});
