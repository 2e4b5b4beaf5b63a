import type { Knex } from 'knex';

// Webhook deliveries from amoCRM as received (raw body), deduplicated by X-Amocrm-Requestid.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_webhooks', (t) => {
    t.bigIncrements('id');
    t.text('request_id').nullable().unique();
    t.text('raw').notNullable();
    t.specificType('lead_ids', 'bigint[]').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('processed_at', { useTz: true }).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_webhooks');
}
