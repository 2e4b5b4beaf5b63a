// The tiny error set and the one error handler. Expected failures are return values, not errors; what
// reaches the handler is a 403/404 thrown on purpose, a database outage (503) or a bug (500). No stack
// or message is ever shown to the user.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import { isDatabaseUnavailable } from '../database-errors.js';
import { HasherBusyError } from '../services/passwords.js';
import { setLanguageLocals } from './language.js';
import { safeReturnPath } from './locals.js';

export class AppError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = new.target.name;
  }
}
export class NotFoundError extends AppError {
  constructor(message = 'not found') {
    super(404, message);
  }
}
export class ForbiddenError extends AppError {
  constructor(message = 'forbidden') {
    super(403, message);
  }
}

/** A refused cross-site or token-less form post: shown as a friendly page with a way back to the form. */
export class CsrfError extends ForbiddenError {
  constructor(reason: string) {
    super(`csrf: ${reason}`);
  }
}

export const notFound: RequestHandler = (_req, _res, next) => next(new NotFoundError());

export function errorHandler(logger: Logger, timeZone: string): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const status = error instanceof AppError ? error.status
      : isDatabaseUnavailable(error) || error instanceof HasherBusyError ? 503
      : typeof error?.status === 'number' && error.status >= 400 && error.status < 500 ? error.status
      : 500;
    if (error instanceof HasherBusyError) (req.log ?? logger).warn('password hashing queue full: request refused');
    else if (status >= 500) (req.log ?? logger).error({ err: error }, status === 503 ? 'database unavailable' : 'request failed');
    if (res.headersSent) return res.end();
    if (status === 503) res.set('Retry-After', error instanceof HasherBusyError ? String(error.retryAfterSeconds) : '30');
    res.set('Cache-Control', 'no-store');
    const view = error instanceof CsrfError ? 'csrf' : status === 403 || status === 404 || status === 503 ? status : status < 500 ? 400 : 500;
    if (error instanceof CsrfError) (req.log ?? logger).warn({ reason: error.message }, 'form refused');
    if (!res.locals.t) setLanguageLocals(req, res, 'ru', timeZone);
    res.locals.takeFlash = () => undefined;
    res.status(status).render(`errors/${view}`, { backHref: req.method === 'POST' ? safeReturnPath(req.path, '/') : '/' }, (renderError: Error | null, html?: string) => {
      if (renderError) {
        logger.error({ err: renderError }, 'error page failed to render');
        return res.type('text/plain').send(status === 404 ? 'Не найдено' : 'Ошибка');
      }
      res.send(html);
    });
  };
}
