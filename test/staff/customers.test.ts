// GET /staff/customers (search by a fragment of email or address, 50 a page) and GET /staff/customers/:id (the
// customer's whole picture), POST /staff/customers/:id/resync.
import { expect } from 'chai';
import { createSubscriptionEventModel } from '../../src/models/subscription-event-model.js';
import { client, csrfFrom, signUp } from '../helpers/client.js';
import { pageProblems } from '../helpers/pages.js';
import { insertCustomers, insertOrder, staffWorld, type StaffWorld } from './helpers.js';

function emailsOf(html: string): string[] {
  const list = /<ul class="s-list">([\s\S]*?)<\/ul>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<a href="\/staff\/customers\/\d+">([^<]*)<\/a>/g)].map((m) => m[1]!);
}
const link = (html: string, rel: 'next' | 'prev') => new RegExp(`<a href="([^"]+)" rel="${rel}">`).exec(html)?.[1]?.replace(/&amp;/g, '&');

describe('GET /staff/customers', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  it('when staff searches a fragment of an email or an address in any case, then the matching customers are listed, newest first', async () => {
    const [a, b, c] = await insertCustomers(w.t.db, [
      { email: 'marina.zvezdina@mail.ru', address: 'г. Москва, ул. Ленина, д. 5', deliveryDate: '2030-01-01', interval: 'weekly' },
      { email: 'petr@yandex.ru', address: 'г. Химки, Ленинградское ш., 1', deliveryDate: '2030-01-01', interval: 'monthly' },
      { email: 'zvezda@example.ru', address: 'пр-т Мира, 10', deliveryDate: '2030-01-01', interval: 'biweekly' },
    ]);
    expect(emailsOf((await w.staff.get('/staff/customers?q=ZVEZD').expect(200)).text)).to.deep.equal(['zvezda@example.ru', 'marina.zvezdina@mail.ru']);
    const byAddress = await w.staff.get(`/staff/customers?q=${encodeURIComponent('ЛЕНИН')}`).expect(200);
    expect(emailsOf(byAddress.text)).to.deep.equal(['petr@yandex.ru', 'marina.zvezdina@mail.ru']);
    expect(byAddress.text).to.include('Найдено: 2').and.include('г. Химки, Ленинградское ш., 1');
    expect(emailsOf((await w.staff.get(`/staff/customers?q=${encodeURIComponent('мира, 1')}`).expect(200)).text)).to.deep.equal(['zvezda@example.ru']);
    expect(emailsOf((await w.staff.get(`/staff/customers?q=${c}`).expect(200)).text)).to.deep.equal(['zvezda@example.ru']); // customer number
    const order = await insertOrder(w.t.db, { userId: a!, deliveryDate: '2030-02-02' });
    expect(emailsOf((await w.staff.get(`/staff/customers?q=${order}`).expect(200)).text)).to.include('marina.zvezdina@mail.ru'); // order number
    expect(b).to.be.a('number');
  });

  it('when the fragment has LIKE wildcards, then they are taken literally', async () => {
    await insertCustomers(w.t.db, [
      { email: 'under_score@example.ru', address: 'ул. 100% Цветов', deliveryDate: '2030-01-01', interval: 'weekly' },
      { email: 'underXscore@example.ru', address: 'ул. 1000 Цветов', deliveryDate: '2030-01-01', interval: 'weekly' },
    ]);
    expect(emailsOf((await w.staff.get('/staff/customers?q=der_sc').expect(200)).text)).to.deep.equal(['under_score@example.ru']);
    expect(emailsOf((await w.staff.get(`/staff/customers?q=${encodeURIComponent('100%')}`).expect(200)).text)).to.deep.equal(['under_score@example.ru']);
    expect(emailsOf((await w.staff.get(`/staff/customers?q=${encodeURIComponent('%%%')}`).expect(200)).text)).to.deep.equal([]);
  });

  it('when the fragment is too short for the index, then staff is asked for more instead of a slow search', async () => {
    const page = await w.staff.get('/staff/customers?q=zv').expect(200);
    expect(page.text).to.include('Введите не меньше трёх букв или цифр подряд.').and.include('aria-invalid="true"');
    expect(emailsOf(page.text)).to.deep.equal([]);
    await w.staff.get(`/staff/customers?q=${'x'.repeat(201)}`).expect(400);
    await w.staff.get('/staff/customers?q=a%00b').expect(400);
    await w.staff.get('/staff/customers?q=abc&after=-1').expect(400);
  });

  it('when more than 50 customers match, then they come 50 a page with links forward and back', async () => {
    const ids = await insertCustomers(w.t.db, Array.from({ length: 120 }, (_, i) => ({
      email: `page${String(i).padStart(3, '0')}@example.ru`, address: `ул. Постраничная, ${i}`, deliveryDate: '2030-01-01', interval: 'weekly' as const,
    })));
    const expected = [...ids].reverse().map((_, i) => `page${String(119 - i).padStart(3, '0')}@example.ru`);
    const first = await w.staff.get(`/staff/customers?q=${encodeURIComponent('постраничная')}`).expect(200);
    expect(first.text).to.include('Найдено: 120');
    expect(emailsOf(first.text)).to.deep.equal(expected.slice(0, 50));
    expect(link(first.text, 'prev')).to.equal(undefined);
    const second = await w.staff.get(link(first.text, 'next')!).expect(200);
    expect(emailsOf(second.text)).to.deep.equal(expected.slice(50, 100));
    const third = await w.staff.get(link(second.text, 'next')!).expect(200);
    expect(emailsOf(third.text)).to.deep.equal(expected.slice(100));
    expect(link(third.text, 'next')).to.equal(undefined);
    const back = await w.staff.get(link(third.text, 'prev')!).expect(200);
    expect(emailsOf(back.text)).to.deep.equal(expected.slice(50, 100));
    const start = await w.staff.get(link(back.text, 'prev')!).expect(200);
    expect(emailsOf(start.text)).to.deep.equal(expected.slice(0, 50));
    expect(link(start.text, 'prev')).to.equal(undefined);
  });

  it('when more customers match than are counted, then "more than 1000" and the pages still follow newest first', async () => {
    await insertCustomers(w.t.db, Array.from({ length: 1010 }, (_, i) => ({
      email: `bulk${i}@broad.example.ru`, address: 'ул. Широкая, 1', deliveryDate: '2030-01-01', interval: 'weekly' as const,
    })));
    const page = await w.staff.get('/staff/customers?q=broad.example').expect(200);
    expect(page.text).to.include('Найдено больше 1000');
    expect(emailsOf(page.text)[0]).to.equal('bulk1009@broad.example.ru');
    const next = await w.staff.get(link(page.text, 'next')!).expect(200);
    expect(emailsOf(next.text)[0]).to.equal('bulk959@broad.example.ru');
  });

  it('when nothing is searched, then the newest customers are listed', async () => {
    const [id] = await insertCustomers(w.t.db, [{ email: 'newest@example.ru', deliveryDate: '2030-01-01', interval: 'weekly' }]);
    const page = await w.staff.get('/staff/customers').expect(200);
    expect(page.text).to.include('Новые клиенты');
    expect(emailsOf(page.text)[0]).to.equal('newest@example.ru');
    expect(page.text).to.include(`href="/staff/customers/${id}"`);
    expect(await pageProblems(page.text, { budget: 10 * 1024 })).to.deep.equal([]);
  });
});

