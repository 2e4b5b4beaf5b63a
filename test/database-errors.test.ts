// Which errors mean "no database right now" (503, the worker waits) and which are bugs (500), on real errors
// from pg and knex where they can be had without an outage.
import { expect } from 'chai';
import knex from 'knex';
import pg from 'pg';
import { isDatabaseUnavailable } from '../src/database-errors.js';
import { freePort } from '../src/embedded-postgres.js';
import { testDatabase, withDatabase } from './helpers/db.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('database unavailable or not', () => {
  it('when connecting to a port where nothing listens, then pg\'s ECONNREFUSED counts as unavailable', async () => {
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/x` });
    const error = await client.connect().then(() => null, (e: unknown) => e);
    expect(isDatabaseUnavailable(error)).to.equal(true);
  });

  it('when knex cannot get a connection in time, then its KnexTimeoutError counts as unavailable', async () => {
    const quiet = { warn() {}, error() {}, deprecate() {}, debug() {} };
    const db = knex({ client: 'pg', connection: testDatabase().url, pool: { min: 0, max: 1 }, acquireConnectionTimeout: 200, log: quiet });
    try {
      const trx = await db.transaction();
      const error = await db.raw('select 1').then(() => null, (e: unknown) => e);
      await trx.rollback();
      expect((error as Error).name).to.equal('KnexTimeoutError');
      expect((error as Error).message).to.match(/Timeout acquiring a connection/);
      expect(isDatabaseUnavailable(error)).to.equal(true);
    } finally {
      await db.destroy();
    }
  });

  it('when the server ends a connection that is in use, then pg\'s error counts as unavailable', async () => {
    const client = new pg.Client({ connectionString: testDatabase().url });
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    const admin = new pg.Client({ connectionString: withDatabase(testDatabase().serverUrl, 'postgres') });
    await admin.connect();
    const running = client.query('select pg_sleep(5)').then(() => null, (e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    await admin.end();
    const error = await running;
    expect(isDatabaseUnavailable(error), String(error)).to.equal(true);
    const next = await client.query('select 1').then(() => null, (e: unknown) => e);
    expect(isDatabaseUnavailable(next), String(next)).to.equal(true);
    await client.end().catch(() => undefined);
  });

  it('when the SQLSTATE is of class 08, 53300, 55000 or 57P01–57P03, or pg says the connection was terminated, then unavailable', () => {
    for (const code of ['08000', '08001', '08003', '08004', '08006', '08P01', '53300', '55000', '57P01', '57P02', '57P03', 'ECONNRESET', 'ETIMEDOUT']) {
      expect(isDatabaseUnavailable(pgError(code)), code).to.equal(true);
    }
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).to.equal(true);
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: pgError('57P01') }))).to.equal(true);
    expect(isDatabaseUnavailable(new AggregateError([new Error('other'), pgError('55000')]))).to.equal(true);
  });

  it('when the statement itself is wrong (syntax, constraint, missing table), then it is a bug, not an outage', async () => {
    const { db } = testDatabase();
    for (const sql of ['select from', 'select * from no_such_table', "select 1/0", "insert into users (email) values (null)"]) {
      const error = await db.raw(sql).then(() => null, (e: unknown) => e);
      expect(error, sql).to.be.instanceOf(Error);
      expect(isDatabaseUnavailable(error), `${sql}: ${String(error)}`).to.equal(false);
    }
    expect(isDatabaseUnavailable(new Error('boom'))).to.equal(false);
    expect(isDatabaseUnavailable(undefined)).to.equal(false);
  });
});
