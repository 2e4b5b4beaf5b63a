// The worker's task list and periodic jobs: each task name → the service verb that does the work.
import type { JobHelpers, TaskList } from 'graphile-worker';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { isLanguage } from './i18n/i18n.js';
import { createServices } from './app.js';
import type { Mail } from './services/mailer.js';
import { CONFIRMATION_TASK } from './services/email-confirmation-service.js';
import type { AmoSettings } from './crm/connection.js';
import { CRM_QUEUE, LEAD_CHANGED, RECONCILE, SYNC_CUSTOMER, SYNC_ORDER, type JobInfo } from './services/crm-sync-service.js';

function jobInfo(helpers: JobHelpers): JobInfo {
  return { id: String(helpers.job.id), attempts: helpers.job.attempts, maxAttempts: helpers.job.max_attempts };
}

export type TaskDeps = { config: Config; db: Knex; logger: Logger; amo?: AmoSettings };

/**
 * Hourly: expired sessions, reset tokens, sign-in codes, confirmation links and rate-limit windows go. Every 10 minutes: amoCRM's changes since
 * the last run are read back (a webhook lost during an outage is still applied), in the amoCRM queue.
 */
export const CRONTAB = ['0 * * * * auth:prune ?max=1', `*/10 * * * * ${RECONCILE} ?max=1&queue=${CRM_QUEUE}`].join('\n');

export function createTasks(deps: TaskDeps): TaskList {
  const { auth, emailConfirmations, mailer, crmSync } = createServices(deps);
  return {
    [SYNC_ORDER]: async (payload, helpers) => {
      const { orderId } = payload as { orderId: number };
      await crmSync.runJob(SYNC_ORDER, await crmSync.orderOwner(orderId), jobInfo(helpers), () => crmSync.syncOrder(orderId));
    },
    [LEAD_CHANGED]: async (payload, helpers) => {
      const { leadId } = payload as { leadId: number };
      await crmSync.runJob(LEAD_CHANGED, null, jobInfo(helpers), () => crmSync.leadChanged(leadId));
    },
    [RECONCILE]: async (_payload, helpers) => {
      await crmSync.runJob(RECONCILE, null, jobInfo(helpers), () => crmSync.reconcile());
    },
    [SYNC_CUSTOMER]: async (payload, helpers) => {
      const { userId } = payload as { userId: number };
      await crmSync.runJob(SYNC_CUSTOMER, userId, jobInfo(helpers), () => crmSync.syncCustomer(userId));
    },
    'mail:send': async (payload) => {
      await mailer.send(payload as Mail);
    },
    'auth:password-reset': async (payload) => {
      const p = payload as { email: string; language: string; ip: string | null; userAgent: string | null };
      await auth.sendPasswordReset(p.email, isLanguage(p.language) ? p.language : 'ru', { ip: p.ip, userAgent: p.userAgent });
    },
    'auth:login-code': async (payload) => {
      const p = payload as { email: string; language: string; ip: string | null; userAgent: string | null };
      await auth.sendLoginCode(p.email, isLanguage(p.language) ? p.language : 'ru', { ip: p.ip, userAgent: p.userAgent });
    },
    [CONFIRMATION_TASK]: async (payload) => {
      const p = payload as { userId: number; email: string };
      await emailConfirmations.send(p.userId, p.email);
    },
    'auth:prune': async () => {
      const pruned = await auth.pruneExpired();
      deps.logger.info({ pruned }, 'expired rows pruned');
    },
  };
}
