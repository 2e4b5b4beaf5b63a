import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, logIn, sessionCookie, signUp, submit, uniqueEmail, type Agent } from '../helpers/client.js';
import { confirmationLink, mailsTo, waitForMail } from '../helpers/smtp.js';
import { staffAgent } from '../staff/helpers.js';

describe('email confirmation (/confirm-email, /account/email/confirmation)', () => {
  let t: TestApp;
  before(async () => {
    t = createTestApp();
    await t.startWorker();
  });
  after(() => t.close());

  const userOf = (email: string) => t.db('users').whereRaw('lower(email) = lower(?)', [email])
    .first('id', 'email', 'email_confirmed_at', 'pending_email', 'auth_version');
  const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;
  const pathOf = (link: string) => { const u = new URL(link); return `${u.pathname}${u.search}`; };
  const press = (agent: Agent, token: string) => agent.post('/confirm-email').type('form').send({ token });

  async function customer(overrides: Record<string, string> = {}) {
    const agent = client(t.app);
    const account = await signUp(agent, overrides);
    return { agent, ...account, link: await confirmationLink(account.email) };
  }

  async function askForChange(agent: Agent, password: string, next: string) {
    const res = await submit(agent, '/account/email', { email: next, currentPassword: password });
    expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
    return confirmationLink(next);
  }

  describe('the mail after sign-up', () => {
    it('goes to the new address in Russian, text and HTML, with a link to APP_URL/confirm-email that works for 24 hours', async () => {
      const { email } = await customer();
      const mail = await waitForMail(email, { subject: /^Подтвердите email$/ });
      expect(mail.text).to.include('Спасибо за регистрацию').and.include('Ссылка действует 24 часа и только один раз.');
      expect(mail.links.some((l) => l.startsWith(`${t.config.appUrl}/confirm-email?token=`))).to.equal(true);
      expect(mail.html).to.include(`href="${t.config.appUrl}/confirm-email?token=`).and.include('Подтвердить email');
    });

    it('is in English for a customer who signed up in English', async () => {
      const agent = client(t.app);
      await agent.get('/?lang=en').expect(200);
      const { email } = await signUp(agent);
      const mail = await waitForMail(email, { subject: /^Confirm your email$/ });
      expect(mail.text).to.include('Thank you for signing up').and.include('/confirm-email?token=');
      expect(mail.html).to.include('Confirm email');
    });

    it('stores only the SHA-256 of the token, bound to the user and the address, for 24 hours', async () => {
      const { email, link } = await customer();
      const { id } = await userOf(email);
      const rows = await t.db('email_confirmations').where({ user_id: id })
        .select('token_hash', 'email', t.db.raw("round(extract(epoch from expires_at - created_at) / 3600) as hours"));
      expect(rows).to.have.length(1);
      expect(Buffer.from(rows[0].token_hash).equals(createHash('sha256').update(tokenOf(link)).digest())).to.equal(true);
      expect(rows[0]).to.include({ email: email.toLowerCase() });
      expect(Number(rows[0].hours)).to.equal(24);
      const dump = JSON.stringify(await t.db('email_confirmations').select('*')) + JSON.stringify(await t.db.raw('select payload from graphile_worker._private_jobs'));
      expect(dump).not.to.include(tokenOf(link));
    });
  });

  describe('GET /confirm-email', () => {
    it('shows the address and one button with the token in a hidden field, confirms nothing, stores nothing and creates no session', async () => {
      const { email, link } = await customer();
      const res = await client(t.app).get(pathOf(link)).expect(200);
      expect(res.text).to.include(`подтвердить адрес ${email.toLowerCase()}`);
      expect(res.text.match(/<form /g)).to.have.length(1);
      expect(res.text).to.include('action="/confirm-email"').and.include(`name="token" value="${tokenOf(link)}"`);
      expect(res.text.match(/<button/g)).to.have.length(1);
      expect(res.text).not.to.include('name="_csrf"');
      expect(res.headers['cache-control']).to.equal('no-store');
      expect(res.headers['referrer-policy']).to.equal('no-referrer');
      expect(sessionCookie(res)).to.equal(undefined);
      for (let i = 0; i < 3; i++) await client(t.app).get(pathOf(link)).expect(200); // mail scanners open links
      expect((await userOf(email)).email_confirmed_at).to.equal(null);
      expect(await t.db('email_confirmations').where({ user_id: (await userOf(email)).id }).count('* as n').first()).to.deep.equal({ n: 1 });
    });

    it('answers a used, expired, altered, malformed or missing token with the same 410 page', async () => {
      const { email, link } = await customer();
      const token = tokenOf(link);
      const altered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
      for (const path of [`/confirm-email?token=${altered}`, '/confirm-email?token=abc', '/confirm-email', '/confirm-email?token[]=x', `/confirm-email?token=${'a'.repeat(5000)}`]) {
        const res = await client(t.app).get(path);
        expect(res.status, path).to.equal(410);
        expect(res.text).to.include('Ссылка не работает').and.include('уже использована, устарела или повреждена');
      }
      await t.db('email_confirmations').where({ user_id: (await userOf(email)).id }).update({ expires_at: t.db.raw("now() - interval '1 second'") });
      expect((await client(t.app).get(pathOf(link))).status).to.equal(410);
    });
  });

  describe('POST /confirm-email', () => {
    it('when a visitor presses the button, then the address is confirmed, a success page is shown, and the link is used up', async () => {
      const { email, link, agent } = await customer();
      const visitor = client(t.app);
      const res = await press(visitor, tokenOf(link));
      expect(res.status).to.equal(200);
      expect(res.text).to.include('Email подтверждён').and.include('Спасибо! Адрес подтверждён.');
      expect(sessionCookie(res)).to.equal(undefined);
      const row = await userOf(email);
      expect(row.email_confirmed_at).to.be.instanceOf(Date);
      expect(await t.db('email_confirmations').where({ user_id: row.id }).first()).to.equal(undefined);
      const events = await t.db('auth_events').where({ user_id: row.id, event: 'email_confirmed' }).count('* as n').first();
      expect(events).to.deep.equal({ n: 1 });
      await agent.get('/account').expect(200); // the customer's own session goes on
    });

    it('when the logged-in customer presses it, then they go to /account with a flash and the banner is gone', async () => {
      const { agent, link } = await customer();
      expect((await agent.get('/account')).text).to.include('Подтвердите email').and.include('action="/account/email/confirmation"');
      await agent.get(pathOf(link)).expect(200);
      const res = await press(agent, tokenOf(link));
      expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
      const page = await agent.get('/account').expect(200);
      expect(page.text).to.include('Email подтверждён.').and.not.include('action="/account/email/confirmation"');
    });

    it('when the link is used again, has expired or was altered, then 410 and nothing changes', async () => {
      const first = await customer();
      const altered = tokenOf(first.link).replace(/^./, (c) => (c === 'x' ? 'y' : 'x'));
      const wrong = await press(client(t.app), altered);
      expect(wrong.status).to.equal(410);
      expect(wrong.text).to.include('Ссылка не работает');
      expect((await userOf(first.email)).email_confirmed_at).to.equal(null);

      await press(client(t.app), tokenOf(first.link)).expect(200);
      const confirmedAt = (await userOf(first.email)).email_confirmed_at as Date;
      const again = await press(client(t.app), tokenOf(first.link));
      expect(again.status).to.equal(410);
      expect(((await userOf(first.email)).email_confirmed_at as Date).getTime()).to.equal(confirmedAt.getTime());

      const late = await customer();
      await t.db('email_confirmations').where({ user_id: (await userOf(late.email)).id }).update({ expires_at: t.db.raw("now() - interval '1 second'") });
      expect((await press(client(t.app), tokenOf(late.link))).status).to.equal(410);
      expect((await userOf(late.email)).email_confirmed_at).to.equal(null);
    });

    it('when the password changed after the mail was sent, then its link is void (auth_version, S7)', async () => {
      const { agent, email, password, link } = await customer();
      const changed = await submit(agent, '/account/password', { currentPassword: password, password: 'Sovsem novyi parol 9' });
      expect(changed.status).to.equal(303);
      expect((await press(client(t.app), tokenOf(link))).status).to.equal(410);
      expect((await userOf(email)).email_confirmed_at).to.equal(null);
    });

    it('when the form is odd (no token, a repeated token, unknown fields, a huge token), then 410, never a 500', async () => {
      const { link } = await customer();
      const bodies: Record<string, unknown>[] = [{}, { token: [tokenOf(link), tokenOf(link)] }, { token: tokenOf(link), extra: '1' }, { token: 'x'.repeat(10_000) }, { token: '' }];
      for (const body of bodies) {
        const res = await client(t.app).post('/confirm-email').type('form').send(body);
        expect(res.status, JSON.stringify(body).slice(0, 80)).to.equal(410);
      }
    });
  });

  describe('POST /account/email/confirmation (send again)', () => {
    it('sends a new link, the older one dies; past 3 an hour the customer gets a clear 429 page and no mail; another customer is not affected', async () => {
      const { agent, email, link } = await customer();
      for (let i = 1; i <= 3; i++) {
        const res = await submit(agent, '/account', {}, '/account/email/confirmation');
        expect([res.status, res.headers.location]).to.deep.equal([303, '/account']);
        await confirmationLink(email, 1 + i);
      }
      expect((await agent.get('/account')).text).to.include('Письмо отправлено ещё раз.');
      const limited = await submit(agent, '/account', {}, '/account/email/confirmation');
      expect(limited.status).to.equal(429);
      expect(limited.text).to.include('Письма уже отправлены').and.include('не больше 3 раз в час');
      await new Promise((r) => setTimeout(r, 600));
      expect(mailsTo(email).filter((m) => m.subject === 'Подтвердите email')).to.have.length(4);
      expect((await press(client(t.app), tokenOf(link))).status).to.equal(410);
      await press(client(t.app), tokenOf(await confirmationLink(email, 4))).expect(200);

      const other = await customer();
      expect((await submit(other.agent, '/account', {}, '/account/email/confirmation')).status).to.equal(303);
    });

    it('needs the form token and a login: without them 403 and no mail', async () => {
      const { agent, email } = await customer();
      expect((await agent.post('/account/email/confirmation').type('form').send({})).status).to.equal(403);
      expect((await client(t.app).post('/account/email/confirmation').type('form').send({})).status).to.equal(403);
      await new Promise((r) => setTimeout(r, 600));
      expect(mailsTo(email).filter((m) => m.subject === 'Подтвердите email')).to.have.length(1);
    });

    it('when the address is already confirmed, then no mail goes and the flash says so', async () => {
      const { agent, email, link } = await customer();
      await press(agent, tokenOf(link)).expect(303);
      expect((await submit(agent, '/account', {}, '/account/email/confirmation')).status).to.equal(303);
      expect((await agent.get('/account')).text).to.include('Email уже подтверждён.');
      await new Promise((r) => setTimeout(r, 600));
      expect(mailsTo(email).filter((m) => m.subject === 'Подтвердите email')).to.have.length(1);
    });
  });

  describe('changing the address', () => {
    it('keeps the old address until the new one confirms; the account page shows the pending one and sends its link again', async () => {
      const { agent, email, password } = await customer();
      const next = uniqueEmail('moved');
      const link = await askForChange(agent, password, next);
      const row = await userOf(email);
      expect(row).to.include({ email: email.toLowerCase(), pending_email: next });
      const page = await agent.get('/account').expect(200);
      expect(page.text).to.include('Подтвердите новый email').and.include(`Новый адрес ${next} ждёт подтверждения`);
      expect((await waitForMail(email, { subject: /^Запрошена смена email$/ })).text).to.include(next);
      expect((await waitForMail(next, { subject: /^Подтвердите email$/ })).text).to.include('Адрес сменится, только когда вы откроете ссылку');
      expect((await logIn(client(t.app), email, password)).status).to.equal(303);
      expect((await logIn(client(t.app), next, password)).status).to.equal(401);
      expect((await submit(agent, '/account', {}, '/account/email/confirmation')).status).to.equal(303);
      const again = await confirmationLink(next, 2);
      expect((await press(client(t.app), tokenOf(link))).status).to.equal(410);
      expect((await userOf(email)).pending_email).to.equal(next);
      expect((await client(t.app).get(pathOf(again))).text).to.include(`подтвердить адрес ${next}`);
    });

    it('when confirmed from another browser, then the address changes, confirmed, auth_version moves on and every session of the account ends', async () => {
      const { agent, email, password } = await customer();
      const next = uniqueEmail('moved');
      const link = await askForChange(agent, password, next);
      const before = await userOf(email);
      const res = await press(client(t.app), tokenOf(link));
      expect(res.status).to.equal(200);
      expect(res.text).to.include('Email аккаунта изменён. Войдите с новым адресом.');
      const after = await userOf(next);
      expect(after).to.include({ id: before.id, email: next, pending_email: null, auth_version: before.auth_version + 1 });
      expect(after.email_confirmed_at).to.be.instanceOf(Date);
      expect([(await agent.get('/account')).status]).to.deep.equal([303]);
      expect((await logIn(client(t.app), next, password)).status).to.equal(303);
      await waitForMail(email, { subject: /^Email аккаунта изменён$/ });
    });

    it('when the new address was taken by someone else meanwhile, then a clear 409 page and nothing changes', async () => {
      const { agent, email, password } = await customer();
      const next = uniqueEmail('moved');
      const link = await askForChange(agent, password, next);
      await signUp(client(t.app), { email: next });
      const before = await userOf(email);
      const res = await press(agent, tokenOf(link));
      expect(res.status).to.equal(409);
      expect(res.text).to.include('Адрес уже занят').and.include('email не изменён');
      expect(await userOf(email)).to.deep.equal(before);
      await agent.get('/account').expect(200);
      expect((await logIn(client(t.app), email, password)).status).to.equal(303);
    });

    it('when the new address is taken already, then the form says so and nothing is sent', async () => {
      const other = await customer();
      const { agent, email, password } = await customer();
      const res = await submit(agent, '/account/email', { email: other.email, currentPassword: password });
      expect(res.status).to.equal(422);
      expect((await userOf(email)).pending_email).to.equal(null);
    });
  });

  describe('what staff and the export show', () => {
    it('the staff customer page says «не подтверждён», then «email подтверждён <date>», and names a pending address', async () => {
      const { agent, email, password, link } = await customer();
      const { id } = await userOf(email);
      const { agent: staff } = await staffAgent(t);
      expect((await staff.get(`/staff/customers/${id}`).expect(200)).text).to.include('не подтверждён');
      const listItem = async () => /<li><a href="\/staff\/customers\/\d+">[^<]+<\/a>[\s\S]*?<\/li>/.exec((await staff.get(`/staff/customers?q=${encodeURIComponent(email)}`).expect(200)).text)![0];
      expect(await listItem()).to.include('email не подтверждён');
      await press(client(t.app), tokenOf(link)).expect(200);
      expect(await listItem()).not.to.include('не подтверждён');
      const page = await staff.get(`/staff/customers/${id}`).expect(200);
      expect(page.text).to.match(/email подтверждён \d{1,2} [а-я]+ \d{4}, \d{2}:\d{2}/);
      const next = uniqueEmail('moved');
      await askForChange(agent, password, next);
      expect((await staff.get(`/staff/customers/${id}`).expect(200)).text).to.include(`новый адрес ждёт подтверждения: ${next}`);
    });

    it('the data export carries the confirmation time and the pending address', async () => {
      const { agent, password, link } = await customer();
      await press(agent, tokenOf(link)).expect(303);
      const next = uniqueEmail('moved');
      await askForChange(agent, password, next);
      const res = await agent.get('/account/data.json').buffer(true).parse((r, cb) => { let s = ''; r.on('data', (c: Buffer) => { s += c; }); r.on('end', () => cb(null, s)); }).expect(200);
      const data = JSON.parse(res.body as string);
      expect(data.profile.pendingEmail).to.equal(next);
      expect(new Date(data.profile.emailConfirmedAt).getTime()).to.be.above(Date.now() - 60_000);
    });
  });

  it('keeps CSRF tokens out of the confirmation form and the success page', async () => {
    const { link } = await customer();
    const page = await client(t.app).get(pathOf(link));
    expect(csrfFrom(page.text)).to.equal('');
  });
});
