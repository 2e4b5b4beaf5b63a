import type { Knex } from 'knex';

// What staff did and when (a re-sync, a job retry, connecting amoCRM …): who (id, and the email at the time,
// kept when the account goes), from where, about which customer or job, and how it ended.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('staff_actions', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.bigInteger('staff_id').nullable().references('users.id').onDelete('SET NULL');
    t.text('staff_email').notNullable();
    t.text('action').notNullable();
    t.bigInteger('customer_id').nullable().references('users.id').onDelete('SET NULL');
    t.text('subject').nullable();
    t.text('outcome').nullable();
    t.text('ip').nullable();
    t.index(['at']);
    t.index(['customer_id', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('staff_actions');
}
