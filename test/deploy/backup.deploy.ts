// deploy/backup/flowers-backup.sh and flowers-restore.sh against the real PostgreSQL: a dump of a database with
// accounts, sessions and queued jobs, rotation that keeps the newest dumps, a failed dump that deletes nothing,
// and a restore into a fresh database that is compared with the original, schema and data.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, signUp, submit } from '../helpers/client.js';
import { testDatabase } from '../helpers/db.js';
import { DEPLOY } from './helpers/processes.js';

const BACKUP = path.join(DEPLOY, 'backup', 'flowers-backup.sh');
const RESTORE = path.join(DEPLOY, 'backup', 'flowers-restore.sh');

/** libpq's environment for the test server (the scripts take PG* variables, as on the server). */
function libpqEnv(url: string): Record<string, string> {
  const u = new URL(url);
  return {
    PGHOST: u.hostname, PGPORT: u.port || '5432', PGUSER: decodeURIComponent(u.username),
    ...(u.password ? { PGPASSWORD: decodeURIComponent(u.password) } : {}),
  };
}

function run(file: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; output: string }>((resolve) => {
    execFile(file, args, { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/** Schema and data of a database as plain SQL, without the lines that name the dump's own circumstances. */
function plainDump(env: Record<string, string>, database: string): string {
  const sql = execFileSync('pg_dump', ['--no-owner', '--no-privileges', '--dbname', database], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  // \restrict carries a random key per dump (pg_dump's guard against malicious restores since 15.14).
  return sql.split('\n').filter((l) => !/^-- (Dumped (from|by)|Started on|Completed on)/.test(l) && !/^\\(un)?restrict /.test(l)).join('\n');
}

describe('database backup and restore (deploy/backup)', function () {
  this.timeout(120_000);
  let t: TestApp;
  let dir: string;
  let env: Record<string, string>;
  let database: string;
  const restored = `flowers_restored_${process.pid}`;

  before(async () => {
    for (const tool of ['pg_dump', 'pg_restore', 'createdb', 'psql']) {
      try {
        execFileSync('sh', ['-c', `command -v ${tool}`]);
      } catch {
        throw new Error(`the backup test needs ${tool}: apt-get install -y postgresql-client`);
      }
    }
    const { serverUrl, name } = testDatabase();
    env = libpqEnv(serverUrl);
    database = name;
    const server = execFileSync('psql', ['-XAtc', 'show server_version_num', '--dbname', 'postgres'], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
    const tools = execFileSync('pg_dump', ['--version'], { encoding: 'utf8' });
    if (Math.floor(Number(server) / 10000) > Number(/(\d+)\./.exec(tools)![1])) {
      throw new Error(`pg_dump (${tools.trim()}) is older than the server (${server}): set TEST_DATABASE_URL to the machine's PostgreSQL`);
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-backups-'));
    // Real content: accounts, their sessions and audit trail, and jobs waiting in the queue (no worker runs here).
    t = createTestApp();
    for (let i = 0; i < 3; i++) {
      const agent = client(t.app);
      const { email } = await signUp(agent);
      await submit(agent, '/forgot-password', { email }).then((r) => expect(r.status).to.equal(303));
    }
  });

  after(async () => {
    await t?.close();
    const admin = new pg.Client({ connectionString: testDatabase().serverUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${restored} with (force)`);
    await admin.end();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const dumps = () => readdirSync(dir).filter((f) => f.endsWith('.dump')).sort();

  it('when run daily with older dumps present, then it writes a readable custom-format dump and keeps only the newest KEEP, touching nothing else', async () => {
    const old = ['20250101T033000Z', '20250102T033000Z', '20250103T033000Z', '20250104T033000Z'].map((s) => `${database}-${s}.dump`);
    for (const f of old) writeFileSync(path.join(dir, f), 'old');
    writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    writeFileSync(path.join(dir, `${database}-manual-copy.dump`), 'keep me too');

    const first = await run(BACKUP, [], { ...env, PGDATABASE: database, BACKUP_DIR: dir, KEEP: '3' });
    expect(first.code, first.output).to.equal(0);
    await new Promise((r) => setTimeout(r, 1100)); // the next dump gets the next second in its name
    const second = await run(BACKUP, [], { ...env, PGDATABASE: database, BACKUP_DIR: dir, KEEP: '3' });
    expect(second.code, second.output).to.equal(0);

    const kept = dumps();
    const made = kept.filter((f) => /T\d{6}Z\.dump$/.test(f) && !old.includes(f));
    expect(made).to.have.length(2);
    expect(kept.filter((f) => old.includes(f)), 'the newest of the old ones stays').to.deep.equal([old[3]]);
    expect(kept).to.include(`${database}-manual-copy.dump`);
    expect(existsSync(path.join(dir, 'notes.txt'))).to.equal(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).to.deep.equal([]);
    for (const f of made) {
      expect(statSync(path.join(dir, f)).mode & 0o777, `${f} is private`).to.equal(0o600);
      const list = execFileSync('pg_restore', ['--list', path.join(dir, f)], { encoding: 'utf8' });
      expect(list).to.include('Format: CUSTOM');
      expect(list).to.match(/TABLE DATA public users/);
      expect(list).to.match(/TABLE DATA graphile_worker/);
    }
    expect(second.output).to.match(/keeping 3 dumps/);
  });

  it('when pg_dump fails, then the script fails, leaves no partial file and deletes no backup', async () => {
    const before = dumps();
    const failed = await run(BACKUP, [], { ...env, PGDATABASE: 'no_such_database_here', BACKUP_DIR: dir, KEEP: '1' });
    expect(failed.code).to.not.equal(0);
    expect(failed.output).to.match(/no_such_database_here/);
    expect(dumps()).to.deep.equal(before);
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).to.deep.equal([]);
  });

  it('when the newest dump is restored into a fresh database, then schema and data equal the original; restoring over an existing name is refused', async () => {
    await new Promise((r) => setTimeout(r, 1100));
    const fresh = await run(BACKUP, [], { ...env, PGDATABASE: database, BACKUP_DIR: dir, KEEP: '14' });
    expect(fresh.code, fresh.output).to.equal(0);
    const original = plainDump(env, database); // nothing writes to the database between the dump and this
    const newest = dumps().filter((f) => /T\d{6}Z\.dump$/.test(f)).at(-1)!;

    const restore = await run(RESTORE, [path.join(dir, newest), restored], { ...env, OWNER: env.PGUSER! });
    expect(restore.code, restore.output).to.equal(0);
    const copy = plainDump(env, restored);
    expect(copy.length).to.be.greaterThan(10_000);
    const firstDifference = copy.split('\n').findIndex((line, i) => line !== original.split('\n')[i]);
    expect(firstDifference, `the restored database dumps to the same SQL as the original; first difference at line ${firstDifference}: ${copy.split('\n')[firstDifference]}`).to.equal(-1);
    expect(copy.length).to.equal(original.length);

    const counts = async (db: string) => {
      const c = new pg.Client({ connectionString: `${testDatabase().serverUrl.replace(/\/[^/]*$/, '')}/${db}` });
      await c.connect();
      try {
        const { rows } = await c.query(`select (select count(*) from users)::int as users, (select count(*) from session)::int as sessions,
          (select count(*) from graphile_worker.jobs)::int as jobs, (select count(*) from knex_migrations)::int as migrations`);
        return rows[0];
      } finally {
        await c.end();
      }
    };
    const [a, b] = [await counts(database), await counts(restored)];
    expect(b).to.deep.equal(a);
    expect(a.users).to.be.at.least(3);
    expect(a.jobs).to.be.at.least(1);

    const again = await run(RESTORE, [path.join(dir, newest), restored], { ...env, OWNER: env.PGUSER! });
    expect(again.code).to.not.equal(0);
    expect(again.output).to.match(/already exists/);
  });
});
