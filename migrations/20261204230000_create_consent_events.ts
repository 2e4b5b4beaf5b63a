import type { Knex } from 'knex';

// The consent log (152-FZ): every grant and withdrawal of a consent, with the document's version and the SHA-256
// of the exact text the customer was shown, when, from where. Append-only: the database itself refuses to change
// or remove a row (UPDATE, DELETE, TRUNCATE raise), so no bug or hand-written query can rewrite the record.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('consent_events', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id');
    t.text('document').notNullable();
    t.text('action').notNullable();
    t.text('version').notNullable();
    t.specificType('text_sha256', 'char(64)').notNullable();
    t.text('language').notNullable();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('ip').nullable();
    t.text('user_agent').nullable();
    t.index(['user_id', 'document', 'id']);
  });
  await knex.raw(`alter table consent_events
    add constraint consent_events_document_check check (document in ('personal-data', 'marketing', 'analytics')),
    add constraint consent_events_action_check check (action in ('grant', 'withdraw')),
    add constraint consent_events_sha256_check check (text_sha256 ~ '^[0-9a-f]{64}$')`);
  await knex.raw(`create function consent_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'consent_events is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`);
  await knex.raw(`create trigger consent_events_no_update_delete before update or delete on consent_events
    for each row execute function consent_events_append_only()`);
  await knex.raw(`create trigger consent_events_no_truncate before truncate on consent_events
    for each statement execute function consent_events_append_only()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('consent_events');
  await knex.raw('drop function consent_events_append_only()');
}
