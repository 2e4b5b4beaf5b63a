// Debian's nginx running the real site file (deploy/nginx/flowers.conf) on loopback: Debian's own
// /etc/nginx/nginx.conf with its paths moved into a temporary folder, a self-signed certificate where certbot's
// would be, and high ports instead of 80/443. Every substitution must match, so that a change to the site file
// cannot silently escape the test.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../../src/embedded-postgres.js';
import { waitFor } from '../../helpers/wait.js';
import { DEPLOY } from './processes.js';

export const NGINX = '/usr/sbin/nginx';
export const SERVER_NAME = 'flowers.test';

export function requireNginx(): void {
  if (!existsSync(NGINX) || !existsSync('/etc/nginx/nginx.conf')) {
    throw new Error('The deploy tests need Debian\'s nginx: run "apt-get install -y nginx" (.ci/run does).');
  }
}

/** Replaces `from` by `to`, failing when `from` does not occur at least `min` times. */
function substitute(text: string, from: string | RegExp, to: string, min = 1): string {
  const pattern = typeof from === 'string' ? undefined : new RegExp(from.source, `${from.flags.replace('g', '')}g`);
  const count = pattern ? [...text.matchAll(pattern)].length : text.split(from as string).length - 1;
  if (count < min) throw new Error(`nginx fixture: expected ${min}+ × ${String(from)} in the site file, found ${count}`);
  return pattern ? text.replace(pattern, to) : text.replaceAll(from as string, to);
}

/** The upstream file for the given ports, written from deploy/nginx/flowers-upstream.conf's first server line. */
export function upstreamConf(ports: number[]): string {
  const template = readFileSync(path.join(DEPLOY, 'nginx', 'flowers-upstream.conf'), 'utf8');
  const line = template.split('\n').find((l) => /^server 127\.0\.0\.1:\d+ /.test(l));
  if (!line) throw new Error('no "server 127.0.0.1:<port> …;" line in flowers-upstream.conf');
  return `${ports.map((p) => line.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${p}`)).join('\n')}\n`;
}

export type Nginx = Awaited<ReturnType<typeof startNginx>>;

export async function startNginx(o: { upstreamPorts: number[]; upstream?: string }) {
  requireNginx();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-nginx-'));
  chmodSync(dir, 0o755); // nginx workers run as www-data
  for (const d of ['tls', 'log', 'cache', 'www', 'tmp']) mkdirSync(path.join(dir, d));
  const [httpPort, httpsPort] = [await freePort(), await freePort()];

  // A self-signed certificate where certbot puts the real one.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${SERVER_NAME}`, '-addext', `subjectAltName=DNS:${SERVER_NAME}`,
    '-keyout', path.join(dir, 'tls', 'privkey.pem'), '-out', path.join(dir, 'tls', 'fullchain.pem')], { stdio: 'pipe' });
  const ca = readFileSync(path.join(dir, 'tls', 'fullchain.pem'));

  let site = readFileSync(path.join(DEPLOY, 'nginx', 'flowers.conf'), 'utf8');
  site = substitute(site, 'flowers.example.ru', SERVER_NAME, 5);
  site = substitute(site, /^ {4}listen 80;$/m, `    listen 127.0.0.1:${httpPort};`);
  site = substitute(site, /^ {4}listen \[::\]:80;\n/m, '');
  site = substitute(site, /^ {4}listen 443 ssl http2;$/m, `    listen 127.0.0.1:${httpsPort} ssl http2;`);
  site = substitute(site, /^ {4}listen \[::\]:443 ssl http2;\n/m, '');
  site = substitute(site, `/etc/letsencrypt/live/${SERVER_NAME}/`, `${dir}/tls/`, 2);
  site = substitute(site, '/etc/nginx/flowers-upstream.conf', `${dir}/flowers-upstream.conf`);
  site = substitute(site, '/var/log/nginx/', `${dir}/log/`, 2);
  site = substitute(site, '/var/lib/nginx/flowers-cache', `${dir}/cache/flowers`);
  site = substitute(site, '/var/www/letsencrypt', `${dir}/www`);
  const leftover = /(?:^|\s)(\/(?:etc|var|srv|run)\/\S*)/m.exec(site.replace(/#.*$/gm, ''));
  if (leftover) throw new Error(`nginx fixture: the site file uses a path the test does not move: ${leftover[1]}`);
  writeFileSync(path.join(dir, 'flowers.conf'), site);
  writeFileSync(path.join(dir, 'flowers-upstream.conf'), o.upstream ?? upstreamConf(o.upstreamPorts));
  mkdirSync(path.join(dir, 'www', '.well-known', 'acme-challenge'), { recursive: true });
  writeFileSync(path.join(dir, 'www', '.well-known', 'acme-challenge', 'probe-token'), 'probe-token.key-authorization');

  // Debian's main configuration, with its machine-wide paths moved here and our site as the only one.
  let main = readFileSync('/etc/nginx/nginx.conf', 'utf8');
  main = substitute(main, /^pid \/run\/nginx\.pid;$/m, `pid ${dir}/nginx.pid;`);
  main = substitute(main, /^error_log \/var\/log\/nginx\/error\.log;$/m, `error_log ${dir}/log/error.log;`);
  main = substitute(main, /access_log \/var\/log\/nginx\/access\.log;/, `access_log ${dir}/log/access.log;`);
  main = substitute(main, /include \/etc\/nginx\/conf\.d\/\*\.conf;/, '');
  main = substitute(main, /include \/etc\/nginx\/sites-enabled\/\*;/, [
    `include ${dir}/flowers.conf;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/tmp/${t};`),
  ].join('\n\t'));
  main = substitute(main, /^worker_processes auto;$/m, 'worker_processes 2;');
  const mainFile = path.join(dir, 'nginx.conf');
  writeFileSync(mainFile, main);
  const errorLog = path.join(dir, 'log', 'error.log');

  const configTest = () => {
    const r = spawnSync(NGINX, ['-t', '-c', mainFile, '-e', errorLog], { encoding: 'utf8' });
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  };
  const tested = configTest();
  if (tested.code !== 0) throw new Error(`nginx -t failed:\n${tested.output}`);

  const child: ChildProcess = spawn(NGINX, ['-c', mainFile, '-e', errorLog, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${output}\n${readIfExists(errorLog)}`);
    return portOpen(httpsPort);
  }, 10_000, 'nginx listening');

  const workers = () => childPids(child.pid!);
  return {
    dir, httpPort, httpsPort, ca, mainFile, configTest,
    httpsUrl: `https://127.0.0.1:${httpsPort}`,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    upstreamFile: path.join(dir, 'flowers-upstream.conf'),
    accessLog: () => readIfExists(path.join(dir, 'log', 'flowers.access.log')),
    errorLog: () => `${readIfExists(errorLog)}${readIfExists(path.join(dir, 'log', 'flowers.error.log'))}`,
    /** Like "systemctl reload nginx", but returns once the old workers are gone and the new ones serve. */
    async reload() {
      const before = workers();
      process.kill(child.pid!, 'SIGHUP');
      await waitFor(() => {
        const now = workers();
        return now.some((p) => !before.includes(p)) && !before.some((p) => now.includes(p));
      }, 15_000, 'nginx reloaded');
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readIfExists(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Direct children of a process (nginx workers of a master), from /proc. */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}
