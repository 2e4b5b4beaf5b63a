import type { Knex } from 'knex';

// Staff search customers by any fragment of the email or the address (`ilike '%…%'`): trigram GIN indexes,
// so that a search never reads the whole users table. Not partial (on role): a partial index can be read
// whole for its predicate alone, which the planner may prefer to using the pattern.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index users_email_trgm_idx on users using gin (email gin_trgm_ops)');
  await knex.raw('create index users_address_trgm_idx on users using gin (address gin_trgm_ops)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index users_address_trgm_idx');
  await knex.raw('drop index users_email_trgm_idx');
}
