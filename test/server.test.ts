// The real process as `npm start` runs it, on an embedded PostgreSQL in a temporary var/ folder.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { findProjectRoot } from '../src/config.js';
import { freePort } from '../src/embedded-postgres.js';
import { waitFor } from './helpers/wait.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the server process', function () {
  this.timeout(90_000);
  const varDir = mkdtempSync(path.join(os.tmpdir(), 'flowers-var-'));
  chmodSync(varDir, 0o755); // PostgreSQL runs as its own user when the tests run as root
  after(() => rmSync(varDir, { recursive: true, force: true }));

  async function startServer() {
    const port = await freePort();
    const root = findProjectRoot();
    const env = { ...process.env, NODE_ENV: 'development', PORT: String(port), VAR_DIR: varDir, DATABASE_URL: '', LOG_LEVEL: 'info' };
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'server.ts')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
      return fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    }, 60_000, 'server answering /healthz');
    return { port, child, exit, output: () => output };
  }

  it('when started with nothing configured, then it serves the landing page from an embedded PostgreSQL; SIGTERM stops both within 10 s with exit 0', async () => {
    const server = await startServer();
    const page = await fetch(`http://127.0.0.1:${server.port}/`);
    expect(page.status).to.equal(200);
    expect(await page.text()).to.include('Букеты по подписке');
    const pidFile = path.join(varDir, 'postgres', 'postmaster.pid');
    const postgresPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    expect(alive(postgresPid)).to.equal(true);

    const started = Date.now();
    server.child.kill('SIGTERM');
    expect(await server.exit, server.output()).to.equal(0);
    expect(Date.now() - started).to.be.lessThan(10_000);
    expect(alive(postgresPid)).to.equal(false);
    expect(existsSync(pidFile)).to.equal(false);
    expect(server.output()).to.include('"msg":"stopped"');
  });

  it('when an operator runs a command while the app runs, then the command shares the app\'s database instead of stopping it', async () => {
    const server = await startServer();
    const pidFile = path.join(varDir, 'postgres', 'postmaster.pid');
    const postgresPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    const root = findProjectRoot();
    const cli = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli.ts'), 'staff:add', 'night-shift@flowers.test'], {
      cwd: root, encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, NODE_ENV: 'development', VAR_DIR: varDir, DATABASE_URL: '', STAFF_PASSWORD: 'Nochnaya smena 2026', LOG_LEVEL: 'warn' },
    });
    expect(cli.status, cli.stderr).to.equal(0);
    expect(cli.stdout).to.include('night-shift@flowers.test is staff');
    expect(alive(postgresPid)).to.equal(true);
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).to.equal(200);
    server.child.kill('SIGTERM');
    expect(await server.exit, server.output()).to.equal(0);
    expect(alive(postgresPid)).to.equal(false);
  });

  it('when started a second time, then it reuses the data (no new cluster, no migrations to apply)', async () => {
    const server = await startServer();
    expect(server.output()).not.to.include('creating the embedded PostgreSQL cluster');
    expect(server.output()).not.to.include('migrations applied');
    server.child.kill('SIGINT');
    expect(await server.exit, server.output()).to.equal(0);
  });
});
