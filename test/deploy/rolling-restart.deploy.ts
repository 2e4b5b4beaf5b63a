// Zero-downtime restart, measured: two production processes behind the real nginx site, autocannon load of
// pages, a logged-in page and a form POST, and deploy/rolling-restart.sh restarting both processes (and the
// worker) one after the other in the middle of it. Not one request may fail.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { expect } from 'chai';
import { freePort } from '../../src/embedded-postgres.js';
import { testDatabase } from '../helpers/db.js';
import { smtpUrl } from '../helpers/smtp.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';
import { Browser, csrfFrom } from './helpers/http.js';
import { startNginx, SERVER_NAME, type Nginx } from './helpers/nginx.js';
import { DEPLOY, envFromExample, ROOT, startSimulator, writeEnvFile } from './helpers/processes.js';
import { startSupervisor } from './helpers/supervisor.js';
import { waitForHealth } from './helpers/processes.js';

function run(file: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; output: string }>((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

describe('deploy/rolling-restart.sh behind nginx under load', function () {
  this.timeout(240_000);
  let dir: string;
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let nginx: Nginx;
  let supervisor: Awaited<ReturnType<typeof startSupervisor>>;
  let ports: number[];

  before(async () => {
    if (!existsSync(path.join(ROOT, 'dist', 'src', 'server.js'))) throw new Error('no production build: run "npm run build" (npm run test:deploy does)');
    dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-rolling-'));
    sim = await startSimulator();
    const envFile = path.join(dir, 'env');
    writeEnvFile(envFile, envFromExample({
      APP_URL: `https://${SERVER_NAME}`, DATABASE_URL: testDatabase().url, SESSION_SECRET: 'rolling-restart-session-secret-0123456789abcdef',
      SMTP_URL: smtpUrl(), AMOCRM_BASE_URL: sim.url, AMOCRM_LONG_LIVED_TOKEN: sim.token,
      AMOCRM_WEBHOOK_SECRET: 'rolling-restart-webhook-secret-0123456789abcdef',
    }));
    ports = [await freePort(), await freePort()];
    let reload: () => Promise<void> = async () => { throw new Error('nginx not started'); };
    supervisor = await startSupervisor({ envFile, dir, reloadNginx: () => reload() });
    for (const p of ports) await supervisor.start(`flowers@${p}.service`);
    await supervisor.start('flowers-worker.service');
    for (const p of ports) await waitForHealth({ port: p, ...supervisor.units.get(`flowers@${p}.service`)! });
    nginx = await startNginx({ upstreamPorts: ports });
    reload = () => nginx.reload();
  });

  after(async () => {
    await supervisor?.stopAll();
    await nginx?.stop();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when both web processes and the worker restart one after the other under load, then no request fails and every stop is graceful', async () => {
    // A logged-in customer whose cookie and CSRF token the load reuses.
    const visitor = new Browser({ ca: nginx.ca, servername: SERVER_NAME });
    const signup = await visitor.submit(`${nginx.httpsUrl}/signup`, {
      email: uniqueEmail('rolling'), password: 'Tyulpany v marte 2026', bouquet: 'romantic', address: 'ул. Мира, 1',
      deliveryDate: daysFromToday(3), interval: 'monthly', wishes: '', consentPersonalData: 'yes',
    });
    expect(signup.status, signup.text.slice(0, 300)).to.equal(303);
    const forgot = await visitor.get(`${nginx.httpsUrl}/forgot-password`);
    const stylesheet = /<link rel="stylesheet" href="([^"]+)"/.exec(forgot.text)![1]!;
    const cookie = visitor.cookieHeader();
    const form = new URLSearchParams({ _csrf: csrfFrom(forgot.text), email: uniqueEmail('nobody') }).toString();
    const pidsBefore = ports.map((p) => supervisor.units.get(`flowers@${p}.service`)!.pid);

    const load = autocannon({
      url: nginx.httpsUrl,
      connections: 8,
      duration: 120,
      tlsOptions: { ca: nginx.ca, servername: SERVER_NAME },
      requests: [
        { method: 'GET', path: '/login' },
        { method: 'GET', path: '/account', headers: { cookie } },
        { method: 'POST', path: '/forgot-password', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: form },
        { method: 'GET', path: stylesheet },
      ],
    });
    const finished = new Promise<autocannon.Result>((resolve, reject) => load.on('done', resolve).on('error', reject));
    await new Promise((r) => setTimeout(r, 2000));
    const script = await run(path.join(DEPLOY, 'rolling-restart.sh'), [], {
      UPSTREAM_FILE: nginx.upstreamFile, NGINX_CONF: nginx.mainFile, SYSTEMCTL: supervisor.systemctl, DRAIN_SECONDS: '1',
    });
    await new Promise((r) => setTimeout(r, 2000));
    load.stop();
    const result = await finished;

    expect(script.code, script.output).to.equal(0);
    const statuses = Object.keys(result.statusCodeStats ?? {}).map(Number);
    const summary = `requests ${result.requests.total}, statuses ${JSON.stringify(result.statusCodeStats)}, errors ${result.errors}, timeouts ${result.timeouts}`;
    process.stdout.write(`      rolling restart under load: ${summary}\n`);
    expect(result.errors, summary).to.equal(0);
    expect(result.timeouts, summary).to.equal(0);
    expect(statuses.filter((s) => s < 200 || s >= 400), summary).to.deep.equal([]);
    expect(statuses.sort(), summary).to.deep.equal([200, 303]);
    expect(result.requests.total, summary).to.be.greaterThan(200);

    // nginx saw the same: no 5xx, and each process served requests after its restart.
    const log = nginx.accessLog().trim().split('\n');
    expect(log.filter((l) => /" 5\d\d /.test(l)), 'nginx answered 5xx').to.deep.equal([]);
    const lastLines = log.slice(-100).join('\n');
    for (const p of ports) expect(lastLines, `port ${p} serves again`).to.include(`127.0.0.1:${p}`);
    expect(supervisor.calls).to.deep.equal([
      'reload nginx', `restart flowers@${ports[0]}.service`, 'reload nginx',
      'reload nginx', `restart flowers@${ports[1]}.service`, 'reload nginx',
      'try-restart flowers-worker.service',
    ]);
    const pidsAfter = ports.map((p) => supervisor.units.get(`flowers@${p}.service`)!.pid);
    expect(pidsAfter[0]).to.not.equal(pidsBefore[0]);
    expect(pidsAfter[1]).to.not.equal(pidsBefore[1]);
    expect(supervisor.stops.map((s) => s.code), JSON.stringify(supervisor.stops)).to.deep.equal([0, 0, 0]);

    expect(nginx.errorLog(), 'nginx error log').to.not.match(/\[(error|crit|alert|emerg)\]/);
  });
});
