// The systemd units of deploy/systemd: checked by systemd-analyze verify (this machine has no running systemd
// to start them), and their ExecStart= lines run for real as an unprivileged user with an EnvironmentFile.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../../src/embedded-postgres.js';
import { testDatabase } from '../helpers/db.js';
import { smtpUrl } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { DEPLOY, envFromExample, readEnvFile, ROOT, spawnService, startSimulator, unitCommand, unitDirective, waitForHealth, writeEnvFile } from './helpers/processes.js';

const UNITS = path.join(DEPLOY, 'systemd');
const ANALYZE = '/usr/bin/systemd-analyze';

/** systemd-analyze verify on copies of the given unit files (release path moved to this checkout). */
function verify(files: Record<string, string>): { code: number | null; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-units-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text.replaceAll('/srv/flowers/current', ROOT));
    // A template is verified through an instance name.
    for (const name of Object.keys(files)) if (name.endsWith('@.service')) symlinkSync(name, path.join(dir, name.replace('@.service', '@3001.service')));
    const targets = readdirSync(dir).filter((n) => !n.endsWith('@.service')).map((n) => path.join(dir, n));
    const r = spawnSync(ANALYZE, ['verify', ...targets], { encoding: 'utf8' });
    return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const unitTexts = () => Object.fromEntries(readdirSync(UNITS).map((n) => [n, readFileSync(path.join(UNITS, n), 'utf8')]));

