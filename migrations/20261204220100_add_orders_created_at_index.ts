import type { Knex } from 'knex';

// Today's orders (the daily cap per customer and the staff overview's count of customers at the cap) without
// reading every order ever placed.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index orders_created_at_idx on orders (created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index orders_created_at_idx');
}
