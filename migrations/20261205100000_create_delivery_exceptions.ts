import type { Knex } from 'knex';

// Changes to single deliveries of a subscription: a skip, or a move to another day. One per scheduled delivery
// (the date the calendar rule gives); who made it: the customer in the account, a one-click mail link, or staff.
// The deliveries of a day read these two ways: whether a scheduled delivery of that day was skipped or moved
// away (the unique (user_id, scheduled_date) index, or scheduled_date for a whole day), and which deliveries
// were moved onto that day (new_date).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('delivery_exceptions', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.date('scheduled_date').notNullable();
    t.text('kind').notNullable();
    t.date('new_date').nullable();
    t.text('source').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['user_id', 'scheduled_date']);
  });
  await knex.raw("alter table delivery_exceptions add constraint delivery_exceptions_kind_check check (kind in ('skip', 'move'))");
  await knex.raw(`alter table delivery_exceptions add constraint delivery_exceptions_new_date_check
    check ((kind = 'move') = (new_date is not null) and new_date is distinct from scheduled_date)`);
  await knex.raw("alter table delivery_exceptions add constraint delivery_exceptions_source_check check (source in ('account', 'mail', 'staff'))");
  await knex.raw('create index delivery_exceptions_scheduled_date_idx on delivery_exceptions (scheduled_date) include (user_id)');
  await knex.raw("create index delivery_exceptions_new_date_idx on delivery_exceptions (new_date) include (user_id, scheduled_date) where kind = 'move'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('delivery_exceptions');
}
