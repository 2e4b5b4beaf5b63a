// GET /staff/customers?q=…, GET /staff/customers/:id, POST /staff/customers/:id/resync (the one re-sync of a
// customer to amoCRM: from the customer's page, or from another staff page that names itself in `return`),
// POST /staff/customers/:id/history (read the lead's notes and events from amoCRM again).
import type { Request, Response } from 'express';
import { AppError, NotFoundError } from '../middleware/errors.js';
import type { LeadHistoryService } from '../services/lead-history-service.js';
import type { StaffCustomerService } from '../services/staff-customer-service.js';
import { parseForm, pathId, requireButtonForm, resyncSchema } from './forms.js';
import { staffActor } from './staff-actor.js';

/** An optional positive id in the query (the keyset page bounds); anything else is a 400. */
function cursor(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) throw new AppError(400, 'bad cursor');
  return Number(value);
}

export function createStaffCustomersController({ customers, leadHistory }: { customers: StaffCustomerService; leadHistory: LeadHistoryService }) {
  return {
    async index(req: Request, res: Response) {
      const { q = '' } = req.query;
      if (typeof q !== 'string' || q.length > 200 || /[\u0000-\u001f\u007f]/.test(q)) throw new AppError(400, 'bad query');
      const after = cursor(req.query.after);
      const before = after === undefined ? cursor(req.query.before) : undefined;
      res.render('staff-customers/index', { search: await customers.search({ q, after, before }, res.locals.lang) });
    },

    async show(req: Request, res: Response) {
      const customer = await customers.profile(pathId(req.params.id), res.locals.lang);
      if (!customer) throw new NotFoundError();
      res.render('staff-customers/show', { customer });
    },

    async resync(req: Request, res: Response) {
      const id = pathId(req.params.id);
      const form = parseForm(resyncSchema, req.body);
      if (!form.ok) throw new AppError(400, 'unexpected form fields');
      if (!(await customers.resync(staffActor(req), id))) throw new NotFoundError();
      req.session.flash = 'staff.customers.resynced';
      res.redirect(303, form.data.return ?? `/staff/customers/${id}`);
    },

    /** «обновить» under the amoCRM history: the job is queued (or already waits), the page says it comes in a minute. */
    async refreshHistory(req: Request, res: Response) {
      const id = pathId(req.params.id);
      requireButtonForm(req.body);
      const outcome = await leadHistory.refresh(staffActor(req), id);
      if (!outcome) throw new NotFoundError();
      if (outcome === 'queued') req.session.flash = 'staff.customers.history_queued';
      res.redirect(303, `/staff/customers/${id}`);
    },
  };
}
