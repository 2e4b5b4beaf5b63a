import type { Knex } from 'knex';

// The account's pipeline stages as last read, to show a lead's stage by its name.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_statuses', (t) => {
    t.bigInteger('status_id').notNullable();
    t.bigInteger('pipeline_id').notNullable();
    t.text('name').notNullable();
    t.text('pipeline_name').notNullable();
    t.primary(['pipeline_id', 'status_id']);
    t.index('status_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_statuses');
}
