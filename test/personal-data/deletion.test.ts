// Personal data (152-FZ), part three: deleting the account. Every session ends, the personal data is erased in
// every table of the database (a scan of every text column proves it) and in amoCRM (the simulator's contact and
// leads, with exactly one note, also after a lost answer), a confirmation reaches the address, and the address
// can sign up again as a new customer.
import { randomInt } from 'node:crypto';
import { expect } from 'chai';
import type { AmoSimulator } from '../../src/crm/simulator/simulator.js';
import { ERASED_NOTE } from '../../src/services/crm-erase-service.js';
import type { TestApp } from '../helpers/app.js';
import { crmWorld } from '../helpers/amocrm.js';
import { client, csrfFrom, daysFromToday, logIn, signUp, submit, type Agent } from '../helpers/client.js';
import { waitForMail } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { staffAgent } from '../staff/helpers.js';

type Entity = { id: number; name: string; first_name?: string; last_name?: string; custom_fields_values: { field_code?: string | null; values: { value: unknown }[] }[] | null };

/** Every text, varchar, char, json, jsonb and array column of every table outside the system schemas. */
async function textColumns(t: TestApp): Promise<{ table_schema: string; table_name: string; column_name: string }[]> {
  return (await t.db.raw(`
    select c.table_schema, c.table_name, c.column_name from information_schema.columns c
      join information_schema.tables tb on tb.table_schema = c.table_schema and tb.table_name = c.table_name and tb.table_type = 'BASE TABLE'
     where c.table_schema not in ('pg_catalog', 'information_schema')
       and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY')
     order by 1, 2, 3`)).rows;
}

/** Where (schema.table.column) any of the needles occurs, case-insensitively. */
async function scan(t: TestApp, needles: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const { table_schema: s, table_name: tbl, column_name: col } of await textColumns(t)) {
    for (const needle of needles) {
      const { rows } = await t.db.raw(`select count(*)::int as n from ??.?? where strpos(lower(??::text), lower(?)) > 0`, [s, tbl, col, needle]);
      if (rows[0].n > 0) found.push(`${s}.${tbl}.${col} ∋ ${needle}`);
    }
  }
  return found;
}

const pendingJobs = async (t: TestApp) => Number((await t.db.raw('select count(*)::int as n from graphile_worker._private_jobs')).rows[0].n);

