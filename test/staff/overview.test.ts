// GET /staff: today's deliveries, this week's sign-ups, the sync queue's health and the amoCRM connection,
// each a link to its page.
import { expect } from 'chai';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { todayIn } from '../../src/i18n/i18n.js';
import { CRM_QUEUE } from '../../src/services/crm-sync/queue.js';
import { mondayOf } from '../../src/services/staff-delivery-service.js';
import { pageProblems } from '../helpers/pages.js';
import { addDays, insertCustomers, insertOrder, staffWorld, type StaffWorld } from './helpers.js';

/** The text of the overview tile that links to `href` (the figure, then its label). */
function tile(html: string, href: string, label: string): string {
  const m = new RegExp(`<a href="${href}"><b>([^<]*)</b> ${label}</a>`).exec(html);
  if (!m) throw new Error(`no tile "${label}" linking to ${href}`);
  return m[1]!;
}

describe('GET /staff (overview)', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  it('when there are deliveries today and sign-ups this week, then it counts them and links to their pages', async () => {
    const today = todayIn('Europe/Moscow');
    const monday = mondayOf(today);
    const ids = await insertCustomers(w.t.db, [
      { deliveryDate: today, interval: 'weekly', createdAt: new Date() },
      { deliveryDate: addDays(today, -14), interval: 'biweekly', createdAt: new Date(`${monday}T00:30:00+03:00`) },
      { deliveryDate: addDays(today, 1), interval: 'weekly', createdAt: new Date(`${addDays(monday, -1)}T23:30:00+03:00`) }, // Sunday before: last week
    ]);
    await insertOrder(w.t.db, { userId: ids[2]!, deliveryDate: today, status: 'confirmed' });
    await insertOrder(w.t.db, { userId: ids[2]!, deliveryDate: today, status: 'placed' });
    const page = await w.staff.get('/staff').expect(200);
    expect(tile(page.text, '/staff/deliveries', 'Доставок сегодня')).to.equal('3');
    // The staff account made by the world is not a customer; the two customers of this week are counted.
    expect(tile(page.text, '/staff/customers', 'Новых клиентов за неделю')).to.equal('2');
    expect(page.text).to.include('с понедельника');
  });

  it('when the queue is empty and amoCRM is connected, then both say so; when jobs wait or failed, then the queue needs attention', async () => {
    let page = await w.staff.get('/staff').expect(200);
    expect(tile(page.text, '/staff/amocrm', 'Очередь amoCRM')).to.equal('в порядке');
    expect(page.text).to.include('ожидают: 0, с ошибкой: 0');
    expect(tile(page.text, '/staff/amocrm', 'Подключение amoCRM')).to.equal('Подключено');

    const { jobs } = createServices({ config: w.t.config, db: w.t.db, logger: pino({ level: 'silent' }) });
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]);
    await jobs.add(w.t.db, 'amocrm:sync-customer', { userId: id }, { queue: CRM_QUEUE, jobKey: `amocrm:customer:${id}` });
    await jobs.add(w.t.db, 'amocrm:sync-customer', { userId: 0 }, { queue: CRM_QUEUE, jobKey: 'amocrm:customer:0', maxAttempts: 1 });
    await w.t.db.raw("update graphile_worker._private_jobs set created_at = now() - interval '2 hours 5 minutes' where key = ?", [`amocrm:customer:${id}`]);
    await w.t.db.raw("update graphile_worker._private_jobs set attempts = 1, last_error = 'boom' where key = 'amocrm:customer:0'");
    page = await w.staff.get('/staff').expect(200);
    expect(tile(page.text, '/staff/amocrm', 'Очередь amoCRM')).to.equal('нужна проверка');
    expect(page.text).to.include('ожидают: 1, с ошибкой: 1').and.include('дольше всех ждёт: 2 ч 5 мин');
    expect(page.text).to.include('class="s-warn"');
    expect(await pageProblems(page.text, { budget: 10 * 1024 })).to.deep.equal([]);
  });

  it('when a customer has placed the day\'s maximum of orders, then the overview counts them and links to them; yesterday\'s orders do not count', async () => {
    const [capped, busyYesterday] = await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }, { deliveryDate: '2030-01-01', interval: 'weekly' }]);
    let page = await w.staff.get('/staff').expect(200);
    expect(page.text).to.match(/<li class="s-ok"><b>0<\/b> Клиентов на дневном лимите заказов/);
    for (let i = 0; i < 5; i++) {
      await insertOrder(w.t.db, { userId: capped!, deliveryDate: '2030-01-02', status: i % 2 ? 'placed' : 'cancelled' });
      const id = await insertOrder(w.t.db, { userId: busyYesterday!, deliveryDate: '2030-01-02' });
      await w.t.db('orders').where({ id }).update({ created_at: w.t.db.raw("now() - interval '1 day'") });
    }
    await insertOrder(w.t.db, { userId: busyYesterday!, deliveryDate: '2030-01-02' });
    page = await w.staff.get('/staff').expect(200);
    expect(page.text).to.match(/<li class="s-warn"><b>1<\/b> Клиентов на дневном лимите заказов/);
    expect(page.text).to.include(`<a href="/staff/customers/${capped}">Клиент №${capped}</a>`);
    expect(page.text).not.to.include(`/staff/customers/${busyYesterday}"`);
  });
});

