import type { Knex } from 'knex';

// The lead fields of the account as last read: our role → amoCRM field id, type and enum values.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_fields', (t) => {
    t.text('role').primary();
    t.text('name').notNullable();
    t.bigInteger('field_id').notNullable();
    t.text('type').notNullable();
    t.jsonb('enums').notNullable().defaultTo('[]');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_fields');
}
