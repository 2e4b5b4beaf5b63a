// Summarises a V8 CPU profile (node --cpu-prof) by where the time went: self time per package (our src/,
// each node_modules package, Node's internals, the garbage collector, idle) and the busiest functions.
//   npx tsx bench/profile-summary.ts var/bench/profiles/CPU.….cpuprofile
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

function owner(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native / V8)';
  if (url.startsWith('node:')) return 'node: (core modules)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (/\/dist\/src\//.test(url) || /\/src\//.test(url)) return `app: ${/\/src\/(.+)$/.exec(url)?.[1] ?? url}`;
  return url;
}

export function summarise(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;

  const packages = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, t] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)') continue;
    const o = owner(url, functionName);
    const pkg = o.startsWith('app: ') ? 'app (src/)' : o;
    packages.set(pkg, (packages.get(pkg) ?? 0) + t);
    const fn = `${functionName || '(anonymous)'} ${url ? `${o.startsWith('app: ') ? o.slice(5) : path.basename(url)}:${lineNumber + 1}` : ''}`.trim();
    functions.set(fn, (functions.get(fn) ?? 0) + t);
  }
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
  const rows = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => `  ${pct(t)}  ${k}`);
  return [
    `CPU profile ${path.basename(file)}: ${(total / 1e6).toFixed(1)} s recorded, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)} %); shares of busy time:`,
    'by package (self time):', ...rows(packages),
    'by function (self time):', ...rows(functions),
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: npx tsx bench/profile-summary.ts <file.cpuprofile>\n');
    process.exit(2);
  }
  process.stdout.write(`${summarise(file)}\n`);
}
