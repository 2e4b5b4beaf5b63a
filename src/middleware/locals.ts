// What every view may use: the current user (a view-model, never the row), a lazily created CSRF token, and the
// one-shot flash message, taken from the session only by a page that shows it (an error page, such as the 404 of a
// stray favicon or prefetch request, leaves it for the page it was meant for). Authenticated and auth-form pages
// are never cached (S15).
import type { Request, RequestHandler } from 'express';
import { ForbiddenError } from './errors.js';

export function locals(generateToken: (req: Request) => string): RequestHandler {
  return (req, res, next) => {
    res.locals.currentUser = req.user ? { email: req.user.email, role: req.user.role } : null;
    // Only pages with a form ask for the token, so a visitor's session row is created only where needed.
    res.locals.csrfToken = () => generateToken(req);
    res.locals.takeFlash = () => {
      const flash = req.session?.flash;
      if (flash) delete req.session.flash;
      return flash;
    };
    if (req.user) res.set('Cache-Control', 'no-store');
    next();
  };
}

/** For pages that hold secrets or personal data: never stored by the browser or a proxy. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

export const requireUser: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
};

/** Staff pages (S22): a visitor is sent to log in, a customer gets 403. */
export const requireStaff: RequestHandler = (req, res, next) => {
  if (!req.user) return res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
  if (req.user.role !== 'staff') return next(new ForbiddenError('staff only'));
  res.set('Cache-Control', 'no-store');
  next();
};

/** A same-site relative path, or the fallback (S20): not `//host`, not `/\host`, no scheme. */
export function safeReturnPath(value: unknown, fallback = '/account'): string {
  if (typeof value !== 'string' || value.length > 500) return fallback;
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return fallback;
  if (/[\u0000-\u001f\\]/.test(value)) return fallback;
  return value;
}
