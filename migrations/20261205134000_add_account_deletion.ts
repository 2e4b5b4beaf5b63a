import type { Knex } from 'knex';

// Deleting an account (152-FZ): the row stays, because the consent log and the orders (accounting) point at it,
// but everything personal in it is erased and `deleted_at` says when. A deleted customer has no preferences any
// more, so the customers' preference check lets a deleted row through.
//
// The consent log stays append-only with one narrowly defined exception: once the user is deleted, an UPDATE
// that only sets `ip` and `user_agent` to NULL is let through. What proves the consent — the user id, the
// document, its version, the SHA-256 of the text, the language and the time — can never change, and nothing can
// be deleted. The IP and user agent identify the person, and after the deletion there is no purpose left that
// would justify keeping them.
const PREFERENCES = ['bouquet', 'address', 'delivery_date', 'interval', 'account_sum_kopecks'];

const STRICT_APPEND_ONLY = `create or replace function consent_events_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'consent_events is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.timestamp('deleted_at', { useTz: true }).nullable();
  });
  await knex.raw('alter table users drop constraint users_customer_preferences_check');
  await knex.raw(`alter table users add constraint users_customer_preferences_check check (
    role <> 'customer' or deleted_at is not null or (${PREFERENCES.map((c) => `${c} is not null`).join(' and ')}))`);
  await knex.raw(`create or replace function consent_events_append_only() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE' and new.ip is null and new.user_agent is null
         and (new.id, new.user_id, new.document, new.action, new.version, new.text_sha256, new.language, new.at)
             is not distinct from (old.id, old.user_id, old.document, old.action, old.version, old.text_sha256, old.language, old.at)
         and exists (select 1 from users where id = old.user_id and deleted_at is not null) then
        return new; -- the deleted user's IP and user agent are erased; the proof of consent stays as it was
      end if;
      raise exception 'consent_events is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end $$`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(STRICT_APPEND_ONLY);
  await knex.raw('alter table users drop constraint users_customer_preferences_check');
  await knex.raw(`alter table users add constraint users_customer_preferences_check check (
    role <> 'customer' or (${PREFERENCES.map((c) => `${c} is not null`).join(' and ')}))`);
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('deleted_at');
  });
}
