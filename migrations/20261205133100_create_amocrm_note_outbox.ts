import type { Knex } from 'knex';

// Notes for the customer's amoCRM lead that are not subscription changes: a preference changed on the site
// (old → new) and a confirmed order. Written in the transaction that decides them (the snapshot of what was
// sent, the order's lead id), then sent by the customer's sync job with the same exactly-once bookkeeping as
// subscription_events: attempted (committed before the post), then amoCRM's note id.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_note_outbox', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('text').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('amo_note_attempted_at', { useTz: true }).nullable();
    t.bigInteger('amo_note_id').nullable();
  });
  await knex.raw('alter table amocrm_note_outbox add constraint amocrm_note_outbox_text_check check (char_length(text) between 1 and 4000)');
  await knex.raw('create index amocrm_note_outbox_pending_idx on amocrm_note_outbox (user_id, id) where amo_note_id is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_note_outbox');
}
