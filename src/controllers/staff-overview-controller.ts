// GET /staff: the overview, each figure a link to its page, and the 12-week chart; GET /staff/conversions.csv:
// Metrica's offline-conversion upload.
import type { Request, Response } from 'express';
import type { AnalyticsService } from '../services/analytics-service.js';
import type { StaffOverviewService } from '../services/staff-overview-service.js';

export function createStaffOverviewController({ overview, analytics }: { overview: StaffOverviewService; analytics: AnalyticsService }) {
  return {
    async show(_req: Request, res: Response) {
      res.render('staff-overview/show', { overview: await overview.summary() });
    },

    async conversions(_req: Request, res: Response) {
      const body = await analytics.conversionsCsv();
      res.set('Content-Disposition', 'attachment; filename="conversions.csv"');
      res.type('text/csv; charset=utf-8').send(body);
    },
  };
}
