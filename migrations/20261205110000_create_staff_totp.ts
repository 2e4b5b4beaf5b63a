import type { Knex } from 'knex';

// The second factor of a staff account: the TOTP secret sealed with a key derived from SESSION_SECRET (S23), the
// time it was confirmed (null while enrolment is pending), the last time step accepted (a code is never taken
// twice), and ten recovery codes kept only as hashes, each marked when used.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('staff_totp', (t) => {
    t.bigInteger('user_id').primary().references('users.id').onDelete('CASCADE');
    t.text('secret_enc').notNullable();
    t.timestamp('enabled_at', { useTz: true }).nullable();
    t.bigInteger('last_step').nullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('staff_recovery_codes', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.binary('code_hash').notNullable();
    t.timestamp('used_at', { useTz: true }).nullable();
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('staff_recovery_codes');
  await knex.schema.dropTable('staff_totp');
}
