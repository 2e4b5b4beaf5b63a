// The test database: one uniquely named database per test run, on TEST_DATABASE_URL's server or on an
// embedded PostgreSQL kept in var/test-postgres; migrated once, dropped at the end of the run.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, readEnvironment } from '../../src/config.js';
import { createDb, migrate, type Db } from '../../src/db.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/embedded-postgres.js';

type State = { url: string; serverUrl: string; name: string; embedded?: EmbeddedPostgres; db: Db; drop: () => Promise<void> };
let state: State | undefined;

export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin(serverUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named database on the server, migrated; drop() removes it. */
async function createMigratedDatabase(serverUrl: string): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `flowers_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, `create database ${name}`);
  const url = withDatabase(serverUrl, name);
  const db = createDb(url);
  try {
    await migrate(db, url);
  } finally {
    await db.destroy();
  }
  return { url, name, drop: () => admin(serverUrl, `drop database if exists ${name} with (force)`) };
}

export async function startTestDatabase(): Promise<void> {
  const env = loadConfig(readEnvironment());
  let embedded: EmbeddedPostgres | undefined;
  let serverUrl = env.testDatabaseUrl;
  if (!serverUrl) {
    embedded = await startEmbeddedPostgres(path.join(env.paths.varDir, 'test-postgres'), { info() {}, warn() {} } as never);
    serverUrl = embedded.url('postgres');
  }
  const { url, name, drop } = await createMigratedDatabase(serverUrl);
  state = { url, serverUrl, name, embedded, db: createDb(url), drop };
}

export async function stopTestDatabase(): Promise<void> {
  if (!state) return;
  const { db, drop, embedded } = state;
  state = undefined;
  await db.destroy();
  await drop();
  await embedded?.stop();
}

/** A database of its own, migrated, for tests that change installation-wide state (the amoCRM connection). */
export function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  return createMigratedDatabase(testDatabase().serverUrl);
}

/** The run's database: its URL, the server's URL, and a shared Knex pool for assertions. */
export function testDatabase(): State {
  if (!state) throw new Error('the test database is not started (test/helpers/hooks.ts)');
  return state;
}
