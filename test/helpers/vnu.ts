// The W3C Nu Html Checker over every page the browser tests were served: serve() records each HTML answer into
// a folder, and the e2e run's root after-hook checks them all, with the stylesheet, in one JVM start. Any error
// fails the run with the checker's messages. Needs Java 17+ (Debian: default-jre-headless; .ci/run installs it).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { findProjectRoot } from '../../src/config.js';

const root = findProjectRoot();
const JAR = path.join(root, 'node_modules', 'vnu-jar', 'build', 'dist', 'vnu.jar');
const CSS = path.join(root, 'public', 'css', 'site.css');
let recording = false; // only in a run that loads these hooks (the e2e run), so other runs leave no files behind
let folder: string | undefined;
const seen = new Set<string>();

/** The folder this run's pages are saved in (created on first use). */
export function pagesFolder(): string {
  folder ??= mkdtempSync(path.join(os.tmpdir(), 'vnu-pages-'));
  return folder;
}

/** Saves one served page, unless the same HTML (CSRF tokens aside) was saved already. */
export function savePage(label: string, html: string): void {
  const hash = createHash('sha256').update(html.replace(/name="_csrf" value="[^"]*"/g, '')).digest('hex');
  if (seen.has(hash)) return;
  seen.add(hash);
  const name = `${String(seen.size).padStart(3, '0')} ${label}`.replace(/[^\w.-]+/g, '_').slice(0, 120);
  writeFileSync(path.join(pagesFolder(), `${name}.html`), html);
}

/** Wraps a response so that its body is saved when it is an HTML page; call before the app handles it. */
export function recordPage(req: IncomingMessage, res: ServerResponse): void {
  if (!recording) return;
  const chunks: Buffer[] = [];
  const keep = (chunk: unknown, encoding?: unknown) => {
    if (chunk == null || typeof chunk === 'function') return;
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8'));
  };
  const { write, end } = res;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    keep(chunk, rest[0]);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as typeof res.end;
  res.on('finish', () => {
    const type = String(res.getHeader('content-type') ?? '');
    if (req.method === 'HEAD' || !type.startsWith('text/html') || !chunks.length) return;
    savePage(`${req.method} ${req.url} ${res.statusCode}`, Buffer.concat(chunks).toString('utf8'));
  });
}

type Message = { type: string; subType?: string; url?: string; message: string; lastLine?: number; firstColumn?: number; extract?: string };

/** Runs vnu once over the given files (HTML, and CSS by extension); returns its error messages, one line each. */
export function vnuErrors(files: string[]): string[] {
  const run = spawnSync('java', ['-jar', JAR, '--also-check-css', '--errors-only', '--format', 'json', '--stdout', ...files],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error) {
    throw new Error(`The Nu Html Checker needs Java 17 or later on the PATH: run "apt-get install -y default-jre-headless" (the CI script does). ${run.error.message}`);
  }
  let messages: Message[];
  try {
    messages = (JSON.parse(run.stdout) as { messages: Message[] }).messages;
  } catch {
    throw new Error(`vnu exited ${run.status} without a JSON report:\n${run.stdout}\n${run.stderr}`);
  }
  const errors = messages.filter((m) => m.type === 'error' || m.type === 'non-document-error');
  if (run.status !== 0 && !errors.length) throw new Error(`vnu exited ${run.status}:\n${run.stderr}`);
  return errors.map((m) => `${path.basename(decodeURIComponent(m.url ?? '?'))}:${m.lastLine ?? '?'}:${m.firstColumn ?? '?'}: ${m.message}${m.extract ? ` «${m.extract.trim()}»` : ''}`);
}

export const mochaHooks = {
  beforeAll() {
    recording = true;
  },
  afterAll(this: Mocha.Context) {
    if (!folder) return;
    this.timeout(120_000);
    const files = readdirSync(folder).map((f) => path.join(folder!, f));
    const errors = vnuErrors([...files, CSS]);
    if (errors.length) {
      throw new Error(`W3C Nu Html Checker: ${errors.length} errors in the ${files.length} pages the browser was served (kept in ${folder}) and site.css:\n  ${errors.join('\n  ')}`);
    }
    rmSync(folder, { recursive: true, force: true });
    process.stdout.write(`  W3C Nu Html Checker: ${files.length} pages the browser was served and site.css, no errors\n`);
  },
};
