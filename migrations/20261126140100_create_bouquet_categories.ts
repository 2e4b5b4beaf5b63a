import type { Knex } from 'knex';

// Bouquet categories and the price of one bouquet, in kopecks.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('bouquet_categories', (t) => {
    t.text('code').primary();
    t.text('name_ru').notNullable();
    t.text('name_en').notNullable();
    t.integer('price_kopecks').notNullable().checkPositive();
    t.integer('sort').notNullable();
  });
  await knex('bouquet_categories').insert([
    { code: 'romantic', name_ru: 'Романтический', name_en: 'Romantic', price_kopecks: 450_000, sort: 1 },
    { code: 'seasonal', name_ru: 'Сезонный', name_en: 'Seasonal', price_kopecks: 500_000, sort: 2 },
    { code: 'luxe', name_ru: 'Люкс', name_en: 'Luxe', price_kopecks: 900_000, sort: 3 },
  ]);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('bouquet_categories');
}
