import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, logIn, sessionCookie, signUp, signupFields, submit, type Agent } from '../helpers/client.js';
import { insertOrder, staffWorld, type StaffWorld } from '../staff/helpers.js';
import { createEmailConfirmationModel } from '../../src/models/email-confirmation-model.js';
import { hashToken } from '../../src/services/link-tokens.js';
import { createMailLinks } from '../../src/services/mail-links.js';


/** Sends one request exactly as written (no client normalises the path) and returns the status and body. */
async function rawRequest(app: (req: never, res: never) => void, head: string): Promise<{ status: number; text: string }> {
  const server: Server = createServer(app as never);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks).toString('utf8'))).on('error', reject);
      socket.write(`${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]), text: raw.slice(raw.indexOf('\r\n\r\n') + 4) };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('CSRF, origin and header protection (S14, S15, S18, logs)', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  const count = async () => Number((await t.db('users').count('* as n').first())!.n);

  const sessionRows = async () => Number((await t.db('session').count('* as n').first())!.n);

  it('when a logged-in form is posted without its token, with a wrong one, or with the token only in the query string, then 403 with a friendly page and nothing changes', async () => {
    const agent = client(t.app);
    const { email } = await signUp(agent);
    const row = () => t.db('users').whereRaw('lower(email) = ?', [email]).first('address', 'wishes', 'bouquet');
    const before = await row();
    const page = await agent.get('/account/preferences').expect(200);
    const token = csrfFrom(page.text);
    expect(token).to.match(/^[\w-]{20,}$/);
    const fields = { bouquet: 'luxe', address: 'ул. Подделанная, 1', deliveryDate: daysFromToday(9), interval: 'monthly', wishes: 'чужие' };
    const none = await agent.post('/account/preferences').type('form').send(fields);
    expect(none.status).to.equal(403);
    expect(none.text).to.include('Форма устарела').and.include('href="/account/preferences"');
    expect(none.text).not.to.match(/Error|at .*\.ts/);
    expect((await agent.post('/account/preferences').type('form').send({ ...fields, _csrf: `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}` })).status).to.equal(403);
    expect((await agent.post('/account/preferences').type('form').send({ ...fields, _csrf: '' })).status).to.equal(403);
    expect((await agent.post(`/account/preferences?_csrf=${token}`).type('form').send(fields)).status).to.equal(403);
    const other = client(t.app);
    await signUp(other);
    const otherToken = csrfFrom((await other.get('/account/preferences')).text);
    expect((await agent.post('/account/preferences').type('form').send({ ...fields, _csrf: otherToken })).status).to.equal(403); // another session's token
    expect(await row()).to.deep.equal(before);
    expect((await agent.post('/account/preferences').type('form').send({ ...fields, _csrf: token })).status).to.equal(303);
    expect((await row())!.address).to.equal('ул. Подделанная, 1');
  });

  it('the forms used before login carry no token, and a post with neither Sec-Fetch-Site nor Origin (a non-browser client) passes the check', async () => {
    for (const path of ['/signup', '/login', '/login/code', '/login/code/verify?email=a%40example.ru', '/login/code/verify?email=a%40example.ru&code=123456', '/forgot-password']) {
      const page = await client(t.app).get(path).expect(200);
      expect(page.text, path).to.include('<form method="post"').and.not.include('name="_csrf"');
    }
    const before = await count();
    const res = await client(t.app).post('/signup').type('form').send(signupFields());
    expect(res.status).to.equal(303);
    expect(await count()).to.equal(before + 1);
  });

  it('when the browser says the post comes from another site, or the Origin is foreign, then 403 and nothing changes; same-origin passes', async () => {
    const before = await count();
    const send = (headers: Record<string, string>) => client(t.app).post('/signup').set(headers).type('form').send(signupFields());
    const forged: Record<string, string>[] = [{ 'Sec-Fetch-Site': 'cross-site' }, { 'Sec-Fetch-Site': 'same-site' }, { 'Sec-Fetch-Site': 'cross-site', Origin: t.config.appOrigin },
      { Origin: 'https://evil.example' }, { Origin: 'null' }, { Origin: t.config.appOrigin.replace('http:', 'https:') }];
    for (const headers of forged) {
      const res = await send(headers);
      expect(res.status, JSON.stringify(headers)).to.equal(403);
      expect(res.text).to.include('Форма устарела').and.include('href="/signup"');
    }
    expect(await count()).to.equal(before);
    expect((await send({ 'Sec-Fetch-Site': 'same-origin', Origin: t.config.appOrigin })).status).to.equal(303);
    expect((await send({ 'Sec-Fetch-Site': 'none' })).status).to.equal(303);
    expect((await send({ Origin: t.config.appOrigin })).status).to.equal(303);
  });

  it('login needs no token but refuses a cross-site post; logout is a logged-in form and needs its token', async () => {
    const agent = client(t.app);
    const { email, password } = await signUp(agent);
    const other = csrfFrom((await agent.get('/account')).text);

    const forged = await client(t.app).post('/login').set('Sec-Fetch-Site', 'cross-site').type('form').send({ email, password });
    expect(forged.status).to.equal(403);
    expect(sessionCookie(forged)).to.equal(undefined);
    const visitor = client(t.app);
    const login = await visitor.post('/login').set('Sec-Fetch-Site', 'same-origin').type('form').send({ email, password });
    expect(login.status).to.equal(303);
    await visitor.get('/account').expect(200);

    // Logout: refused without the token, with another session's token, and cross-site with its own; the session lives on.
    const token = csrfFrom((await visitor.get('/account')).text);
    expect(token).not.to.equal('');
    expect((await visitor.post('/logout').type('form').send({})).status).to.equal(403);
    expect((await visitor.post('/logout').type('form').send({ _csrf: other })).status).to.equal(403);
    expect((await visitor.post('/logout').set('Sec-Fetch-Site', 'cross-site').type('form').send({ _csrf: token })).status).to.equal(403);
    await visitor.get('/account').expect(200);
    await visitor.post('/logout').type('form').send({ _csrf: token }).expect(303);
    await visitor.get('/account').expect(303);
  });

  it('when a visitor reads any page, then no session row is written and no session cookie is set (S12)', async () => {
    const before = await sessionRows();
    const pages = ['/', '/signup', '/login', '/login/code', '/login/code/verify?email=a%40example.ru&code=123456', '/forgot-password', '/forgot-password/sent', '/reset-password', '/no-such-page',
      '/login?next=%2Faccount', '/account', '/account/preferences', '/staff', '/?lang=en', '/signup?lang=ru', '/login?signed_out=all',
      '/00000000-0000-4000-8000-000000000000', '/healthz'];
    for (const path of pages) {
      for (const cookie of [undefined, 'lang=en', 'sid=s%3Aforged.signature']) {
        const req = client(t.app).get(path);
        const res = await (cookie ? req.set('Cookie', cookie) : req);
        expect(res.status, path).to.be.below(500);
        expect(sessionCookie(res), `${path} ${cookie ?? ''}`).to.equal(undefined);
      }
    }
    expect(await sessionRows()).to.equal(before);
  });

  it('the flows that need a visitor session still get one: a referral link and a reset link moved out of the URL', async () => {
    const friend = client(t.app);
    await signUp(friend);
    const { id } = (await t.db('users').orderBy('id', 'desc').first('referral_id as id'))!;
    const before = await sessionRows();
    const referred = await client(t.app).get(`/${id}`);
    expect(referred.status).to.equal(303);
    expect(sessionCookie(referred)).to.be.a('string');
    const reset = await client(t.app).get('/reset-password?token=abc');
    expect(reset.status).to.equal(303);
    expect(sessionCookie(reset)).to.be.a('string');
    expect(await sessionRows()).to.equal(before + 2);
  });

  it('when a refused post came to an odd path such as //evil.example/login, then the way back is a same-site path, never off-site', async () => {
    for (const path of ['//evil.example/login', '/\\evil.example/login', '//evil.example/%2e%2e']) {
      const res = await rawRequest(t.app as never, `POST ${path} HTTP/1.1\r\nSec-Fetch-Site: cross-site\r\nContent-Length: 0`);
      expect(res.status, path).to.equal(403);
      const href = /class="button" href="([^"]*)"/.exec(res.text)?.[1];
      expect(href, path).to.be.a('string');
      expect(href!.startsWith('/') && !href!.startsWith('//') && !href!.startsWith('/\\'), `${path} → ${href}`).to.equal(true);
    }
  });

  it('when a request path is malformed or odd, then the app answers with its own 4xx page, never a 500', async () => {
    const paths = ['//[', '/%', '/%E0%A4%A', '//evil.example/x', '/..%2f', '/%2e%2e/%2e%2e/etc/passwd', `/${'a'.repeat(10_000)}`, '//[?lang=en', '//evil.example/x?lang=en'];
    for (const path of paths) {
      const res = await rawRequest(t.app as never, `GET ${path} HTTP/1.1`);
      expect(res.status, path.slice(0, 40)).to.be.within(400, 499);
      expect(res.text, path.slice(0, 40)).to.include('<html').and.not.match(/at .*\.ts|TypeError/);
      expect(res.text, path.slice(0, 40)).not.to.match(/href="\/\/|href="\/\\/);
    }
    const odd = await rawRequest(t.app as never, 'GET /login?lang=en&x=% HTTP/1.1');
    expect(odd.status).to.equal(200);
  });

  it('sends no-store on auth forms and account pages, and the CSP without any script source', async () => {
    const agent = client(t.app);
    for (const path of ['/signup', '/login', '/login/code', '/login/code/verify?email=a%40example.ru&code=123456', '/forgot-password']) {
      const res = await agent.get(path).expect(200);
      expect(res.headers['cache-control'], path).to.equal('no-store');
      expect(res.headers['content-security-policy']).to.include("default-src 'none'").and.not.include('script-src');
    }
    await signUp(agent);
    for (const path of ['/account', '/account/password', '/account/email', '/account/delete']) {
      expect((await agent.get(path).expect(200)).headers['cache-control'], path).to.equal('no-store');
    }
  });

  it('records auth events with IP and user agent, and never writes a password or a CSRF token to the logs', async () => {
    const agent = client(t.app, '10.77.0.1');
    const { email, password } = await signUp(agent);
    await submit(client(t.app, '10.77.0.1'), '/login', { email, password: 'Wrong password 42' });
    const user = await t.db('users').whereRaw('lower(email) = ?', [email]).first();
    const events = await t.db('auth_events').where({ user_id: user.id }).orderBy('id').select('event', 'ip');
    expect(events.map((e) => e.event)).to.deep.equal(['signup', 'login_fail']);
    expect(events.every((e) => e.ip === '10.77.0.1')).to.equal(true);
    const all = t.logs.join('');
    expect(all).not.to.include(password).and.not.include('Wrong password 42');
    const page = await agent.get('/account');
    expect(all).not.to.include(csrfFrom(page.text));
    expect(all).not.to.include(email); // emails are not logged
  });

  it('when a body is larger than 32 KB, then it is refused with a 4xx page, not a 500', async () => {
    const agent = client(t.app);
    const res = await agent.post('/signup').type('form').send({ ...signupFields(), wishes: 'x'.repeat(40_000) });
    expect(res.status).to.equal(413);
  });
});

describe('CSRF on every POST route (S14)', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  /** What a forged post could change: every row a form writes, and the queue. */
  async function state() {
    const { db } = w.t;
    const rows = async (table: string) => JSON.stringify(await db(table).select('*').orderBy(1));
    const jobs = await db.raw('select count(*)::int as n from graphile_worker._private_jobs');
    return [await rows('users'), await rows('orders'), await rows('password_resets'), await rows('staff_actions'), await rows('consent_events'),
      await rows('session'), await rows('login_codes'), await rows('delivery_exceptions'), await rows('subscription_events'), await rows('email_confirmations'),
      await rows('mail_action_uses'), jobs.rows[0].n].join('\n');
  }

  it('when any POST form comes cross-site (Sec-Fetch-Site or a foreign Origin), or a logged-in form without its token or with another one, then 403 and nothing changes, for every POST route of src/routes.ts', async () => {
    const customer = client(w.t.app);
    const { email, password, fields } = await signUp(customer);
    const { id: userId } = await w.t.db('users').whereRaw('lower(email) = ?', [email]).first('id');
    const orderId = await insertOrder(w.t.db, { userId, deliveryDate: daysFromToday(5), status: 'placed' });
    expect((await logIn(client(w.t.app), email, password)).status).to.equal(303);
    const otherDevice = /action="\/account\/sessions\/([^/"]+)\/end"/.exec((await customer.get('/account/sessions')).text)![1]!;
    const prefs = { bouquet: 'luxe', address: 'ул. Другая, 1', deliveryDate: daysFromToday(9), interval: 'monthly', wishes: 'Пионы' };
    const confirmToken = 'a-live-confirmation-token-for-the-csrf-test';
    const { auth_version: version } = await w.t.db('users').where({ id: userId }).first('auth_version');
    await createEmailConfirmationModel(w.t.db).replaceForUser(userId, hashToken(confirmToken), email, version, 60);
    // A real one-click link from a reminder mail: skip the customer's first delivery.
    const mailToken = createMailLinks(w.t.config.sessionSecrets).make({ userId, date: fields.deliveryDate!, action: 'skip', expiresAt: new Date(Date.now() + 86_400_000) });
    const cases: [string, Agent, Record<string, string>][] = [
      ['/signup', client(w.t.app), signupFields()], // the forms used before login: the cross-origin check alone
      ['/login', client(w.t.app), { email, password }],
      ['/logout', customer, {}],
      ['/login/code', client(w.t.app), { email }],
      ['/login/code/verify', client(w.t.app), { email, code: '123456' }],
      ['/login/2fa', client(w.t.app), { code: '123456' }],
      ['/forgot-password', client(w.t.app), { email }],
      ['/reset-password', client(w.t.app), { password: 'Sovsem novyi parol 9' }],
      ['/confirm-email', client(w.t.app), { token: confirmToken }],
      ['/account/password', customer, { currentPassword: password, password: 'Sovsem novyi parol 9' }],
      ['/account/email', customer, { currentPassword: password, email: `new-${email}` }],
      ['/account/email/confirmation', customer, {}],
      ['/account/consent', customer, { consentPersonalData: 'yes' }],
      ['/account/privacy', customer, { document: 'marketing', action: 'grant' }],
      ['/account/delete', customer, { currentPassword: password }],
      ['/account/logout-everywhere', customer, {}],
      [`/account/sessions/${otherDevice}/end`, customer, {}],
      ['/account/preferences', customer, prefs],
      ['/account/reminders', customer, {}],
      [`/m/${mailToken}`, client(w.t.app), {}], // a one-click mail action: the token is the credential, the cross-origin check alone
      ['/account/orders', customer, { bouquet: 'romantic', address: fields.address!, deliveryDate: daysFromToday(6), wishes: '', recipientName: 'Анна', recipientPhone: '+7 912 345-67-89', cardMessage: 'С днём рождения!' }],
      [`/account/orders/${orderId}/confirm`, customer, {}],
      [`/account/orders/${orderId}/cancel`, customer, {}],
      [`/account/deliveries/${daysFromToday(7)}/skip`, customer, {}],
      [`/account/deliveries/${daysFromToday(7)}/unskip`, customer, {}],
      [`/account/deliveries/${daysFromToday(7)}/move`, customer, { newDate: daysFromToday(9) }],
      ['/account/pause', customer, { until: daysFromToday(20) }],
      ['/account/resume', customer, {}],
      ['/account/cancel', customer, { reason: 'quality', comment: '' }],
      ['/account/reactivate', customer, { deliveryDate: daysFromToday(10) }],
      [`/staff/customers/${userId}/resync`, w.staff, {}],
      [`/staff/customers/${userId}/history`, w.staff, {}],
      ['/staff/amocrm/fields', w.staff, {}],
      ['/staff/amocrm/resume', w.staff, {}],
      ['/staff/2fa', w.staff, { code: '123456' }],
      ['/staff/amocrm/jobs/1/retry', w.staff, {}],
    ];
    // Every POST route but amoCRM's webhook (no session, a path secret instead) is in the list above.
    const declared = [...readFileSync('src/routes.ts', 'utf8').matchAll(/r\.post\('([^']+)'/g)].map((m) => m[1]!.replace(/:\w+/g, ':x'))
      .filter((path) => !path.startsWith('/webhooks/'));
    expect(cases.map(([path]) => path.replace(/\/\d+\//g, '/:x/').replace(/\/\d{4}-\d{2}-\d{2}\//, '/:x/').replace(otherDevice, ':x').replace(mailToken, ':x')).sort()).to.deep.equal(declared.sort());

    const visitorForms = new Set(['/signup', '/login', '/login/code', '/login/code/verify', '/login/2fa', '/forgot-password', '/reset-password', '/confirm-email', `/m/${mailToken}`]);
    const token = csrfFrom((await customer.get('/account')).text);
    const staffToken = csrfFrom((await w.staff.get('/staff/amocrm')).text);
    const otherAgent = client(w.t.app);
    await signUp(otherAgent);
    const otherToken = csrfFrom((await otherAgent.get('/account')).text);
    const before = await state();
    for (const [path, agent, body] of cases) {
      const own = visitorForms.has(path) ? {} : { _csrf: agent === w.staff ? staffToken : token };
      for (const headers of [{ 'Sec-Fetch-Site': 'cross-site' }, { 'Sec-Fetch-Site': 'same-site' }, { Origin: 'https://evil.example' }]) {
        const res = await agent.post(path).set(headers).type('form').send({ ...body, ...own });
        expect(res.status, `${path} ${JSON.stringify(headers)}`).to.equal(403);
      }
      if (visitorForms.has(path)) continue;
      const none = await agent.post(path).type('form').send(body);
      expect(none.status, `${path} without a token`).to.equal(403);
      const foreign = await agent.post(path).type('form').send({ ...body, _csrf: otherToken });
      expect(foreign.status, `${path} with another session's token`).to.equal(403);
    }
    expect(await state()).to.equal(before);
    const webhook = await client(w.t.app).post(`/webhooks/amocrm/${w.t.config.amocrm.webhookSecret}`).set('Sec-Fetch-Site', 'cross-site').type('form').send({});
    expect(webhook.status, 'the webhook is exempt: its path secret is its credential').not.to.equal(403);
    // RFC 8058's one-click unsubscribe is exempt the same way, for that exact body only: on a skip link it is refused (400).
    const oneClick = await client(w.t.app).post(`/m/${mailToken}`).set('Sec-Fetch-Site', 'cross-site').type('form').send('List-Unsubscribe=One-Click');
    expect(oneClick.status).to.equal(400);
    expect(await state()).to.equal(before);
    await customer.get('/account').expect(200);
  });
});

