import type { Knex } from 'knex';

// The staff page lists the newest failures that no later attempt has overtaken, without reading the whole log.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index amocrm_sync_log_failed_idx on amocrm_sync_log (id) where outcome = \'failed\'');
  await knex.raw('create index amocrm_sync_log_task_user_idx on amocrm_sync_log (task, user_id, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index amocrm_sync_log_failed_idx');
  await knex.raw('drop index amocrm_sync_log_task_user_idx');
}
