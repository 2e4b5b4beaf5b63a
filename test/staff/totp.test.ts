// The second factor of staff accounts: enrolment, the code step of the login that no staff URL can skip, codes
// ±1 step and never twice, single-use recovery codes, wrong codes counted towards the lock, and old sessions ended.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, logIn, signUp, type Agent } from '../helpers/client.js';
import { stepAt, totpCode } from '../../src/services/totp.js';
import { STAFF_PASSWORD, staffAgent, staffWorld, type StaffWorld } from './helpers.js';

// Every staff route of src/routes.ts, with its parameters filled in.
const STAFF_ROUTES = [...readFileSync(new URL('../../src/routes.ts', import.meta.url), 'utf8').matchAll(/r\.(get|post)\('(\/staff[^']*)'/g)]
  .map(([, method, path]) => ({ method: method!, path: path!.replace(/:\w+/g, '1') }));

async function enrol(agent: Agent): Promise<{ secret: string; recovery: string[] }> {
  const page = await agent.get('/staff/2fa').expect(200);
  expect(page.text).to.include('<svg');
  const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(page.text)![1]!.replace(/ /g, '');
  const done = await agent.post('/staff/2fa').type('form')
    .send({ _csrf: csrfFrom(page.text), code: totpCode(secret, stepAt(Date.now())) }).expect(200);
  const recovery = [...done.text.matchAll(/<code>([A-Z2-7]{5}-[A-Z2-7]{5})<\/code>/g)].map((m) => m[1]!);
  return { secret, recovery };
}

async function passwordStep(w: StaffWorld, email: string): Promise<Agent> {
  const agent = client(w.t.app);
  const res = await logIn(agent, email, STAFF_PASSWORD);
  expect(res.status).to.equal(303);
  expect(res.headers.location).to.equal('/login/2fa');
  return agent;
}

describe('staff TOTP', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  it('when staff enrol, then the secret is shown in groups of four, stored sealed, and ten recovery codes come once', async () => {
    const { agent, id } = await staffAgent(w.t);
    const page = await agent.get('/staff/2fa').expect(200);
    expect(page.text).to.match(/id="totp-secret">([A-Z2-7]{4} ){7}[A-Z2-7]{4}</);
    await agent.post('/staff/2fa').type('form').send({ _csrf: csrfFrom(page.text), code: '000000' }).expect(422);
    const { secret, recovery } = await enrol(agent);
    expect(recovery).to.have.length(10);
    const row = await w.t.db('staff_totp').where({ user_id: id }).first();
    expect(row.enabled_at).to.be.instanceOf(Date);
    expect(row.secret_enc).not.to.include(secret);
    expect((await agent.get('/staff/2fa').expect(200)).text).not.to.include(recovery[0]!);
  });

  it('when a session logged in before TOTP was enabled, then it ends', async () => {
    const { agent, email } = await staffAgent(w.t);
    const old = client(w.t.app);
    await logIn(old, email, STAFF_PASSWORD);
    await old.get('/staff').expect(200);
    await enrol(agent);
    await old.get('/staff').expect(303);
    await agent.get('/staff').expect(200);
  });

  it('when the password is right but no code given, then no staff URL opens and nothing is recorded', async () => {
    const { agent: first, email } = await staffAgent(w.t);
    await enrol(first);
    const pendingAgent = await passwordStep(w, email);
    expect(STAFF_ROUTES.length).to.be.greaterThan(10);
    for (const { method, path } of STAFF_ROUTES) {
      const res = method === 'get' ? await pendingAgent.get(path) : await pendingAgent.post(path).type('form').send({});
      expect(res.status, `${method} ${path}`).to.be.oneOf([303, 403]);
      if (res.status === 303) expect(res.headers.location, path).to.match(/^\/login/);
    }
    expect(await w.t.db('staff_actions').count('* as n').first()).to.deep.equal({ n: 0 });
  });

  it('when the code is right, then the login completes; the same code is refused the second time', async () => {
    const { agent: first, email } = await staffAgent(w.t);
    const { secret } = await enrol(first);
    // The enrolment used the current step: the next one is taken once.
    const code = totpCode(secret, stepAt(Date.now()) + 1);
    const a = await passwordStep(w, email);
    const ok = await a.post('/login/2fa').type('form').send({ code }).expect(303);
    expect(ok.headers.location).to.equal('/staff');
    await a.get('/staff').expect(200);
    const b = await passwordStep(w, email);
    await b.post('/login/2fa').type('form').send({ code }).expect(401);
    await b.get('/staff').expect(303);
  });

  it('when a code is one step old it is taken; two steps away it is refused', async () => {
    const { agent: first, email } = await staffAgent(w.t);
    const { secret } = await enrol(first);
    await w.t.db('staff_totp').whereIn('user_id', w.t.db('users').select('id').where({ email })).update({ last_step: null });
    const now = stepAt(Date.now());
    const a = await passwordStep(w, email);
    for (const step of [now - 2, now + 2, now - 3]) await a.post('/login/2fa').type('form').send({ code: totpCode(secret, step) }).expect(401);
    await a.post('/login/2fa').type('form').send({ code: totpCode(secret, now - 1) }).expect(303);
  });

  it('when a recovery code is used, then it works once', async () => {
    const { agent: first, email } = await staffAgent(w.t);
    const { recovery } = await enrol(first);
    const a = await passwordStep(w, email);
    await a.post('/login/2fa').type('form').send({ recoveryCode: recovery[3]!.toLowerCase() }).expect(303);
    await a.get('/staff').expect(200);
    const b = await passwordStep(w, email);
    await b.post('/login/2fa').type('form').send({ recoveryCode: recovery[3] }).expect(401);
    await b.post('/login/2fa').type('form').send({ recoveryCode: recovery[4] }).expect(303);
  });

  it('when wrong codes are tried, then they count towards the lock, and a right password does not clear the count', async () => {
    const { agent: first, email, id } = await staffAgent(w.t);
    await enrol(first);
    let a = await passwordStep(w, email);
    for (let i = 0; i < 5; i++) await a.post('/login/2fa').type('form').send({ code: '000000' }).expect(401);
    a = await passwordStep(w, email);
    for (let i = 0; i < 4; i++) await a.post('/login/2fa').type('form').send({ code: '000001' }).expect(401);
    const last = await a.post('/login/2fa').type('form').send({ code: '000002' }).expect(401);
    expect(last.text).to.include('заблокирован');
    const row = await w.t.db('users').where({ id }).first('locked_until');
    expect(row.locked_until.getTime()).to.be.greaterThan(Date.now());
    const b = client(w.t.app);
    const refused = await logIn(b, email, STAFF_PASSWORD);
    expect(refused.status).to.equal(401);
  });
});

describe('staff TOTP required (production, or STAFF_2FA=required)', function () {
  this.timeout(60_000);
  let t: TestApp;
  before(() => { t = createTestApp({ env: { STAFF_2FA: 'required' } }); });
  after(() => t.close());

  it('when a staff account without TOTP opens any staff page or posts any staff form, then it is sent to enrol first', async () => {
    const { agent } = await staffAgent(t);
    const csrf = csrfFrom((await agent.get('/staff/2fa').expect(200)).text);
    for (const { method, path } of STAFF_ROUTES.filter((r) => r.path !== '/staff/2fa')) {
      const res = method === 'get' ? await agent.get(path) : await agent.post(path).type('form').send({ _csrf: csrf });
      expect(res.status, `${method} ${path}`).to.equal(303);
      expect(res.headers.location, path).to.equal('/staff/2fa');
    }
    await enrol(agent);
    await agent.get('/staff').expect(200);
  });

  it('a customer is not asked to enrol', async () => {
    const customer = client(t.app);
    await signUp(customer);
    await customer.get('/account').expect(200);
    await customer.get('/staff').expect(403);
  });
});
