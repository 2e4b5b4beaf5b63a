import type { Knex } from 'knex';

// The state of a customer's subscription: paused (no delivery from paused_from up to the day before
// paused_until; both set or neither) or cancelled (no subscription delivery at all until reactivated, with the
// reason and an optional comment). The schedule indexes of migration 20261126180300 are rebuilt to leave out
// cancelled subscriptions and to carry the pause, so that the deliveries of a day stay index-only scans.
const INDEXES = [
  ['users_weekly_delivery_idx', `(((delivery_date - date '2000-01-03') % 7 + 7) % 7)`, 'weekly'],
  ['users_biweekly_delivery_idx', `(((delivery_date - date '2000-01-03') % 14 + 14) % 14)`, 'biweekly'],
  ['users_monthly_delivery_idx', '(extract(day from delivery_date))', 'monthly'],
] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.date('paused_from').nullable();
    t.date('paused_until').nullable();
    t.timestamp('cancelled_at', { useTz: true }).nullable();
    t.text('cancel_reason').nullable();
    t.text('cancel_comment').nullable();
  });
  await knex.raw(`alter table users add constraint users_pause_check
    check ((paused_from is null) = (paused_until is null) and (paused_from is null or paused_from < paused_until))`);
  await knex.raw(`alter table users add constraint users_cancel_check
    check ((cancelled_at is null) = (cancel_reason is null)
      and (cancel_reason is null or cancel_reason in ('price', 'too_often', 'moving', 'quality', 'other'))
      and (cancel_comment is null or cancelled_at is not null and char_length(cancel_comment) <= 500))`);
  for (const [name, expression, interval] of INDEXES) {
    await knex.raw(`drop index ${name}`);
    await knex.raw(`create index ${name} on users (${expression}, delivery_date) include (id, address, paused_from, paused_until)
      where interval = '${interval}' and role = 'customer' and cancelled_at is null`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const [name, expression, interval] of INDEXES) {
    await knex.raw(`drop index ${name}`);
    await knex.raw(`create index ${name} on users (${expression}, delivery_date) include (id, address)
      where interval = '${interval}' and role = 'customer'`);
  }
  await knex.raw('alter table users drop constraint users_cancel_check');
  await knex.raw('alter table users drop constraint users_pause_check');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumns('paused_from', 'paused_until', 'cancelled_at', 'cancel_reason', 'cancel_comment');
  });
}
