import type { Knex } from 'knex';

// Up to when amoCRM's changes have been read back by the periodic reconciliation.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('amocrm_connection', (t) => {
    t.timestamp('reconciled_until', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('amocrm_connection', (t) => {
    t.dropColumn('reconciled_until');
  });
}
