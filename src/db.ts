// Knex options, migrations, and the database the app opens: the configured one, or the embedded one
// (src/embedded-postgres.ts) when no database URL is configured.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { Logger as WorkerLogger, runMigrations as runWorkerMigrations } from 'graphile-worker';
import type { Logger } from 'pino';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';

/**
 * How our own connections read values: timestamps come back as Dates; `date` columns stay 'YYYY-MM-DD' strings
 * so that a calendar date never shifts with the server's time zone; bigints (counts, ids) as numbers. Set on our
 * connections only: other pools in the process (graphile-worker's) keep pg's defaults, which they are written for.
 */
const typeParsers = new pg.TypeOverrides();
typeParsers.setTypeParser(pg.types.builtins.DATE, (v) => v);
typeParsers.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Db = Knex;

type DbLog = Pick<Logger, 'warn' | 'error' | 'debug'>;

export function createDb(connectionString: string, options: { poolMax?: number; logger?: DbLog } = {}): Db {
  const log = options.logger;
  return knex({
    log: {
      warn: (message: unknown) => log?.warn({ knex: String(message) }, 'database warning'),
      error: (message: unknown) => log?.error({ knex: String(message) }, 'database error'),
      deprecate: (message: unknown) => log?.warn({ knex: String(message) }, 'database deprecation'),
      debug: (message: unknown) => log?.debug({ knex: String(message) }, 'database debug'),
    },
    client: 'pg',
    connection: { connectionString, connectionTimeoutMillis: 3000, application_name: 'flowers',
      types: { getTypeParser: (oid: number, format: string) => typeParsers.getTypeParser(oid, format as 'text') } },
    pool: { min: 0, max: options.poolMax ?? 10 },
    acquireConnectionTimeout: 5000,
  });
}

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = !import.meta.url.endsWith('.ts');

/**
 * Migrations next to the running code: migrations/*.ts under tsx, dist/migrations/*.js when built. They are
 * recorded without their extension, so a database migrated by one form is up to date for the other.
 */
export function migrationOptions(): Knex.MigratorConfig {
  const directory = path.resolve(here, '..', 'migrations');
  const extension = compiled ? '.js' : '.ts';
  const source: Knex.MigrationSource<string> = {
    async getMigrations() {
      return readdirSync(directory).filter((f) => f.endsWith(extension) && !f.endsWith('.d.ts')).sort();
    },
    getMigrationName: (file) => path.basename(file, extension),
    getMigration: (file) => import(pathToFileURL(path.join(directory, file)).href) as Promise<Knex.Migration>,
  };
  return { migrationSource: source, tableName: 'knex_migrations' };
}

/** Any constant; the key of the session-level advisory lock that lets one process at a time migrate. */
const MIGRATION_LOCK_KEY = 0x666c7772; // "flwr"

/**
 * Brings the schema up to date: our knex migrations, then graphile-worker's own schema. Several app processes
 * may start at the same moment: they take turns under an advisory lock (knex's own lock table cannot guard
 * its creation on a fresh database), so the later ones find nothing left to do.
 */
export async function migrate(db: Db, connectionString: string): Promise<string[]> {
  const lock = new pg.Client({ connectionString, application_name: 'flowers-migrate' });
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const [, applied] = (await db.migrate.latest(migrationOptions())) as [number, string[]];
    await runWorkerMigrations({ connectionString, logger: silentWorkerLogger() });
    return applied;
  } finally {
    await lock.end(); // ending the session releases the lock
  }
}

function silentWorkerLogger(): WorkerLogger {
  // graphile-worker logs each schema step; migrations have nothing worth printing.
  return new WorkerLogger(() => () => undefined);
}

/** Creates the database when it does not exist yet (CREATE DATABASE cannot run in a transaction or take IF NOT EXISTS). */
export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

export type Database = { db: Db; url: string; close: () => Promise<void> };

/**
 * The configured database, or the embedded one in var/postgres (created, started, and given a "flowers"
 * database on first use). close() releases the pool and stops the embedded server.
 */
export async function openDatabase(
  config: { databaseUrl: string | null; paths: { varDir: string } },
  logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>,
  options: { poolMax?: number } = {},
): Promise<Database> {
  let url = config.databaseUrl;
  let embedded: EmbeddedPostgres | undefined;
  if (!url) {
    embedded = await startEmbeddedPostgres(path.join(config.paths.varDir, 'postgres'), logger);
    await ensureDatabase(embedded.url('postgres'), 'flowers');
    url = embedded.url('flowers');
  }
  const db = createDb(url, { ...options, logger });
  return {
    db,
    url,
    async close() {
      await db.destroy();
      await embedded?.stop();
    },
  };
}
