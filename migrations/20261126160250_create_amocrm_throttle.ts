import type { Knex } from 'knex';

// The installation-wide request schedule for amoCRM (≤ 7 requests/s across every process): each request
// takes the next slot. Kept apart from amocrm_connection so that a token refresh holding that row's lock can
// still take a slot.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('amocrm_throttle', (t) => {
    t.integer('id').primary().checkIn(['1']);
    t.timestamp('next_request_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex('amocrm_throttle').insert({ id: 1 });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('amocrm_throttle');
}