describe('systemd units (deploy/systemd)', function () {
  this.timeout(90_000);
  before(() => {
    if (!existsSync(ANALYZE)) throw new Error('The deploy tests need systemd-analyze: run "apt-get install -y systemd" (.ci/run does).');
    if (!existsSync(path.join(ROOT, 'dist', 'src', 'server.js'))) throw new Error('no production build: run "npm run build" (npm run test:deploy does)');
  });

  it('when verified with systemd-analyze, then every unit passes without a single warning; a misspelt key would be reported', () => {
    const texts = unitTexts();
    expect(Object.keys(texts).sort()).to.deep.equal(['flowers-backup.service', 'flowers-backup.timer', 'flowers-worker.service', 'flowers.target', 'flowers@.service']);
    const result = verify(texts);
    expect(result.code, result.output).to.equal(0);
    expect(result.output).to.equal('');

    const broken = verify({ 'flowers@.service': texts['flowers@.service']!.replace('TasksMax=', 'TaskMax=') });
    expect(broken.output).to.include("Unknown key 'TaskMax'");
  });

  it('when read, then the web and worker units run unprivileged from /etc/flowers/env, restart on failure, have limits, and outlast the app\'s own 9 s shutdown', () => {
    for (const unit of ['flowers@.service', 'flowers-worker.service']) {
      const file = path.join(UNITS, unit);
      expect(unitDirective(file, 'User'), unit).to.equal('flowers');
      expect(unitDirective(file, 'EnvironmentFile'), unit).to.equal('/etc/flowers/env');
      expect(unitDirective(file, 'Restart'), unit).to.equal('on-failure');
      expect(unitDirective(file, 'KillSignal'), unit).to.equal('SIGTERM');
      expect(Number.parseInt(unitDirective(file, 'TimeoutStopSec'), 10), unit).to.be.greaterThan(9);
      expect(unitDirective(file, 'NoNewPrivileges'), unit).to.equal('yes');
      expect(unitDirective(file, 'ProtectSystem'), unit).to.equal('strict');
      expect(unitDirective(file, 'CapabilityBoundingSet'), unit).to.equal('');
      for (const limit of ['MemoryMax', 'TasksMax', 'LimitNOFILE']) expect(unitDirective(file, limit), `${unit} ${limit}`).to.match(/^\d+[KMG]?$/);
      // The app writes nothing to disk: no path is opened for writing, least of all its root-owned release.
      expect(readFileSync(file, 'utf8'), unit).not.to.match(/^(ReadWritePaths|StateDirectory|LogsDirectory|CacheDirectory)=/m);
      expect(unitDirective(file, 'WorkingDirectory'), unit).to.equal('/srv/flowers/current');
    }
    const backup = path.join(UNITS, 'flowers-backup.service');
    expect(unitDirective(backup, 'User')).to.equal('postgres');
    expect(unitDirective(backup, 'Environment')).to.include('KEEP=14');
    const timer = path.join(UNITS, 'flowers-backup.timer');
    expect(unitDirective(timer, 'Persistent')).to.equal('true');
    const calendar = execFileSync(ANALYZE, ['calendar', unitDirective(timer, 'OnCalendar')], { encoding: 'utf8' });
    expect(calendar).to.match(/Next elapse:/);
    expect(calendar).to.match(/\*-\*-\* 03:30:00/); // every day
  });

  it('when the database is away for many minutes, then systemd keeps restarting the web and worker units every few seconds and never gives up', () => {
    const seconds = (value: string) => {
      const m = /^(\d+)(ms|s|min)?$/.exec(value);
      if (!m) throw new Error(`not a plain time span: ${value}`);
      return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'min' ? 60 : 1);
    };
    for (const unit of ['flowers@.service', 'flowers-worker.service']) {
      const file = path.join(UNITS, unit);
      expect(unitDirective(file, 'Restart'), unit).to.equal('on-failure');
      const restartSec = seconds(unitDirective(file, 'RestartSec'));
      expect(restartSec, `${unit} RestartSec: not hammering the machine, back soon after the database`).to.be.within(2, 30);
      // systemd gives up (and leaves the unit failed) after StartLimitBurst starts within StartLimitIntervalSec;
      // 0 turns the limit off. A start that fails at once repeats every RestartSec (plus about a second to fail).
      const interval = seconds(unitDirective(file, 'StartLimitIntervalSec'));
      const burst = Number(readFileSync(file, 'utf8').match(/^StartLimitBurst=(\d+)$/m)?.[1] ?? 5); // systemd's default burst
      const startsInInterval = interval === 0 ? 0 : Math.ceil(interval / restartSec);
      expect(interval === 0 || startsInInterval < burst, `${unit} would stop restarting after ${burst} failed starts in ${interval} s`).to.equal(true);
    }
  });

  describe('their commands, run as "nobody" with an environment file', () => {
    let dir: string;
    let sim: Awaited<ReturnType<typeof startSimulator>>;
    let envFile: string;
    before(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-unit-run-'));
      chmodSync(dir, 0o755);
      sim = await startSimulator();
      envFile = path.join(dir, 'env');
      // The instance's port wins over a PORT/HOST an operator put in the file by mistake.
      writeEnvFile(envFile, {
        ...envFromExample({
          APP_URL: 'https://flowers.test', DATABASE_URL: testDatabase().url, SESSION_SECRET: 'systemd-test-session-secret-0123456789abcdef',
          SMTP_URL: smtpUrl(), AMOCRM_BASE_URL: sim.url, AMOCRM_LONG_LIVED_TOKEN: sim.token, AMOCRM_WEBHOOK_SECRET: 'systemd-test-webhook-secret-0123456789abcdef',
        }),
        PORT: '1', HOST: '0.0.0.0',
      });
      chmodSync(envFile, 0o644); // read by "nobody" here; on the server it is root:flowers 0640
    });
    after(async () => {
      await sim?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const asNobody = (argv: string[]) => (os.userInfo().uid === 0 ? ['/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', ...argv] : argv);

    it('when flowers@<port> starts, then it listens on 127.0.0.1:<port> whatever the file says, needs no write access, and stops with exit 0 on SIGTERM', async () => {
      const port = await freePort();
      const proc = spawnService(asNobody(unitCommand('flowers@.service', port)), readEnvFile(envFile));
      try {
        await waitForHealth({ port, child: proc.child, output: proc.output });
        expect(proc.output()).to.include(`"listen":"127.0.0.1:${port}"`);
        const page = await fetch(`http://127.0.0.1:${port}/login`);
        expect(page.status).to.equal(200);
      } finally {
        // setpriv execs node itself: the signal reaches the app
        expect(await proc.stop(), proc.output()).to.equal(0);
      }
      expect(proc.output()).to.include('"msg":"stopped"');
    });

    it('when flowers@<port> starts while the database refuses connections, then it exits non-zero at once, so that Restart=on-failure tries again', async () => {
      const env = readEnvFile(envFile);
      const url = new URL(env.DATABASE_URL!);
      url.port = String(await freePort()); // nothing listens there
      const proc = spawnService(asNobody(unitCommand('flowers@.service', await freePort())), { ...env, DATABASE_URL: url.toString() });
      const code = await Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]);
      if (code === 'still running') await proc.stop();
      expect(code, proc.output()).to.be.a('number').and.not.equal(0);
    });

    it('when flowers-worker starts, then the worker runs, and SIGTERM stops it with exit 0', async () => {
      const proc = spawnService(asNobody(unitCommand('flowers-worker.service')), readEnvFile(envFile));
      try {
        await waitFor(() => {
          if (proc.child.exitCode !== null) throw new Error(`worker exited: ${proc.output()}`);
          return proc.output().includes('worker running');
        }, 30_000, 'worker running');
      } finally {
        expect(await proc.stop(), proc.output()).to.equal(0);
      }
    });
  });
});
