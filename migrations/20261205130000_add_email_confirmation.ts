import type { Knex } from 'knex';

// Confirmed addresses: when the current address was confirmed (null: not yet), the new address of a change that
// waits for its confirmation, and the confirmation links — only SHA-256 of each token, bound to the user, the
// address it confirms and the user's auth_version at issue time (SECURITY S7).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('email_confirmed_at', { useTz: true }).nullable();
    t.text('pending_email').nullable();
  });
  await knex.schema.createTable('email_confirmations', (t) => {
    t.binary('token_hash').primary();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('email').notNullable();
    t.integer('auth_version').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index('user_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('email_confirmations');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('pending_email');
    t.dropColumn('email_confirmed_at');
  });
}
