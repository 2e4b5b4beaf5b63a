import type { Knex } from 'knex';

// New sign-ups of a period (the staff overview) without reading every customer. Not partial on role: a
// partial index that every customer query "matches" would tempt the planner into reading all of it.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index users_created_at_idx on users (created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index users_created_at_idx');
}
