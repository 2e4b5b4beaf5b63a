// The worker's task list and periodic jobs: each task name → the service verb that does the work.
import type { JobHelpers, TaskList } from 'graphile-worker';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { isLanguage } from './i18n/i18n.js';
import { createServices } from './app.js';
import type { Mail } from './services/mailer.js';
import type { AmoSettings } from './crm/connection.js';
import { SYNC_CUSTOMER, type JobInfo } from './services/crm-sync-service.js';

function jobInfo(helpers: JobHelpers): JobInfo {
  return { id: String(helpers.job.id), attempts: helpers.job.attempts, maxAttempts: helpers.job.max_attempts };
}

export type TaskDeps = { config: Config; db: Knex; logger: Logger; amo?: AmoSettings };

/** Hourly: expired sessions, reset tokens and rate-limit windows go. */
export const CRONTAB = '0 * * * * auth:prune ?max=1';

export function createTasks(deps: TaskDeps): TaskList {
  const { auth, mailer, crmSync } = createServices(deps);
  return {
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
    'auth:prune': async () => {
      const pruned = await auth.pruneExpired();
      deps.logger.info({ pruned }, 'expired rows pruned');
    },
  };
}
