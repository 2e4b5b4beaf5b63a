import type { Knex } from 'knex';

// Delivery reminders. users.reminders_opt_out_at: the customer asked for no reminder mails (null: they get them).
// reminders: one row per (customer, delivery date) claimed by the planning job in the transaction that queues
// the mail, so that a delivery is reminded of at most once however many workers plan it or how often a job is
// retried; sent_at is set when the SMTP server has accepted the mail. mail_action_uses: the SHA-256 of each
// one-click mail link that was used (single use), kept until the link would have expired anyway.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('reminders_opt_out_at', { useTz: true }).nullable();
  });
  await knex.schema.createTable('reminders', (t) => {
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.date('delivery_date').notNullable();
    t.timestamp('planned_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('sent_at', { useTz: true }).nullable();
    t.primary(['user_id', 'delivery_date']);
    t.index(['delivery_date']);
  });
  await knex.schema.createTable('mail_action_uses', (t) => {
    t.binary('token_hash').primary();
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('used_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['user_id']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('mail_action_uses');
  await knex.schema.dropTable('reminders');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('reminders_opt_out_at');
  });
}
