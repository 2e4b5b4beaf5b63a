import type { Knex } from 'knex';

export type QueuedJob = {
  id: string; task: string; userId: number | null; attempts: number; maxAttempts: number; runAt: Date;
  lastError: string | null; locked: boolean; failed: boolean; createdAt: Date;
};

export type AddJobOptions = {
  /** Jobs of one queue run one at a time, in order. */
  queue?: string;
  runAt?: Date;
  maxAttempts?: number;
  /** A job with the same key replaces the pending one. */
  jobKey?: string;
};

/** graphile-worker's jobs: added in the caller's transaction, and the jobs of one queue for staff. */
export function createJobModel(db: Knex | Knex.Transaction) {
  return {
    async add(task: string, payload: Record<string, unknown>, options: AddJobOptions = {}): Promise<void> {
      await db.raw(
        'select graphile_worker.add_job(?, ?::json, queue_name => ?, run_at => ?, max_attempts => ?, job_key => ?)',
        [task, JSON.stringify(payload), options.queue ?? null, options.runAt ?? null, options.maxAttempts ?? null, options.jobKey ?? null],
      );
    },

    /** Whether a job of that key waits or runs (one out of attempts does not count: it will not run again). */
    async pendingWithKey(key: string): Promise<boolean> {
      const { rows } = await db.raw('select 1 from graphile_worker._private_jobs where key = ? and attempts < max_attempts', [key]);
      return rows.length > 0;
    },

    /** Drops the waiting jobs that would mail this address (its `to` or `email`); a running one finishes. */
    async dropQueuedMailTo(email: string): Promise<void> {
      await db.raw(`delete from graphile_worker._private_jobs
         where locked_at is null and (lower(payload->>'to') = lower(?) or lower(payload->>'email') = lower(?))`, [email, email]);
    },

    async inQueue(queue: string, limit = 100): Promise<QueuedJob[]> {
      const { rows } = await db.raw(`
        select j.id::text, t.identifier as task, (j.payload->>'userId')::bigint as user_id, j.attempts, j.max_attempts,
               j.run_at, j.last_error, j.locked_at is not null as locked, j.created_at
        from graphile_worker._private_jobs j
        join graphile_worker._private_tasks t on t.id = j.task_id
        join graphile_worker._private_job_queues q on q.id = j.job_queue_id
        where q.queue_name = ? order by j.id limit ?`, [queue, limit]);
      return rows.map((r: Record<string, unknown>) => ({
        id: r.id as string, task: r.task as string, userId: r.user_id === null ? null : Number(r.user_id),
        attempts: r.attempts as number, maxAttempts: r.max_attempts as number, runAt: r.run_at as Date,
        lastError: r.last_error as string | null, locked: r.locked as boolean,
        failed: (r.attempts as number) >= (r.max_attempts as number), createdAt: r.created_at as Date,
      }));
    },

    async counts(queue: string): Promise<{ pending: number; failed: number; oldestPendingAt: Date | null }> {
      const { rows } = await db.raw(`
        select count(*) filter (where j.attempts < j.max_attempts)::int as pending,
               count(*) filter (where j.attempts >= j.max_attempts)::int as failed,
               min(j.created_at) filter (where j.attempts < j.max_attempts) as oldest
        from graphile_worker._private_jobs j join graphile_worker._private_job_queues q on q.id = j.job_queue_id
        where q.queue_name = ?`, [queue]);
      return { pending: rows[0].pending, failed: rows[0].failed, oldestPendingAt: rows[0].oldest };
    },

    /** Runs the job again now, with a fresh set of attempts. */
    async retryNow(ids: string[]): Promise<number> {
      if (!ids.length) return 0;
      const { rows } = await db.raw('select id from graphile_worker.reschedule_jobs(?::bigint[], run_at => now(), attempts => 0)', [ids]);
      return rows.length;
    },

    async idsInQueue(queue: string): Promise<string[]> {
      const { rows } = await db.raw(`select j.id::text from graphile_worker._private_jobs j join graphile_worker._private_job_queues q on q.id = j.job_queue_id
        where q.queue_name = ? and j.locked_at is null`, [queue]);
      return rows.map((r: { id: string }) => r.id);
    },
  };
}
