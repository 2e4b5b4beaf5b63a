// GET/POST /confirm-email (the mailed link: GET shows one button and never confirms; POST confirms) and
// POST /account/email/confirmation (the link sent again).
import type { Request, Response } from 'express';
import type { MessageKey } from '../i18n/i18n.js';
import { renewLogin } from '../middleware/passport.js';
import { requestMeta } from '../middleware/request-meta.js';
import type { EmailConfirmationService } from '../services/email-confirmation-service.js';
import { confirmEmailSchema, parseForm, requireButtonForm } from './forms.js';

type Link = { href: string; label: MessageKey };
const TO_ACCOUNT: Link = { href: '/account', label: 'confirm_email.to_account' };
const TO_LOGIN: Link = { href: '/login', label: 'confirm_email.to_login' };

export function createEmailConfirmationsController({ confirmations }: { confirmations: EmailConfirmationService }) {
  const message = (res: Response, status: number, title: MessageKey, text: MessageKey, link: Link) =>
    res.status(status).render('email-confirmations/message', { title, text, link });
  // Used, expired, altered or void: one answer for all, and nothing changed.
  const invalid = (res: Response) => message(res, 410, 'confirm_email.invalid_title', 'confirm_email.invalid_text', TO_ACCOUNT);

  return {
    /** The link from the mail: what will be confirmed and one button. Mail scanners open links; nothing happens here. */
    async show(req: Request, res: Response) {
      const token = req.query.token;
      const email = await confirmations.addressOf(token);
      if (!email) return invalid(res);
      res.render('email-confirmations/show', { token, email });
    },

    async confirm(req: Request, res: Response) {
      const form = parseForm(confirmEmailSchema, req.body);
      if (!form.ok) return invalid(res);
      const current = req.user ? { userId: req.user.id, sid: req.sessionID } : undefined;
      const result = await confirmations.confirm(form.data.token, requestMeta(req), current);
      if (result.status === 'invalid') return invalid(res);
      if (result.status === 'taken') return message(res, 409, 'confirm_email.taken_title', 'confirm_email.taken_text', TO_ACCOUNT);
      if (req.user && req.user.id === result.user.id) {
        // The account's own session stays, on a new id with the new auth_version; every other one has ended.
        if (result.changed) await renewLogin(req, result.user);
        req.session.flash = result.changed ? 'flash.email_changed' : 'flash.email_confirmed';
        return res.redirect(303, '/account');
      }
      if (result.changed) return message(res, 200, 'confirm_email.done_title', 'confirm_email.changed_text', TO_LOGIN);
      message(res, 200, 'confirm_email.done_title', 'confirm_email.done_text', req.user ? TO_ACCOUNT : TO_LOGIN);
    },

    async resend(req: Request, res: Response) {
      requireButtonForm(req.body);
      const outcome = await confirmations.resend(req.user!.id);
      req.session.flash = outcome === 'sent' ? 'flash.confirmation_sent' : 'flash.nothing_to_confirm';
      res.redirect(303, '/account');
    },

    /** Past the hourly limit of resent links. */
    limited(_req: Request, res: Response) {
      message(res, 429, 'confirm_email.limited_title', 'confirm_email.limited_text', TO_ACCOUNT);
    },
  };
}
