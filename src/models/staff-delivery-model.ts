// The deliveries of one day, for staff: the subscriptions whose calendar (src/services/schedule.ts) falls on
// that day, and the confirmed one-off orders for that day. Each part is read through an index:
// users_{weekly,biweekly,monthly}_delivery_idx (migration 20261126180300, same expressions as below) and
// orders_delivery_date_confirmed_idx. Nothing here reads the whole users or orders table.
import type { Knex } from 'knex';

export type DeliveryKind = 'subscription' | 'order';
export type Delivery = {
  kind: DeliveryKind; customerId: number; email: string; address: string; bouquet: string; wishes: string; orderId: number | null;
  /** A gift order's recipient (phone +7XXXXXXXXXX) and card text; null for a subscription or an order for the customer. */
  gift: { recipientName: string; recipientPhone: string; cardMessage: string | null } | null;
};
export type Statement = { sql: string; bindings: (string | number)[] };

// Must stay identical to the index expressions of migration 20261126180300.
const WEEK_PHASE = `(((delivery_date - date '2000-01-03') % 7 + 7) % 7)`;
const FORTNIGHT_PHASE = `(((delivery_date - date '2000-01-03') % 14 + 14) % 14)`;
const MONTH_DAY = 'extract(day from delivery_date)';

const DAY_MS = 86_400_000;
const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * What a day asks of the indexes: its place in the 7- and 14-day cycles, and the days of the month whose
 * monthly subscriptions deliver on it — the day itself, and at a month's end also the days the month lacks
 * (a subscription started on the 31st delivers on 30 April and 28/29 February).
 */
export function scheduleKeys(date: string) {
  const d = new Date(`${date}T00:00:00Z`);
  const days = Math.round((d.getTime() - Date.UTC(2000, 0, 3)) / DAY_MS);
  const day = d.getUTCDate();
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  return { week: mod(days, 7), fortnight: mod(days, 14), dayFrom: day, dayTo: day === lastDay ? 31 : day };
}

// A scheduled delivery happens unless the subscription is paused on the day (the pause is carried in the
// schedule indexes) or the delivery was skipped or moved away (an exception for that customer and day).
const UNPAUSED = '(paused_from is null or ?::date < paused_from or ?::date >= paused_until)';
const KEPT = 'not exists (select 1 from delivery_exceptions e where e.user_id = users.id and e.scheduled_date = ?::date)';

// Whether the date a delivery was moved from is one the customer's rule has (as in src/services/schedule.ts):
// a change recorded for a date the rule no longer gives counts for nothing.
const SCHEDULED_ON = (date: string) => `(${date} >= u.delivery_date and case u.interval
  when 'weekly' then (${date} - u.delivery_date) % 7 = 0
  when 'biweekly' then (${date} - u.delivery_date) % 14 = 0
  else extract(day from ${date}) = least(extract(day from u.delivery_date),
    extract(day from date_trunc('month', ${date}) + interval '1 month - 1 day')) end)`;

/**
 * The day's deliveries as (kind, customer, order, address) only: three index-only scans on users (the schedule
 * indexes include the address and the pause) with an index-only look-up of the day's exceptions, the deliveries
 * moved onto the day (delivery_exceptions_new_date_idx, their customers by primary key), and one index scan on
 * orders. Sorting and counting need nothing more. src/services/deliveries.ts says the same per customer.
 */
