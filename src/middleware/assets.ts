// The one stylesheet, served under a name that carries its content hash (`/css/site.3f2a9c1b.css`) with a
// year-long immutable cache; everything else in public/ with a short cache.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type RequestHandler } from 'express';

export function createAssets(publicDir: string) {
  const css = readFileSync(path.join(publicDir, 'css', 'site.css'));
  const hash = createHash('sha256').update(css).digest('hex').slice(0, 10);
  const stylesheetUrl = `/css/site.${hash}.css`;

  // Served from memory with its headers computed once (the ETag too, so no hash per request).
  const headers = { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=31536000, immutable', ETag: `"${hash}"` };
  const stylesheet: RequestHandler = (_req, res) => {
    res.set(headers);
    res.send(css);
  };

  return {
    stylesheetUrl,
    css,
    /** Routes the fingerprinted stylesheet and the rest of public/ (no directory listings, no dotfiles). */
    handler(): RequestHandler {
      const router = express.Router();
      router.get(stylesheetUrl, stylesheet);
      // Only the files public/ held at start-up reach the file system: a page request must not wait for a
      // lookup in libuv's thread pool, where bcrypt may be busy (docs/PERFORMANCE.md).
      const files = new Set(publicFiles(publicDir));
      const serve = express.static(publicDir, { index: false, maxAge: '1h', dotfiles: 'ignore', fallthrough: true });
      router.use((req, res, next) => (files.has(req.path) ? serve(req, res, next) : next()));
      return router;
    },
  };
}

/** URL paths of the files under dir (no dotfiles). */
function publicFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.')).flatMap((e) =>
    e.isDirectory() ? publicFiles(path.join(dir, e.name), `${prefix}/${e.name}`) : [`${prefix}/${e.name}`]);
}
