// The interstitial that asks a logged-in customer again for a required consent whose text has a new version:
// every /account page sends them here first (gate), GET shows the new text's link and one box, POST records it.
import type { Request, RequestHandler, Response } from 'express';
import { requestMeta } from '../middleware/request-meta.js';
import { safeReturnPath } from '../middleware/locals.js';
import type { ConsentService } from '../services/consent-service.js';
import type { Documents } from '../services/documents.js';
import { consentRenewalSchema, parseForm, type FormErrors } from './forms.js';

declare module 'express-session' {
  interface SessionData {
    /** The required consents' versions this session's customer is known to have given (ConsentService.requiredKey). */
    consentsKey?: string;
  }
}

export const RENEWAL_PATH = '/account/consent';

export function createConsentsController({ consents, documents }: { consents: ConsentService; documents: Documents }) {
  const render = (req: Request, res: Response, status: number, errors: FormErrors) => {
    const next = safeReturnPath(req.query.next);
    res.status(status).render('consents/edit', {
      errors, values: {}, document: documents.render('personal-data', res.locals.lang),
      action: next === '/account' ? RENEWAL_PATH : `${RENEWAL_PATH}?next=${encodeURIComponent(next)}`,
    });
  };

  /**
   * In front of every /account page: a customer who has not given a required consent in its current version is
   * sent to the interstitial first. Checked once per session and version (the key is kept in the session).
   */
  const gate: RequestHandler = async (req, res, next) => {
    // Declining the new text means leaving: the delete page stays open.
    if (!req.user || req.user.role !== 'customer' || req.path === '/consent' || req.path === '/delete') return next();
    if (req.session.consentsKey === consents.requiredKey) return next();
    if ((await consents.outdated(req.user.id)).length === 0) {
      req.session.consentsKey = consents.requiredKey;
      return next();
    }
    const back = req.method === 'GET' ? req.originalUrl : '/account';
    res.redirect(303, back === '/account' ? RENEWAL_PATH : `${RENEWAL_PATH}?next=${encodeURIComponent(back)}`);
  };

  return {
    gate,

    async edit(req: Request, res: Response) {
      if ((await consents.outdated(req.user!.id)).length === 0) return res.redirect(303, safeReturnPath(req.query.next));
      render(req, res, 200, {});
    },

    async update(req: Request, res: Response) {
      const form = parseForm(consentRenewalSchema, req.body);
      if (!form.ok) return render(req, res, 422, form.errors);
      await consents.renewRequired(req.user!.id, res.locals.lang, requestMeta(req));
      req.session.consentsKey = consents.requiredKey;
      res.redirect(303, safeReturnPath(req.query.next));
    },
  };
}
