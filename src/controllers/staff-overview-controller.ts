// GET /staff: the overview, each figure a link to its page.
import type { Request, Response } from 'express';
import type { StaffOverviewService } from '../services/staff-overview-service.js';

export function createStaffOverviewController({ overview }: { overview: StaffOverviewService }) {
  return {
    async show(_req: Request, res: Response) {
      res.render('staff-overview/show', { overview: await overview.summary() });
    },
  };
}