describe('personal data: deleting the account (152-FZ)', function () {
  this.timeout(120_000);
  let w: Awaited<ReturnType<typeof crmWorld>>;
  before(async () => { w = await crmWorld(); });
  after(() => w.close());

  const userRow = (email: string) => w.t.db('users').whereRaw('lower(email) = lower(?)', [email]).first();
  const leads = (sim: AmoSimulator) => sim.controls.leads() as unknown as Entity[];
  const contacts = (sim: AmoSimulator) => sim.controls.contacts() as unknown as Entity[];
  const notesOf = (sim: AmoSimulator, leadId: number) => (sim.controls.notes() as unknown as { entity_id: number; params: { text?: string } }[]).filter((n) => n.entity_id === leadId);

  async function inCrm(email: string) {
    return waitFor(async () => { const u = await userRow(email); return u?.amo_lead_id && u.amo_contact_id ? u : null; }, 15_000, 'the customer reached amoCRM');
  }

  async function deleteAccount(agent: Agent, password: string) {
    const page = await agent.get('/account/delete').expect(200);
    return agent.post('/account/delete').type('form').send({ _csrf: csrfFrom(page.text), currentPassword: password });
  }

  it('GET explains what happens and asks for the current password; it is linked from the privacy page, which says withdrawing the consent is deleting', async () => {
    const agent = client(w.t.app);
    await signUp(agent);
    const privacy = (await agent.get('/account/privacy').expect(200)).text;
    expect(privacy).to.include('href="/account/delete"').and.include('отозвать его — значит удалить аккаунт');
    const page = await agent.get('/account/delete').expect(200);
    expect(page.headers['cache-control']).to.equal('no-store');
    expect(page.text).to.include('name="currentPassword"').and.include('name="_csrf"').and.include('Удалить аккаунт навсегда')
      .and.include('amoCRM').and.include('обезличенные записи для бухгалтерии').and.include('письмо с подтверждением');
    expect((await client(w.t.app).get('/account/delete').expect(303)).headers.location).to.match(/^\/login/);
  });

  it('a wrong password gives 422 with the message beside the field and changes nothing; the session lives on', async () => {
    const agent = client(w.t.app);
    const { email } = await signUp(agent);
    const before = await userRow(email);
    const res = await deleteAccount(agent, 'not my password at all');
    expect(res.status).to.equal(422);
    expect(res.text).to.match(/<p class="error" id="currentPassword-error">Неверный текущий пароль\.<\/p>/);
    expect(res.text).to.include('aria-describedby="currentPassword-hint currentPassword-error"');
    const after = await userRow(email);
    expect(after).to.deep.include({ email: before.email, address: before.address, deleted_at: null, password_hash: before.password_hash, auth_version: before.auth_version });
    await agent.get('/account').expect(200);
    // a forged form: 422 as well, nothing changes
    expect((await submit(agent, '/account/delete', { currentPassword: '' })).status).to.equal(422);
    expect((await submit(agent, '/account/delete', { currentPassword: 'x', extra: '1' })).status).to.equal(422);
    expect((await userRow(email)).deleted_at).to.equal(null);
  });

  it('erases everything personal in every table and in amoCRM: a scan of every text column finds nothing; one note; mail received; every session ended; staff see «удалён»', async () => {
    const suffix = randomInt(100_000, 999_999);
    const street = `ул. Стираемая-${suffix}, 7, кв. 3`;
    const name = `Аглая Перепёлкина${suffix}`;
    const phone = `+7916${suffix}0`;
    const ip = `198.51.${randomInt(1, 250)}.${randomInt(1, 250)}`;
    const agent = client(w.t.app, ip);
    const { email, password } = await signUp(agent, { address: street, wishes: `Позвонить ${name} по ${phone}`, consentMarketing: 'yes' });
    await agent.get('/account').expect(200); // a session seen from the IP
    const user = await inCrm(email);
    const id = Number(user.id);

    // An order confirmed and mirrored as its own lead (the address and email in amoCRM), the subscription's history,
    // a cancellation comment, a sign-in from a second device and a password-reset link.
    const orderPage = await agent.get('/account/orders/new').expect(200);
    await agent.post('/account/orders').type('form').send({ _csrf: csrfFrom(orderPage.text), bouquet: 'romantic', address: street, deliveryDate: daysFromToday(9), wishes: `Открытка для ${name}`, recipientName: name, recipientPhone: phone, cardMessage: `С любовью, ${name}` }).expect(303);
    const order = await w.t.db('orders').where({ user_id: id }).first();
    await submit(agent, `/account/orders/${order.id}`, { }, `/account/orders/${order.id}/confirm`).then((r) => expect(r.status).to.equal(303));
    await waitFor(async () => (await w.t.db('orders').where({ id: order.id }).first()).amo_lead_id, 15_000, 'the order reached amoCRM');
    await w.t.db('subscription_events').insert({ user_id: id, kind: 'gift_order', details: JSON.stringify({ recipientName: name, recipientPhone: phone }), source: 'account' });
    await w.t.db('delivery_exceptions').insert({ user_id: id, scheduled_date: daysFromToday(14), kind: 'skip', source: 'account' });
    const second = client(w.t.app, ip);
    await logIn(second, email, password).then((r) => expect(r.status).to.equal(303));
    await submit(client(w.t.app, ip), '/forgot-password', { email });
    await waitFor(async () => (await w.t.db('password_resets').where({ user_id: id })).length > 0, 10_000, 'reset link made');
    const leadIds = [Number(user.amo_lead_id), Number((await w.t.db('orders').where({ id: order.id }).first()).amo_lead_id)];
    await w.t.db('amocrm_webhooks').insert({ request_id: `hook-${suffix}`, raw: `leads[update][0][id]=${leadIds[0]}&leads[update][0][name]=${encodeURIComponent(email)}&address=${encodeURIComponent(street)}`, lead_ids: [leadIds[0]], processed_at: w.t.db.fn.now() });
    // A manager's note naming the customer, read into the history on the staff customer page.
    w.simulator.controls.staffAddNote(leadIds[0]!, { note_type: 'common', params: { text: `Звонила ${name}, ${phone}` } });
    const { agent: staff } = await staffAgent(w.t);
    await staff.get(`/staff/customers/${id}`).expect(200);
    await waitFor(async () => w.t.db('amocrm_lead_history').where({ user_id: id }).first(), 15_000, 'the lead history was read');
    await waitFor(async () => (await pendingJobs(w.t)) === 0, 15_000, 'the queue settled');
    // before: each needle is somewhere, or the scan would prove nothing
    const needles = [email, street, name, phone, ip];
    const everywhere = await scan(w.t, needles);
    for (const needle of needles) expect(everywhere.some((f) => f.endsWith(`∋ ${needle}`)), needle).to.equal(true);
    const logsBefore = w.t.logs.length;
    const deliveriesOn = async (date: string) => (await staff.get(`/staff/deliveries?date=${date}`).expect(200)).text;
    expect(await deliveriesOn(daysFromToday(7))).to.include(street); // the subscription
    expect(await deliveriesOn(daysFromToday(9))).to.include(street); // the order

    // the account's history: the lead's first stage and the confirmation mail
    const timelineRows = async () => [
      (await w.t.db('lead_stage_changes').where({ user_id: id })).length, (await w.t.db('sent_mails').where({ user_id: id })).length,
    ];
    expect((await timelineRows()).every((n) => n > 0), 'history rows before').to.equal(true);

    const res = await deleteAccount(agent, password);
    expect(res.status).to.equal(303);
    expect(res.headers.location).to.equal('/goodbye');
    expect(res.headers['set-cookie']?.[0]).to.match(/^sid=;/);
    const goodbye = await agent.get('/goodbye').expect(200);
    expect(goodbye.text).to.include('Аккаунт удалён');
    // every session ended at once: the second device is logged out too
    expect((await second.get('/account').expect(303)).headers.location).to.match(/^\/login/);
    expect((await agent.get('/account').expect(303)).headers.location).to.match(/^\/login/);

    // the confirmation reaches the address, then the jobs are done and gone
    const mail = await waitForMail(email, { subject: /Аккаунт удалён/ });
    expect(mail.text).to.include('удалён по вашему запросу').and.include('обезличенные записи');
    await waitFor(async () => (await pendingJobs(w.t)) === 0, 20_000, 'the erase and mail jobs ran');
    expect(await timelineRows()).to.deep.equal([0, 0]);

    const row = await w.t.db('users').where({ id }).first();
    expect(row.email).to.equal(`deleted-${id}@invalid`);
    expect(row.deleted_at).to.be.an.instanceOf(Date);
    expect(row).to.include({ address: null, bouquet: null, interval: null, wishes: '', last_login_ip: null, amo_lead_id: null, amo_snapshot: null, referred_by: null });
    expect(row.password_hash).not.to.match(/^\$2/);
    expect(await w.t.db('consent_events').where({ user_id: id }).orderBy('id').select('document', 'action', 'ip', 'user_agent')).to.deep.equal([
      { document: 'personal-data', action: 'grant', ip: null, user_agent: null }, { document: 'marketing', action: 'grant', ip: null, user_agent: null },
    ]);
    expect((await w.t.db('consent_events').where({ user_id: id }).first('version', 'text_sha256', 'at'))).to.include({ version: '1' });
    expect(await w.t.db('amocrm_lead_history').where({ user_id: id }).first()).to.equal(undefined);
    const keptOrder = await w.t.db('orders').where({ id: order.id }).first();
    expect(keptOrder).to.include({ address: '', wishes: '', status: 'cancelled', price_kopecks: order.price_kopecks, bouquet: 'romantic' });

    // The scan: nothing personal anywhere, graphile-worker's tables included. Only the rate-limit windows keep an IP
    // as their key, with no link to the person, and they end within the hour.
    const left = await scan(w.t, needles);
    expect(left.filter((f) => !f.startsWith('public.rate_limits.key ∋ '))).to.deep.equal([]);
    const windows = await w.t.db('rate_limits').where('key', 'like', `%${ip}%`).select('reset_at');
    for (const window of windows) expect(new Date(window.reset_at).getTime()).to.be.at.most(Date.now() + 3600_000);
    // the request log of the deletion holds no email
    expect(w.t.logs.slice(logsBefore).join('')).not.to.include(email);

    // amoCRM: the contact and both leads hold nothing personal; the customer's lead has exactly one note
    const amoText = JSON.stringify([leads(w.simulator).filter((l) => leadIds.includes(l.id)), contacts(w.simulator).find((c) => c.id === Number(user.amo_contact_id))]);
    for (const needle of [email, street, name, phone, user.referral_id]) expect(amoText, needle).not.to.include(needle);
    const contact = contacts(w.simulator).find((c) => c.id === Number(user.amo_contact_id))!;
    expect(contact.custom_fields_values).to.equal(null);
    expect(contact.name).to.equal('Клиент удалён');
    expect(notesOf(w.simulator, leadIds[0]!).filter((n) => n.params.text === ERASED_NOTE)).to.have.length(1);
    const clears = w.simulator.controls.requests().filter((r) => r.method === 'PATCH' && JSON.stringify(r.body).includes('"values":null'));
    expect(clears.length).to.be.greaterThanOrEqual(3); // two leads and the contact, each cleared by field_id
    for (const r of clears) expect(JSON.stringify(r.body)).not.to.match(/"field_name"/);

    // staff see «удалён» with the date, and nothing else; the deliveries of the days have no trace of the customer
    expect(await deliveriesOn(daysFromToday(7))).not.to.include(street).and.not.include(`deleted-${id}`);
    expect(await deliveriesOn(daysFromToday(9))).not.to.include(`deleted-${id}`).and.not.include(`/staff/customers/${id}"`);
    const profile = (await staff.get(`/staff/customers/${id}`).expect(200)).text;
    expect(profile).to.match(/удалён \d{1,2} [а-я]+ \d{4}/);
    expect(profile).not.to.include('Предпочтения').and.not.include('Последний вход').and.not.include('Заказы').and.not.include('deleted-');
    const list = (await staff.get(`/staff/customers?q=${id}`).expect(200)).text;
    expect(list).to.match(new RegExp(`№${id}</a> · удалён`));
    expect(list).not.to.include(`deleted-${id}@invalid`);
    await submit(staff, `/staff/customers/${id}`, {}, `/staff/customers/${id}/resync`).then((r) => expect(r.status).to.equal(404));
    // a staff account is not closed here
    expect((await staff.get('/account/delete').expect(303)).headers.location).to.equal('/staff');
    expect((await submit(staff, '/staff', { currentPassword: 'Menedzher magazina 2026' }, '/account/delete')).headers.location).to.equal('/staff');

    // the old address is an unknown email now; signing up with it again makes a fresh account
    const stranger = client(w.t.app);
    const failed = await logIn(stranger, email, password);
    expect(failed.status).to.equal(401);
    expect(failed.text).to.include('Неверный email или пароль');
    const again = client(w.t.app);
    await signUp(again, { email, password });
    const fresh = await userRow(email);
    expect(Number(fresh.id)).not.to.equal(id);
    expect(fresh.deleted_at).to.equal(null);
    await again.get('/account').expect(200);
  });

  it('a sync queued before the deletion sends nothing afterwards, and an erase whose note lost its answer adds the note once', async () => {
    const agent = client(w.t.app);
    const { email, password } = await signUp(agent, { address: 'ул. Повторная, 5' });
    const user = await inCrm(email);
    const leadId = Number(user.amo_lead_id);
    // the answer to the note is lost on the way back: the job is retried, finds the note and adds no second one
    w.simulator.controls.loseAnswer({ method: 'POST', path: new RegExp(`^/api/v4/leads/${leadId}/notes$`) });
    const requestsBefore = w.simulator.controls.requests().length;
    // a sync job waiting for the customer (a change just before the deletion)
    await w.t.db.transaction((trx) => trx.raw(`select graphile_worker.add_job('amocrm:sync-customer', json_build_object('userId', ?::bigint), queue_name => 'amocrm', run_at => now() + interval '1 second', job_key => 'amocrm:customer:' || ?::text)`, [user.id, user.id]));
    expect((await deleteAccount(agent, password)).status).to.equal(303);
    await waitFor(async () => (await pendingJobs(w.t)) === 0, 30_000, 'the erase job finished after its retry');
    const attempts = w.simulator.controls.requests().slice(requestsBefore).filter((r) => r.method === 'POST' && r.path === `/api/v4/leads/${leadId}/notes`);
    expect(attempts).to.have.length(1);
    expect(notesOf(w.simulator, leadId).filter((n) => n.params.text === ERASED_NOTE)).to.have.length(1);
    const retried = await w.t.db('amocrm_sync_log').where({ user_id: user.id, task: 'amocrm:erase-customer' }).orderBy('id').select('outcome');
    expect(retried.map((r) => r.outcome)).to.deep.equal(['retry', 'ok']);
    // no lead was made again, nothing personal went out after the deletion
    const after = w.simulator.controls.requests().slice(requestsBefore);
    expect(after.filter((r) => r.path === '/api/v4/leads/complex')).to.have.length(0);
    expect(JSON.stringify(after.map((r) => r.body))).not.to.include(email).and.not.include('Повторная');
    expect(JSON.stringify(leads(w.simulator).find((l) => l.id === leadId))).not.to.include(email).and.not.include('Повторная');
  });

  it('a customer who never reached amoCRM gets no amoCRM job, the sync queued at sign-up sends nothing, and a confirmation that cannot be sent leaves the queue after its last attempt', async () => {
    const other = await crmWorld({ worker: false, env: { SMTP_URL: 'smtp://127.0.0.1:1' } });
    try {
      const agent = client(other.t.app);
      const { email, password } = await signUp(agent);
      expect((await deleteAccount(agent, password)).status).to.equal(303);
      const jobs = async () => (await other.t.db.raw(`select t.identifier, j.max_attempts from graphile_worker._private_jobs j
        join graphile_worker._private_tasks t on t.id = j.task_id order by j.id`)).rows as { identifier: string; max_attempts: number }[];
      expect((await jobs()).map((j) => j.identifier)).to.deep.equal(['amocrm:sync-customer', 'account:deleted-mail']);
      expect((await jobs()).find((j) => j.identifier === 'account:deleted-mail')!.max_attempts).to.equal(8);
      // the mail server refuses every attempt; this is the last one
      await other.t.db.raw('update graphile_worker._private_jobs set max_attempts = 1');
      await other.t.startWorker();
      await waitFor(async () => (await jobs()).length === 0, 20_000, 'the queue emptied');
      expect(other.simulator.controls.leads()).to.have.length(0);
      expect(other.simulator.controls.contacts()).to.have.length(0);
      expect(await scan(other.t, [email])).to.deep.equal([]);
      expect(other.t.logs.join('')).to.include('the deletion confirmation could not be sent').and.not.include(email);
    } finally {
      await other.close();
    }
  });
});
