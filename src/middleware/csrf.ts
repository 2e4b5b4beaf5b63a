// CSRF protection (SECURITY S14, revised): every state-changing request passes the cross-origin check of Go
// 1.25's net/http.CrossOriginProtection (Fetch Metadata, else Origin against APP_URL). The forms used before
// login rely on that check alone and carry no token, so a visitor's page view needs no session; every form of a
// logged-in session also carries a synchroniser token kept in the session and read only from the `_csrf` body
// field (csrf-sync, which replaces the archived csurf). A refusal is a friendly 403 page, never a stack trace.
import type { Request, RequestHandler } from 'express';
import { csrfSync } from 'csrf-sync';
import { CsrfError } from './errors.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The forms a visitor posts before login (S14): no token, the cross-origin check alone. The confirmation link's
 * button is one of them: the mail may be opened in a browser with no session, and its token is its credential.
 */
export const VISITOR_FORMS: ReadonlySet<string> = new Set(['/signup', '/login', '/login/code', '/login/code/verify', '/login/2fa', '/forgot-password', '/reset-password', '/confirm-email']);
/** The one-click mail actions, /m/<token>: the token in the path is the credential, the page needs no login. */
const MAIL_ACTION = /^\/m\/[^/]+$/;

const isVisitorForm = (path: string) => VISITOR_FORMS.has(path) || MAIL_ACTION.test(path);

/**
 * The one-click unsubscribe of RFC 8058: a mail provider POSTs `List-Unsubscribe=One-Click` to the URL of the
 * List-Unsubscribe header from its own servers, or from the webmail page in the reader's browser — a cross-site
 * request by nature. Like the webhook, it is exempt from the cross-origin check because its path secret is its
 * credential; the exemption covers only that exact body on a mail-action path, and the controller accepts that
 * body only for an unsubscribe link (a skip or move link posted this way is refused).
 */
export function isOneClickUnsubscribe(req: Request): boolean {
  return req.method === 'POST' && MAIL_ACTION.test(req.path) && (req.body as Record<string, unknown> | undefined)?.['List-Unsubscribe'] === 'One-Click';
}

/**
 * Refuses a cross-site POST by the browser's own account of where it came from: Sec-Fetch-Site same-origin or
 * none passes, any other value is refused; without it a present Origin must be the app's; neither header passes
 * (a non-browser client, or a browser from before 2020).
 */
export function sameOrigin(appOrigin: string, options: { skip: (path: string) => boolean; exempt?: (req: Request) => boolean }): RequestHandler {
  return (req, _res, next) => {
    if (SAFE.has(req.method) || options.skip(req.path) || options.exempt?.(req)) return next();
    const site = req.get('sec-fetch-site');
    if (site && site !== 'same-origin' && site !== 'none') return next(new CsrfError(`Sec-Fetch-Site ${site}`));
    const origin = req.get('origin');
    if (!site && origin && origin !== appOrigin) return next(new CsrfError('Origin mismatch'));
    next();
  };
}

export function csrfProtection(options: { skip: (path: string) => boolean }) {
  const { csrfSynchronisedProtection, generateToken } = csrfSync({
    size: 32,
    getTokenFromRequest: (req) => (typeof req.body?._csrf === 'string' ? req.body._csrf : undefined),
    getTokenFromState: (req) => req.session?.csrfToken,
    storeTokenInState: (req, token) => {
      req.session.csrfToken = token;
    },
    skipCsrfProtection: (req) => options.skip(req.path) || isVisitorForm(req.path),
  });
  const protect: RequestHandler = (req, res, next) => {
    csrfSynchronisedProtection(req, res, (error?: unknown) => (error ? next(new CsrfError('token')) : next()));
  };
  return { protect, generateToken };
}
