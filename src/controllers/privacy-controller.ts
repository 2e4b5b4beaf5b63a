// GET/POST /account/privacy: the consents given, the optional ones given or withdrawn; GET /account/data.json: the
// export of everything the shop holds about the customer, as a download.
import type { Request, Response } from 'express';
import { requestMeta } from '../middleware/request-meta.js';
import type { PrivacyService } from '../services/privacy-service.js';
import { parseForm, privacySchema, type FormErrors } from './forms.js';

export function createPrivacyController({ privacy, analytics }: { privacy: PrivacyService; analytics: boolean }) {
  const optional = analytics ? ['marketing', 'analytics'] as const : ['marketing'] as const;

  const render = async (req: Request, res: Response, status: number, errors: FormErrors) => {
    const consents = await privacy.consents(req.user!.id);
    const given = (kind: string) => consents.some((c) => c.document === kind && c.granted);
    res.status(status).render('privacy/show', {
      errors, consents: consents.filter((c) => c.granted),
      optional: optional.map((kind) => ({ kind, granted: given(kind) })),
    });
  };

  return {
    show: (req: Request, res: Response) => render(req, res, 200, {}),

    async update(req: Request, res: Response) {
      const form = parseForm(privacySchema({ analytics }), req.body);
      if (!form.ok) return render(req, res, 422, form.errors);
      await privacy.setOptional(req.user!.id, form.data.document, form.data.action === 'grant', res.locals.lang, requestMeta(req));
      res.redirect(303, '/account/privacy');
    },

    async download(req: Request, res: Response) {
      const user = req.user!;
      const data = await privacy.export(user.id, user.authVersion, req.sessionID);
      res.set('Cache-Control', 'no-store');
      res.attachment(`flowers-data-${new Date().toISOString().slice(0, 10)}.json`);
      res.type('application/json').send(`${JSON.stringify(data, null, 2)}\n`);
    },
  };
}