export function keysOf(date: string): Statement {
  const k = scheduleKeys(date);
  const subscriber = `select 'subscription'::text as kind, id as customer_id, null::bigint as order_id, address from users`;
  const happens = `and ${UNPAUSED} and ${KEPT}`;
  const kept = [date, date, date];
  return {
    sql: `
      ${subscriber} where interval = 'weekly' and role = 'customer' and cancelled_at is null and ${WEEK_PHASE} = ? and delivery_date <= ?::date ${happens}
      union all
      ${subscriber} where interval = 'biweekly' and role = 'customer' and cancelled_at is null and ${FORTNIGHT_PHASE} = ? and delivery_date <= ?::date ${happens}
      union all
      ${subscriber} where interval = 'monthly' and role = 'customer' and cancelled_at is null and ${MONTH_DAY} between ? and ? and delivery_date <= ?::date ${happens}
      union all
      select 'subscription'::text, u.id, null::bigint, u.address from delivery_exceptions m join users u on u.id = m.user_id
       where m.kind = 'move' and m.new_date = ?::date and u.role = 'customer' and u.cancelled_at is null
         and ${UNPAUSED} and ${SCHEDULED_ON('m.scheduled_date')}
      union all
      select 'order'::text, user_id, id, address from orders where status = 'confirmed' and delivery_date = ?::date`,
    bindings: [k.week, date, ...kept, k.fortnight, date, ...kept, k.dayFrom, k.dayTo, date, ...kept, date, date, date, date],
  };
}

/** By address; at one address subscriptions before orders, then by order number and customer (a stable order). */
const ORDER = 'address, kind desc, order_id, customer_id';

/** The rows picked out of `keys`, completed from users and orders (with a gift's recipient) by primary key. */
const complete = (keys: string, extra = '') => `
  select d.kind, d.customer_id, d.order_id, d.address, u.email, coalesce(o.bouquet, u.bouquet) as bouquet,
         coalesce(o.wishes, u.wishes) as wishes, o.recipient_name, o.recipient_phone, o.card_message${extra}
    from ${keys} d join users u on u.id = d.customer_id left join orders o on o.id = d.order_id
   order by d.address, d.kind desc, d.order_id, d.customer_id`;

/** One page of the day's deliveries sorted by address, with the day's total on every row. */
export function deliveryPageSql(date: string, limit: number, offset: number): Statement {
  const keys = keysOf(date);
  return {
    sql: complete(`(select k.*, count(*) over () as total from (${keys.sql}) k order by ${ORDER} limit ? offset ?)`, ', d.total'),
    bindings: [...keys.bindings, limit, offset],
  };
}

/** The whole day, sorted by address (the CSV). */
export function deliveryListSql(date: string): Statement {
  const keys = keysOf(date);
  return { sql: complete(`(${keys.sql})`), bindings: keys.bindings };
}

export function deliveryCountSql(date: string): Statement {
  const keys = keysOf(date);
  return { sql: `select count(*)::int as n from (${keys.sql}) d`, bindings: keys.bindings };
}

type DeliveryRow = {
  kind: DeliveryKind; customer_id: number; email: string; address: string; bouquet: string; wishes: string; order_id: number | null;
  recipient_name: string | null; recipient_phone: string | null; card_message: string | null;
};

function toDelivery(r: DeliveryRow): Delivery {
  return {
    kind: r.kind, customerId: Number(r.customer_id), email: r.email, address: r.address, bouquet: r.bouquet, wishes: r.wishes, orderId: r.order_id === null ? null : Number(r.order_id),
    gift: r.recipient_name === null ? null : { recipientName: r.recipient_name, recipientPhone: r.recipient_phone!, cardMessage: r.card_message },
  };
}

export function createStaffDeliveryModel(db: Knex) {
  const run = async <T>({ sql, bindings }: Statement): Promise<T[]> => (await db.raw(sql, bindings)).rows as T[];
  return {
    async page(date: string, limit: number, offset: number): Promise<{ deliveries: Delivery[]; total: number | null }> {
      const rows = await run<DeliveryRow & { total: number }>(deliveryPageSql(date, limit, offset));
      return { deliveries: rows.map(toDelivery), total: rows.length ? Number(rows[0]!.total) : null };
    },
    async all(date: string): Promise<Delivery[]> {
      return (await run<DeliveryRow>(deliveryListSql(date))).map(toDelivery);
    },
    async count(date: string): Promise<number> {
      return (await run<{ n: number }>(deliveryCountSql(date)))[0]!.n;
    },
  };
}
