import type { Knex } from 'knex';

// The table connect-pg-simple expects (its table.sql), created here rather than by createTableIfMissing so
// that the schema has one owner: the migrations.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table session (
      sid varchar not null collate "default" primary key,
      sess json not null,
      expire timestamp(6) not null
    )`);
  await knex.raw('create index session_expire_idx on session (expire)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('session');
}
