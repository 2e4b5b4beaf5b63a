// The subscription in amoCRM: the status and marketing-consent fields (created by `amocrm:fields`), the next real
// delivery on the lead, one note per subscription change (exactly once, also after a lost answer), and the
// cancellation stage. The real worker, a database of its own, the simulator over HTTP.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { findProjectRoot } from '../../src/config.js';
import { dateToUnix } from '../../src/crm/field-map.js';
import type { AmoSimulator } from '../../src/crm/simulator/simulator.js';
import { createSubscriptionEventModel, type NewSubscriptionEvent } from '../../src/models/subscription-event-model.js';
import { crmWorld } from '../helpers/amocrm.js';
import { TEST_ENV } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, signUp, submit } from '../helpers/client.js';
import { waitFor } from '../helpers/wait.js';

type Lead = { id: number; status_id: number; pipeline_id: number; custom_fields_values: { field_name: string; values: { value: unknown }[] }[] | null };
type Note = { id: number; entity_id: number; note_type: string; params: { text: string } };

const CANCEL_STAGE = 'Закрыто и не реализовано';
const LOST_STATUS_ID = 143;

describe('amoCRM: the subscription on the lead', function () {
  this.timeout(120_000);

  let w: Awaited<ReturnType<typeof crmWorld>>;
  let services: ReturnType<typeof createServices>;

  /** `npm run cli -- <args>` against this world's database and simulator (not spawnSync: the simulator lives in this process). */
  function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const root = findProjectRoot();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli.ts'), ...args], {
      cwd: root, env: { ...process.env, ...TEST_ENV, DATABASE_URL: w.database.url, AMOCRM_BASE_URL: w.url, AMOCRM_LONG_LIVED_TOKEN: token, LOG_LEVEL: 'warn', AMOCRM_CANCEL_STAGE: CANCEL_STAGE, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += String(d); });
    child.stderr.on('data', (d) => { stderr += String(d); });
    return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
  }
  let token: string;

  const leadOf = (sim: AmoSimulator, id: number) => (sim.controls.leads() as unknown as Lead[]).find((l) => l.id === id)!;
  const field = (lead: Lead, name: string) => lead.custom_fields_values?.find((cf) => cf.field_name === name)?.values[0]?.value;
  const notesOf = (leadId: number) => (w.simulator.controls.notes() as unknown as Note[]).filter((n) => n.entity_id === leadId).map((n) => n.params.text);

  async function customer(overrides: Record<string, string> = {}) {
    const agent = client(w.t.app);
    const { email } = await signUp(agent, overrides);
    const user = await waitFor(async () => {
      const u = await w.t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first();
      return u?.amo_lead_id ? u : null;
    }, 15_000, 'lead');
    await waitFor(() => w.t.db('amocrm_sync_log').where({ user_id: user.id, outcome: 'ok' }).first(), 15_000, 'sync finished'); // the lead's first stage read back too
    return { agent, email, userId: Number(user.id), leadId: Number(user.amo_lead_id) };
  }

  /** A change of the subscription as the pages record it: the change, its history row, the sync job — one transaction. */
  async function change(userId: number, event: Omit<NewSubscriptionEvent, 'userId'>, apply: (trx: typeof w.t.db) => Promise<unknown> = async () => undefined) {
    await w.t.db.transaction(async (trx) => {
      await apply(trx as unknown as typeof w.t.db);
      await createSubscriptionEventModel(trx).record({ userId, ...event });
      await services.crmQueue.queueCustomerSync(trx, userId);
    });
  }

  const noteIdsSet = async (userId: number) =>
    Number((await w.t.db('subscription_events').where({ user_id: userId }).whereNull('amo_note_id').count('* as n').first())!.n) === 0;

  before(async () => {
    w = await crmWorld({ env: { AMOCRM_CANCEL_STAGE: CANCEL_STAGE } });
    token = (w.t.config.amocrm.longLivedToken)!;
    services = createServices({ config: w.t.config, db: w.t.db, logger: pino({ level: 'silent' }) });
  });
  after(() => w.close());

  it('amocrm:fields creates «Статус подписки» (text) and «Согласие на рассылку» (checkbox) and accepts a stage that exists; an unknown stage name is a clear error', async () => {
    const before = (w.simulator.controls.customFields() as unknown as { name: string }[]).map((f) => f.name);
    expect(before).not.to.include('Статус подписки');
    const run = await cli(['amocrm:fields']);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.include('created: subscriptionStatus, marketingConsent; missing: none');
    const fields = w.simulator.controls.customFields() as unknown as { name: string; type: string }[];
    expect(fields.find((f) => f.name === 'Статус подписки')!.type).to.equal('text');
    expect(fields.find((f) => f.name === 'Согласие на рассылку')!.type).to.equal('checkbox');

    const again = await cli(['amocrm:fields'], { AMOCRM_CANCEL_STAGE: 'Отказ от подписки' });
    expect(again.status).to.equal(1);
    expect(again.stdout).to.include('created: none; missing: none');
    expect(again.stderr).to.include('AMOCRM_CANCEL_STAGE: no stage named «Отказ от подписки» in the amoCRM pipelines');
  });

  it('the simulator refuses a checkbox written as text and a status written as an object, like amoCRM (400)', async () => {
    const { leadId } = await customer();
    const fields = w.simulator.controls.customFields() as unknown as { id: number; name: string }[];
    const id = (name: string) => fields.find((f) => f.name === name)!.id;
    // The worker shares the simulator's 7 requests/s: a 429 is waited out as amoCRM asks.
    const patch = async (body: unknown): Promise<Response> => {
      for (;;) {
        const res = await fetch(`${w.url}/api/v4/leads/${leadId}`, {
          method: 'PATCH', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
        });
        if (res.status !== 429) return res;
        await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
      }
    };
    const checkbox = await patch({ custom_fields_values: [{ field_id: id('Согласие на рассылку'), values: [{ value: 'да' }] }] });
    expect(checkbox.status).to.equal(400);
    expect(JSON.stringify(await checkbox.json())).to.include('custom_fields_values.0.values.0.value');
    const select = await patch({ custom_fields_values: [{ field_id: id('Статус подписки'), values: [{ value: { text: 'активна' } }] }] });
    expect(select.status).to.equal(400);
  });

  it('a new customer\'s lead says «активна», the marketing consent as ticked, the first delivery; withdrawing and giving the consent again follow', async () => {
    const { agent, leadId } = await customer({ consentMarketing: 'yes' });
    let lead = leadOf(w.simulator, leadId);
    expect(field(lead, 'Статус подписки')).to.equal('активна');
    expect(field(lead, 'Согласие на рассылку')).to.equal(true);
    expect(field(lead, 'Дата доставки')).to.equal(dateToUnix(daysFromToday(7), 'Europe/Moscow'));

    const page = await agent.get('/account/privacy').expect(200);
    await agent.post('/account/privacy').type('form').send({ _csrf: csrfFrom(page.text), document: 'marketing', action: 'withdraw' }).expect(303);
    lead = await waitFor(() => { const l = leadOf(w.simulator, leadId); return field(l, 'Согласие на рассылку') === false ? l : null; }, 15_000, 'consent withdrawn on the lead');
    expect(field(lead, 'Статус подписки')).to.equal('активна');

    await agent.post('/account/privacy').type('form').send({ _csrf: csrfFrom(page.text), document: 'marketing', action: 'grant' }).expect(303);
    await waitFor(() => field(leadOf(w.simulator, leadId), 'Согласие на рассылку') === true, 15_000, 'consent given again on the lead');
  });

  it('a customer without the marketing consent has it unticked on the lead', async () => {
    const { leadId } = await customer();
    expect(field(leadOf(w.simulator, leadId), 'Согласие на рассылку')).to.equal(false);
  });

  it('after a skip the lead\'s delivery date is the next real delivery, and the note says which delivery was skipped', async () => {
    const { userId, leadId } = await customer();
    const first = daysFromToday(7);
    await change(userId, { kind: 'skip', details: { date: first }, source: 'account' },
      (trx) => trx('delivery_exceptions').insert({ user_id: userId, scheduled_date: first, kind: 'skip', source: 'account' }));
    await waitFor(() => field(leadOf(w.simulator, leadId), 'Дата доставки') === dateToUnix(daysFromToday(14), 'Europe/Moscow'), 15_000, 'next real delivery');
    await waitFor(() => notesOf(leadId).length === 1, 15_000, 'note');
    const [, m, d] = first.split('-').map(Number) as [number, number, number];
    const month = ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря'][m - 1];
    expect(notesOf(leadId)).to.deep.equal([`Клиент пропустил доставку ${d} ${month}`]);
  });

  it('a pause shows «пауза до …» and the first delivery after it; a cancellation shows «отменена», empties the date and moves the lead to the configured stage; reactivation keeps the stage', async () => {
    const { userId, leadId } = await customer();
    const from = daysFromToday(0);
    const until = daysFromToday(21);
    await change(userId, { kind: 'pause', details: { until }, source: 'account' },
      (trx) => trx('users').where({ id: userId }).update({ paused_from: from, paused_until: until }));
    const dotted = until.split('-').reverse().join('.');
    await waitFor(() => field(leadOf(w.simulator, leadId), 'Статус подписки') === `пауза до ${dotted}`, 15_000, 'paused status');
    expect(field(leadOf(w.simulator, leadId), 'Дата доставки')).to.equal(dateToUnix(daysFromToday(21), 'Europe/Moscow'));

    await change(userId, { kind: 'cancel', details: { reason: 'price', comment: 'Нашла дешевле' }, source: 'account' },
      (trx) => trx('users').where({ id: userId }).update({ paused_from: null, paused_until: null, cancelled_at: trx.fn.now(), cancel_reason: 'price', cancel_comment: 'Нашла дешевле' }));
    const lead = await waitFor(() => { const l = leadOf(w.simulator, leadId); return field(l, 'Статус подписки') === 'отменена' ? l : null; }, 15_000, 'cancelled status');
    expect(field(lead, 'Дата доставки')).to.equal(undefined);
    expect(lead.status_id).to.equal(LOST_STATUS_ID);
    await waitFor(() => notesOf(leadId).length === 2, 15_000, 'notes');
    expect(notesOf(leadId)[1]).to.equal('Отмена подписки: дорого — “Нашла дешевле”');

    const restart = daysFromToday(10);
    await change(userId, { kind: 'reactivate', details: { deliveryDate: restart }, source: 'account' },
      (trx) => trx('users').where({ id: userId }).update({ cancelled_at: null, cancel_reason: null, cancel_comment: null, delivery_date: restart }));
    await waitFor(() => field(leadOf(w.simulator, leadId), 'Статус подписки') === 'активна', 15_000, 'active again');
    expect(field(leadOf(w.simulator, leadId), 'Дата доставки')).to.equal(dateToUnix(restart, 'Europe/Moscow'));
    expect(leadOf(w.simulator, leadId).status_id).to.equal(LOST_STATUS_ID); // not moved back: staff decides
  });

  it('when the delivery the lead shows has passed, then the hourly refresh queues the customer and the lead shows the next real one', async () => {
    const { userId, leadId } = await customer();
    // A week later, as it looks from here: the schedule started a week ago, and the lead still shows that day.
    await w.t.db('users').where({ id: userId }).update({
      delivery_date: daysFromToday(-7), amo_snapshot: w.t.db.raw("jsonb_set(amo_snapshot, '{values,deliveryDate}', to_jsonb(?::text))", [daysFromToday(-7)]),
    });
    const untouched = await customer();
    expect(await services.crmSync.outbound.refreshDue()).to.equal(1);
    await waitFor(() => field(leadOf(w.simulator, leadId), 'Дата доставки') === dateToUnix(daysFromToday(0), 'Europe/Moscow'), 15_000, 'today\'s delivery on the lead');
    await waitFor(async () => (await services.crmSync.outbound.refreshDue()) === 0, 15_000, 'nothing due after the sync');
    expect(field(leadOf(w.simulator, untouched.leadId), 'Дата доставки')).to.equal(dateToUnix(daysFromToday(7), 'Europe/Moscow'));
  });

  it('every kind of change becomes one note, in order, in plain Russian, with where it was made', async () => {
    const { userId, leadId } = await customer();
    const staffEmail = `staff-notes-${Date.now()}@flowers.test`;
    await services.auth.addStaff(staffEmail, 'Menedzher magazina 2026');
    const staffId = Number((await w.t.db('users').where({ email: staffEmail }).first('id')).id);
    const events: Omit<NewSubscriptionEvent, 'userId'>[] = [
      { kind: 'skip', details: { date: '2026-12-12' }, source: 'account' },
      { kind: 'unskip', details: { date: '2026-12-12' }, source: 'mail' },
      { kind: 'move', details: { from: '2026-12-12', to: '2026-12-14' }, source: 'account' },
      { kind: 'pause', details: { until: '2027-01-12' }, source: 'account' },
      { kind: 'resume', details: { until: '2027-01-12' }, source: 'staff', staffUserId: staffId },
      { kind: 'cancel', details: { reason: 'too_often', comment: null }, source: 'account' },
      { kind: 'reactivate', details: { deliveryDate: '2026-12-20' }, source: 'account' },
      { kind: 'gift_order', details: { orderId: 12, recipientName: 'Анна' }, source: 'account' },
      { kind: 'reminders_off', details: {}, source: 'mail' },
      { kind: 'reminders_on', details: {}, source: 'account' },
    ];
    await w.t.db.transaction(async (trx) => {
      for (const e of events) await createSubscriptionEventModel(trx).record({ userId, ...e });
      await services.crmQueue.queueCustomerSync(trx, userId);
    });
    await waitFor(() => noteIdsSet(userId), 15_000, 'every note sent');
    expect(notesOf(leadId)).to.deep.equal([
      'Клиент пропустил доставку 12 декабря',
      'Клиент вернул доставку 12 декабря (по ссылке из письма)',
      'Доставка 12 декабря перенесена на 14 декабря',
      'Пауза до 12 января',
      'Подписка возобновлена (сотрудник)',
      'Отмена подписки: слишком часто',
      'Подписка возобновлена, первая доставка 20 декабря',
      'Подарок: получатель Анна, заказ №12',
      'Напоминания отключены (по ссылке из письма)',
      'Напоминания включены',
    ]);
    // A later sync (another change) sends none of them again.
    await change(userId, { kind: 'reminders_off', details: {}, source: 'account' });
    await waitFor(() => noteIdsSet(userId), 15_000, 'the new note sent');
    expect(notesOf(leadId)).to.have.length(11);
  });

  it('when amoCRM creates the note but the answer is lost, then the retried job finds it and the note exists exactly once', async () => {
    const { userId, leadId } = await customer();
    // Two equal changes: the second's note must not be mistaken for the first's, nor the first's for the second's.
    await change(userId, { kind: 'reminders_off', details: {}, source: 'account' });
    await waitFor(() => noteIdsSet(userId), 15_000, 'first note');
    const requestsBefore = w.simulator.controls.requests().length;
    w.simulator.controls.loseAnswer({ method: 'POST', path: /^\/api\/v4\/leads\/\d+\/notes$/ });
    await change(userId, { kind: 'reminders_off', details: {}, source: 'account' });
    await waitFor(() => noteIdsSet(userId), 60_000, 'second note recorded after the retry');
    expect(notesOf(leadId)).to.deep.equal(['Напоминания отключены', 'Напоминания отключены']);
    const after = w.simulator.controls.requests().slice(requestsBefore).filter((r) => r.path.includes('/notes'));
    expect(after.map((r) => r.method)).to.deep.equal(['POST', 'GET']); // the lost post, then the lookup — no second post
    const ids = await w.t.db('subscription_events').where({ user_id: userId }).orderBy('id').pluck('amo_note_id');
    const simIds = (w.simulator.controls.notes() as unknown as Note[]).filter((n) => n.entity_id === leadId).map((n) => String(n.id));
    expect(ids.map(String)).to.deep.equal(simIds);
    const retried = await w.t.db('amocrm_sync_log').where({ user_id: userId, outcome: 'retry' }).count('* as n').first();
    expect(Number(retried!.n)).to.be.greaterThan(0);
  });

  it('when amoCRM answers a note post with 503 (nothing created), then the retry posts it and it exists once', async () => {
    const { userId, leadId } = await customer();
    await change(userId, { kind: 'reminders_on', details: {}, source: 'account' }, async () => {
      // the lead PATCH is not needed for this change: the next request is the note's post
      w.simulator.controls.failNext(1, 503);
    });
    await waitFor(() => noteIdsSet(userId), 60_000, 'note after the retry');
    expect(notesOf(leadId)).to.deep.equal(['Напоминания включены']);
  });

  it('changes made before the lead exists wait, and follow right after the lead is made', async () => {
    w.simulator.controls.failNext(1, 503); // the first attempt to make the lead fails
    const agent = client(w.t.app);
    const { email } = await signUp(agent);
    const user = await w.t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first();
    await change(Number(user.id), { kind: 'reminders_off', details: {}, source: 'account' });
    const leadId = await waitFor(async () => (await w.t.db('users').where({ id: user.id }).first()).amo_lead_id, 60_000, 'lead');
    await waitFor(() => noteIdsSet(Number(user.id)), 30_000, 'note');
    expect(notesOf(Number(leadId))).to.deep.equal(['Напоминания отключены']);
  });

  it('requests to amoCRM: 4 per sign-up, 2 per skip (field + note), 1 per change that moves no field (note only), 2 per cancellation (fields and stage in one PATCH + note)', async () => {
    const api = () => w.simulator.controls.requests().filter((r) => r.path.startsWith('/api/v4/')).map((r) => `${r.method} ${r.path.replace(/\/\d+/g, '/:id')}`);
    const settle = (userId: number) => waitFor(() => noteIdsSet(userId), 15_000, 'notes sent');
    await customer(); // the field map and the stages are read once per installation, not per customer
    let from = api().length;
    const { userId } = await customer();
    const signUpRequests = api().slice(from);
    // the search for a lead already carrying the referral link (a retried job after a lost answer), the search for a
    // contact with the same email (one contact per customer), the lead with its contact, the lead read back for its stage
    expect(signUpRequests).to.deep.equal(['GET /api/v4/leads', 'GET /api/v4/contacts', 'POST /api/v4/leads/complex', 'GET /api/v4/leads/:id']);

    from = api().length;
    const first = daysFromToday(7);
    await change(userId, { kind: 'skip', details: { date: first }, source: 'account' },
      (trx) => trx('delivery_exceptions').insert({ user_id: userId, scheduled_date: first, kind: 'skip', source: 'account' }));
    await settle(userId);
    const skipRequests = api().slice(from);
    expect(skipRequests).to.deep.equal(['PATCH /api/v4/leads/:id', 'POST /api/v4/leads/:id/notes']);

    from = api().length;
    await change(userId, { kind: 'reminders_off', details: {}, source: 'mail' });
    await settle(userId);
    const remindersRequests = api().slice(from);
    expect(remindersRequests).to.deep.equal(['POST /api/v4/leads/:id/notes']);

    from = api().length;
    await change(userId, { kind: 'cancel', details: { reason: 'moving', comment: null }, source: 'account' },
      (trx) => trx('users').where({ id: userId }).update({ cancelled_at: trx.fn.now(), cancel_reason: 'moving' }));
    await settle(userId);
    const cancelRequests = api().slice(from);
    expect(cancelRequests).to.deep.equal(['PATCH /api/v4/leads/:id', 'POST /api/v4/leads/:id/notes']);
    console.log(`      amoCRM requests: sign-up ${signUpRequests.length}, skip ${skipRequests.length}, reminders off ${remindersRequests.length}, cancellation ${cancelRequests.length}`);
  });

  it('preferences changed on the site become notes with the old and new values, once; a confirmed order becomes one note «Заказ №… подтверждён, … ₽»', async () => {
    const { agent, userId, leadId } = await customer();
    const page = await agent.get('/account/preferences').expect(200);
    const date = /name="deliveryDate" type="date" value="([^"]+)"/.exec(page.text)![1]!;
    await agent.post('/account/preferences').type('form').send({
      _csrf: csrfFrom(page.text), bouquet: 'seasonal', address: 'ул. Новая, 7', deliveryDate: date, interval: 'biweekly', wishes: 'Больше зелени, без роз',
    }).expect(303);
    await waitFor(() => notesOf(leadId).length === 2, 15_000, 'preference notes');
    expect(notesOf(leadId)).to.deep.equal(['Интервал: 1 раз в неделю → 1 раз в 2 недели', 'Адрес: ул. Ленина, 25, кв. 10 → ул. Новая, 7']);

    // The first post of the order's note loses its answer: still one note.
    w.simulator.controls.loseAnswer({ method: 'POST', path: /^\/api\/v4\/leads\/\d+\/notes$/ });
    const res = await submit(agent, '/account/orders/new', { bouquet: 'luxe', deliveryDate: daysFromToday(5), address: 'ул. Цветочная, 1', wishes: '' }, '/account/orders');
    const orderUrl = res.headers.location!;
    const orderId = Number(orderUrl.split('/').pop());
    const orderPage = await agent.get(orderUrl).expect(200);
    await agent.post(`${orderUrl}/confirm`).type('form').send({ _csrf: csrfFrom(orderPage.text) }).expect(303);
    await waitFor(async () => Number((await w.t.db('amocrm_note_outbox').where({ user_id: userId }).whereNull('amo_note_id').count('* as n').first())!.n) === 0
      && Number((await w.t.db('amocrm_note_outbox').where({ user_id: userId }).count('* as n').first())!.n) === 3, 60_000, 'order note sent');
    expect(notesOf(leadId)).to.deep.equal([
      'Интервал: 1 раз в неделю → 1 раз в 2 недели', 'Адрес: ул. Ленина, 25, кв. 10 → ул. Новая, 7', `Заказ №${orderId} подтверждён, 9 000 ₽`,
    ]);
  });
});
