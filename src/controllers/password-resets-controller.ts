// GET/POST /forgot-password, GET /forgot-password/sent, GET/POST /reset-password.
import type { Request, Response } from 'express';
import { requestMeta } from '../middleware/request-meta.js';
import { freshSession } from '../middleware/session.js';
import type { AuthService } from '../services/auth-service.js';
import { isLinkToken } from '../services/link-tokens.js';
import { forgotSchema, parseForm, resetSchema, type FormErrors } from './forms.js';

export function createPasswordResetsController({ auth }: { auth: AuthService }) {
  const renderEdit = (res: Response, status: number, token: string, errors: FormErrors) =>
    res.status(status).render('password-resets/edit', { token, errors });

  return {
    new(_req: Request, res: Response) {
      res.render('password-resets/new', { values: {}, errors: {} });
    },

    async create(req: Request, res: Response) {
      const form = parseForm(forgotSchema, req.body);
      if (!form.ok) return res.status(422).render('password-resets/new', { values: form.values, errors: form.errors });
      await auth.requestPasswordReset(form.data.email, res.locals.lang, requestMeta(req));
      res.redirect(303, '/forgot-password/sent');
    },

    sent(_req: Request, res: Response) {
      res.render('password-resets/sent');
    },

    /** The mailed link: the token moves into the session and out of the address bar; a GET never uses it up. */
    async edit(req: Request, res: Response) {
      const fromLink = req.query.token;
      if (typeof fromLink === 'string') {
        req.session.resetToken = fromLink.slice(0, 200);
        return res.redirect(303, '/reset-password');
      }
      const token = req.session.resetToken;
      if (!isLinkToken(token) || !(await auth.resetTokenValid(token))) {
        return res.status(410).render('password-resets/invalid');
      }
      renderEdit(res, 200, token, {});
    },

    async update(req: Request, res: Response) {
      const form = parseForm(resetSchema, req.body);
      const token = (form.ok ? form.data.token : undefined) || req.session.resetToken || '';
      if (!isLinkToken(token)) return res.status(410).render('password-resets/invalid');
      if (!form.ok) return renderEdit(res, 422, token, form.errors);
      const result = await auth.resetPassword(token, form.data.password, requestMeta(req));
      if ('error' in result) {
        if (result.error === 'invalid_token') return res.status(410).render('password-resets/invalid');
        return renderEdit(res, 422, token, { password: `password.${result.error}` });
      }
      // Every session of the account has ended (S10), this one too: it goes on as an empty visitor session.
      await freshSession(req);
      res.redirect(303, '/login?reset=done');
    },
  };
}
