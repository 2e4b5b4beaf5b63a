// GET /staff/deliveries?date=YYYY-MM-DD&page=N (default: today in the shop's time zone) and the same day as CSV.
import type { Request, Response } from 'express';
import { AppError } from '../middleware/errors.js';
import { isIsoDate, type StaffDeliveryService } from '../services/staff-delivery-service.js';

/** The asked-for day, or today when none is given; a malformed one is a 400. */
function dayOf(req: Request, deliveries: StaffDeliveryService): string {
  const { date } = req.query;
  if (date === undefined || date === '') return deliveries.today();
  if (!isIsoDate(date)) throw new AppError(400, 'bad date');
  return date;
}

function pageOf(req: Request): number {
  const { page } = req.query;
  if (page === undefined || page === '') return 1;
  const n = typeof page === 'string' && /^\d{1,5}$/.test(page) ? Number(page) : 0;
  if (n < 1) throw new AppError(400, 'bad page');
  return n;
}

export function createStaffDeliveriesController({ deliveries }: { deliveries: StaffDeliveryService }) {
  return {
    async index(req: Request, res: Response) {
      res.render('staff-deliveries/index', { day: await deliveries.day(dayOf(req, deliveries), pageOf(req), res.locals.lang) });
    },

    async csv(req: Request, res: Response) {
      const date = dayOf(req, deliveries);
      const body = await deliveries.csv(date, res.locals.lang);
      res.set('Content-Disposition', `attachment; filename="deliveries-${date}.csv"`);
      res.type('text/csv; charset=utf-8').send(body);
    },
  };
}
