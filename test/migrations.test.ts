import { expect } from 'chai';
import { testDatabase } from './helpers/db.js';

describe('migrations', () => {
  it('create the connect-pg-simple session table with its expiry index', async () => {
    const { db } = testDatabase();
    const columns = await db('information_schema.columns').where({ table_name: 'session' }).orderBy('ordinal_position').pluck('column_name');
    expect(columns).to.deep.equal(['sid', 'sess', 'expire']);
    const indexes = await db('pg_indexes').where({ tablename: 'session' }).pluck('indexname');
    expect(indexes).to.include('session_expire_idx');
  });

  it('seed the three bouquet categories with their prices in kopecks', async () => {
    const rows = await testDatabase().db('bouquet_categories').orderBy('sort').select('code', 'name_ru', 'price_kopecks');
    expect(rows).to.deep.equal([
      { code: 'romantic', name_ru: 'Романтический', price_kopecks: 450_000 },
      { code: 'seasonal', name_ru: 'Сезонный', price_kopecks: 500_000 },
      { code: 'luxe', name_ru: 'Люкс', price_kopecks: 900_000 },
    ]);
  });

  it('install the job queue schema', async () => {
    const { rows } = await testDatabase().db.raw("select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'graphile_worker' and p.proname = 'add_job'");
    expect(rows).to.have.length.greaterThan(0);
  });
});
