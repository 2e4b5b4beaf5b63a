// GET/POST /login/2fa: the second step of a staff login; GET/POST /staff/2fa: enrolment of the authenticator app.
import type { NextFunction, Request, Response } from 'express';
import { renderSVG } from 'uqr';
import { logIn, renewLogin } from '../middleware/passport.js';
import { requestMeta } from '../middleware/request-meta.js';
import type { TotpService } from '../services/totp-service.js';
import { parseForm, secondFactorSchema, totpConfirmSchema } from './forms.js';

const PENDING_MS = 10 * 60_000;

export function createStaffTotpController({ totp, issuer, required }: { totp: TotpService; issuer: string; required: boolean }) {
  const pending = (req: Request) => {
    const p = req.session?.pendingLogin;
    return p && Date.now() - p.at < PENDING_MS ? p : null;
  };

  async function showEnrolment(req: Request, res: Response, status: number, error: string | null) {
    const secret = await totp.pendingSecret(req.user!.id);
    if (!secret) return res.status(status).render('staff-totp/enabled');
    const uri = `otpauth://totp/${encodeURIComponent(`${issuer}:${req.user!.email}`)}?secret=${secret}&issuer=${encodeURIComponent(issuer)}`;
    res.status(status).render('staff-totp/enrol', { qr: renderSVG(uri, { border: 4 }) /* the quiet zone scanners expect */, groups: secret.match(/.{1,4}/g)!.join(' '), error });
  }

  return {
    /** Called by the password login once the password of a staff account with TOTP is right. */
    begin(req: Request, res: Response, ref: { id: number; v: number; remember: boolean; next: string }) {
      req.session.regenerate((error) => {
        if (error) throw error;
        req.session.pendingLogin = { ...ref, at: Date.now() };
        res.redirect(303, '/login/2fa');
      });
    },

    /** Before every other staff page when TOTP is required (production): a staff account without it enrols first. */
    async gate(req: Request, res: Response, next: NextFunction) {
      if (!required || req.user?.role !== 'staff' || await totp.enabled(req.user.id)) return next();
      res.redirect(303, '/staff/2fa');
    },

    edit(req: Request, res: Response) {
      if (!pending(req)) return res.redirect(303, '/login');
      res.render('staff-totp/login', { error: null });
    },

    async verify(req: Request, res: Response) {
      const p = pending(req);
      if (!p) return res.redirect(303, '/login');
      const form = parseForm(secondFactorSchema, req.body);
      const code = form.ok ? form.data.code ?? '' : '';
      const recoveryCode = form.ok ? form.data.recoveryCode ?? '' : '';
      if (!form.ok || (!code && !recoveryCode)) return res.status(422).render('staff-totp/login', { error: form.ok || !form.errors._form ? 'totp.required' : 'form.invalid' });
      const result = await totp.verify(p.id, code ? { code } : { recoveryCode }, requestMeta(req));
      if (result.status === 'locked') {
        delete req.session.pendingLogin;
        return res.status(401).render('staff-totp/login', { error: 'login.locked' });
      }
      if (result.status !== 'ok' || result.user.authVersion !== p.v) return res.status(401).render('staff-totp/login', { error: 'totp.invalid' });
      await logIn(req, result.user, { remember: p.remember });
      res.redirect(303, p.next);
    },

    async enrol(req: Request, res: Response) {
      await showEnrolment(req, res, 200, null);
    },

    async confirm(req: Request, res: Response) {
      const form = parseForm(totpConfirmSchema, req.body);
      if (!form.ok) return showEnrolment(req, res, 422, form.errors._form ?? 'totp.required');
      const result = await totp.confirm(req.user!.id, form.data.code, req.sessionID);
      if (!result) return showEnrolment(req, res, 422, 'totp.invalid');
      await renewLogin(req, result.user);
      res.status(200).render('staff-totp/recovery', { codes: result.recoveryCodes });
    },
  };
}
