import type { Knex } from 'knex';

// The one amoCRM connection: OAuth tokens (encrypted), the account host, and whether sending is possible.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_connection', (t) => {
    t.integer('id').primary().checkIn(['1']);
    t.text('base_url').nullable();
    t.text('access_token_enc').nullable();
    t.text('refresh_token_enc').nullable();
    t.timestamp('expires_at', { useTz: true }).nullable();
    t.text('state').notNullable().defaultTo('disconnected');
    t.text('state_reason').nullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw("alter table amocrm_connection add constraint amocrm_connection_state_check check (state in ('disconnected', 'connected', 'needs_reauth', 'paused'))");
  await knex('amocrm_connection').insert({ id: 1 });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_connection');
}
