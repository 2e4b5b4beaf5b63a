import type { Knex } from 'knex';

// The customer's lead and contact in amoCRM, what was last sent there (to PATCH only what changed), and the
// lead's stage as amoCRM last reported it.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.bigInteger('amo_lead_id').nullable().unique();
    t.bigInteger('amo_contact_id').nullable();
    t.jsonb('amo_snapshot').nullable();
    t.timestamp('amo_synced_at', { useTz: true }).nullable();
    t.bigInteger('amo_status_id').nullable();
    t.bigInteger('amo_pipeline_id').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropColumns('amo_lead_id', 'amo_contact_id', 'amo_snapshot', 'amo_synced_at', 'amo_status_id', 'amo_pipeline_id');
  });
}
