// GET/POST /signup, and GET /:referralId (a referral link).
import type { Request, Response } from 'express';
import { todayIn } from '../i18n/i18n.js';
import { logIn } from '../middleware/passport.js';
import { requestMeta } from '../middleware/request-meta.js';
import type { AttributionCookie } from '../middleware/attribution.js';
import type { AuthService } from '../services/auth-service.js';
import { INTERVALS, type CatalogService } from '../services/catalog-service.js';
import type { ConsentKind, Documents } from '../services/documents.js';
import type { ConsentRecord } from '../models/consent-event-model.js';
import { NotFoundError } from '../middleware/errors.js';
import { parseForm, signupSchema, type FormErrors } from './forms.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function createRegistrationsController({ auth, catalog, documents, analytics, timeZone, attribution }: {
  auth: AuthService; catalog: CatalogService; documents: Documents; analytics: boolean; timeZone: string; attribution: AttributionCookie;
}) {
  async function render(req: Request, res: Response, status: number, values: Record<string, string>, errors: FormErrors) {
    const today = todayIn(timeZone);
    res.status(status).render('registrations/new', {
      values: { deliveryDate: '', interval: 'weekly', ...values }, errors, today,
      categories: await catalog.listCategories(res.locals.lang), intervals: INTERVALS,
      referred: Boolean(req.session?.referrerId), askAnalytics: analytics,
    });
  }

  return {
    async new(req: Request, res: Response) {
      if (req.user) return res.redirect(303, '/account');
      await render(req, res, 200, {}, {});
    },

    async create(req: Request, res: Response) {
      const categories = await catalog.listCategories(res.locals.lang);
      const form = parseForm(signupSchema(todayIn(timeZone), categories.map((c) => c.code), { analytics }), req.body);
      if (!form.ok) {
        // An analytics box the form does not have is a forged field, like any other unknown one.
        const errors = !analytics && form.errors.consentAnalytics ? { ...form.errors, _form: 'form.invalid' as const } : form.errors;
        return render(req, res, 422, form.values, errors);
      }
      const { _csrf, consentPersonalData, consentMarketing, consentAnalytics, ...input } = form.data;
      // What was ticked, each with the version and hash of the text this visitor's language shows.
      const ticked: [ConsentKind, boolean][] = [['personal-data', consentPersonalData === 'yes'], ['marketing', consentMarketing === 'yes'], ['analytics', consentAnalytics === 'yes']];
      const consents = ticked.filter(([, yes]) => yes).map(([kind]): ConsentRecord => {
        const shown = documents.render(kind, res.locals.lang);
        return { document: kind, version: shown.version, textSha256: shown.sha256, language: shown.language };
      });
      const result = await auth.register({ ...input, consents, language: res.locals.lang, referrerId: req.session.referrerId, attribution: attribution.read(req) }, requestMeta(req));
      if ('error' in result) {
        const { password: _p, ...values } = input;
        const boxes = { consentPersonalData, ...(consentMarketing ? { consentMarketing } : {}), ...(consentAnalytics ? { consentAnalytics } : {}) };
        return render(req, res, 422, { ...values, ...boxes }, result.error === 'email_taken' ? { email: 'email.taken' } : { bouquet: 'bouquet.required' });
      }
      await logIn(req, result.user);
      req.session.flash = 'flash.welcome';
      res.redirect(303, '/account');
    },

    /** A referral link: remembers who sent the visitor, then shows the sign-up form. */
    async referral(req: Request, res: Response) {
      const id = String(req.params.referralId).toLowerCase();
      if (!UUID.test(id) || !(await auth.referrerExists(id))) throw new NotFoundError();
      if (!req.user) req.session.referrerId = id;
      res.redirect(303, '/signup');
    },
  };
}
