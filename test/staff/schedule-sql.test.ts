// The deliveries query (indexes on the weekday / 14-day phase / day of month) must give exactly what the
// calendar in src/services/schedule.ts says, on every day, month ends and leap days included — and must
// read through its indexes, not the whole tables.
import { expect } from 'chai';
import { createStaffDeliveryModel, deliveryCountSql, deliveryPageSql } from '../../src/models/staff-delivery-model.js';
import { BY_PRIMARY_KEY, BY_TRIGRAMS, containsPattern, customerMatchesSql, customerPageSql, historySql } from '../../src/models/staff-customer-model.js';
import { deliversOn } from '../../src/services/schedule.js';
import type { Interval } from '../../src/services/catalog-service.js';
import { addDays, insertCustomers, staffWorld, type StaffWorld } from './helpers.js';

type Plan = { 'Node Type': string; 'Index Name'?: string; 'Relation Name'?: string; Plans?: Plan[] };

function nodes(plan: Plan): Plan[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe('deliveries of a day in SQL', function () {
  this.timeout(120_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  it('when asked for every day of 26 months, then the SQL answer equals deliversOn for each subscription (month ends and 29 February too)', async () => {
    const firsts: string[] = [];
    for (let d = '2027-01-01'; d <= '2027-02-14'; d = addDays(d, 1)) firsts.push(d);
    firsts.push('2028-02-29', '2027-03-29', '2027-03-30', '2027-03-31', '2027-05-31', '2027-08-31', '2027-10-30', '2027-12-31',
      '1999-12-27', '1999-12-31', '2000-01-02', '2000-01-03', '2000-01-04', '1968-03-05'); // both sides of the phase anchor
    const seeds = firsts.flatMap((deliveryDate) => (['weekly', 'biweekly', 'monthly'] as Interval[]).map((interval) => ({ deliveryDate, interval })));
    const ids = await insertCustomers(w.t.db, seeds);
    const model = createStaffDeliveryModel(w.t.db);
    let days = 0;
    let matched = 0;
    for (let date = '2026-12-25'; date <= '2029-03-05'; date = addDays(date, 1)) {
      const got = new Set((await model.all(date)).map((d) => d.customerId));
      const expected = new Set(ids.filter((_, i) => deliversOn(seeds[i]!.deliveryDate, seeds[i]!.interval, date)));
      expect([...got].sort(), date).to.deep.equal([...expected].sort());
      expect(await model.count(date), date).to.equal(expected.size);
      days++;
      matched += expected.size;
    }
    expect(days).to.be.greaterThan(790);
    expect(matched).to.be.greaterThan(5000); // the comparison is not vacuous
  });

  it('when staff accounts keep old preferences, then they are not deliveries', async () => {
    const [id] = await insertCustomers(w.t.db, [{ deliveryDate: '2040-01-02', interval: 'weekly' }]);
    await w.t.db('users').where({ id }).update({ role: 'staff' });
    const list = await createStaffDeliveryModel(w.t.db).all('2040-01-09');
    expect(list.map((d) => d.customerId)).not.to.include(id);
  });

  async function plan(sql: { sql: string; bindings: (string | number)[] }, settings?: string): Promise<Plan> {
    return w.t.db.transaction(async (trx) => {
      if (settings) await trx.raw(settings);
      const { rows } = await trx.raw(`explain (format json) ${sql.sql}`, sql.bindings);
      return rows[0]['QUERY PLAN'][0].Plan as Plan;
    });
  }

  describe('with a few thousand customers and orders', () => {
    before(async () => {
      // Enough rows that PostgreSQL prefers an index where one fits (on a handful a sequential scan is cheaper);
      // the bench shows the plans at 100,000 customers and 1,000,000 orders.
      const streets = ['Садовая', 'Лесная', 'Полевая', 'Речная', 'Школьная', 'Мира', 'Гагарина', 'Победы', 'Набережная', 'Советская'];
      const intervals: Interval[] = ['weekly', 'biweekly', 'monthly'];
      const seeds = Array.from({ length: 6000 }, (_, i) => ({
        address: `ул. ${streets[i % 10]}, д. ${i % 97}, кв. ${i % 211}`, deliveryDate: addDays('2030-01-01', (i * 37) % 700), interval: intervals[i % 3]!,
      }));
      const ids = await insertCustomers(w.t.db, seeds);
      await insertCustomers(w.t.db, [{ address: 'пер. Незабудковый, 5', deliveryDate: '2031-01-01', interval: 'weekly' }]);
      for (let i = 0; i < 6000; i += 1000) {
        await w.t.db('orders').insert(ids.slice(i, i + 1000).map((userId, j) => ({
          user_id: userId, bouquet: 'luxe', delivery_date: addDays('2030-01-01', (i + j) % 700), address: 'ул. Заказная, 1', wishes: '', price_kopecks: 900_000,
          status: ['confirmed', 'placed', 'cancelled'][j % 3],
        })));
      }
      // Skips and moves on a third of the customers, pauses and cancellations on others.
      await w.t.db('delivery_exceptions').insert(ids.filter((_, i) => i % 3 === 0).map((userId, j) => {
        const scheduled = addDays('2030-01-01', (j * 11) % 700);
        return j % 2 ? { user_id: userId, scheduled_date: scheduled, kind: 'skip', source: 'account' }
          : { user_id: userId, scheduled_date: scheduled, kind: 'move', new_date: addDays(scheduled, 1 + (j % 5)), source: 'mail' };
      }));
      await w.t.db('users').whereIn('id', ids.filter((_, i) => i % 50 === 1)).update({ paused_from: '2030-06-01', paused_until: '2031-03-01' });
      await w.t.db('users').whereIn('id', ids.filter((_, i) => i % 50 === 2)).update({ cancelled_at: new Date(), cancel_reason: 'price' });
      // The subscription history: a few changes for every customer, with gifts and staff changes among them.
      const staffId = (await insertCustomers(w.t.db, [{ deliveryDate: '2030-01-01', interval: 'weekly' }]))[0]!;
      await w.t.db('users').where({ id: staffId }).update({ role: 'staff' });
      for (let i = 0; i < ids.length; i += 1000) {
        await w.t.db('subscription_events').insert(ids.slice(i, i + 1000).flatMap((userId, j) => [0, 1, 2].map((k) => (
          k === 2 && j % 4 === 0 ? { user_id: userId, kind: 'pause', details: JSON.stringify({ until: '2030-03-01' }), source: 'staff', staff_user_id: staffId }
            : { user_id: userId, kind: k ? 'gift_order' : 'skip', details: JSON.stringify(k ? { orderId: j, recipientName: 'Анна' } : { date: '2030-02-01' }), source: 'account' }))));
      }
      await w.t.db.raw('analyze subscription_events');
      await w.t.db.raw('vacuum analyze delivery_exceptions');
      await w.t.db.raw('vacuum analyze users'); // as autovacuum would: the visibility map lets the scans stay index-only
      await w.t.db.raw('analyze orders');
    });

    it('reads the day through the three schedule indexes (index-only), the exceptions\' and the confirmed-orders indexes, never a sequential scan', async () => {
      for (const statement of [deliveryPageSql('2031-01-31', 50, 0), deliveryCountSql('2031-01-31')]) {
        const all = nodes(await plan(statement));
        expect(all.map((n) => n['Index Name']).filter(Boolean)).to.include.members(['users_weekly_delivery_idx', 'users_biweekly_delivery_idx', 'users_monthly_delivery_idx', 'orders_delivery_date_confirmed_idx', 'delivery_exceptions_new_date_idx']);
        expect(all.some((n) => /^delivery_exceptions_(scheduled_date_idx|user_id_scheduled_date_unique)$/.test(n['Index Name'] ?? ''))).to.equal(true);
        expect(all.filter((n) => /^users_\w+_delivery_idx$/.test(n['Index Name'] ?? '')).map((n) => n['Node Type'])).to.deep.equal(['Index Only Scan', 'Index Only Scan', 'Index Only Scan']);
        expect(all.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name'])).to.deep.equal([]);
      }
    });

    it('reads a customer\'s subscription history through the (user_id, created_at) index and the staff member by primary key, never a sequential scan', async () => {
      const someone = (await w.t.db('subscription_events').where({ source: 'staff' }).first('user_id')).user_id;
      const all = nodes(await plan(historySql(Number(someone), 30)));
      expect(all.map((n) => n['Index Name']).filter(Boolean)).to.include.members(['subscription_events_user_id_created_at_index', 'users_pkey']);
      expect(all.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name'])).to.deep.equal([]);
    });

    it('finds customers by a fragment of email or address through the trigram indexes, and pages broad searches through the primary key', async () => {
      const search = { pattern: containsPattern('незабудк'), number: 42, limit: 51 };
      const matches = nodes(await plan(customerMatchesSql(search), BY_TRIGRAMS));
      expect(matches.map((n) => n['Index Name']).filter(Boolean)).to.include.members(['users_email_trgm_idx', 'users_address_trgm_idx', 'users_pkey']);
      expect(matches.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name'])).to.deep.equal([]);
      const broad = nodes(await plan(customerPageSql({ ...search, after: 5000 }), BY_PRIMARY_KEY));
      expect(broad.map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}`)).to.include('Index Scan users_pkey');
      expect(broad.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name'])).to.deep.equal([]);
    });
  });
});
