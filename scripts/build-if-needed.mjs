// Before `npm start`: compile when the TypeScript compiler is installed (incremental, about a second when
// nothing changed); on a production install without devDependencies, use the dist/ that was built.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  if (existsSync('dist/src/server.js')) process.exit(0);
  console.error('dist/ is missing and TypeScript is not installed: run "npm ci && npm run build" first.');
  process.exit(1);
}
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
