import type { Knex } from 'knex';

// Sign-in codes sent by mail: one live code per account, kept only as a keyed hash, with the user's auth_version at
// issue time and the number of tries made against it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('login_codes', (t) => {
    t.bigInteger('user_id').primary().references('users.id').onDelete('CASCADE');
    t.binary('code_hash').notNullable();
    t.integer('auth_version').notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('login_codes');
}
