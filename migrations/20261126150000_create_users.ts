import type { Knex } from 'knex';

// Customers and staff. Email is unique case-insensitively; money in kopecks; the referral id is the public
// UUID of the customer's referral link (and the idempotency key of the amoCRM lead).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id');
    t.text('email').notNullable();
    t.text('password_hash').notNullable();
    t.text('role').notNullable().defaultTo('customer');
    t.text('language').notNullable().defaultTo('ru');
    t.uuid('referral_id').notNullable().unique();
    t.bigInteger('referred_by').nullable().references('users.id').onDelete('SET NULL');
    t.text('bouquet').notNullable().references('bouquet_categories.code');
    t.text('address').notNullable();
    t.date('delivery_date').notNullable();
    t.text('interval').notNullable();
    t.text('wishes').notNullable().defaultTo('');
    t.integer('account_sum_kopecks').notNullable();
    t.integer('auth_version').notNullable().defaultTo(1);
    t.integer('failed_logins').notNullable().defaultTo(0);
    t.timestamp('locked_until', { useTz: true }).nullable();
    t.timestamp('last_login_at', { useTz: true }).nullable();
    t.text('last_login_ip').nullable();
    t.timestamps(true, true, false);
  });
  await knex.raw('create unique index users_email_lower_idx on users (lower(email))');
  await knex.raw('create index users_referred_by_idx on users (referred_by)');
  await knex.raw("alter table users add constraint users_role_check check (role in ('customer', 'staff'))");
  await knex.raw("alter table users add constraint users_interval_check check (interval in ('weekly', 'biweekly', 'monthly'))");
  await knex.raw("alter table users add constraint users_language_check check (language in ('ru', 'en'))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('users');
}
