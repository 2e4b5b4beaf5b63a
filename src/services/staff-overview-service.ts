// The staff overview: today's deliveries, this week's sign-ups, the sync queue's health, the amoCRM
// connection, the customers at the daily order cap, the latest staff actions and the last 12 weeks' sign-ups, first
// deliveries, confirmed orders and cancellations — each cheap to compute at any size.
import type { Knex } from 'knex';
import type { Crm } from '../crm/crm.js';
import { todayIn } from '../i18n/i18n.js';
import { createJobModel } from '../models/job-model.js';
import { createOrderModel } from '../models/order-model.js';
import { createStaffActionModel } from '../models/staff-action-model.js';
import { createStaffCustomerModel } from '../models/staff-customer-model.js';
import { createWeeklyStatsModel } from '../models/weekly-stats-model.js';
import { CHART_WEEKS, weeklyChart } from './weekly-chart.js';
import { CRM_QUEUE } from './crm-sync/queue.js';
import { ORDERS_PER_DAY } from './order-service.js';
import { addDays, mondayOf, type StaffDeliveryService } from './staff-delivery-service.js';

/** A queue whose oldest waiting job is older than this is not healthy. */
const STALE_MINUTES = 15;

export function createStaffOverviewService({ db, crm, deliveries, timeZone }: { db: Knex; crm: Crm; deliveries: StaffDeliveryService; timeZone: string }) {
  const customers = createStaffCustomerModel(db);
  const jobs = createJobModel(db);
  const actions = createStaffActionModel(db);
  const orders = createOrderModel(db);
  const weekly = createWeeklyStatsModel(db);
  return {
    async summary(now = new Date()) {
      const today = todayIn(timeZone, now);
      const weekStart = mondayOf(today);
      const [deliveriesToday, signups, queue, connection, recent, atCap, weeks] = await Promise.all([
        deliveries.count(today), customers.countSignupsSince(weekStart, timeZone), jobs.counts(CRM_QUEUE),
        crm.connection.status(), actions.recent(10), orders.customersAtCapSince(today, timeZone, ORDERS_PER_DAY, 5),
        weekly.counts(addDays(weekStart, -7 * (CHART_WEEKS - 1)), weekStart, timeZone),
      ]);
      const waitedMinutes = queue.oldestPendingAt ? Math.max(0, Math.floor((now.getTime() - queue.oldestPendingAt.getTime()) / 60_000)) : null;
      return {
        today, weekStart, deliveriesToday, signups,
        queue: {
          pending: queue.pending, failed: queue.failed,
          oldestWait: waitedMinutes === null ? null : { days: Math.floor(waitedMinutes / 1440), hours: Math.floor((waitedMinutes % 1440) / 60), minutes: waitedMinutes % 60, total: waitedMinutes },
          healthy: queue.failed === 0 && (waitedMinutes ?? 0) < STALE_MINUTES,
        },
        connection: { state: connection.state, mode: connection.mode },
        // Customers who placed the day's maximum of orders: any further order of theirs today was refused.
        orderCap: { cap: ORDERS_PER_DAY, customers: atCap.count, latest: atCap.userIds },
        recent,
        chart: weeklyChart(weeks),
      };
    },
  };
}

export type StaffOverviewService = ReturnType<typeof createStaffOverviewService>;