describe('GET /staff: the 12-week chart of sign-ups, first deliveries, confirmed orders and cancellations', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  /** The table's rows: the Monday (its datetime), then the four numbers. */
  const rowsOf = (html: string) => [...html.matchAll(/<tr><th scope="row"><time datetime="([\d-]+)">[\d.]+<\/time><\/th><td>(\d+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td><td>(\d+)<\/td><\/tr>/g)]
    .map((m) => [m[1], ...m.slice(2).map(Number)]);

  it('counts each week (shop time, Monday to Sunday) from its own column and draws it as an accessible SVG within 10 KB', async () => {
    const monday = mondayOf(todayIn('Europe/Moscow'));
    const at = (date: string, time = '12:00') => new Date(`${date}T${time}:00+03:00`);
    const far = '2031-01-06';
    // Sign-ups: two this week (one just after midnight Monday, Moscow), one in the oldest week shown, one a week older (not shown).
    const [a, b, , , cancelledNow] = await insertCustomers(w.t.db, [
      { deliveryDate: far, interval: 'weekly', createdAt: at(monday, '00:10') },
      { deliveryDate: far, interval: 'weekly', createdAt: new Date() },
      { deliveryDate: far, interval: 'weekly', createdAt: at(addDays(monday, -77)) },
      { deliveryDate: far, interval: 'weekly', createdAt: at(addDays(monday, -78), '23:50') },
      // First deliveries: one last week (created long ago), two three weeks ago.
      { deliveryDate: addDays(monday, -3), interval: 'weekly', createdAt: at(addDays(monday, -200)) },
    ]);
    await insertCustomers(w.t.db, [
      { deliveryDate: addDays(monday, -21), interval: 'biweekly', createdAt: at(addDays(monday, -200)) },
      { deliveryDate: addDays(monday, -15), interval: 'monthly', createdAt: at(addDays(monday, -200)) },
    ]);
    // Confirmed orders: three confirmed last week (one of them cancelled later: it was confirmed), one placed only.
    for (const [status, confirmedAt] of [['confirmed', at(addDays(monday, -7))], ['confirmed', at(addDays(monday, -1), '23:30')], ['cancelled', at(addDays(monday, -5))], ['placed', null]] as const) {
      const id = await insertOrder(w.t.db, { userId: a!, deliveryDate: far, status });
      if (confirmedAt) await w.t.db('orders').where({ id }).update({ confirmed_at: confirmedAt });
    }
    // Cancellations: one this week, one five weeks ago.
    await w.t.db('users').where({ id: cancelledNow }).update({ cancelled_at: new Date(), cancel_reason: 'price' });
    await w.t.db('users').where({ id: b }).update({ cancelled_at: at(addDays(monday, -33)), cancel_reason: 'moving' });

    const page = await w.staff.get('/staff').expect(200);
    const rows = rowsOf(page.text);
    expect(rows).to.have.length(12);
    const expected = Array.from({ length: 12 }, () => [0, 0, 0, 0]);
    expected[11] = [2, 0, 0, 1]; // this week
    expected[10] = [0, 1, 3, 0]; // last week
    expected[8] = [0, 2, 0, 0]; // three weeks ago (−21 and −15 days are both in it)
    expected[6] = [0, 0, 0, 1]; // five weeks ago
    expected[0] = [1, 0, 0, 0]; // the oldest week shown
    expect(rows.map((r) => r.slice(1))).to.deep.equal(expected);
    expect(rows[11]![0]).to.equal(monday);
    expect(rows[0]![0]).to.equal(addDays(monday, -77));
    expect(page.text).to.include(`<time datetime="${monday}">${monday.slice(8, 10)}.${monday.slice(5, 7)}</time>`);

    const svg = /<svg class="s-chart"[^>]*>[\s\S]*?<\/svg>/.exec(page.text)![0];
    expect(svg).to.match(/role="img" aria-labelledby="chart-title chart-desc"/);
    expect(svg).to.include('<title id="chart-title">Регистрации, первые доставки, подтверждённые заказы и отмены по неделям за 12 недель</title>');
    expect(svg).to.include('регистраций 3, первых доставок 3, подтверждённых заказов 3, отмен 2');
    // The tallest bar of a series fills its panel; a week of nothing draws no bar.
    expect(svg.match(/<rect [^>]*class="s-bar-confirmedOrders"/g)).to.have.length(1);
    expect(svg).to.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="40" class="s-bar-confirmedOrders"\/>/);
    expect(svg.match(/class="s-bar-signups"/g)).to.have.length(2);
    expect(await pageProblems(page.text, { budget: 10 * 1024 })).to.deep.equal([]);
  });
});
