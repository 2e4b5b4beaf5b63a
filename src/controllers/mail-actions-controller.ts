// GET/POST /m/:token: the one-click links of a reminder mail. GET only shows what will happen, with one button
// (mail scanners and link previews open links); POST does it. No login: the token is the credential.
import type { Request, Response } from 'express';
import type { MessageKey } from '../i18n/i18n.js';
import type { MailActionService, Opened, Refusal } from '../services/mail-action-service.js';
import { mailActionSchema, parseForm, type FormErrors } from './forms.js';

const tokenOf = (req: Request) => String(req.params.token ?? '').slice(0, 400);

export function createMailActionsController({ mailActions }: { mailActions: MailActionService }) {
  const refuse = (res: Response, r: Refusal) => res.status(r.status).render('mail-actions/refused', { reason: r.refused, deliveryDate: r.date, cutoffAt: r.cutoffAt });
  const show = (req: Request, res: Response, status: number, opened: Opened, values: Record<string, string>, errors: FormErrors) =>
    res.status(status).render('mail-actions/show', { opened, action: `/m/${tokenOf(req)}`, values, errors });

  return {
    async show(req: Request, res: Response) {
      res.set('Cache-Control', 'no-store');
      const opened = await mailActions.open(tokenOf(req));
      if ('refused' in opened) return refuse(res, opened);
      show(req, res, 200, opened, {}, {});
    },

    async act(req: Request, res: Response) {
      res.set('Cache-Control', 'no-store');
      const form = parseForm(mailActionSchema, req.body);
      if (!form.ok) return res.status(400).render('errors/400');
      const token = tokenOf(req);
      const opened = await mailActions.open(token);
      if ('refused' in opened) return refuse(res, opened);
      // A date only for a move; the one-click body (RFC 8058) only for an unsubscribe link.
      const { action: kind } = opened.link;
      if ((form.data.newDate !== undefined && kind !== 'move') || (form.data['List-Unsubscribe'] !== undefined && kind !== 'unsubscribe')) {
        return res.status(400).render('errors/400');
      }
      const result = await mailActions.act(token, { newDate: form.data.newDate });
      if ('refused' in result) return refuse(res, result);
      if ('badDate' in result) return show(req, res, 422, result.opened, { newDate: form.data.newDate ?? '' }, { newDate: result.badDate as MessageKey });
      res.render('mail-actions/done', { result });
    },
  };
}
