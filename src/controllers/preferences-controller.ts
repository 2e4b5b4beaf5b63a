// GET/POST /account/preferences.
import type { Request, Response } from 'express';
import { todayIn } from '../i18n/i18n.js';
import type { AccountService } from '../services/account-service.js';
import { INTERVALS, type CatalogService } from '../services/catalog-service.js';
import { parseForm, preferencesSchema, type FormErrors } from './forms.js';

export function createPreferencesController({ accounts, catalog, timeZone }: { accounts: AccountService; catalog: CatalogService; timeZone: string }) {
  async function render(res: Response, status: number, values: Record<string, string>, errors: FormErrors) {
    res.status(status).render('preferences/edit', {
      values, errors, today: todayIn(timeZone), categories: await catalog.listCategories(res.locals.lang), intervals: INTERVALS,
    });
  }
  return {
    async edit(req: Request, res: Response) {
      const prefs = await accounts.preferences(req.user!.id);
      if (!prefs) return res.redirect(303, '/account');
      await render(res, 200, { ...prefs }, {});
    },

    async update(req: Request, res: Response) {
      const codes = (await catalog.listCategories(res.locals.lang)).map((c) => c.code);
      const form = parseForm(preferencesSchema(todayIn(timeZone), codes), req.body);
      if (!form.ok) return render(res, 422, form.values, form.errors);
      const { _csrf, ...prefs } = form.data;
      const result = await accounts.updatePreferences(req.user!.id, prefs);
      if (result === 'unknown_bouquet') return render(res, 422, { ...prefs }, { bouquet: 'bouquet.required' });
      req.session.flash = result === 'saved' ? 'flash.preferences_saved' : 'flash.preferences_unchanged';
      res.redirect(303, '/account');
    },
  };
}
