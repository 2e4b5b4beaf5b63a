// /staff/amocrm: the connection, the field map and the sync queue; the OAuth connect flow.
import type { Request, Response } from 'express';
import type { CrmAdminService } from '../services/crm-admin-service.js';

declare module 'express-session' {
  interface SessionData {
    amoState?: string;
  }
}

export function createStaffAmocrmController({ crmAdmin }: { crmAdmin: CrmAdminService }) {
  const back = (req: Request, res: Response, flash: string) => {
    req.session.flash = flash;
    res.redirect(303, '/staff/amocrm');
  };
  return {
    async show(_req: Request, res: Response) {
      res.render('staff-amocrm/show', { amo: await crmAdmin.overview() });
    },

    connect(req: Request, res: Response) {
      const { url, state } = crmAdmin.authorization();
      req.session.amoState = state;
      res.redirect(303, url);
    },

    async callback(req: Request, res: Response) {
      const expected = req.session.amoState;
      delete req.session.amoState;
      const result = await crmAdmin.completeAuthorization(expected, req.query);
      if ('error' in result) {
        if (result.detail) req.log?.warn({ reason: result.detail }, 'amoCRM authorization failed');
        return back(req, res, `staff.amocrm.connect_${result.error}`);
      }
      back(req, res, 'staff.amocrm.connected');
    },

    async createFields(req: Request, res: Response) {
      const { missing } = await crmAdmin.createMissingFields();
      back(req, res, missing.length ? 'staff.amocrm.fields_still_missing' : 'staff.amocrm.fields_ready');
    },

    async resume(req: Request, res: Response) {
      await crmAdmin.resume();
      back(req, res, 'staff.amocrm.resumed');
    },

    async retryJob(req: Request, res: Response) {
      const ok = await crmAdmin.retryJob(String(req.params.id));
      back(req, res, ok ? 'staff.amocrm.retried' : 'staff.amocrm.retry_gone');
    },

    async resync(req: Request, res: Response) {
      const id = Number(req.params.userId);
      if (!Number.isSafeInteger(id) || id <= 0) return back(req, res, 'staff.amocrm.retry_gone');
      await crmAdmin.resync(id);
      back(req, res, 'staff.amocrm.retried');
    },
  };
}
