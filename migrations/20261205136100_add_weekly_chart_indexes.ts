import type { Knex } from 'knex';

// The staff overview's 12-week chart counts, per week, confirmed orders by confirmed_at, cancellations by
// users.cancelled_at and first deliveries by users.delivery_date; sign-ups use users_created_at_idx. Each count is
// then a range scan of a small partial index, not a read of 100,000 customers or 1,000,000 orders.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index orders_confirmed_at_idx on orders (confirmed_at) where confirmed_at is not null');
  await knex.raw('create index users_cancelled_at_idx on users (cancelled_at) where cancelled_at is not null');
  await knex.raw("create index users_first_delivery_idx on users (delivery_date) where role = 'customer'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index users_first_delivery_idx');
  await knex.raw('drop index users_cancelled_at_idx');
  await knex.raw('drop index orders_confirmed_at_idx');
}
