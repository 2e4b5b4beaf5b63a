// GET /account, GET /account/history, GET/POST /account/password, GET/POST /account/email.
import type { Request, Response } from 'express';
import { NotFoundError } from '../middleware/errors.js';
import { renewLogin } from '../middleware/passport.js';
import { requestMeta } from '../middleware/request-meta.js';
import type { AccountService } from '../services/account-service.js';
import type { AuthService } from '../services/auth-service.js';
import { emailChangeSchema, parseForm, passwordChangeSchema } from './forms.js';

export function createAccountsController({ auth, accounts }: { auth: AuthService; accounts: AccountService }) {
  return {
    async show(req: Request, res: Response) {
      if (req.user!.role === 'staff') return res.redirect(303, '/staff');
      res.render('account/show', { account: await accounts.dashboard(req.user!.id, res.locals.lang, req.user), remindersWanted: req.user!.remindersWanted });
    },

    /** The whole timeline, 50 entries a page, newest first; `?page=` beyond the last page is a 404. */
    async history(req: Request, res: Response) {
      if (req.user!.role === 'staff') return res.redirect(303, '/staff');
      const raw = req.query.page;
      const page = raw === undefined ? 1 : typeof raw === 'string' && /^[1-9]\d{0,5}$/.test(raw) ? Number(raw) : null;
      if (page === null) throw new NotFoundError();
      const history = await accounts.history(req.user!.id, res.locals.lang, page);
      if (page > 1 && !history.entries.length) throw new NotFoundError();
      res.render('account/history', { history });
    },

    editPassword(_req: Request, res: Response) {
      res.render('passwords/edit', { errors: {} });
    },

    async updatePassword(req: Request, res: Response) {
      const form = parseForm(passwordChangeSchema(req.user!.email), req.body);
      if (!form.ok) return res.status(422).render('passwords/edit', { errors: form.errors });
      const result = await auth.changePassword(req.user!.id, form.data.currentPassword, form.data.password, req.sessionID, requestMeta(req));
      if ('error' in result) {
        const errors = result.error === 'wrong_password' ? { currentPassword: 'password.wrong' as const }
          : result.error === 'locked' ? { currentPassword: 'password.locked' as const } : { password: `password.${result.error}` as const };
        return res.status(422).render('passwords/edit', { errors });
      }
      await renewLogin(req, result.user);
      req.session.flash = 'flash.password_changed';
      res.redirect(303, '/account');
    },

    editEmail(req: Request, res: Response) {
      res.render('email-changes/edit', { values: { email: req.user!.pendingEmail ?? req.user!.email }, errors: {} });
    },

    async updateEmail(req: Request, res: Response) {
      const form = parseForm(emailChangeSchema, req.body);
      if (!form.ok) return res.status(422).render('email-changes/edit', { values: form.values, errors: form.errors });
      const result = await auth.changeEmail(req.user!.id, form.data.currentPassword, form.data.email, requestMeta(req));
      if ('error' in result) {
        const errors = result.error === 'wrong_password' ? { currentPassword: 'password.wrong' as const }
          : result.error === 'locked' ? { currentPassword: 'password.locked' as const }
          : { email: result.error === 'email_taken' ? 'email.taken' as const : 'email.same' as const };
        return res.status(422).render('email-changes/edit', { values: { email: form.data.email }, errors });
      }
      req.session.flash = 'flash.email_change_requested';
      res.redirect(303, '/account');
    },
  };
}
