// GET/POST /login/code, GET/POST /login/code/verify: sign in with a 6-digit code sent by mail.
import type { Request, Response } from 'express';
import { logIn } from '../middleware/passport.js';
import { requestMeta } from '../middleware/request-meta.js';
import { safeReturnPath } from '../middleware/locals.js';
import type { AuthService } from '../services/auth-service.js';
import { emailField, loginCodeSchema, loginCodeVerifySchema, parseForm, type FormErrors } from './forms.js';

const CODE = /^\d{6}$/;

export function createLoginCodesController({ auth }: { auth: AuthService }) {
  const nextOf = (req: Request) => safeReturnPath(req.query.next, '');
  const withNext = (path: string, next: string) => (next ? `${path}${path.includes('?') ? '&' : '?'}next=${encodeURIComponent(next)}` : path);

  const renderVerify = (req: Request, res: Response, status: number, values: Record<string, string>, errors: FormErrors) =>
    res.status(status).render('login-codes/verify', { values, errors, next: nextOf(req) });

  /**
   * The answer to a request for a code: the same 303 to the code form whether the address has an account, the
   * address's limit dropped the mail, or this IP's limit refused it before the queue (S4, S6).
   */
  async function answer(req: Request, res: Response, send: boolean) {
    const form = parseForm(loginCodeSchema, req.body);
    if (!form.ok) return res.status(422).render('login-codes/new', { values: form.values, errors: form.errors, next: nextOf(req) });
    if (send) await auth.requestLoginCode(form.data.email, res.locals.lang, requestMeta(req));
    res.redirect(303, withNext(`/login/code/verify?email=${encodeURIComponent(form.data.email)}`, nextOf(req)));
  }

  return {
    new(req: Request, res: Response) {
      if (req.user) return res.redirect(303, safeReturnPath(req.query.next));
      res.render('login-codes/new', { values: {}, errors: {}, next: nextOf(req) });
    },

    create: (req: Request, res: Response) => answer(req, res, true),

    /** Past the per-IP limit: the same answer, and nothing queued. */
    limited: (req: Request, res: Response) => answer(req, res, false),

    /**
     * The code form, or — from the mailed link, which carries the code — a page with one button that posts it.
     * A GET never signs in: mail scanners open links.
     */
    edit(req: Request, res: Response) {
      const email = emailField.safeParse(req.query.email);
      const values = { email: email.success ? email.data : '' };
      const code = req.query.code;
      if (email.success && typeof code === 'string' && CODE.test(code)) {
        return res.render('login-codes/confirm', { values: { ...values, code }, next: nextOf(req) });
      }
      renderVerify(req, res, 200, values, {});
    },

    async verify(req: Request, res: Response) {
      const form = parseForm(loginCodeVerifySchema, req.body);
      if (!form.ok) return renderVerify(req, res, 422, { email: form.values.email ?? '' }, form.errors);
      const result = await auth.signInWithCode(form.data.email, form.data.code, requestMeta(req));
      if (result.status === 'password_required') {
        // Staff: the second factor cannot be skipped by a mailed code (see codeLoginAllowed in the auth service).
        return renderVerify(req, res, 403, { email: form.data.email }, { _form: 'login_code.password_required' });
      }
      if (result.status !== 'ok') return renderVerify(req, res, 422, { email: form.data.email }, { code: 'login_code.invalid' });
      await logIn(req, result.user); // a new session id (S9)
      res.redirect(303, safeReturnPath(req.query.next, '/account'));
    },
  };
}
