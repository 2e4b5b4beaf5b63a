import type { Knex } from 'knex';

// Staff accounts are not subscriptions: only customers must have bouquet preferences and an account sum.
const COLUMNS = ['bouquet', 'address', 'delivery_date', 'interval', 'account_sum_kopecks'];

export async function up(knex: Knex): Promise<void> {
  for (const c of COLUMNS) await knex.raw(`alter table users alter column ${c} drop not null`);
  await knex.raw(`alter table users add constraint users_customer_preferences_check check (
    role <> 'customer' or (${COLUMNS.map((c) => `${c} is not null`).join(' and ')}))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table users drop constraint users_customer_preferences_check');
  for (const c of COLUMNS) await knex.raw(`alter table users alter column ${c} set not null`);
}
