// S22 for the staff area: visitors go to log in, customers get 403 and change nothing, staff get in; every
// staff action is recorded with who, when and from where.
import { expect } from 'chai';
import { client, csrfFrom, signUp } from '../helpers/client.js';
import { pageProblems } from '../helpers/pages.js';
import { insertCustomers, staffWorld, type StaffWorld } from './helpers.js';

const PAGES = ['/staff', '/staff/deliveries', '/staff/deliveries?date=2030-01-01', '/staff/deliveries.csv', '/staff/customers',
  '/staff/customers?q=test', '/staff/customers/1', '/staff/amocrm'];

describe('staff area access and audit', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  it('when a visitor opens any staff page, then they are sent to log in and come back after', async () => {
    for (const path of PAGES) {
      const res = await client(w.t.app).get(path).expect(303);
      expect(res.headers.location, path).to.equal(`/login?next=${encodeURIComponent(path)}`);
    }
  });

  it('when a customer opens a staff page or posts a staff action, then 403 and nothing is queued or recorded', async () => {
    const customer = client(w.t.app);
    await signUp(customer);
    const [target] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
    for (const path of [...PAGES, `/staff/customers/${target}`]) {
      const res = await customer.get(path);
      expect(res.status, path).to.equal(403);
      expect(res.text).not.to.include('s-runs').and.not.to.include(String(target) + '/resync');
    }
    const csrf = csrfFrom((await customer.get('/account')).text);
    for (const path of [`/staff/customers/${target}/resync`, '/staff/amocrm/resume']) {
      await customer.post(path).type('form').send({ _csrf: csrf }).expect(403);
    }
    expect(await w.t.db('staff_actions').count('* as n').first()).to.deep.equal({ n: 0 });
    const { rows } = await w.t.db.raw("select count(*)::int as n from graphile_worker._private_jobs where key = ?", [`amocrm:customer:${target}`]);
    expect(rows[0].n).to.equal(0);
  });

  it('when staff signs in, then the overview is their landing page', async () => {
    const page = await w.staff.get('/staff').expect(200);
    expect(page.text).to.include('<h1>Обзор</h1>');
    expect(page.headers['cache-control']).to.equal('no-store');
  });

  it('when staff re-syncs a customer, then a job is queued and the action is recorded with who, when and from where', async () => {
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'monthly' }]);
    const page = await w.staff.get(`/staff/customers/${id}`).expect(200);
    const started = Date.now();
    const res = await w.staff.post(`/staff/customers/${id}/resync`).type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
    expect(res.headers.location).to.equal(`/staff/customers/${id}`);
    const action = await w.t.db('staff_actions').where({ action: 'customer.resync', customer_id: id }).first();
    expect(action).to.include({ staff_id: w.staffId, staff_email: w.staffEmail, outcome: 'queued' });
    expect(action.ip).to.match(/^10\./);
    expect(Math.abs(new Date(action.at).getTime() - started)).to.be.below(10_000);
    const { rows } = await w.t.db.raw('select count(*)::int as n from graphile_worker._private_jobs where key = ?', [`amocrm:customer:${id}`]);
    expect(rows[0].n).to.equal(1);
    const after = await w.staff.get(`/staff/customers/${id}`).expect(200);
    expect(after.text).to.include('Клиент поставлен в очередь на отправку в amoCRM.');
    expect(after.text).to.include(w.staffEmail).and.include('повторная отправка клиента');
  });

  it('when staff uses the amoCRM page (connect, fields, resume, retry, re-send), then each action is recorded too', async () => {
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
    const csrf = csrfFrom((await w.staff.get('/staff/amocrm').expect(200)).text);
    await w.staff.get('/staff/amocrm/connect').expect(303);
    await w.staff.post('/staff/amocrm/fields').type('form').send({ _csrf: csrf }).expect(303);
    await w.staff.post('/staff/amocrm/resume').type('form').send({ _csrf: csrf }).expect(303);
    await w.staff.post('/staff/amocrm/jobs/999999/retry').type('form').send({ _csrf: csrf }).expect(303);
    await w.staff.post(`/staff/customers/${id}/resync`).type('form').send({ _csrf: csrf, return: '/staff/amocrm' }).expect(303);
    const recorded = (await w.t.db('staff_actions').where({ staff_id: w.staffId }).orderBy('id').select('action', 'customer_id', 'subject', 'outcome')).slice(-5);
    expect(recorded).to.deep.equal([
      { action: 'amocrm.connect', customer_id: null, subject: null, outcome: 'consent_page' },
      { action: 'amocrm.fields', customer_id: null, subject: null, outcome: 'ready' },
      { action: 'amocrm.resume', customer_id: null, subject: null, outcome: 'resumed' },
      { action: 'amocrm.job_retry', customer_id: null, subject: '999999', outcome: 'gone' },
      { action: 'customer.resync', customer_id: id, subject: String(id), outcome: 'queued' },
    ]);
    const overview = await w.staff.get('/staff').expect(200);
    expect(overview.text).to.include('отправка возобновлена').and.include(`href="/staff/customers/${id}"`);
    expect(await pageProblems((await w.staff.get('/staff/amocrm').expect(200)).text, { budget: 10 * 1024 })).to.deep.equal([]);
  });
});
