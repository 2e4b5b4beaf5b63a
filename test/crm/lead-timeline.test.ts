// The customer's timeline («История»): the lead's stages as webhooks and the reconciliation bring them (only real
// changes, each once, dated when amoCRM changed the lead), confirmed orders, reminders and notices mailed, from
// the local database only. The app is served on a port so that the simulator's webhooks reach it over HTTP.
import { expect } from 'chai';
import { createServices } from '../../src/app.js';
import { crmWorld, servedCrmWorld } from '../helpers/amocrm.js';
import { client, csrfFrom, daysFromToday, signUp, submit } from '../helpers/client.js';
import { waitForMail } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';

type Lead = { id: number; status_id: number; updated_at: number };

describe('the customer\'s timeline: lead stages, orders, reminders and notices', function () {
  this.timeout(180_000);
  let w: Awaited<ReturnType<typeof crmWorld>>;
  let site: Awaited<ReturnType<typeof servedCrmWorld>>['site'];
  let services: ReturnType<typeof createServices>;
  let stages: Map<string, number>;

  before(async () => {
    ({ w, site, services } = await servedCrmWorld());
    const pipelines = await services.crm.client.pipelines();
    stages = new Map(pipelines[0]!._embedded.statuses.map((s) => [s.name, s.id]));
  });
  after(async () => {
    await site?.close();
    await w?.close();
  });

  const lead = (id: number) => (w.simulator.controls.leads() as unknown as Lead[]).find((l) => l.id === id)!;
  const stageRows = (userId: number) => w.t.db('lead_stage_changes').where({ user_id: userId }).orderBy('id').select('stage_name', 'changed_at', 'source');
  /** When the stage changed: amoCRM's updated_at of the lead (whole seconds), never before the account was made. */
  const changedAt = async (c: { id: number; leadId: number }) => {
    const user = await w.t.db('users').where({ id: c.id }).first('created_at');
    return Math.max(lead(c.leadId).updated_at * 1000, user.created_at.getTime());
  };
  const texts = async (userId: number) => (await services.accounts.history(userId, 'ru', 1)).entries.map((e) => e.text);

  async function settle() {
    await w.simulator.controls.webhooksSettled();
    await waitFor(async () => {
      const { rows } = await w.t.db.raw("select count(*)::int as n from graphile_worker.jobs where attempts < max_attempts");
      return rows[0].n === 0;
    }, 30_000, 'the job queue drained');
  }

  async function customer(overrides: Record<string, string> = {}) {
    const agent = client(w.t.app);
    const { email, password } = await signUp(agent, overrides);
    const user = await waitFor(async () => {
      const u = await w.t.db('users').whereRaw('lower(email) = ?', [email]).first();
      return u.amo_lead_id ? u : null;
    }, 15_000, 'lead');
    await settle();
    return { agent, email, password, id: Number(user.id), leadId: Number(user.amo_lead_id) };
  }

  it('a fresh sign-up reads «Заявка получена», then the lead\'s first stage, on the account page and the history page', async () => {
    const c = await customer();
    const rows = await stageRows(c.id);
    expect(rows.map((r) => [r.stage_name, r.source])).to.deep.equal([['Новая заявка', 'lead_created']]);
    const entries = (await services.accounts.history(c.id, 'ru', 1)).entries;
    const progress = entries.map((e) => e.text).filter((t) => t === 'Заявка получена' || t.startsWith('Статус заявки'));
    expect(progress).to.deep.equal(['Статус заявки: Новая заявка', 'Заявка получена']); // newest first
    expect(entries.at(-1)!.text).to.equal('Заявка получена');
    const user = await w.t.db('users').where({ id: c.id }).first('created_at');
    expect(entries.at(-1)!.iso).to.equal(user.created_at.toISOString());
    const dashboard = (await c.agent.get('/account').expect(200)).text;
    expect(dashboard).to.include('<h2 id="history-title">История</h2>').and.include('Статус заявки: Новая заявка').and.include('Заявка получена')
      .and.include('href="/account/history"');
  });

  it('a stage change by webhook adds one entry with the stage name and the moment amoCRM changed the lead', async () => {
    const c = await customer();
    const deliveries = await w.simulator.controls.staffChangeLead(c.leadId, { status_id: stages.get('Доставка запланирована')! });
    expect(deliveries.every((d) => d.status === 200)).to.equal(true);
    await waitFor(async () => (await stageRows(c.id)).length === 2, 15_000, 'the stage recorded');
    await settle();
    const rows = await stageRows(c.id);
    expect(rows.map((r) => [r.stage_name, r.source])).to.deep.equal([['Новая заявка', 'lead_created'], ['Доставка запланирована', 'amocrm']]);
    expect(rows[1]!.changed_at.getTime()).to.equal(await changedAt(c));
    const page = (await c.agent.get('/account/history').expect(200)).text;
    expect(page).to.include(`<time datetime="${rows[1]!.changed_at.toISOString()}">`).and.include('Статус заявки: Доставка запланирована');
    expect((await texts(c.id)).filter((t) => t.startsWith('Статус заявки'))).to.deep.equal(['Статус заявки: Доставка запланирована', 'Статус заявки: Новая заявка']);
  });

  it('the same webhook delivered twice, the lead read again, an update that keeps the stage and a reconciliation add nothing', async () => {
    const c = await customer();
    const deliveries = await w.simulator.controls.staffChangeLead(c.leadId, { status_id: stages.get('Подписка активна')! });
    await waitFor(async () => (await stageRows(c.id)).length === 2, 15_000, 'the stage recorded');
    await settle();
    const statusHook = deliveries.find((d) => d.event === 'status_lead') ?? deliveries[0]!;
    expect((await w.simulator.controls.replayWebhook(statusHook.index)).status).to.equal(200);
    await services.crmSync.inbound.leadChanged(c.leadId); // a second delivery under another request id: the lead is read again
    await w.simulator.controls.staffChangeLead(c.leadId, { price: 6100 }); // update_lead, same stage
    await waitFor(async () => Number((await w.t.db('users').where({ id: c.id }).first()).account_sum_kopecks) === 610_000, 15_000, 'the price applied');
    await settle();
    await services.crmSync.inbound.reconcile();
    await services.crmSync.inbound.reconcile();
    expect((await stageRows(c.id)).map((r) => r.stage_name)).to.deep.equal(['Новая заявка', 'Подписка активна']);
  });

  it('a webhook lost during an outage: the reconciliation adds the entry', async () => {
    const c = await customer();
    await services.crmSync.inbound.reconcile(); // brings the cursor up to now
    const hooks = w.simulator.controls.webhooks() as unknown as { destination: string }[];
    await services.crm.client.unsubscribeWebhook(hooks[0]!.destination);
    try {
      await w.simulator.controls.staffChangeLead(c.leadId, { status_id: stages.get('Пауза')! });
      await new Promise((r) => setTimeout(r, 500));
      expect(await stageRows(c.id)).to.have.length(1);
      expect(await services.crmSync.inbound.reconcile()).to.match(/reconciled, [1-9]\d* applied/);
      const rows = await stageRows(c.id);
      expect(rows.map((r) => r.stage_name)).to.deep.equal(['Новая заявка', 'Пауза']);
      expect(rows[1]!.changed_at.getTime()).to.equal(await changedAt(c));
      expect(await texts(c.id)).to.include('Статус заявки: Пауза');
    } finally {
      await services.crmAdmin.registerWebhook(hooks[0]!.destination);
    }
  });

  it('a confirmed order, a sent reminder and the notices mailed appear; a manager\'s note in amoCRM and another customer\'s entries never do', async () => {
    const reminderDate = daysFromToday(3);
    const c = await customer({ deliveryDate: reminderDate, interval: 'weekly' });
    const other = await customer();
    // the sign-up's confirmation link, accepted by the mail server
    await waitForMail(c.email, { subject: /подтвердите|Подтвердите/i });
    await waitFor(async () => (await texts(c.id)).includes('Отправлено письмо для подтверждения email'), 10_000, 'the confirmation mail on the timeline');

    const placed = await submit(c.agent, '/account/orders/new', { bouquet: 'luxe', deliveryDate: daysFromToday(5), address: 'ул. Цветочная, 1', wishes: '' }, '/account/orders');
    const orderUrl = placed.headers.location!;
    const orderId = Number(orderUrl.split('/').pop());
    const page = await c.agent.get(orderUrl).expect(200);
    await c.agent.post(`${orderUrl}/confirm`).type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);

    await services.reminders.plan(reminderDate);
    await waitFor(async () => (await w.t.db('reminders').where({ user_id: c.id }).first())?.sent_at, 15_000, 'the reminder sent');

    const passwordPage = await c.agent.get('/account/password').expect(200);
    await c.agent.post('/account/password').type('form')
      .send({ _csrf: csrfFrom(passwordPage.text), currentPassword: c.password, password: 'Sovsem novyi parol 77' }).expect(303);
    await waitForMail(c.email, { subject: /Пароль изменён/ });

    const secret = `Заметка менеджера: клиент капризный ${Date.now()}`;
    await services.crm.client.addNote(c.leadId, secret);
    await w.simulator.controls.staffChangeLead(c.leadId, { status_id: stages.get('Подписка активна')! });
    await waitFor(async () => (await texts(c.id)).includes('Отправлено уведомление о смене пароля'), 10_000, 'the password notice on the timeline');
    await settle();

    const all = await texts(c.id);
    expect(all).to.include(`Заказ №${orderId} подтверждён, 9\u00a0000\u00a0₽`);
    const [y, m, d] = reminderDate.split('-').map(Number);
    const months = ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря'];
    expect(all).to.include(`Отправлено напоминание о доставке ${d} ${months[m! - 1]} ${y}`);
    expect(all).to.include('Статус заявки: Подписка активна');
    expect(all.filter((t) => t === 'Отправлено уведомление о смене пароля')).to.have.length(1);

    // the manager's note is nowhere: not on the pages, not in any table of the timeline
    const history = (await c.agent.get('/account/history').expect(200)).text;
    const dashboard = (await c.agent.get('/account').expect(200)).text;
    for (const html of [history, dashboard]) expect(html).not.to.include('капризный');
    expect(history).to.include(`Заказ №${orderId} подтверждён`);

    // the other customer sees only their own: received, first stage, their confirmation mail
    const theirs = await texts(other.id);
    expect(theirs.filter((t) => t !== 'Отправлено письмо для подтверждения email')).to.deep.equal(['Статус заявки: Новая заявка', 'Заявка получена']);
    const theirPage = (await other.agent.get('/account/history').expect(200)).text;
    expect(theirPage).not.to.include(`Заказ №${orderId}`).and.not.include('напоминание').and.not.include('смене пароля').and.not.include('Подписка активна');
  });

  it('in English, with the English labels and money', async () => {
    const c = await customer();
    await waitFor(async () => (await w.t.db('sent_mails').where({ user_id: c.id })).length > 0, 10_000, 'the confirmation mail noted');
    const entries = (await services.accounts.history(c.id, 'en', 1)).entries.map((e) => e.text);
    expect(entries).to.include('Request received').and.include('Request status: Новая заявка').and.include('Email confirmation link sent');
  });
});
