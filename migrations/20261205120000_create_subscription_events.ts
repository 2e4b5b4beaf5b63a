import type { Knex } from 'knex';

// The history of a customer's subscription: every change to it (skip, move, pause, cancel, a gift order, the
// reminder setting…), with its details, where it was made (the account, a one-click mail link, staff) and by which
// staff member. Staff read it as the customer's timeline; the amoCRM sync turns each row into one note on the lead.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('subscription_events', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('kind').notNullable();
    t.jsonb('details').notNullable().defaultTo('{}');
    t.text('source').notNullable();
    t.bigInteger('staff_user_id').nullable().references('users.id').onDelete('SET NULL');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id', 'created_at']);
  });
  await knex.raw(`alter table subscription_events add constraint subscription_events_kind_check check (kind in
    ('skip', 'unskip', 'move', 'pause', 'resume', 'cancel', 'reactivate', 'gift_order', 'reminders_off', 'reminders_on'))`);
  await knex.raw("alter table subscription_events add constraint subscription_events_source_check check (source in ('account', 'mail', 'staff'))");
  await knex.raw("alter table subscription_events add constraint subscription_events_staff_check check ((source = 'staff') = (staff_user_id is not null))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('subscription_events');
}
