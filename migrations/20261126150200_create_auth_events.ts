import type { Knex } from 'knex';

// The account-security audit trail (SECURITY S18).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('auth_events', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.bigInteger('user_id').nullable().references('users.id').onDelete('SET NULL');
    t.text('event').notNullable();
    t.text('ip').nullable();
    t.text('user_agent').nullable();
    t.index(['user_id', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('auth_events');
}
