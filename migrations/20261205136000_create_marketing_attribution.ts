import type { Knex } from 'knex';

// Marketing from the server, without client JavaScript.
// user_attribution: the first touch that brought the customer (UTM tags, Yandex Direct's yclid, Google's gclid, the
// referring site's host — never a full referring URL) and the random analytics client id minted at sign-up.
// analytics_events: each event about a customer that may go to Yandex Metrica and/or GA4, once per (user, event,
// entity), with when each destination answered it; a retried job skips a destination already done.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('user_attribution', (t) => {
    t.bigInteger('user_id').primary().references('users.id').onDelete('CASCADE');
    t.text('client_id').notNullable();
    t.text('utm_source').nullable();
    t.text('utm_medium').nullable();
    t.text('utm_campaign').nullable();
    t.text('utm_content').nullable();
    t.text('utm_term').nullable();
    t.text('yclid').nullable();
    t.text('gclid').nullable();
    t.text('referrer_host').nullable();
    t.text('landing_path').nullable();
    t.timestamp('first_seen_at', { useTz: true }).nullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  // The offline-conversion export reads only customers who came from a Yandex Direct click.
  await knex.raw('create index user_attribution_yclid_idx on user_attribution (user_id) where yclid is not null');

  await knex.schema.createTable('analytics_events', (t) => {
    t.bigIncrements('id');
    t.bigInteger('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('event').notNullable();
    t.text('entity').notNullable().defaultTo('');
    t.bigInteger('value_kopecks').nullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('metrica_done_at', { useTz: true }).nullable();
    t.timestamp('ga4_done_at', { useTz: true }).nullable();
    t.unique(['user_id', 'event', 'entity']);
  });
  await knex.raw(`alter table analytics_events add constraint analytics_events_event_check check (event in
    ('sign_up', 'subscription_start', 'order_confirmed', 'subscription_pause', 'subscription_cancel'))`);
  await knex.raw('alter table analytics_events add constraint analytics_events_entity_check check (char_length(entity) <= 100)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('analytics_events');
  await knex.schema.dropTable('user_attribution');
}
