// The first-party attribution cookie: on a visitor's first request that carries UTM tags, yclid, gclid or an external
// Referer, what brought them is kept for 90 days in a signed, HttpOnly cookie — the first touch wins, a later
// campaign never overwrites it. It holds no personal data: tags from the link, and of a referring page only its host
// (a path or query could carry a search or an address). Sign-up stores it with the account (user_attribution).
//
// This runs before the visitor-page cache and costs a request that has nothing to record only a look at the URL,
// the Referer and the Cookie header. The cookie goes out in this response's own headers: the page cache keeps no
// response whose downstream set a cookie, and never stores or replays one set here (see page-cache.ts).
//
// No analytics client-id cookie is set on visitors: nothing is sent about a visitor (there is no script, and no
// consent yet), so an identifier in the browser would serve nothing. The client id is minted at sign-up, kept with
// the account and used only for a customer with the analytics consent.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';

export const ATTRIBUTION_MAX_AGE_MS = 90 * 24 * 3600_000;
export const TAGS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'yclid', 'gclid'] as const;
type Tag = (typeof TAGS)[number];

export type Attribution = Partial<Record<Tag, string>> & { referrerHost?: string; landingPath: string; firstSeenAt: Date };

const TAG_PATTERN = /[?&](utm_(source|medium|campaign|content|term)|yclid|gclid)=/;
/** A tag value: printable, no control characters, at most 100 characters (yclid and gclid are far shorter). */
const VALUE = /^[^\p{Cc}]{1,100}$/u;
const HOST = /^[a-z0-9.-]{1,253}(:\d{1,5})?$/;
const PATH = /^\/[A-Za-z0-9/_.-]{0,99}$/;
const MAX_COOKIE = 1500;

export function createAttribution({ secret, production, appUrl }: { secret: string; production: boolean; appUrl: string }) {
  const name = production ? '__Host-ft' : 'ft';
  const prefix = `${name}=`;
  const ownHost = new URL(appUrl).host;
  const key = Buffer.from(hkdfSync('sha256', secret, 'flowers-attribution', 'first-touch cookie v1', 32));
  const sign = (body: string) => createHmac('sha256', key).update(body).digest('base64url').slice(0, 22);

  function cookieValue(header: string | undefined): string | undefined {
    if (!header?.includes(prefix)) return undefined;
    for (const part of header.split(';')) {
      const trimmed = part.trim();
      if (trimmed.startsWith(prefix)) return trimmed.slice(prefix.length);
    }
    return undefined;
  }

  /** The attribution in a cookie value, or null when it is not one we signed or a field breaks the rules. */
  function decode(raw: string | undefined): Attribution | null {
    if (!raw || raw.length > MAX_COOKIE) return null;
    const dot = raw.lastIndexOf('.');
    if (dot <= 0) return null;
    const body = raw.slice(0, dot);
    const given = Buffer.from(raw.slice(dot + 1));
    const expected = Buffer.from(sign(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let fields: URLSearchParams;
    try {
      fields = new URLSearchParams(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      return null;
    }
    return validated(fields);
  }

  function validated(fields: URLSearchParams): Attribution | null {
    const at = Number(fields.get('t'));
    const landingPath = fields.get('p') ?? '';
    if (!Number.isInteger(at) || at <= 0 || !PATH.test(landingPath)) return null;
    const result: Attribution = { landingPath, firstSeenAt: new Date(at * 1000) };
    for (const tag of TAGS) {
      const v = fields.get(tag);
      if (v === null) continue;
      if (!VALUE.test(v)) return null;
      result[tag] = v;
    }
    const host = fields.get('r');
    if (host !== null) {
      if (!HOST.test(host)) return null;
      result.referrerHost = host;
    }
    return result;
  }

  /** What this request brings, or null: only tags that pass the rules, and a Referer host other than ours. */
  function fromRequest(req: Request, now: Date): Attribution | null {
    let url: URL;
    try {
      url = new URL(req.url, 'http://x');
    } catch {
      return null; // an odd path (`//[`) brings nothing to record, and never an error
    }
    const fields = new URLSearchParams();
    fields.set('t', String(Math.floor(now.getTime() / 1000)));
    fields.set('p', PATH.test(url.pathname) ? url.pathname : '/');
    let any = false;
    for (const tag of TAGS) {
      const v = url.searchParams.get(tag)?.trim();
      if (v && VALUE.test(v)) {
        fields.set(tag, v);
        any = true;
      }
    }
    const referer = req.headers.referer;
    if (referer) {
      try {
        const from = new URL(referer);
        const host = from.host.toLowerCase();
        if ((from.protocol === 'https:' || from.protocol === 'http:') && host !== ownHost && HOST.test(host)) {
          fields.set('r', host);
          any = true;
        }
      } catch { /* not a URL: nothing to record */ }
    }
    return any ? validated(fields) : null;
  }

  /** The signed cookie value; the least telling tags are left out while it is longer than a cookie may be here. */
  function encode(a: Attribution): string | null {
    const fields = new URLSearchParams({ t: String(Math.floor(a.firstSeenAt.getTime() / 1000)), p: a.landingPath });
    for (const tag of TAGS) if (a[tag]) fields.set(tag, a[tag]);
    if (a.referrerHost) fields.set('r', a.referrerHost);
    for (const drop of [undefined, 'utm_term', 'utm_content', 'utm_campaign', 'utm_medium', 'utm_source', 'gclid'] as const) {
      if (drop) fields.delete(drop);
      const body = Buffer.from(fields.toString(), 'utf8').toString('base64url');
      const value = `${body}.${sign(body)}`;
      if (value.length <= MAX_COOKIE) return value;
    }
    return null;
  }

  const middleware: RequestHandler = (req, res, next) => {
    if (req.method !== 'GET') return next();
    const query = req.url.includes('?') && TAG_PATTERN.test(req.url);
    const referer = req.headers.referer;
    if (!query && !referer) return next();
    const existing = cookieValue(req.headers.cookie);
    // First touch wins: an existing cookie stays, unless it is not one of ours (then it is replaced).
    if (existing !== undefined && (!query || decode(existing))) return next();
    const found = fromRequest(req, new Date());
    const value = found && encode(found);
    if (!value) return next();
    res.cookie(name, value, { maxAge: ATTRIBUTION_MAX_AGE_MS, httpOnly: true, sameSite: 'lax', secure: production, path: '/' });
    next();
  };

  return {
    cookieName: name,
    middleware,
    /** The visitor's first touch from their cookie; null when there is none or it is not valid. */
    read: (req: Request): Attribution | null => decode(cookieValue(req.headers.cookie)),
  };
}
export type AttributionCookie = ReturnType<typeof createAttribution>;
