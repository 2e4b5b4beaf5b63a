// /staff/amocrm: the connection, the field map and the sync queue; the OAuth connect flow.
import type { Request, Response } from 'express';
import type { CrmAdminService } from '../services/crm-admin-service.js';
import type { StaffAuditService } from '../services/staff-audit-service.js';
import { pathId, requireButtonForm } from './forms.js';
import { staffActor } from './staff-actor.js';

declare module 'express-session' {
  interface SessionData {
    amoState?: string;
  }
}

export function createStaffAmocrmController({ crmAdmin, audit }: { crmAdmin: CrmAdminService; audit: StaffAuditService }) {
  const back = (req: Request, res: Response, flash: string) => {
    req.session.flash = flash;
    res.redirect(303, '/staff/amocrm');
  };
  return {
    async show(_req: Request, res: Response) {
      res.render('staff-amocrm/show', { amo: await crmAdmin.overview(res.locals.lang) });
    },

    async connect(req: Request, res: Response) {
      const { url, state } = crmAdmin.authorization();
      req.session.amoState = state;
      await audit.record(staffActor(req), { action: 'amocrm.connect', outcome: 'consent_page' });
      res.redirect(303, url);
    },

    async callback(req: Request, res: Response) {
      const expected = req.session.amoState;
      delete req.session.amoState;
      const result = await crmAdmin.completeAuthorization(expected, req.query);
      await audit.record(staffActor(req), { action: 'amocrm.callback', outcome: 'error' in result ? result.error : 'connected' });
      if ('error' in result) {
        if (result.detail) req.log?.warn({ reason: result.detail }, 'amoCRM authorization failed');
        return back(req, res, `staff.amocrm.connect_${result.error}`);
      }
      back(req, res, 'staff.amocrm.connected');
    },

    async createFields(req: Request, res: Response) {
      requireButtonForm(req.body);
      const { missing } = await crmAdmin.createMissingFields();
      await audit.record(staffActor(req), { action: 'amocrm.fields', outcome: missing.length ? 'still_missing' : 'ready' });
      back(req, res, missing.length ? 'staff.amocrm.fields_still_missing' : 'staff.amocrm.fields_ready');
    },

    async resume(req: Request, res: Response) {
      requireButtonForm(req.body);
      await crmAdmin.resume();
      await audit.record(staffActor(req), { action: 'amocrm.resume', outcome: 'resumed' });
      back(req, res, 'staff.amocrm.resumed');
    },

    async retryJob(req: Request, res: Response) {
      const id = String(pathId(req.params.id));
      requireButtonForm(req.body);
      const ok = await crmAdmin.retryJob(id);
      await audit.record(staffActor(req), { action: 'amocrm.job_retry', subject: id, outcome: ok ? 'retried' : 'gone' });
      back(req, res, ok ? 'staff.amocrm.retried' : 'staff.amocrm.retry_gone');
    },
  };
}
