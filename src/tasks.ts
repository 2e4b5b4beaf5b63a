// The worker's task list and periodic jobs: each task name → the service verb that does the work.
import type { JobHelpers, TaskList } from 'graphile-worker';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { isLanguage } from './i18n/i18n.js';
import { createServices } from './app.js';
import type { Mail } from './services/mailer.js';
import { ANALYTICS_SEND } from './services/analytics-service.js';
import { CONFIRMATION_TASK } from './services/email-confirmation-service.js';
import type { AmoSettings } from './crm/connection.js';
import { DELETED_MAIL } from './services/account-deletion-service.js';
import { ERASE_CUSTOMER, type ErasePayload } from './services/crm-erase-service.js';
import { LEAD_HISTORY } from './services/lead-history-service.js';
import { REMINDER_MAIL } from './models/reminder-model.js';
import { dateIn } from './services/deliveries.js';
import { CRM_QUEUE, LEAD_CHANGED, RECONCILE, REFRESH_DUE, SYNC_CUSTOMER, SYNC_ORDER } from './services/crm-sync/queue.js';
import type { JobInfo } from './services/crm-sync/job-policy.js';

function jobInfo(helpers: JobHelpers): JobInfo {
  return { id: String(helpers.job.id), attempts: helpers.job.attempts, maxAttempts: helpers.job.max_attempts };
}

export const REMINDER_PLAN = 'reminders:plan';
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The task that sends the queued reminder mails (also run by `reminders:send` to send at once). */
export function reminderMailTask(reminders: ReturnType<typeof createServices>['reminders']): TaskList {
  return {
    [REMINDER_MAIL]: async (payload) => {
      const { userId, date } = payload as { userId: number; date: string };
      if (!Number.isSafeInteger(userId) || typeof date !== 'string' || !DATE.test(date)) throw new Error('reminders:mail: bad payload');
      await reminders.sendOne(userId, date);
    },
  };
}

export type TaskDeps = { config: Config; db: Knex; logger: Logger; amo?: AmoSettings };

/**
 * Hourly: expired sessions, reset tokens, sign-in codes, confirmation links and rate-limit windows go; the reminders
 * of the day REMINDER_DAYS_BEFORE ahead are planned (from 09:00 shop time; each run claims only customers not claimed
 * yet, so a subscription changed during the day is still reminded of); the customers whose lead shows a passed
 * delivery date or a pause that has begun or ended are synced again. Every 10 minutes: amoCRM's changes since the
 * last run are read back (a webhook lost during an outage is still applied), in the amoCRM queue.
 */
export const CRONTAB = [
  '0 * * * * auth:prune ?max=1', `5 * * * * ${REMINDER_PLAN} ?max=3`, `*/10 * * * * ${RECONCILE} ?max=1&queue=${CRM_QUEUE}`,
  `5 * * * * ${REFRESH_DUE} ?max=1`,
].join('\n');

export function createTasks(deps: TaskDeps): TaskList {
  const { auth, emailConfirmations, mailer, crmSync, crmErase, analytics, reminders, leadHistory } = createServices(deps);
  const { outbound, inbound, policy: { runJob } } = crmSync;
  return {
    ...reminderMailTask(reminders),
    // The cron run plans the day REMINDER_DAYS_BEFORE ahead; a job with a date (queued by hand) plans that day.
    [REMINDER_PLAN]: async (payload) => {
      const given = (payload as { date?: unknown }).date;
      const date = typeof given === 'string' && DATE.test(given) ? given : reminders.scheduledDate();
      if (date) await reminders.plan(date);
      await reminders.prune(dateIn(new Date(), deps.config.shopTimeZone));
    },
    [ANALYTICS_SEND]: async (payload) => {
      const { id } = payload as { id: number };
      await analytics.send(id);
    },
    [SYNC_ORDER]: async (payload, helpers) => {
      const { orderId } = payload as { orderId: number };
      await runJob(SYNC_ORDER, await outbound.orderOwner(orderId), jobInfo(helpers), () => outbound.syncOrder(orderId));
    },
    [LEAD_CHANGED]: async (payload, helpers) => {
      const { leadId } = payload as { leadId: number };
      await runJob(LEAD_CHANGED, null, jobInfo(helpers), () => inbound.leadChanged(leadId));
    },
    [RECONCILE]: async (_payload, helpers) => {
      await runJob(RECONCILE, null, jobInfo(helpers), () => inbound.reconcile());
    },
    [REFRESH_DUE]: async () => {
      const queued = await outbound.refreshDue();
      if (queued) deps.logger.info({ queued }, 'amoCRM: customers whose lead shows a passed date queued for sync');
    },
    [SYNC_CUSTOMER]: async (payload, helpers) => {
      const { userId } = payload as { userId: number };
      await runJob(SYNC_CUSTOMER, userId, jobInfo(helpers), () => outbound.syncCustomer(userId));
    },
    // The lead's notes and events for the staff customer page (queued by the page or its «обновить»).
    [LEAD_HISTORY]: async (payload, helpers) => {
      const { userId } = payload as { userId: number };
      if (!Number.isSafeInteger(userId)) throw new Error(`${LEAD_HISTORY}: bad payload`);
      await runJob(LEAD_HISTORY, userId, jobInfo(helpers), () => leadHistory.fetch(userId));
    },
    [ERASE_CUSTOMER]: async (payload, helpers) => {
      const p = payload as ErasePayload;
      await runJob(ERASE_CUSTOMER, p.userId, jobInfo(helpers), () => crmErase.erase(p));
    },
    // The confirmation of a deletion: the address lives in this job only. A completed job is deleted by the
    // worker; a failed one would keep its payload, so after the last attempt the mail is given up and the job ends.
    [DELETED_MAIL]: async (payload, helpers) => {
      const p = payload as { to: string; language: string };
      try {
        await mailer.send({ to: p.to, template: 'account-deleted', language: isLanguage(p.language) ? p.language : 'ru' });
      } catch (error) {
        if (helpers.job.attempts < helpers.job.max_attempts) throw error;
        deps.logger.warn({ job: helpers.job.id, err: (error as Error).name }, 'the deletion confirmation could not be sent; given up, so that the address leaves the queue');
      }
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
