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
  /**
   * Rows of `table` whose `column` (a timestamptz) falls in each week: bucketed by width_bucket over the 13 week
   * boundaries in shop time (exact across a clock change, and cheap per row), range-limited so the index serves it.
   */
  async function perWeek(table: string, column: string, extra: string, from: string, weeks: number, timeZone: string): Promise<number[]> {
    const { rows } = await db.raw(`
      with b as (select array(select (d::timestamp at time zone :tz) from generate_series(:from::date, :from::date + :days::int, interval '7 days') d) as t)
      select width_bucket(${column}, (select t from b)) as i, count(*)::int as n from ${table}
       where ${column} >= (:from::date::timestamp at time zone :tz) and ${column} < ((:from::date + :days::int)::timestamp at time zone :tz) ${extra}
       group by 1`, { tz: timeZone, from, days: weeks * 7 });
    return bucketed(rows as { i: number; n: number }[], weeks);
  }

  return {
    async counts(from: string, to: string, timeZone: string): Promise<WeekCounts[]> {
      const weeks = Math.round((Date.parse(to) - Date.parse(from)) / (7 * 86_400_000)) + 1;
      const [signups, confirmedOrders, cancellations, firstDeliveries] = await Promise.all([
        perWeek('users', 'created_at', "and role = 'customer'", from, weeks, timeZone),
        perWeek('orders', 'confirmed_at', '', from, weeks, timeZone),
        perWeek('users', 'cancelled_at', '', from, weeks, timeZone),
        db.raw(`select (delivery_date - :from::date) / 7 + 1 as i, count(*)::int as n from users
                 where role = 'customer' and delivery_date >= :from::date and delivery_date < :from::date + :days::int group by 1`, { from, days: weeks * 7 })
          .then(({ rows }: { rows: { i: number; n: number }[] }) => bucketed(rows, weeks)),
      ]);
      return Array.from({ length: weeks }, (_, i) => ({
        week: new Date(Date.parse(`${from}T00:00:00Z`) + i * 7 * 86_400_000).toISOString().slice(0, 10),
        signups: signups[i]!, firstDeliveries: firstDeliveries[i]!, confirmedOrders: confirmedOrders[i]!, cancellations: cancellations[i]!,
      }));
    },
  };
}

/** Counts by 1-based bucket → one number a week. */
function bucketed(rows: { i: number; n: number }[], weeks: number): number[] {
  const counts = new Array<number>(weeks).fill(0);
  for (const r of rows) if (r.i >= 1 && r.i <= weeks) counts[r.i - 1] = r.n;
  return counts;
}
