// GET/POST /login, POST /logout, POST /account/logout-everywhere.
import type { Request, Response } from 'express';
import { authenticateLocal, logIn, type AppPassport } from '../middleware/passport.js';
import { requestMeta } from '../middleware/request-meta.js';
import { endSession } from '../middleware/session.js';
import { safeReturnPath } from '../middleware/locals.js';
import type { AuthService } from '../services/auth-service.js';
import { loginSchema, parseForm, type FormErrors } from './forms.js';

type SecondStep = (req: Request, res: Response, ref: { id: number; v: number; remember: boolean; next: string }) => void;

export function createSessionsController({ auth, passport, cookieName, secondStep }: { auth: AuthService; passport: AppPassport; cookieName: string; secondStep: SecondStep }) {
  const render = (req: Request, res: Response, status: number, values: Record<string, string>, errors: FormErrors) =>
    res.status(status).render('sessions/new', {
      values, errors, next: safeReturnPath(req.query.next, ''),
      notice: req.query.reset === 'done' ? 'login.reset_done' : req.query.signed_out === 'all' ? 'login.signed_out_all' : null,
    });

  return {
    new(req: Request, res: Response) {
      if (req.user) return res.redirect(303, safeReturnPath(req.query.next));
      render(req, res, 200, {}, {});
    },

    async create(req: Request, res: Response) {
      const form = parseForm(loginSchema, req.body);
      if (!form.ok) {
        // Shape errors only; whether the account exists is never said.
        return render(req, res, 422, form.values, form.errors);
      }
      const result = await authenticateLocal(passport, req, res);
      if (result.status !== 'ok') {
        const message = result.status === 'locked' ? 'login.locked' : 'login.invalid';
        return render(req, res, 401, { email: form.data.email }, { _form: message });
      }
      const next = safeReturnPath(req.query.next, result.user.role === 'staff' ? '/staff' : '/account');
      // A staff account with TOTP is not logged in yet: the code comes first (/login/2fa).
      if (result.secondFactor) return secondStep(req, res, { id: result.user.id, v: result.user.authVersion, remember: form.data.remember === '1', next });
      await logIn(req, result.user, { remember: form.data.remember === '1' });
      res.redirect(303, next);
    },

    async destroy(req: Request, res: Response) {
      if (req.user) await auth.recordLogout(req.user.id, requestMeta(req));
      await endSession(req, res, cookieName);
      res.redirect(303, '/');
    },

    async destroyAll(req: Request, res: Response) {
      await auth.logoutEverywhere(req.user!.id, requestMeta(req));
      await endSession(req, res, cookieName);
      res.redirect(303, '/login?signed_out=all');
    },
  };
}
