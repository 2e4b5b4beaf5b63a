// The README's first command, `npm start`, in a fresh clone of this repository inside a folder that other users
// cannot enter (`mktemp -d` is 0700; so is /root on Debian), with nothing configured: it serves the landing page
// from the embedded PostgreSQL, and stops with npm — whether npm passes SIGTERM on (`docker stop` on a container
// whose command is `npm start`) or is killed outright.
//
// The clone is of the committed HEAD. Its node_modules are hard links to this checkout's: `npm install` writes
// the same files wherever it runs, so installing again would only cost minutes; what depends on the folder —
// building dist/ (the prestart step), creating and running the cluster — runs for real in the clone.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { freePort, ROOT_FALLBACK_DIR } from '../../src/embedded-postgres.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT } from './helpers/processes.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live processes whose command line names one of the folders or whose working directory lies in one. */
function processesIn(dirs: string[]): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    if (pid === process.pid || !alive(pid)) continue;
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      let cwd = '';
      try { cwd = readlinkSync(`/proc/${pid}/cwd`); } catch { /* gone meanwhile */ }
      if (dirs.some((d) => command.includes(d) || cwd === d || cwd.startsWith(`${d}/`))) found.push(`${pid} ${command} (in ${cwd})`);
    } catch { /* gone meanwhile */ }
  }
  return found;
}

type NpmStart = { npm: ChildProcess; port: number; output: () => string; exited: Promise<number | null> };

describe('npm start in a fresh clone in a folder closed to other users', function () {
  this.timeout(240_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-clone-'));
  const app = path.join(dir, 'flowers');
  let clusterDir: string | undefined;

  before(() => {
    expect(statSync(dir).mode & 0o777, 'mktemp -d makes a 0700 folder').to.equal(0o700);
    execFileSync('git', ['clone', '--quiet', ROOT, app], { stdio: 'pipe' });
    try {
      execFileSync('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(app, 'node_modules')], { stdio: 'pipe' });
    } catch {
      execFileSync('cp', ['-a', path.join(ROOT, 'node_modules'), path.join(app, 'node_modules')], { stdio: 'pipe' }); // another file system
    }
  });

  after(() => {
    for (const line of processesIn([dir, ...(clusterDir ? [clusterDir] : [])])) process.kill(Number(line.split(' ')[0]), 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    // The clone's own cluster outside it (run as root); the shared copy of the binaries stays for the next run.
    if (clusterDir?.startsWith(`${ROOT_FALLBACK_DIR}/`)) rmSync(path.dirname(clusterDir), { recursive: true, force: true });
  });

  /** `npm start` as a newcomer types it: a clean environment with only PATH, HOME and a free PORT. */
  async function npmStart(): Promise<NpmStart> {
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      cwd: app, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: os.homedir(), PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
    npm.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    let last = 'no answer';
    try {
      await waitFor(async () => {
        if (npm.exitCode !== null) throw new Error(`npm start exited early (${npm.exitCode}):\n${output}`);
        return fetch(`http://127.0.0.1:${port}/`).then((r) => { last = `HTTP ${r.status}`; return r.status === 200; }, (e: Error) => { last = e.message; return false; });
      }, 180_000, 'npm start answering GET / with 200');
    } catch (error) {
      npm.kill('SIGKILL');
      throw new Error(`${(error as Error).message}; last answer on port ${port}: ${last}; npm's output:\n${output}`, { cause: error });
    }
    return { npm, port, output: () => output, exited };
  }

  function readyLine(output: string): { dataDir: string } {
    const line = output.split('\n').find((l) => l.includes('"msg":"embedded PostgreSQL is ready"'));
    expect(line, output).to.be.a('string');
    return JSON.parse(line!) as { dataDir: string };
  }

  /** The app's process: `node dist/src/server.js` among npm's descendants. */
  function appPid(npm: ChildProcess): number {
    const children = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    const descendants = children(npm.pid!);
    for (let i = 0; i < descendants.length; i++) descendants.push(...children(descendants[i]!));
    const pid = descendants.find((p) => /^\S*node\0dist\/src\/server\.js\0/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')));
    expect(pid, `npm's descendants: ${descendants.join(', ')}`).to.be.a('number');
    return pid!;
  }

  it('when started with nothing configured, then it serves the landing page from the embedded PostgreSQL; SIGTERM to npm stops the app and the database, then npm exits 0', async () => {
    const run = await npmStart();
    const page = await fetch(`http://127.0.0.1:${run.port}/`);
    expect(await page.text()).to.include('Букеты по подписке');

    clusterDir = readyLine(run.output()).dataDir;
    if (process.getuid?.() === 0) {
      // The "postgres" user cannot enter the clone: the cluster lives where it can, and the log says so.
      expect(clusterDir.startsWith(`${ROOT_FALLBACK_DIR}/`), clusterDir).to.equal(true);
      expect(run.output()).to.include(`the embedded PostgreSQL runs from ${ROOT_FALLBACK_DIR}`);
    } else {
      expect(clusterDir).to.equal(path.join(app, 'var', 'postgres'));
    }
    const postgresPid = Number(readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const node = appPid(run.npm);
    expect(alive(postgresPid)).to.equal(true);

    const started = Date.now();
    run.npm.kill('SIGTERM');
    const code = await run.exited;
    // npm waited for the app: when npm is gone, so are the app and its database (a container stops cleanly).
    expect({ code, app: alive(node), postgres: alive(postgresPid) }, run.output()).to.deep.equal({ code: 0, app: false, postgres: false });
    expect(Date.now() - started).to.be.lessThan(10_000);
    expect(run.output()).to.include('"msg":"stopped"');
    expect(processesIn([dir, clusterDir])).to.deep.equal([]);
  });

  it('when npm is killed without passing a signal on, then the app notices, stops itself and the database within 10 s; a second start reuses the data', async () => {
    const run = await npmStart();
    expect(run.output()).to.not.include('creating the embedded PostgreSQL cluster');
    expect(readyLine(run.output()).dataDir).to.equal(clusterDir);
    const node = appPid(run.npm);
    const postgresPid = Number(readFileSync(path.join(clusterDir!, 'postmaster.pid'), 'utf8').split('\n')[0]);

    run.npm.kill('SIGKILL');
    await run.exited;
    await waitFor(() => !alive(node) && !alive(postgresPid), 10_000, 'the app and its database stopped after npm was killed');
    expect(run.output()).to.include('"signal":"parent exited"').and.to.include('"msg":"stopped"');
    expect(existsSync(path.join(clusterDir!, 'postmaster.pid'))).to.equal(false);
    expect(processesIn([dir, clusterDir!])).to.deep.equal([]);
  });
});
