// A stand-in for systemd on a machine without it (containers, CI): it runs the units of deploy/systemd with
// their own ExecStart= and the environment file, and answers the few `systemctl` verbs that
// deploy/rolling-restart.sh uses through a fake `systemctl` executable that calls it over HTTP.
import http from 'node:http';
import { chmodSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readEnvFile, spawnService, startAppProcess, unitCommand, type AppProcess } from './processes.js';

type Running = Pick<AppProcess, 'pid' | 'stop' | 'output' | 'child'>;

export async function startSupervisor(o: { envFile: string; dir: string; reloadNginx: () => Promise<void> }) {
  const units = new Map<string, Running>();
  /** Exit codes of every stop, per unit: a graceful stop is 0. */
  const stops: { unit: string; code: number | null }[] = [];
  const calls: string[] = [];

  async function start(unit: string): Promise<void> {
    const env = readEnvFile(o.envFile); // read at every start, as systemd does
    const web = /^flowers@(\d+)\.service$/.exec(unit);
    if (web) {
      units.set(unit, await startAppProcess({ port: Number(web[1]), env, mode: 'unit', waitForHealth: false }));
    } else if (unit === 'flowers-worker.service') {
      units.set(unit, spawnService(unitCommand('flowers-worker.service'), env));
    } else {
      throw new Error(`unknown unit ${unit}`);
    }
  }
  async function stop(unit: string): Promise<void> {
    const running = units.get(unit);
    if (!running) return;
    units.delete(unit);
    stops.push({ unit, code: await running.stop() });
  }

  const server = http.createServer((req, res) => {
    const [, verb, unit] = (req.url ?? '').split('/').map(decodeURIComponent);
    calls.push(`${verb} ${unit}`);
    const action = verb === 'restart' ? stop(unit!).then(() => start(unit!))
      : verb === 'try-restart' ? (units.has(unit!) ? stop(unit!).then(() => start(unit!)) : Promise.resolve())
      : verb === 'reload' && unit === 'nginx' ? o.reloadNginx()
      : Promise.reject(new Error(`unsupported: systemctl ${verb} ${unit}`));
    action.then(() => res.end('ok\n'), (error: Error) => {
      res.statusCode = 500;
      res.end(`${error.message}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const systemctl = path.join(o.dir, 'systemctl');
  writeFileSync(systemctl, `#!/usr/bin/env bash\n# test stand-in for systemctl\nexec curl -fsS -X POST "http://127.0.0.1:${port}/$1/$2"\n`);
  chmodSync(systemctl, 0o755);

  return {
    systemctl, units, stops, calls, start,
    async stopAll() {
      for (const unit of [...units.keys()]) await stop(unit);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
