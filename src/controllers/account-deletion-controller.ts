// GET/POST /account/delete: closing the account with the current password; GET /goodbye: the page after it.
import type { Request, Response } from 'express';
import { requestMeta } from '../middleware/request-meta.js';
import { endSession } from '../middleware/session.js';
import type { AccountDeletionService } from '../services/account-deletion-service.js';
import { accountDeletionSchema, parseForm, type FormErrors } from './forms.js';

export function createAccountDeletionController({ deletion, cookieName }: { deletion: AccountDeletionService; cookieName: string }) {
  const render = (res: Response, status: number, errors: FormErrors) => res.status(status).render('account-deletion/edit', { errors });

  return {
    edit(req: Request, res: Response) {
      if (req.user!.role === 'staff') return res.redirect(303, '/staff'); // a staff account is no customer's: nothing to close here
      render(res, 200, {});
    },

    async destroy(req: Request, res: Response) {
      if (req.user!.role === 'staff') return res.redirect(303, '/staff');
      const form = parseForm(accountDeletionSchema, req.body);
      if (!form.ok) return render(res, 422, form.errors);
      const result = await deletion.deleteAccount(req.user!.id, form.data.currentPassword, requestMeta(req));
      if ('error' in result) return render(res, 422, { currentPassword: result.error === 'locked' ? 'password.locked' : 'password.wrong' });
      await endSession(req, res, cookieName); // the store's row is gone already (the deletion ended every session)
      res.redirect(303, '/goodbye');
    },

    goodbye(_req: Request, res: Response) {
      res.render('account-deletion/goodbye');
    },
  };
}
