import type { Knex } from 'knex';

// A user's sessions (ended by a password change or reset, "log out everywhere", a promotion to staff) are found
// through this index instead of a scan of every session row. Partial: visitors' sessions carry no user. The
// expression is the text of passport's user id, so a malformed row can never make an insert fail.
export async function up(knex: Knex): Promise<void> {
  await knex.raw("create index session_user_id_idx on session ((sess #>> '{passport,user,id}')) where (sess #>> '{passport,user,id}') is not null");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index session_user_id_idx');
}
