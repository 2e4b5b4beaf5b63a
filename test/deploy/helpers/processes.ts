// Real app processes for the deploy tests: started with the command line of deploy/systemd/flowers@.service
// (production build) or from source with tsx (npm test, no build), with a production configuration written
// like /etc/flowers/env, against the run's test database, the test SMTP server and the amoCRM simulator.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findProjectRoot } from '../../../src/config.js';
import { createAmoSimulator } from '../../../src/crm/simulator/simulator.js';
import { waitFor } from '../../helpers/wait.js';

export const ROOT = findProjectRoot();
export const DEPLOY = path.join(ROOT, 'deploy');

export type Env = Record<string, string>;

/** The amoCRM simulator on a free port, with a long-lived token for the app's configuration. */
export async function startSimulator() {
  const simulator = createAmoSimulator({ seedLeadFields: true });
  const { url } = await simulator.listen(0, '127.0.0.1');
  return { simulator, url, token: simulator.controls.issueLongLivedToken(), close: () => simulator.close() };
}

/** A complete production configuration, as an operator would write /etc/flowers/env. */
export function productionEnv(o: { databaseUrl: string; smtpUrl: string; amoUrl: string; amoToken: string; appUrl?: string; worker?: 'in-process' | 'off' }): Env {
  return {
    NODE_ENV: 'production',
    APP_URL: o.appUrl ?? 'https://flowers.test',
    DATABASE_URL: o.databaseUrl,
    SESSION_SECRET: randomBytes(36).toString('base64url'),
    SMTP_URL: o.smtpUrl,
    MAIL_FROM: 'Цветочная подписка <shop@flowers.test>',
    AMOCRM_BASE_URL: o.amoUrl,
    AMOCRM_LONG_LIVED_TOKEN: o.amoToken,
    AMOCRM_WEBHOOK_SECRET: randomBytes(24).toString('hex'),
    TRUST_PROXY: 'loopback',
    OPERATOR_NAME: 'ООО «Цветы по подписке»',
    OPERATOR_ADDRESS: '190000, г. Санкт-Петербург, ул. Цветочная, д. 5',
    OPERATOR_INN: '7801234567',
    OPERATOR_EMAIL: 'privacy@flowers.test',
    LOG_LEVEL: 'info',
    WORKER: o.worker ?? 'in-process',
  };
}

/** Writes an environment file in the format systemd's EnvironmentFile= and node --env-file both read. */
export function writeEnvFile(file: string, env: Env): void {
  writeFileSync(file, `${Object.entries(env).map(([k, v]) => `${k}=${/[\s#"'<>]/.test(v) ? JSON.stringify(v) : v}`).join('\n')}\n`, { mode: 0o600 });
}

/** Reads KEY=value lines as systemd does for EnvironmentFile= (comments, blank lines, one level of quotes). */
export function readEnvFile(file: string): Env {
  const env: Env = {};
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new Error(`not KEY=value: ${line}`);
    let value = line.slice(eq + 1).trim();
    if (/^".*"$/.test(value)) value = JSON.parse(value) as string;
    else if (/^'.*'$/.test(value)) value = value.slice(1, -1);
    env[line.slice(0, eq).trim()] = value;
  }
  return env;
}

/** One directive of a unit file (the last one wins, as in systemd). */
export function unitDirective(unitFile: string, key: string): string {
  const lines = readFileSync(unitFile, 'utf8').split('\n').filter((l) => l.startsWith(`${key}=`));
  if (!lines.length) throw new Error(`${key}= not found in ${unitFile}`);
  return lines.at(-1)!.slice(key.length + 1).trim();
}

/**
 * The ExecStart= of a unit in deploy/systemd (the instance for a template), with the release directory replaced
 * by this checkout: exactly the command systemd runs on the server.
 */
export function unitCommand(unit: 'flowers@.service' | 'flowers-worker.service', instance?: number): string[] {
  const file = path.join(DEPLOY, 'systemd', unit);
  const argv = unitDirective(file, 'ExecStart').split(/\s+/)
    .map((a) => a.replaceAll('%i', String(instance)).replaceAll('/srv/flowers/current', ROOT));
  if (argv.some((a) => a.includes('%'))) throw new Error(`unexpanded specifier in ExecStart: ${argv.join(' ')}`);
  // On the server Node is /usr/bin/node (NodeSource package); a machine with Node elsewhere runs its own.
  return argv.map((a) => (a === '/usr/bin/node' && !existsSync(a) ? process.execPath : a));
}

export type AppProcess = {
  port: number;
  pid: number;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
};

export type StartOptions = { port: number; env: Env; mode: 'unit' | 'source'; waitForHealth?: boolean };

/** Spawns a command with a clean environment (PATH and the given variables), as systemd does. */
export function spawnService(argv: string[], env: Env) {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => { output = (output + c.toString()).slice(-200_000); });
  child.stderr!.on('data', (c: Buffer) => { output = (output + c.toString()).slice(-200_000); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid!, child, output: () => output, exited,
    async stop(): Promise<number | null> {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Starts one web process and (by default) waits until GET /healthz answers 200. */
export async function startAppProcess(o: StartOptions): Promise<AppProcess> {
  const argv = o.mode === 'unit'
    ? unitCommand('flowers@.service', o.port)
    : [process.execPath, '--import', 'tsx', path.join(ROOT, 'src', 'server.ts')];
  const service = spawnService(argv, { ...o.env, ...(o.mode === 'source' ? { PORT: String(o.port), HOST: '127.0.0.1' } : {}) });
  const proc: AppProcess = { port: o.port, ...service };
  if (o.waitForHealth ?? true) await waitForHealth(proc);
  return proc;
}

export async function waitForHealth(proc: Pick<AppProcess, 'port' | 'child' | 'output'>, ms = 60_000): Promise<void> {
  await waitFor(async () => {
    if (proc.child.exitCode !== null) throw new Error(`app process on port ${proc.port} exited early:\n${proc.output()}`);
    return fetch(`http://127.0.0.1:${proc.port}/healthz`).then((r) => r.ok, () => false);
  }, ms, `app process on port ${proc.port} answering /healthz`);
}

/**
 * deploy/env.example as an operator fills it in: the example's values, with the placeholders replaced by the
 * test's own. Fails when a placeholder is left (production would refuse to start on it).
 */
export function envFromExample(values: Env): Env {
  const env = { ...readEnvFile(path.join(DEPLOY, 'env.example')), ...values };
  const left = Object.entries(env).filter(([, v]) => v.includes('CHANGE-ME')).map(([k]) => k);
  if (left.length) throw new Error(`env.example placeholders not filled in by the test: ${left.join(', ')}`);
  return env;
}
