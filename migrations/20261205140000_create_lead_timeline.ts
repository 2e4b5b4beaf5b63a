import type { Knex } from 'knex';

// The customer's own timeline on /account and /account/history, from local data only.
// lead_stage_changes: each stage the customer's lead entered, as the webhook or the reconciliation brought it (the
// first row is the stage the new lead got), with the stage's name at the time and when it happened (amoCRM's
// updated_at of the lead). sent_mails: the notices the shop mailed to a customer (password or email changed, email
// confirmation, …), one row when the mail server accepted one; what kind, never the content.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('lead_stage_changes', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('status_id').notNullable();
    t.bigInteger('pipeline_id').nullable();
    t.text('stage_name').nullable();
    t.timestamp('changed_at', { useTz: true }).notNullable();
    t.text('source').notNullable();
    t.timestamp('recorded_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id', 'changed_at']);
  });
  await knex.raw("alter table lead_stage_changes add constraint lead_stage_changes_source_check check (source in ('lead_created', 'amocrm'))");
  await knex.schema.createTable('sent_mails', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.timestamp('sent_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id', 'sent_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('sent_mails');
  await knex.schema.dropTable('lead_stage_changes');
}
