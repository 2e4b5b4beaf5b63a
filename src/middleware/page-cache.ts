// The visitor's pages served from memory. A visitor's `/`, `/login`, `/signup`, `/forgot-password` carry no
// token and no session (SECURITY S12, S14), so they are the same bytes for everyone of a language: the first such
// request renders the page through the whole app, and later ones get those bytes without the session, passport or
// a database round trip. Only a plain GET (no query string) from a browser that holds no session cookie is served
// or stored, so a logged-in customer, a notice waiting in a session, `?next=` or `?lang=` always take the full
// path. The browser is still told `no-store` on the auth forms (S15): this cache is the server's. Entries live a
// minute, so a price or the earliest delivery date in a form is never older than that.
import { createHash } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Language } from '../i18n/i18n.js';

type Entry = { headers: [string, string | number | string[]][]; body: Buffer; etag: string; expires: number };

export function visitorPageCache(options: {
  paths: readonly string[]; sessionCookie: string; ttlMs?: number; languageOf: (req: Request) => Language;
}) {
  const paths = new Set(options.paths);
  const ttlMs = options.ttlMs ?? 60_000;
  const cookiePrefix = `${options.sessionCookie}=`;
  const entries = new Map<string, Entry>();

  const cacheable = (req: Request) =>
    req.method === 'GET' && paths.has(req.url) && !req.headers.cookie?.includes(cookiePrefix);

  const middleware: RequestHandler = (req, res, next) => {
    if (!cacheable(req)) return next();
    const key = `${options.languageOf(req)} ${req.url}`;
    const hit = entries.get(key);
    if (hit && hit.expires > Date.now()) {
      for (const [name, value] of hit.headers) res.setHeader(name, value);
      res.setHeader('ETag', hit.etag);
      if (req.headers['if-none-match'] === hit.etag) {
        res.statusCode = 304;
        return res.end();
      }
      res.setHeader('Content-Length', hit.body.length);
      res.statusCode = 200;
      return res.end(hit.body);
    }
    // A miss: the page is rendered as usual, and kept if it is a plain 200 whose rendering set no cookie. A cookie
    // set before this middleware (the attribution cookie) belongs to this response alone: it is neither a reason to
    // skip storing nor stored, since only the headers added while rendering are kept.
    const before = new Set(res.getHeaderNames());
    const cookiesBefore = res.getHeader('set-cookie');
    const send = res.send.bind(res);
    res.send = (body?: unknown) => {
      if (res.statusCode === 200 && typeof body === 'string' && res.getHeader('set-cookie') === cookiesBefore) {
        if (!res.get('Content-Type')) res.type('html');
        const headers = res.getHeaderNames().filter((name) => !before.has(name) && name !== 'etag' && name !== 'content-length')
          .map((name): Entry['headers'][number] => [name, res.getHeader(name)!]);
        const bytes = Buffer.from(body, 'utf8');
        const etag = `W/"${bytes.length.toString(16)}-${createHash('sha1').update(bytes).digest('base64').slice(0, 27)}"`;
        entries.set(key, { headers, body: bytes, etag, expires: Date.now() + ttlMs });
      }
      return send(body);
    };
    next();
  };

  return {
    middleware,
    /** Forgets every stored page (for example after a price changes). */
    clear: () => entries.clear(),
  };
}