describe('GET /staff/customers/:id', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  it('when staff opens a customer, then it shows preferences, orders, referrals, amoCRM ids with a link to the lead, sync history and sign-in events', async () => {
    const agent = client(w.t.app);
    const { email } = await signUp(agent, { bouquet: 'luxe', interval: 'biweekly', address: 'ул. Профильная, 8', wishes: 'Без роз' });
    const customer = await w.t.db('users').whereRaw('lower(email) = ?', [email]).first();
    const id = Number(customer.id);
    await signUp(client(w.t.app), {}); // someone else, not referred
    const friend = client(w.t.app);
    await friend.get(`/${customer.referral_id}`).expect(303);
    const { email: friendEmail } = await signUp(friend);
    const confirmed = await insertOrder(w.t.db, { userId: id, deliveryDate: '2031-05-05', status: 'confirmed' });
    const placed = await insertOrder(w.t.db, { userId: id, deliveryDate: '2031-06-06', status: 'placed', gift: { recipientName: 'Анна Петрова', recipientPhone: '+79123456789' } });
    await w.t.db('users').where({ id }).update({ amo_lead_id: 4711, amo_contact_id: 815 });
    await w.t.db('amocrm_sync_log').insert([
      { task: 'amocrm:sync-customer', user_id: id, job_id: '1', attempt: 1, outcome: 'retry', http_status: 503, message: 'amoCRM answered 503' },
      { task: 'amocrm:sync-customer', user_id: id, job_id: '1', attempt: 2, outcome: 'ok', http_status: 200, message: null },
    ]);

    const page = await w.staff.get(`/staff/customers/${id}`).expect(200);
    expect(page.text).to.include(`<h1 class="s-title">${email}</h1>`).and.include(`Клиент №${id}`);
    expect(page.text).to.include('Люкс').and.include('ул. Профильная, 8').and.include('Без роз').and.include('1 раз в 2 недели');
    expect(page.text).to.include('9 000 ₽'.replace(/ /g, '\u00a0'));
    expect(page.text).to.match(/Приглашено друзей<\/dt><dd>1<\/dd>/);
    expect(page.text).to.match(new RegExp(`№${placed} · .* · оформлен · Получатель — Анна Петрова</li>`)); // a gift order
    expect(page.text).to.include('Заказы (2)').and.include(`№${confirmed}`).and.include(`№${placed}`).and.include('подтверждён').and.include('оформлен');
    const amo = testAmoUrl(w);
    expect(page.text).to.include(`<a href="${amo}/leads/detail/4711" rel="noreferrer">4711</a>`);
    expect(page.text).to.include(`<a href="${amo}/contacts/detail/815" rel="noreferrer">815</a>`);
    expect(page.text).to.include('будет повтор').and.include('(503)').and.include('amoCRM answered 503').and.include('успешно');
    expect(page.text).to.include('регистрация'); // the sign-up's auth event
    expect(page.text).to.include(`action="/staff/customers/${id}/resync"`);

    const friendRow = await w.t.db('users').whereRaw('lower(email) = ?', [friendEmail]).first('id');
    const friendPage = await w.staff.get(`/staff/customers/${friendRow.id}`).expect(200);
    expect(friendPage.text).to.include(`<a href="/staff/customers/${id}">${email}</a>`); // referred by
    expect(await pageProblems(page.text, { budget: 10 * 1024 })).to.deep.equal([]);
  });

  it('when the subscription was changed, then the page has its history newest first: what, in words, and where (account, mail link, which staff member)', async () => {
    const [id, other] = await insertCustomers(w.t.db, [{ deliveryDate: '2026-11-02', interval: 'weekly' }, { deliveryDate: '2026-11-02', interval: 'weekly' }]);
    const events = createSubscriptionEventModel(w.t.db);
    const steps = [
      { kind: 'skip', details: { date: '2026-12-12' }, source: 'account' },
      { kind: 'unskip', details: { date: '2026-12-12' }, source: 'account' },
      { kind: 'move', details: { from: '2026-12-12', to: '2026-12-14' }, source: 'mail' },
      { kind: 'move', details: { from: '2026-12-30', to: '2027-01-02' }, source: 'staff', staffUserId: w.staffId },
      { kind: 'pause', details: { until: '2027-01-12' }, source: 'account' },
      { kind: 'resume', details: { until: '2027-01-12' }, source: 'staff', staffUserId: w.staffId },
      { kind: 'reminders_off', details: {}, source: 'mail' },
      { kind: 'reminders_on', details: {}, source: 'account' },
      { kind: 'gift_order', details: { orderId: 12, recipientName: 'Анна' }, source: 'account' },
      { kind: 'cancel', details: { reason: 'price', comment: 'Дорого <b>очень</b>' }, source: 'account' },
      { kind: 'cancel', details: { reason: 'moving', comment: '' }, source: 'mail' },
      { kind: 'reactivate', details: { deliveryDate: '2026-12-20' }, source: 'account' },
    ] as const;
    for (const [i, step] of steps.entries()) {
      const row = await events.record({ userId: id!, ...step, details: { ...step.details } });
      await w.t.db('subscription_events').where({ id: row.id }).update({ created_at: new Date(Date.UTC(2026, 11, 1, 9, i)) });
    }
    await events.record({ userId: other!, kind: 'skip', details: { date: '2026-12-13' }, source: 'account' });

    const page = await w.staff.get(`/staff/customers/${id}`).expect(200);
    const section = /<section class="panel" aria-labelledby="timeline-title">([\s\S]*?)<\/section>/.exec(page.text)![1]!;
    expect(section).to.include('<h2 id="timeline-title">История подписки</h2>');
    const lines = [...section.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]!.replace(/<\/?small>/g, ''));
    expect(lines).to.deep.equal([
      '1 декабря 2026, 12:11 · Возобновление подписки, первая доставка 20 декабря (в личном кабинете)',
      '1 декабря 2026, 12:10 · Отмена: переезд (по ссылке из письма)',
      '1 декабря 2026, 12:09 · Отмена: дорого — “Дорого &lt;b&gt;очень&lt;/b&gt;” (в личном кабинете)',
      '1 декабря 2026, 12:08 · Подарочный заказ №12, получатель — Анна (в личном кабинете)',
      '1 декабря 2026, 12:07 · Напоминания включены (в личном кабинете)',
      '1 декабря 2026, 12:06 · Напоминания отключены (по ссылке из письма)',
      `1 декабря 2026, 12:05 · Возобновление (сотрудник ${w.staffEmail})`,
      '1 декабря 2026, 12:04 · Пауза до 12 января 2027 (в личном кабинете)',
      `1 декабря 2026, 12:03 · Перенос 30 декабря → 2 января 2027 (сотрудник ${w.staffEmail})`,
      '1 декабря 2026, 12:02 · Перенос 12 → 14 декабря (по ссылке из письма)',
      '1 декабря 2026, 12:01 · Пропуск доставки 12 декабря отменён (в личном кабинете)',
      '1 декабря 2026, 12:00 · Пропуск доставки 12 декабря (в личном кабинете)',
    ]);
    expect(page.text).not.to.include('13 декабря'); // the other customer's change

    const english = await w.staff.get(`/staff/customers/${id}?lang=en`).expect(200);
    expect(english.text).to.include('Moved 12 → 14 December').and.include('from a mail link').and.include(`staff ${w.staffEmail}`);
    await w.staff.get('/staff?lang=ru').expect(200);

    const quiet = await w.staff.get(`/staff/customers/${other}`).expect(200);
    expect(quiet.text).to.include('Пропуск доставки 13 декабря');
    const [fresh] = await insertCustomers(w.t.db, [{ deliveryDate: '2026-11-02', interval: 'weekly' }]);
    expect((await w.staff.get(`/staff/customers/${fresh}`).expect(200)).text).to.include('Подписку ещё не меняли.');
  });

  it('when a customer has more than 30 changes, then the latest 30 are shown, read with one query through the (user_id, created_at) index', async () => {
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2026-11-02', interval: 'weekly' }]);
    const events = createSubscriptionEventModel(w.t.db);
    for (let i = 1; i <= 35; i++) {
      const row = await events.record({ userId: id!, kind: 'skip', details: { date: `2027-03-${String(i % 28 + 1).padStart(2, '0')}` }, source: 'account' });
      await w.t.db('subscription_events').where({ id: row.id }).update({ created_at: new Date(Date.UTC(2027, 0, i)) });
    }
    const queries: string[] = [];
    const listen = (q: { sql: string }) => { if (q.sql.includes('subscription_events')) queries.push(q.sql); };
    w.t.db.on('query', listen);
    const page = await w.staff.get(`/staff/customers/${id}`).expect(200);
    w.t.db.off('query', listen);
    expect(queries).to.have.length(1);
    const section = /aria-labelledby="timeline-title">([\s\S]*?)<\/section>/.exec(page.text)![1]!;
    const shown = [...section.matchAll(/<li>(\d+ \S+ \d{4})/g)].map((m) => m[1]);
    expect(shown).to.have.length(30);
    expect(shown[0]).to.equal('4 февраля 2027'); // the 35th, the newest
    expect(shown[29]).to.equal('6 января 2027'); // the 6th; the five oldest are left out
  });

  it('when staff re-syncs the customer, then the job is queued, shown on the page, and recorded', async () => {
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
    const before = await w.staff.get(`/staff/customers/${id}`).expect(200);
    expect(before.text).to.include('Обращений к amoCRM по этому клиенту ещё не было.').and.include('ещё не создана');
    await w.staff.post(`/staff/customers/${id}/resync`).type('form').send({ _csrf: csrfFrom(before.text) }).expect(303);
    const after = await w.staff.get(`/staff/customers/${id}`).expect(200);
    expect(after.text).to.include('Клиент поставлен в очередь на отправку в amoCRM.').and.include('В очереди').and.include('отправка клиента');
    expect(after.text).to.include('Действия сотрудников').and.include(w.staffEmail);
  });

  it('when staff re-sends a customer from the amoCRM page, then the one re-sync route queues it and leads back to that page; a return that is not a staff page is refused', async () => {
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
    await w.t.db('amocrm_sync_log').insert({ task: 'amocrm:sync-customer', user_id: id, job_id: 'r1', attempt: 1, outcome: 'failed', http_status: 400, message: 'Request validation failed' });
    const page = await w.staff.get('/staff/amocrm').expect(200);
    expect(page.text).to.include(`action="/staff/customers/${id}/resync"`).and.include('name="return" value="/staff/amocrm"');
    expect(page.text).not.to.include('/staff/amocrm/customers/');
    const csrf = csrfFrom(page.text);
    for (const bad of ['//evil.example/staff', 'https://evil.example/', '/staff/../account', '/account', '/staff?x=1', '']) {
      await w.staff.post(`/staff/customers/${id}/resync`).type('form').send({ _csrf: csrf, return: bad }).expect(400);
    }
    expect(await w.t.db('staff_actions').where({ customer_id: id }).first()).to.equal(undefined);
    const res = await w.staff.post(`/staff/customers/${id}/resync`).type('form').send({ _csrf: csrf, return: '/staff/amocrm' }).expect(303);
    expect(res.headers.location).to.equal('/staff/amocrm');
    expect(await w.t.db('staff_actions').where({ action: 'customer.resync', customer_id: id }).pluck('outcome')).to.deep.equal(['queued']);
    const { rows } = await w.t.db.raw('select count(*)::int as n from graphile_worker._private_jobs where key = ?', [`amocrm:customer:${id}`]);
    expect(rows[0].n).to.equal(1);
    expect((await w.staff.get('/staff/amocrm').expect(200)).text).to.include('Клиент поставлен в очередь на отправку в amoCRM.');
  });

  it('when the customer does not exist or is staff, then 404', async () => {
    await w.staff.get('/staff/customers/999999').expect(404);
    await w.staff.get(`/staff/customers/${w.staffId}`).expect(404);
    await w.staff.get('/staff/customers/abc').expect(404);
    const csrf = csrfFrom((await w.staff.get('/staff/amocrm')).text);
    await w.staff.post('/staff/customers/999999/resync').type('form').send({ _csrf: csrf }).expect(404);
    expect(await w.t.db('staff_actions').where({ subject: '999999' }).first()).to.equal(undefined);
  });

  it('when a customer has a long history (amoCRM\'s included), then the page stays ≤ 10 KB gzip with the stylesheet', async () => {
    const [id] = await insertCustomers(w.t.db, [{ email: 'long.history@example.ru', address: 'г. Москва, ул. Длинная, д. 150, кв. 400, подъезд 6, этаж 12', deliveryDate: '2029-01-31', interval: 'monthly', wishes: 'Пожелание '.repeat(200) }]);
    for (let i = 0; i < 40; i++) await insertOrder(w.t.db, { userId: id!, deliveryDate: `2030-0${1 + (i % 9)}-1${i % 10}`, status: (['placed', 'confirmed', 'cancelled'] as const)[i % 3] });
    await w.t.db('amocrm_sync_log').insert(Array.from({ length: 40 }, (_, i) => ({ task: 'amocrm:sync-customer', user_id: id, job_id: String(i), attempt: 1 + (i % 3), outcome: i % 4 ? 'ok' : 'retry', http_status: i % 4 ? 200 : 503, message: i % 4 ? null : 'Service Unavailable: amoCRM answered 503, will retry with backoff' })));
    await w.t.db('auth_events').insert(Array.from({ length: 40 }, (_, i) => ({ user_id: id, event: ['login_ok', 'logout', 'login_fail'][i % 3], ip: `10.0.${i}.${i + 1}` })));
    await w.t.db('subscription_events').insert(Array.from({ length: 40 }, (_, i) => ([
      { kind: 'cancel', details: { reason: 'other', comment: 'Уезжаем на дачу до осени, потом вернёмся — не забудьте про пионы' }, source: 'staff', staff_user_id: w.staffId },
      { kind: 'move', details: { from: '2030-01-31', to: '2030-02-02' }, source: 'mail' },
      { kind: 'gift_order', details: { orderId: 123456, recipientName: 'Анна-Мария Константинопольская' }, source: 'account' },
    ][i % 3]!)).map((e) => ({ ...e, user_id: id, details: JSON.stringify(e.details) })));
    // and the amoCRM history at its fullest: 100 kept, long managers' notes
    await w.t.db('users').where({ id }).update({ amo_lead_id: 31524299 });
    await w.t.db('amocrm_lead_history').insert({ user_id: id, lead_id: 31524299, fetched_at: new Date(), entries: JSON.stringify(Array.from({ length: 100 }, (_, i) => ({
      kind: i % 3 ? 'note' : 'event', at: new Date(Date.UTC(2026, 10, 1, 9, i)).toISOString(), author: ['Ольга Смирнова', 'Администратор'][i % 2],
      text: i % 3 ? `Звонок №${i}: клиентка просила перенести доставку на вечер, после 18:00, и в следующий раз предложить пионы вместо роз; домофон не работает, звонить на мобильный.` : 'Этап: Подписка активна → Доставка запланирована',
    }))) });
    const page = await w.staff.get(`/staff/customers/${id}`).expect(200);
    expect(page.text).to.include('Показаны последние 15.').and.include('Показаны последние 30.');
    expect(await pageProblems(page.text, { budget: 10 * 1024 })).to.deep.equal([]);
  });
});

function testAmoUrl(w: StaffWorld): string {
  return w.t.config.amocrm.baseUrl!.replace(/\/+$/, '');
}
