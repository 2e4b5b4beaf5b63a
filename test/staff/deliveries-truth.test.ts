// One source of truth: the SQL of "the deliveries of a day" (src/models/staff-delivery-model.ts) and the
// per-customer function (src/services/deliveries.ts) must agree on every day. Random subscriptions of all
// three intervals with random skips, moves, pauses, cancellations and orders go into a real database; for
// each of 26 months' days the SQL's deliveries equal those the function gives from the stored rows.
import { expect } from 'chai';
import { createStaffDeliveryModel } from '../../src/models/staff-delivery-model.js';
import { createSubscriptionModel } from '../../src/models/subscription-model.js';
import type { Interval } from '../../src/services/catalog-service.js';
import { deliversOn } from '../../src/services/schedule.js';
import {
  canMove, deliveriesBetween, type DeliveryException, type OneOffOrder, type Subscription,
} from '../../src/services/deliveries.js';
import { addDays, insertCustomers, staffWorld, type StaffWorld } from './helpers.js';

const FROM = '2026-12-01';
const TO = '2029-01-31';
const CUSTOMERS = 400;

/** A small seeded generator (mulberry32), so that a failing run can be repeated with its seed. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { chance: (p: number) => next() < p, int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

type Customer = { subscription: Subscription; exceptions: DeliveryException[]; orders: OneOffOrder[] };

function randomCustomer(r: ReturnType<typeof generator>): Customer {
  const interval = r.pick<Interval>(['weekly', 'biweekly', 'monthly']);
  const firstDate = r.chance(0.1) ? r.pick(['2027-01-31', '2027-03-30', '2028-02-29', '2026-10-31']) : addDays('2026-09-01', r.int(0, 820));
  const pause = r.chance(0.3) ? addDays('2026-11-01', r.int(0, 800)) : null;
  const subscription: Subscription = {
    firstDate, interval, pausedFrom: pause, pausedUntil: pause && addDays(pause, r.int(1, 183)), cancelled: r.chance(0.08),
  };
  const exceptions: DeliveryException[] = [];
  // The changes were made before the pause or the cancellation (which leave them in place).
  const active = { ...subscription, pausedFrom: null, pausedUntil: null, cancelled: false };
  const scheduled = deliveriesBetween(active, [], [], addDays(FROM, -40), TO);
  const longAgo = new Date('2020-01-01T00:00:00Z'); // nothing is locked yet
  const rules = { cutoff: '18:00', timeZone: 'Europe/Moscow' };
  for (const { date } of scheduled) {
    if (r.chance(0.15)) exceptions.push({ scheduledDate: date, kind: 'skip', newDate: null });
    else if (r.chance(0.2)) {
      const newDate = addDays(date, r.int(-4, interval === 'monthly' ? 31 : interval === 'weekly' ? 7 : 14));
      // Only moves the rules allow (never onto another delivery), as the account, mails and staff make them.
      if (canMove(active, exceptions, date, newDate, longAgo, rules) === null) exceptions.push({ scheduledDate: date, kind: 'move', newDate });
    }
  }
  // Changes left over from an earlier first date, on days the rule no longer has: they count for nothing.
  if (r.chance(0.1)) {
    const stale = addDays(firstDate, r.int(1, 6) + 7 * r.int(0, 20));
    if (!deliversOn(firstDate, interval, stale)) {
      exceptions.push(r.chance(0.5) ? { scheduledDate: stale, kind: 'skip', newDate: null } : { scheduledDate: stale, kind: 'move', newDate: addDays(stale, 1) });
    }
  }
  const orders = Array.from({ length: r.int(0, 3) }, (_, i) => ({
    id: i, deliveryDate: addDays(FROM, r.int(-5, 800)), status: r.pick(['placed', 'confirmed', 'confirmed', 'cancelled'] as const),
  }));
  return { subscription, exceptions, orders };
}

describe('deliveries of a day: the SQL and the function agree', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  before(async () => { w = await staffWorld(); });
  after(() => w.close());

  it('when 400 random subscriptions with skips, moves, pauses, cancellations and orders are stored, then every day of 26 months the SQL lists exactly the deliveries the function gives', async () => {
    const seed = Date.now() % 1_000_000;
    const r = generator(seed);
    const customers = Array.from({ length: CUSTOMERS }, () => randomCustomer(r));
    const ids = await insertCustomers(w.t.db, customers.map((c) => ({ deliveryDate: c.subscription.firstDate, interval: c.subscription.interval })));
    const expected = new Map<string, string[]>();
    for (const [i, c] of customers.entries()) {
      const id = ids[i]!;
      const { pausedFrom, pausedUntil, cancelled } = c.subscription;
      if (pausedFrom || cancelled) {
        await w.t.db('users').where({ id }).update({
          paused_from: pausedFrom, paused_until: pausedUntil, ...(cancelled ? { cancelled_at: new Date(), cancel_reason: 'other', cancel_comment: 'Уезжаю' } : {}),
        });
      }
      if (c.exceptions.length) {
        await w.t.db('delivery_exceptions').insert(c.exceptions.map((e) => ({
          user_id: id, scheduled_date: e.scheduledDate, kind: e.kind, new_date: e.newDate, source: r.pick(['account', 'mail', 'staff']),
        })));
      }
      if (c.orders.length) {
        await w.t.db('orders').insert(c.orders.map((o) => ({
          user_id: id, bouquet: 'luxe', delivery_date: o.deliveryDate, address: 'ул. Заказная, 1', price_kopecks: 900_000, status: o.status,
        })));
      }
    }
    // The function is fed from the database (src/models/subscription-model.ts), as the account pages will feed it.
    const subscriptions = createSubscriptionModel(w.t.db);
    for (const id of ids) {
      const stored = (await subscriptions.load(id, FROM, TO))!;
      for (const e of deliveriesBetween(stored.subscription, stored.exceptions, stored.orders, FROM, TO)) {
        if (e.state === 'skipped' || e.state === 'paused') continue;
        const key = e.state === 'order' ? `${id}:order ${e.orderId}` : `${id}:subscription`;
        expected.set(e.date, [...(expected.get(e.date) ?? []), key]);
      }
    }
    const model = createStaffDeliveryModel(w.t.db);
    const counts = { days: 0, deliveries: 0, moved: 0, skippedOrPaused: 0 };
    for (let date = FROM; date <= TO; date = addDays(date, 1)) {
      const got = (await model.all(date)).map((d) => (d.kind === 'order' ? `${d.customerId}:order ${d.orderId}` : `${d.customerId}:subscription`));
      const want = expected.get(date) ?? [];
      expect(got.sort(), `${date} (seed ${seed})`).to.deep.equal(want.sort());
      counts.days++;
      counts.deliveries += want.length;
    }
    for (const c of customers) {
      for (const e of deliveriesBetween(c.subscription, c.exceptions, c.orders, FROM, TO)) {
        if (e.state === 'moved') counts.moved++;
        if (e.state === 'skipped' || e.state === 'paused') counts.skippedOrPaused++;
      }
    }
    // The comparison is not vacuous: thousands of deliveries, hundreds of moves, skips and pauses.
    expect(counts.days).to.equal(793);
    expect(counts.deliveries).to.be.greaterThan(10_000);
    expect(counts.moved).to.be.greaterThan(300);
    expect(counts.skippedOrPaused).to.be.greaterThan(1000);
  });
});
