// The test database: one uniquely named database per test run, on TEST_DATABASE_URL's server or on an
// embedded PostgreSQL kept in var/test-postgres; migrated once, dropped at the end of the run.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, readEnvironment } from '../../src/config.js';
import { createDb, migrate, startEmbeddedPostgres, type Db, type EmbeddedPostgres } from '../../src/db.js';

type State = { url: string; serverUrl: string; name: string; embedded?: EmbeddedPostgres; db: Db };
let state: State | undefined;

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function startTestDatabase(): Promise<void> {
  const env = loadConfig(readEnvironment());
  let embedded: EmbeddedPostgres | undefined;
  let serverUrl = env.testDatabaseUrl;
  if (!serverUrl) {
    embedded = await startEmbeddedPostgres(path.join(env.paths.varDir, 'test-postgres'), { info() {}, warn() {} } as never);
    serverUrl = embedded.url('postgres');
  }
  const name = `flowers_test_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${admin.escapeIdentifier(name)}`);
  await admin.end();
  const url = withDatabase(serverUrl, name);
  const db = createDb(url);
  await migrate(db, url);
  state = { url, serverUrl, name, embedded, db };
}

export async function stopTestDatabase(): Promise<void> {
  if (!state) return;
  const { db, serverUrl, name, embedded } = state;
  state = undefined;
  await db.destroy();
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${admin.escapeIdentifier(name)} with (force)`);
  await admin.end();
  await embedded?.stop();
}

/** A database of its own, migrated, for tests that change installation-wide state (the amoCRM connection). */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const { serverUrl } = testDatabase();
  const name = `flowers_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${admin.escapeIdentifier(name)}`);
  await admin.end();
  const url = withDatabase(serverUrl, name);
  const db = createDb(url);
  await migrate(db, url);
  await db.destroy();
  return {
    url,
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`);
      await c.end();
    },
  };
}

/** The run's database: its URL, the server's URL, and a shared Knex pool for assertions. */
export function testDatabase(): State {
  if (!state) throw new Error('the test database is not started (test/helpers/hooks.ts)');
  return state;
}
