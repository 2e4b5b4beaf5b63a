import type { Knex } from 'knex';

// One-off bouquet orders. Placed by the customer, then confirmed ("completed": only then a lead is made in
// amoCRM), or cancelled before the delivery date. The number shown is the id («Заказ №N»).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('orders', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('bouquet').notNullable().references('bouquet_categories.code');
    t.date('delivery_date').notNullable();
    t.text('address').notNullable();
    t.text('wishes').notNullable().defaultTo('');
    t.integer('price_kopecks').notNullable();
    t.text('status').notNullable().defaultTo('placed');
    t.bigInteger('amo_lead_id').nullable().unique();
    t.bigInteger('amo_status_id').nullable();
    t.jsonb('amo_snapshot').nullable();
    t.timestamp('amo_synced_at', { useTz: true }).nullable();
    t.timestamp('confirmed_at', { useTz: true }).nullable();
    t.timestamp('cancelled_at', { useTz: true }).nullable();
    t.timestamps(true, true, false);
    t.index(['user_id', 'id']);
  });
  await knex.raw("alter table orders add constraint orders_status_check check (status in ('placed', 'confirmed', 'cancelled'))");
  // The deliveries of a day: confirmed orders by date.
  await knex.raw("create index orders_delivery_date_confirmed_idx on orders (delivery_date) where status = 'confirmed'");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('orders');
}
