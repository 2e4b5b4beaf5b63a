import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, GOOD_PASSWORD, signUp, signupFields, submit } from '../helpers/client.js';

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
