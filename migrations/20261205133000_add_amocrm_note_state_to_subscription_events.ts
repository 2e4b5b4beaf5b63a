import type { Knex } from 'knex';

// Each change of a subscription becomes exactly one note on the customer's amoCRM lead. amoCRM notes have no
// idempotency key, so the row remembers where its note stands: amo_note_attempted_at is set (and committed)
// before the note is posted, amo_note_id once amoCRM answered with its id. A row attempted but without an id is
// uncertain (the answer may have been lost): the lead's notes are read before it is posted again.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('subscription_events', (t) => {
    t.timestamp('amo_note_attempted_at', { useTz: true }).nullable();
    t.bigInteger('amo_note_id').nullable();
  });
  await knex.raw('create index subscription_events_note_pending_idx on subscription_events (user_id, id) where amo_note_id is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index subscription_events_note_pending_idx');
  await knex.schema.alterTable('subscription_events', (t) => {
    t.dropColumns('amo_note_attempted_at', 'amo_note_id');
  });
}
