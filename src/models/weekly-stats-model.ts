import type { Knex } from 'knex';

export const WEEKLY_SERIES = ['signups', 'firstDeliveries', 'confirmedOrders', 'cancellations'] as const;
export type WeeklySeries = (typeof WEEKLY_SERIES)[number];
export type WeekCounts = { week: string } & Record<WeeklySeries, number>;

/**
 * Per shop week (Monday to Sunday, shop time), from the week of `from` to the week of `to`: customers who signed
 * up, customers whose first delivery falls in it, orders confirmed in it and subscriptions cancelled in it. Each
 * count is a range scan of its own index (users_created_at_idx, users_first_delivery_idx, orders_confirmed_at_idx,
 * users_cancelled_at_idx), so the cost follows the weeks' activity, not the number of customers or orders.
 */
export function createWeeklyStatsModel(db: Knex) {
  return {
    async counts(from: string, to: string, timeZone: string): Promise<WeekCounts[]> {
      const { rows } = await db.raw(`
        with bounds as (select ?::date as first, ?::date + 7 as after, ?::text as tz),
        span as (select (first::timestamp at time zone tz) as start, (after::timestamp at time zone tz) as stop from bounds),
        weeks as (select generate_series(first, after - 7, interval '7 days')::date as week from bounds),
        s as (select date_trunc('week', created_at at time zone (select tz from bounds))::date as week, count(*)::int as n
              from users, span where role = 'customer' and created_at >= span.start and created_at < span.stop group by 1),
        d as (select date_trunc('week', delivery_date)::date as week, count(*)::int as n
              from users, bounds where role = 'customer' and delivery_date >= bounds.first and delivery_date < bounds.after group by 1),
        o as (select date_trunc('week', confirmed_at at time zone (select tz from bounds))::date as week, count(*)::int as n
              from orders, span where confirmed_at >= span.start and confirmed_at < span.stop group by 1),
        c as (select date_trunc('week', cancelled_at at time zone (select tz from bounds))::date as week, count(*)::int as n
              from users, span where cancelled_at >= span.start and cancelled_at < span.stop group by 1)
        select to_char(w.week, 'YYYY-MM-DD') as week, coalesce(s.n, 0) as signups, coalesce(d.n, 0) as "firstDeliveries",
               coalesce(o.n, 0) as "confirmedOrders", coalesce(c.n, 0) as cancellations
          from weeks w left join s using (week) left join d using (week) left join o using (week) left join c using (week)
         order by w.week`, [from, to, timeZone]);
      return rows as WeekCounts[];
    },
  };
}
