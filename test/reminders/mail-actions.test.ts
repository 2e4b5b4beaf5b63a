// The one-click links of a reminder mail (GET/POST /m/:token): GET changes nothing, only POST acts, without a
// login; a used, expired, altered or foreign link and a delivery past its cut-off get a clear 4xx page and change
// nothing; every change is recorded with source 'mail'.
import { expect } from 'chai';
import { createMailLinks, type MailAction } from '../../src/services/mail-links.js';
import { cutoffOf, deliveriesBetween } from '../../src/services/deliveries.js';
import { createSubscriptionModel } from '../../src/models/subscription-model.js';
import { createStaffDeliveryModel } from '../../src/models/staff-delivery-model.js';
import { formatDate } from '../../src/i18n/i18n.js';
import { client, daysFromToday, sessionCookie, signUp } from '../helpers/client.js';
import { waitForMail } from '../helpers/smtp.js';
import { addDays } from '../staff/helpers.js';
import { customersOn, reminderWorld, type ReminderWorld } from './helpers.js';

describe('one-click mail links (/m/:token)', function () {
  this.timeout(60_000);
  let w: ReminderWorld;
  before(async () => { w = await reminderWorld(); });
  after(() => w.close());

  const links = () => createMailLinks(w.t.config.sessionSecrets);
  const tokenFor = (userId: number, date: string, action: MailAction, expiresAt = cutoffOf(date, w.t.config.deliveryCutoff, w.t.config.shopTimeZone)) =>
    links().make({ userId, date, action, expiresAt });
  /** Everything a link could change. */
  const state = async (userId: number) => JSON.stringify([
    await w.t.db('delivery_exceptions').where({ user_id: userId }).orderBy('id').select('scheduled_date', 'kind', 'new_date', 'source'),
    await w.t.db('subscription_events').where({ user_id: userId }).orderBy('id').select('kind', 'details', 'source'),
    await w.t.db('users').where({ id: userId }).first('reminders_opt_out_at', 'paused_from', 'cancelled_at'),
    await w.t.db('mail_action_uses').where({ user_id: userId }).count({ n: '*' }).first(),
  ]);
  const delivered = async (userId: number, date: string) => {
    const record = (await createSubscriptionModel(w.t.db).load(userId, date, date))!;
    return deliveriesBetween(record.subscription, record.exceptions, [], date, date).filter((e) => e.state === 'planned' || e.state === 'moved').map((e) => e.date);
  };
  const onStaffList = async (userId: number, date: string) => (await createStaffDeliveryModel(w.t.db).all(date)).some((d) => d.customerId === userId);

  it('the skip link from a real reminder: GET says exactly what will happen, with one button, and changes nothing; POST skips it (gone from the customer\'s deliveries and the staff list), recorded with source mail', async () => {
    const date = daysFromToday(2);
    const [c] = await customersOn(w.t, date, 1);
    await w.services.reminders.plan(date);
    await w.t.startWorker();
    const mail = await waitForMail(c!.email);
    const skip = new URL(mail.links.filter((l) => l.includes('/m/'))[0]!).pathname;
    const before = await state(c!.id);

    const page = await client(w.t.app).get(skip);
    expect(page.status).to.equal(200);
    expect(page.text).to.include(`Доставка ${formatDate(date)} будет пропущена.`);
    expect(page.text.match(/<form /g)).to.have.length(1);
    expect(page.text.match(/<button/g)).to.have.length(1);
    expect(page.text).to.include(`<form method="post" action="${skip}"`).and.not.include('name="_csrf"');
    expect(page.headers['cache-control']).to.equal('no-store');
    expect(sessionCookie(page)).to.equal(undefined);
    await client(w.t.app).get(skip).expect(200); // a mail scanner opening it twice changes nothing either
    expect(await state(c!.id)).to.equal(before);
    expect(await delivered(c!.id, date)).to.deep.equal([date]);

    const done = await client(w.t.app).post(skip).type('form').send({});
    expect(done.status).to.equal(200);
    expect(done.text).to.include(`Доставка ${formatDate(date)} пропущена.`);
    expect(sessionCookie(done)).to.equal(undefined);
    expect(await delivered(c!.id, date)).to.deep.equal([]);
    expect(await onStaffList(c!.id, date)).to.equal(false);
    expect(await w.t.db('delivery_exceptions').where({ user_id: c!.id }).select('scheduled_date', 'kind', 'source')).to.deep.equal([{ scheduled_date: date, kind: 'skip', source: 'mail' }]);
    expect(await w.t.db('subscription_events').where({ user_id: c!.id }).select('kind', 'details', 'source')).to.deep.equal([{ kind: 'skip', details: { date }, source: 'mail' }]);

    // Used: the same link again, by GET or POST, is a 410 page and changes nothing.
    const after = await state(c!.id);
    for (const res of [await client(w.t.app).get(skip), await client(w.t.app).post(skip).type('form').send({})]) {
      expect(res.status).to.equal(410);
      expect(res.text).to.include('Ссылка уже использована');
    }
    expect(await state(c!.id)).to.equal(after);
  });

  it('an altered, forged or foreign link, one for a deleted account, and a path that is not a token get a 404 page and change nothing', async () => {
    const date = daysFromToday(3);
    const [c, gone] = await customersOn(w.t, date, 2);
    const good = tokenFor(c!.id, date, 'skip');
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
    const foreign = createMailLinks(['another-installation-secret-0123456789abcdef']).make({ userId: c!.id, date, action: 'skip', expiresAt: new Date(Date.now() + 86_400_000) });
    const deleted = tokenFor(gone!.id, date, 'skip');
    await w.t.db('users').where({ id: gone!.id }).delete();
    const before = await state(c!.id);
    for (const token of [flip(good, good.length - 3), flip(good, 5), flip(good, 20), good.slice(0, -1), `${good}A`, foreign, deleted, 'abc', 'v1.x.y.z', '%00', 'x'.repeat(5000)]) {
      for (const res of [await client(w.t.app).get(`/m/${token}`), await client(w.t.app).post(`/m/${token}`).type('form').send({})]) {
        expect(res.status, token.slice(0, 40)).to.equal(404);
        expect(res.text).to.include('Ссылка не работает');
      }
    }
    expect(await state(c!.id)).to.equal(before);
    await client(w.t.app).get(`/m/${good}`).expect(200); // the real one still works
  });

  it('an expired link gets a 410 page; a delivery past its cut-off gets a 409 page, by GET and by POST, and nothing changes', async () => {
    const date = daysFromToday(3);
    const [c] = await customersOn(w.t, date, 1);
    const expiredUnsubscribe = tokenFor(c!.id, date, 'unsubscribe', new Date(Date.now() - 1000));
    const expiredSkip = tokenFor(c!.id, date, 'skip', new Date(Date.now() - 1000));
    const before = await state(c!.id);
    for (const token of [expiredUnsubscribe, expiredSkip]) {
      for (const res of [await client(w.t.app).get(`/m/${token}`), await client(w.t.app).post(`/m/${token}`).type('form').send({})]) {
        expect(res.status).to.equal(410);
        expect(res.text).to.include('Срок действия ссылки истёк');
      }
    }
    // Tomorrow's delivery with the cut-off at 00:00 today: closed already.
    const locked = await reminderWorld({ DELIVERY_CUTOFF: '00:00' });
    try {
      const tomorrow = daysFromToday(1);
      const [l] = await customersOn(locked.t, tomorrow, 1);
      for (const action of ['skip', 'move'] as const) {
        const token = createMailLinks(locked.t.config.sessionSecrets).make({ userId: l!.id, date: tomorrow, action, expiresAt: new Date(Date.now() + 86_400_000) });
        const rows = JSON.stringify(await locked.t.db('delivery_exceptions').where({ user_id: l!.id }));
        for (const res of [await client(locked.t.app).get(`/m/${token}`), await client(locked.t.app).post(`/m/${token}`).type('form').send(action === 'move' ? { newDate: addDays(tomorrow, 1) } : {})]) {
          expect(res.status, action).to.equal(409);
          expect(res.text).to.include('Доставку уже не изменить').and.include(formatDate(tomorrow));
        }
        expect(JSON.stringify(await locked.t.db('delivery_exceptions').where({ user_id: l!.id }))).to.equal(rows);
      }
    } finally {
      await locked.close();
    }
    expect(await state(c!.id)).to.equal(before);
  });

  it('a skip link for a delivery skipped already in the account gets a 409 page, and its link is not used up', async () => {
    const date = daysFromToday(4);
    const [c] = await customersOn(w.t, date, 1);
    const token = tokenFor(c!.id, date, 'skip');
    expect((await w.services.subscriptions.skip(c!.id, date, 'account')).ok).to.equal(true);
    const res = await client(w.t.app).post(`/m/${token}`).type('form').send({});
    expect(res.status).to.equal(409);
    expect(res.text).to.include('Доставки нет в расписании');
    expect(await w.t.db('mail_action_uses').where({ user_id: c!.id })).to.have.length(0);
  });

  it('the move link: GET shows a date field with the allowed range; a date outside it or malformed is a 422 next to the field and the link still works; a date inside moves the delivery', async () => {
    const date = daysFromToday(3);
    const [c] = await customersOn(w.t, date, 1);
    const token = tokenFor(c!.id, date, 'move');
    const range = (await w.services.subscriptions.moveRange(c!.id, date))!;
    const before = await state(c!.id);
    const page = await client(w.t.app).get(`/m/${token}`).expect(200);
    expect(page.text).to.include(`Доставка ${formatDate(date)} будет перенесена на выбранный день.`);
    expect(page.text).to.include(`type="date"`).and.include(`min="${range.earliest}" max="${range.latest}"`);
    expect(page.text).to.include(`Можно выбрать день с ${formatDate(range.earliest)} по ${formatDate(range.latest)}.`);
    expect(page.text.match(/<button/g)).to.have.length(1);
    for (const [newDate, message] of [[addDays(range.latest, 1), 'Выберите день из допустимого диапазона.'], [daysFromToday(0), 'Выберите день из допустимого диапазона.'],
      ['2026-02-30', 'Укажите дату в виде ГГГГ-ММ-ДД.'], ['', 'Укажите дату в виде ГГГГ-ММ-ДД.'], [date, 'Это тот же день. Выберите другой.']] as const) {
      const res = await client(w.t.app).post(`/m/${token}`).type('form').send({ newDate });
      expect(res.status, newDate).to.equal(422);
      expect(res.text, newDate).to.include(`<p class="error" id="newDate-error">${message}</p>`);
      expect(res.text).to.match(/id="newDate" name="newDate"[^>]*aria-invalid="true"/);
    }
    expect(await state(c!.id)).to.equal(before);
    const newDate = addDays(date, 2);
    const done = await client(w.t.app).post(`/m/${token}`).type('form').send({ newDate });
    expect(done.status).to.equal(200);
    expect(done.text).to.include(`Доставка ${formatDate(date)} перенесена на ${formatDate(newDate)}.`);
    expect(await delivered(c!.id, date)).to.deep.equal([]);
    expect(await delivered(c!.id, newDate)).to.deep.equal([newDate]);
    expect(await onStaffList(c!.id, date)).to.equal(false);
    expect(await onStaffList(c!.id, newDate)).to.equal(true);
    expect(await w.t.db('subscription_events').where({ user_id: c!.id }).select('kind', 'details', 'source')).to.deep.equal([{ kind: 'move', details: { from: date, to: newDate }, source: 'mail' }]);
    expect((await client(w.t.app).post(`/m/${token}`).type('form').send({ newDate: addDays(date, 1) })).status).to.equal(410);
  });

  it('the unsubscribe link: GET names the address and changes nothing; POST turns reminders off (reminders_off, source mail) without a login', async () => {
    const date = daysFromToday(5);
    const [c] = await customersOn(w.t, date, 1);
    const token = tokenFor(c!.id, date, 'unsubscribe', new Date(Date.now() + 90 * 86_400_000));
    const before = await state(c!.id);
    const page = await client(w.t.app).get(`/m/${token}`).expect(200);
    expect(page.text).to.include(`Напоминания о доставках больше не будут приходить на ${c!.email}.`);
    expect(await state(c!.id)).to.equal(before);
    const done = await client(w.t.app).post(`/m/${token}`).type('form').send({});
    expect(done.status).to.equal(200);
    expect(done.text).to.include('Напоминания о доставках больше не будут приходить.');
    expect((await w.t.db('users').where({ id: c!.id }).first('reminders_opt_out_at')).reminders_opt_out_at).to.be.an.instanceOf(Date);
    expect(await w.t.db('subscription_events').where({ user_id: c!.id }).select('kind', 'source')).to.deep.equal([{ kind: 'reminders_off', source: 'mail' }]);
    await w.services.reminders.plan(date);
    expect(await w.t.db('reminders').where({ user_id: c!.id })).to.have.length(0);
  });

  it('RFC 8058 one-click: the mail provider\'s POST of List-Unsubscribe=One-Click unsubscribes, even cross-site and without a session; that body on a skip link is refused', async () => {
    const date = daysFromToday(5);
    const [c, d] = await customersOn(w.t, date, 2);
    const token = tokenFor(c!.id, date, 'unsubscribe', new Date(Date.now() + 90 * 86_400_000));
    for (const headers of [{ 'Sec-Fetch-Site': 'cross-site' }, {}]) {
      const res = await client(w.t.app).post(`/m/${tokenFor(d!.id, date, 'skip')}`).set(headers).type('form').send('List-Unsubscribe=One-Click');
      expect(res.status).to.equal(400);
    }
    expect(await delivered(d!.id, date)).to.deep.equal([date]);
    const res = await client(w.t.app).post(`/m/${token}`).set({ 'Sec-Fetch-Site': 'cross-site', Origin: 'https://mail.example' }).type('form').send('List-Unsubscribe=One-Click');
    expect(res.status).to.equal(200);
    expect(sessionCookie(res)).to.equal(undefined);
    expect((await w.t.db('users').where({ id: c!.id }).first('reminders_opt_out_at')).reminders_opt_out_at).to.be.an.instanceOf(Date);
    expect(await w.t.db('subscription_events').where({ user_id: c!.id }).select('kind', 'source')).to.deep.equal([{ kind: 'reminders_off', source: 'mail' }]);
    // Without the one-click body, a cross-site post to a mail link is refused like any other form (S14).
    const other = tokenFor(d!.id, date, 'unsubscribe', new Date(Date.now() + 90 * 86_400_000));
    expect((await client(w.t.app).post(`/m/${other}`).set('Sec-Fetch-Site', 'cross-site').type('form').send({})).status).to.equal(403);
    expect((await w.t.db('users').where({ id: d!.id }).first('reminders_opt_out_at')).reminders_opt_out_at).to.equal(null);
  });

  it('a link names its own customer: opened while logged in as someone else, it changes the link\'s customer, not the visitor', async () => {
    const date = daysFromToday(6);
    const [owner, other] = await customersOn(w.t, date, 2);
    const token = tokenFor(owner!.id, date, 'skip');
    const visitor = client(w.t.app);
    const { email } = await signUp(visitor, { deliveryDate: date, interval: 'weekly' });
    const { id: visitorId } = await w.t.db('users').where({ email }).first('id');
    await visitor.get('/account').expect(200);
    await visitor.get(`/m/${token}`).expect(200);
    await visitor.post(`/m/${token}`).type('form').send({}).expect(200);
    expect(await delivered(owner!.id, date)).to.deep.equal([]);
    expect(await delivered(other!.id, date)).to.deep.equal([date]);
    expect(await delivered(Number(visitorId), date)).to.deep.equal([date]);
  });
});
