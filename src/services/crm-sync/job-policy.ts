// What each amoCRM failure means for a job of the amoCRM queue: wait, retry, stop sending, or give up and tell
// staff. Every attempt is logged for the staff pages.
import { AmoError } from '../../crm/amocrm-client.js';
import type { Crm } from '../../crm/crm.js';
import type { Logger } from '../../logger.js';
import { createSyncLogModel, type SyncOutcome } from '../../models/sync-log-model.js';
import type { Knex } from 'knex';

export type JobInfo = { id: string; attempts: number; maxAttempts: number };

/** A job that could not run now and should be tried again later. */
export class RetryLater extends Error {}

export function createCrmJobPolicy({ db, crm, logger }: { db: Knex; crm: Crm; logger: Logger }) {
  const log = createSyncLogModel(db);

  /**
   * Runs one amoCRM job with the queue policy: 429 → every process waits retry_after; 5xx/timeouts → retried
   * with backoff; 400 → not retried, amoCRM's validation errors kept for staff; 401 after one refresh, 402,
   * 403 → sending stops until staff acts, the job waits. Every attempt is logged.
   */
  async function runJob(task: string, userId: number | null, job: JobInfo, work: () => Promise<string>): Promise<void> {
    const entry = (outcome: SyncOutcome, message: string | null, httpStatus: number | null = null, details?: unknown) =>
      log.record({ task, userId, jobId: job.id, attempt: job.attempts, outcome, httpStatus, message, details });
    const allowed = await crm.connection.canSend();
    if (!allowed.ok) {
      await entry('paused', `not sent: ${allowed.why}`);
      throw new RetryLater(`amoCRM: ${allowed.why}`);
    }
    try {
      const result = await work();
      await entry(result === 'skipped' ? 'skipped' : 'ok', result);
    } catch (error) {
      if (!(error instanceof AmoError)) {
        await entry('retry', error instanceof Error ? error.message : String(error));
        throw error;
      }
      const status = error.details.status ?? null;
      switch (error.kind) {
        case 'rate_limited':
          await crm.connection.backOff(error.details.retryAfter ?? 1);
          await entry('retry', `${error.message}; waiting ${error.details.retryAfter ?? 1} s`, status);
          throw error;
        case 'invalid':
        case 'not_found': // e.g. the lead was deleted in amoCRM: retrying cannot help, staff decides
          if (error.details.validation?.some((v) => v.code === 'NotSupportedChoice')) await crm.fields.forget(); // read the fields again next time
          await entry('failed', error.message, status, { validation: error.details.validation ?? [] });
          logger.warn({ task, userId, err: error.message }, 'amoCRM refused the request; not retried');
          return; // retrying the same request cannot succeed: staff sees it and can retry after fixing
        case 'payment_required':
        case 'forbidden':
          await crm.connection.pause(error.kind === 'payment_required' ? 'amoCRM answered 402 Payment Required' : 'amoCRM answered 403 Forbidden (blocked)');
          await entry('paused', error.message, status);
          throw error;
        case 'unauthorized':
          await entry('paused', error.message, status);
          throw error;
        default:
          await entry('retry', error.message, status);
          throw error;
      }
    }
  }

  return { runJob };
}
