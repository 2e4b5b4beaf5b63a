import type { Knex } from 'knex';

// Every attempt to reach amoCRM, for staff: what, for whom, how it ended, and amoCRM's own words.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_sync_log', (t) => {
    t.bigIncrements('id');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('task').notNullable();
    t.bigInteger('user_id').nullable().references('users.id').onDelete('SET NULL');
    t.text('job_id').nullable();
    t.integer('attempt').nullable();
    t.text('outcome').notNullable();
    t.integer('http_status').nullable();
    t.text('message').nullable();
    t.jsonb('details').nullable();
    t.index(['user_id', 'at']);
    t.index(['outcome', 'at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_sync_log');
}
