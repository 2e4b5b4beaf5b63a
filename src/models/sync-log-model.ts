import type { Knex } from 'knex';

export type SyncOutcome = 'ok' | 'retry' | 'failed' | 'paused' | 'skipped';
export type SyncLogEntry = {
  id: number; at: Date; task: string; userId: number | null; jobId: string | null; attempt: number | null;
  outcome: SyncOutcome; httpStatus: number | null; message: string | null; details: unknown;
};

export function createSyncLogModel(db: Knex | Knex.Transaction) {
  const toEntry = (r: Record<string, unknown>): SyncLogEntry => ({
    id: Number(r.id), at: r.at as Date, task: r.task as string, userId: r.user_id === null ? null : Number(r.user_id),
    jobId: r.job_id as string | null, attempt: r.attempt as number | null, outcome: r.outcome as SyncOutcome,
    httpStatus: r.http_status as number | null, message: r.message as string | null, details: r.details,
  });
  return {
    async record(entry: Omit<SyncLogEntry, 'id' | 'at'>): Promise<void> {
      await db('amocrm_sync_log').insert({
        task: entry.task, user_id: entry.userId, job_id: entry.jobId, attempt: entry.attempt, outcome: entry.outcome,
        http_status: entry.httpStatus, message: entry.message?.slice(0, 2000) ?? null, details: entry.details === undefined ? null : JSON.stringify(entry.details),
      });
    },
    async recent(limit = 30): Promise<SyncLogEntry[]> {
      return (await db('amocrm_sync_log').orderBy('id', 'desc').limit(limit)).map(toEntry);
    },
    /**
     * Syncs whose last attempt failed for good (a 400 from amoCRM): the newest failures that no later attempt for
     * the same task and customer has overtaken. Walks failures newest first (index on outcome, id) and checks each
     * with the (task, user_id, id) index, so it never reads the whole log.
     */
    async failures(limit = 50): Promise<SyncLogEntry[]> {
      const { rows } = await db.raw(`
        select f.* from amocrm_sync_log f
        where f.outcome = 'failed'
          and not exists (select 1 from amocrm_sync_log later
                          where later.task = f.task and later.user_id is not distinct from f.user_id and later.id > f.id and later.outcome <> 'retry')
        order by f.id desc limit ?`, [limit]);
      return rows.map(toEntry);
    },
  };
}
