// GET /staff: today's deliveries, this week's sign-ups, the sync queue's health and the amoCRM connection,
// each a link to its page.
import { expect } from 'chai';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { todayIn } from '../../src/i18n/i18n.js';
import { CRM_QUEUE } from '../../src/services/crm-sync-service.js';
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
