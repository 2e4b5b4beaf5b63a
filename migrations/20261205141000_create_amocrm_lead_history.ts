import type { Knex } from 'knex';

// The customer's lead history as last read from amoCRM (its notes and events in words, newest first, at most 100),
// with when it was read: the staff customer page shows it without asking amoCRM. One row per customer, replaced
// whole by the job that reads it; deleted with the customer's personal data.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_lead_history', (t) => {
    t.bigInteger('user_id').primary().references('users.id').onDelete('CASCADE');
    t.bigInteger('lead_id').notNullable();
    t.jsonb('entries').notNullable();
    t.timestamp('fetched_at', { useTz: true }).notNullable();
  });
  await knex.raw(`alter table amocrm_lead_history add constraint amocrm_lead_history_entries_check check (jsonb_typeof(entries) = 'array')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_lead_history');
}
