// Subscription self-service over HTTP: the deliveries page and its skip, unskip and move forms, pause and resume,
// cancel with its one offer, reactivate; every refusal is a 4xx page with the reason beside the field and
// changes nothing.
import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, signUp, type Agent } from '../helpers/client.js';

describe('subscription self-service (/account/deliveries, /account/pause, /account/cancel)', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  /** A signed-up weekly customer whose first delivery is in 7 days. */
  async function customer(overrides: Record<string, string> = {}) {
    const agent = client(t.app);
    const { email } = await signUp(agent, overrides);
    const { id } = await t.db('users').whereRaw('lower(email) = ?', [email]).first('id');
    return { agent, id: Number(id) };
  }
  const token = async (agent: Agent, path = '/account/deliveries') => csrfFrom((await agent.get(path).expect(200)).text);
  const post = async (agent: Agent, path: string, fields: Record<string, string | string[]> = {}, from = '/account/deliveries') =>
    agent.post(path).type('form').send({ _csrf: await token(agent, from), ...fields });
  const exceptions = (id: number) => t.db('delivery_exceptions').where({ user_id: id }).select('scheduled_date', 'kind', 'new_date');
  const events = async (id: number) => (await t.db('subscription_events').where({ user_id: id }).orderBy('id')).map((e) => e.kind);

  describe('the deliveries page', () => {
    it('lists the next 8 deliveries with their state, a skip button and a move form with the allowed range; the dashboard links to it', async () => {
      const { agent } = await customer();
      const page = await agent.get('/account/deliveries').expect(200);
      expect(page.text.match(/<li class="panel/g)).to.have.length(8);
      expect(page.text).to.include('Мои доставки').and.include('до 18:00 накануне');
      const first = daysFromToday(7);
      expect(page.text).to.include(`action="/account/deliveries/${first}/skip"`).and.include(`action="/account/deliveries/${first}/move"`);
      expect(page.text).to.match(new RegExp(`id="newDate-${first}" name="newDate" type="date" min="(${daysFromToday(1)}|${daysFromToday(2)})" max="${daysFromToday(14)}"`));
      expect(page.text).to.include('Запланирована').and.include('не на день другой доставки');
      const dashboard = await agent.get('/account').expect(200);
      expect(dashboard.text).to.include('href="/account/deliveries"').and.include('href="/account/pause"').and.include('href="/account/cancel"');
      expect(dashboard.text).to.include('Запланирована');
    });

    it('speaks English with ?lang=en, the states and the cut-off in the same words as the Russian page', async () => {
      const { agent } = await customer();
      const page = await agent.get('/account/deliveries?lang=en').expect(200);
      expect(page.text).to.include('My deliveries').and.include('until 18:00 the day before').and.include('>Skip<').and.include('Planned');
    });

    it('a visitor is sent to log in', async () => {
      const res = await client(t.app).get('/account/deliveries').expect(303);
      expect(res.headers.location).to.match(/^\/login/);
    });
  });

  describe('skip and unskip', () => {
    it('skips a delivery, shows it skipped with «Вернуть», then brings it back; a double submit changes nothing', async () => {
      const { agent, id } = await customer();
      const date = daysFromToday(14);
      expect((await post(agent, `/account/deliveries/${date}/skip`)).status).to.equal(303);
      expect((await post(agent, `/account/deliveries/${date}/skip`)).status).to.equal(303);
      expect(await exceptions(id)).to.deep.equal([{ scheduled_date: date, kind: 'skip', new_date: null }]);
      const page = await agent.get('/account/deliveries').expect(200);
      expect(page.text).to.include('Пропущена').and.include(`action="/account/deliveries/${date}/unskip"`);
      expect((await agent.get('/account').expect(200)).text).to.include('Пропущена');
      expect((await post(agent, `/account/deliveries/${date}/unskip`)).status).to.equal(303);
      expect(await exceptions(id)).to.deep.equal([]);
      expect(await events(id)).to.deep.equal(['skip', 'unskip']);
    });

    it('when the date is not a delivery, then 422 with the reason, and nothing changes', async () => {
      const { agent, id } = await customer();
      const res = await post(agent, `/account/deliveries/${daysFromToday(8)}/skip`);
      expect(res.status).to.equal(422);
      expect(res.text).to.include('role="alert"').and.include('В этот день у вас нет доставки по подписке.');
      expect((await post(agent, `/account/deliveries/${daysFromToday(7)}/unskip`)).status).to.equal(303); // planned already: nothing to do
      expect((await post(agent, `/account/deliveries/${daysFromToday(-7)}/skip`)).status).to.equal(422);
      expect(await exceptions(id)).to.deep.equal([]);
      expect(await events(id)).to.deep.equal([]);
    });

    it('when the date in the path is malformed or impossible, then 404; unknown fields 400; no token 403; nothing changes', async () => {
      const { agent, id } = await customer();
      for (const bad of ['2027-02-30', 'tomorrow', '2027-1-05', '%00', `${daysFromToday(7)}x`]) {
        expect((await post(agent, `/account/deliveries/${encodeURIComponent(bad)}/skip`)).status, bad).to.equal(404);
      }
      expect((await post(agent, `/account/deliveries/${daysFromToday(7)}/skip`, { extra: '1' })).status).to.equal(400);
      expect((await agent.post(`/account/deliveries/${daysFromToday(7)}/skip`).type('form').send({})).status).to.equal(403);
      expect(await exceptions(id)).to.deep.equal([]);
    });

    it('after the cut-off the day before, then skip is refused with 409 «Изменить уже нельзя — букет собирают»', async () => {
      const late = createTestApp({ env: { DELIVERY_CUTOFF: '00:00' } }); // every delivery of tomorrow is past its cut-off
      try {
        const agent = client(late.app);
        const { email } = await signUp(agent, { deliveryDate: daysFromToday(1) });
        const page = await agent.get('/account/deliveries').expect(200);
        expect(page.text).to.include('Изменить уже нельзя — букет собирают');
        expect(page.text).to.not.include(`action="/account/deliveries/${daysFromToday(1)}/skip"`);
        const res = await agent.post(`/account/deliveries/${daysFromToday(1)}/skip`).type('form').send({ _csrf: csrfFrom(page.text) });
        expect(res.status).to.equal(409);
        expect(res.text).to.include('Изменить уже нельзя — букет собирают');
        const moved = await agent.post(`/account/deliveries/${daysFromToday(1)}/move`).type('form').send({ _csrf: csrfFrom(page.text), newDate: daysFromToday(3) });
        expect(moved.status).to.equal(409);
        const { id } = await late.db('users').whereRaw('lower(email) = ?', [email]).first('id');
        expect(await late.db('delivery_exceptions').where({ user_id: id })).to.deep.equal([]);
      } finally {
        await late.close();
      }
    });
  });

  describe('move', () => {
    it('moves a delivery within its interval; the page shows it moved from its day', async () => {
      const { agent, id } = await customer();
      const date = daysFromToday(7);
      const res = await post(agent, `/account/deliveries/${date}/move`, { newDate: daysFromToday(9) });
      expect(res.status).to.equal(303);
      expect(await exceptions(id)).to.deep.equal([{ scheduled_date: date, kind: 'move', new_date: daysFromToday(9) }]);
      expect((await agent.get('/account/deliveries')).text).to.include('Перенесена с');
      expect(await events(id)).to.deep.equal(['move']);
    });

    it('when the new date breaks a rule or is not a date, then 422 with the message beside that delivery\'s date field', async () => {
      const { agent, id } = await customer();
      const date = daysFromToday(7);
      const cases: [Record<string, string | string[]>, string][] = [
        [{ newDate: daysFromToday(14) }, 'В этот день уже есть доставка'],
        [{ newDate: daysFromToday(15) }, 'не дальше, чем на один интервал'],
        [{ newDate: daysFromToday(-1) }, 'Дата не может быть в прошлом.'],
        [{ newDate: '2027-02-30' }, 'Укажите дату в формате ГГГГ-ММ-ДД.'],
        [{ newDate: 'завтра' }, 'Укажите дату в формате ГГГГ-ММ-ДД.'],
        [{ newDate: [daysFromToday(9), daysFromToday(10)] }, ''],
        [{}, ''],
      ];
      for (const [fields, message] of cases) {
        const res = await post(agent, `/account/deliveries/${date}/move`, fields);
        expect(res.status, JSON.stringify(fields)).to.equal(422);
        expect(res.text).to.include(message);
      }
      const res = await post(agent, `/account/deliveries/${date}/move`, { newDate: daysFromToday(14) });
      expect(res.text).to.include(`id="newDate-${date}-error"`).and.include('aria-invalid="true"');
      expect((await post(agent, `/account/deliveries/${date}/move`, { newDate: daysFromToday(9), other: 'x' })).status).to.equal(422);
      expect(await exceptions(id)).to.deep.equal([]);
    });
  });

  describe('pause and resume', () => {
    it('pauses with a preset, the dashboard says until when, resume ends it at once', async () => {
      const { agent, id } = await customer();
      const page = await agent.get('/account/pause').expect(200);
      const preset = /name="until" value="(\d{4}-\d{2}-\d{2})"/.exec(page.text)![1]!;
      expect(preset).to.equal(daysFromToday(14));
      expect((await post(agent, '/account/pause', { until: preset }, '/account/pause')).status).to.equal(303);
      const dashboard = await agent.get('/account').expect(200);
      expect(dashboard.text).to.include('Подписка на паузе до').and.include('Пауза');
      expect((await agent.get('/account/deliveries')).text).to.include('Пауза');
      expect((await post(agent, '/account/resume', {}, '/account')).status).to.equal(303);
      expect((await agent.get('/account')).text).to.not.include('Подписка на паузе до');
      expect(await events(id)).to.deep.equal(['pause', 'resume']);
    });

    it('when the date is past, too far or not a date, then 422 beside the field and nothing changes', async () => {
      const { agent, id } = await customer();
      for (const [until, message] of [
        [daysFromToday(200), 'Пауза — не больше 6 месяцев.'], [daysFromToday(-3), 'Дата не может быть в прошлом.'],
        [daysFromToday(1), 'Выберите более позднюю дату.'], ['2027-13-01', 'Укажите дату в формате'],
      ] as const) {
        const res = await post(agent, '/account/pause', { until }, '/account/pause');
        expect(res.status, until).to.equal(422);
        expect(res.text).to.include('id="until-error"').and.include(message);
      }
      expect((await post(agent, '/account/pause', { until: daysFromToday(20), again: '1' }, '/account/pause')).status).to.equal(422);
      expect(await t.db('users').where({ id }).first('paused_from', 'paused_until')).to.deep.equal({ paused_from: null, paused_until: null });
    });
  });

  describe('cancel and reactivate', () => {
    it('cancels with a reason, declines the one offer, sees the cancelled dashboard and reactivates', async () => {
      const { agent, id } = await customer();
      const offer = await post(agent, '/account/cancel', { reason: 'too_often', comment: 'Слишком много цветов' }, '/account/cancel');
      expect(offer.status).to.equal(200);
      expect(offer.text).to.include('Перейти на раз в месяц').and.include('Нет, отменить подписку');
      expect((await t.db('users').where({ id }).first()).cancelled_at).to.equal(null);
      const declined = await agent.post('/account/cancel').type('form').send({ _csrf: csrfFrom(offer.text), reason: 'too_often', comment: 'Слишком много цветов', decision: 'cancel' });
      expect(declined.status).to.equal(303);
      const user = await t.db('users').where({ id }).first();
      expect([user.cancel_reason, user.cancel_comment]).to.deep.equal(['too_often', 'Слишком много цветов']);
      const dashboard = await agent.get('/account').expect(200);
      expect(dashboard.text).to.include('Подписка отменена').and.include('action="/account/reactivate"');
      expect((await agent.get('/account/cancel')).status).to.equal(303);
      const refused = await post(agent, '/account/reactivate', { deliveryDate: daysFromToday(-1) }, '/account');
      expect(refused.status).to.equal(422);
      expect(refused.text).to.include('id="deliveryDate-error"');
      expect((await post(agent, '/account/reactivate', { deliveryDate: daysFromToday(10) }, '/account')).status).to.equal(303);
      expect((await t.db('users').where({ id }).first()).cancelled_at).to.equal(null);
      expect((await agent.get('/account')).text).to.not.include('Подписка отменена');
      expect(await events(id)).to.deep.equal(['cancel', 'reactivate']);
    });

    it('takes the monthly offer instead of cancelling', async () => {
      const { agent, id } = await customer();
      const offer = await post(agent, '/account/cancel', { reason: 'price', comment: '' }, '/account/cancel');
      await agent.post('/account/cancel').type('form').send({ _csrf: csrfFrom(offer.text), reason: 'price', comment: '', decision: 'monthly' }).expect(303);
      const user = await t.db('users').where({ id }).first();
      expect([user.interval, user.cancelled_at]).to.deep.equal(['monthly', null]);
    });

    it('offers a pause for «moving»; «quality» has no offer and cancels at once', async () => {
      const { agent } = await customer();
      const offer = await post(agent, '/account/cancel', { reason: 'moving' }, '/account/cancel');
      expect(offer.text).to.include('action="/account/pause"').and.include('Нет, отменить подписку');
      const other = await customer();
      expect((await post(other.agent, '/account/cancel', { reason: 'quality' }, '/account/cancel')).status).to.equal(303);
      expect((await t.db('users').where({ id: other.id }).first()).cancel_reason).to.equal('quality');
    });

    it('when the reason is missing or unknown or the comment too long, then 422 beside the field and nothing changes', async () => {
      const { agent, id } = await customer();
      const cases: [Record<string, string | string[]>, string][] = [
        [{}, 'reason'], [{ reason: 'boredom' }, 'reason'], [{ reason: 'other', comment: 'x'.repeat(501) }, 'comment'],
        [{ reason: ['other', 'price'] }, 'reason'],
      ];
      for (const [fields, field] of cases) {
        const res = await post(agent, '/account/cancel', fields, '/account/cancel');
        expect(res.status, JSON.stringify(fields)).to.equal(422);
        expect(res.text).to.include(`id="${field}-error"`);
      }
      expect((await post(agent, '/account/cancel', { reason: 'other', decision: 'later' }, '/account/cancel')).status).to.equal(422);
      expect((await t.db('users').where({ id }).first()).cancelled_at).to.equal(null);
    });
  });
});
