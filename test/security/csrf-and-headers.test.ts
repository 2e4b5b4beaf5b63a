import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, GOOD_PASSWORD, signUp, signupFields, submit, type Agent } from '../helpers/client.js';
import { insertOrder, staffWorld, type StaffWorld } from '../staff/helpers.js';


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

  it('when a form is posted without a token, with a wrong one, or with the token only in the query string, then 403 with a friendly page and nothing changes', async () => {
    const before = await count();
    const agent = client(t.app);
    const page = await agent.get('/signup');
    const token = csrfFrom(page.text);
    const fields = signupFields();
    const none = await agent.post('/signup').type('form').send(fields);
    expect(none.status).to.equal(403);
    expect(none.text).to.include('Форма устарела').and.include('href="/signup"');
    expect(none.text).not.to.match(/Error|at .*\.ts/);
    expect((await agent.post('/signup').type('form').send({ ...fields, _csrf: `${token.slice(0, -2)}00` })).status).to.equal(403);
    expect((await agent.post(`/signup?_csrf=${token}`).type('form').send(fields)).status).to.equal(403);
    expect((await client(t.app).post('/signup').type('form').send({ ...fields, _csrf: token })).status).to.equal(403); // another session's token
    expect(await count()).to.equal(before);
    const ok = await agent.post('/signup').type('form').send({ ...fields, _csrf: token });
    expect(ok.status).to.equal(303);
  });

  it('when the browser says the post comes from another site, or the Origin is foreign, then 403 even with a valid token', async () => {
    const before = await count();
    const agent = client(t.app);
    const page = await agent.get('/signup');
    const send = (headers: Record<string, string>) => agent.post('/signup').set(headers).type('form').send({ ...signupFields(), _csrf: csrfFrom(page.text) });
    expect((await send({ 'Sec-Fetch-Site': 'cross-site' })).status).to.equal(403);
    expect((await send({ 'Sec-Fetch-Site': 'same-site' })).status).to.equal(403);
    expect((await send({ Origin: 'https://evil.example' })).status).to.equal(403);
    expect(await count()).to.equal(before);
    expect((await send({ 'Sec-Fetch-Site': 'same-origin', Origin: t.config.appOrigin })).status).to.equal(303);
  });

  it('when logging in, the login and logout forms also need the token', async () => {
    const agent = client(t.app);
    const res = await agent.post('/login').type('form').send({ email: 'a@example.ru', password: GOOD_PASSWORD });
    expect(res.status).to.equal(403);
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
    for (const path of ['/signup', '/login', '/forgot-password']) {
      const res = await agent.get(path).expect(200);
      expect(res.headers['cache-control'], path).to.equal('no-store');
      expect(res.headers['content-security-policy']).to.include("default-src 'none'").and.not.include('script-src');
    }
    await signUp(agent);
    for (const path of ['/account', '/account/password', '/account/email']) {
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
    const page = await agent.get('/signup');
    const res = await agent.post('/signup').type('form').send({ ...signupFields(), _csrf: csrfFrom(page.text), wishes: 'x'.repeat(40_000) });
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
    return [await rows('users'), await rows('orders'), await rows('password_resets'), await rows('staff_actions'),
      await rows('session'), jobs.rows[0].n].join('\n');
  }

  it('when any POST form is sent without the token or with another one, then 403 and nothing changes, for every POST route of src/routes.ts', async () => {
    const customer = client(w.t.app);
    const { email, password, fields } = await signUp(customer);
    const { id: userId } = await w.t.db('users').whereRaw('lower(email) = ?', [email]).first('id');
    const orderId = await insertOrder(w.t.db, { userId, deliveryDate: daysFromToday(5), status: 'placed' });
    const prefs = { bouquet: 'luxe', address: 'ул. Другая, 1', deliveryDate: daysFromToday(9), interval: 'monthly', wishes: 'Пионы' };
    const cases: [string, Agent, Record<string, string>][] = [
      ['/signup', client(w.t.app), signupFields()],
      ['/login', client(w.t.app), { email, password }],
      ['/logout', customer, {}],
      ['/forgot-password', client(w.t.app), { email }],
      ['/reset-password', client(w.t.app), { password: 'Sovsem novyi parol 9' }],
      ['/account/password', customer, { currentPassword: password, password: 'Sovsem novyi parol 9' }],
      ['/account/email', customer, { currentPassword: password, email: `new-${email}` }],
      ['/account/logout-everywhere', customer, {}],
      ['/account/preferences', customer, prefs],
      ['/account/orders', customer, { bouquet: 'romantic', address: fields.address!, deliveryDate: daysFromToday(6), wishes: '' }],
      [`/account/orders/${orderId}/confirm`, customer, {}],
      [`/account/orders/${orderId}/cancel`, customer, {}],
      [`/staff/customers/${userId}/resync`, w.staff, {}],
      ['/staff/amocrm/fields', w.staff, {}],
      ['/staff/amocrm/resume', w.staff, {}],
      ['/staff/amocrm/jobs/1/retry', w.staff, {}],
      [`/staff/amocrm/customers/${userId}/resync`, w.staff, {}],
    ];
    // Every POST route but amoCRM's webhook (no session, a path secret instead) is in the list above.
    const declared = [...readFileSync('src/routes.ts', 'utf8').matchAll(/r\.post\('([^']+)'/g)].map((m) => m[1]!.replace(/:\w+/g, ':x'))
      .filter((path) => !path.startsWith('/webhooks/'));
    expect(cases.map(([path]) => path.replace(/\/\d+\//g, '/:x/')).sort()).to.deep.equal(declared.sort());

    const otherToken = csrfFrom((await client(w.t.app).get('/login')).text);
    const before = await state();
    for (const [path, agent, body] of cases) {
      const none = await agent.post(path).type('form').send(body);
      expect(none.status, `${path} without a token`).to.equal(403);
      const foreign = await agent.post(path).type('form').send({ ...body, _csrf: otherToken });
      expect(foreign.status, `${path} with another session's token`).to.equal(403);
    }
    expect(await state()).to.equal(before);
    await customer.get('/account').expect(200);
  });
});

