import type { Knex } from 'knex';

// The subscriptions that deliver on a given day, found by index instead of by reading every customer
// (the calendar is src/services/schedule.ts; src/models/staff-delivery-model.ts queries these expressions):
// - weekly: the first delivery date's place in a 7-day cycle (days since Monday 2000-01-03, modulo 7);
// - biweekly: the same in a 14-day cycle;
// - monthly: the first delivery date's day of the month (a day past the end of a shorter month delivers on its
//   last day, so the query asks for a range of days at a month's end).
// delivery_date is the second column, for the "first delivery on or before the day" condition; the address is
// included so that a day's list is sorted from the indexes alone (index-only scans), and only the customers on
// the page shown are read from the table.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index users_weekly_delivery_idx on users
    ((((delivery_date - date '2000-01-03') % 7 + 7) % 7), delivery_date) include (id, address)
    where interval = 'weekly' and role = 'customer'`);
  await knex.raw(`create index users_biweekly_delivery_idx on users
    ((((delivery_date - date '2000-01-03') % 14 + 14) % 14), delivery_date) include (id, address)
    where interval = 'biweekly' and role = 'customer'`);
  await knex.raw(`create index users_monthly_delivery_idx on users
    ((extract(day from delivery_date)), delivery_date) include (id, address)
    where interval = 'monthly' and role = 'customer'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index users_monthly_delivery_idx');
  await knex.raw('drop index users_biweekly_delivery_idx');
  await knex.raw('drop index users_weekly_delivery_idx');
}
