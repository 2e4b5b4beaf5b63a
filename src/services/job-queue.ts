// The durable job queue (graphile-worker). Jobs are added inside the caller's database transaction, so a
// rolled-back change never sends anything and a committed one always does.
import { Logger as WorkerLogger, run, type Runner, type TaskList } from 'graphile-worker';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';

export type AddJobOptions = {
  /** Jobs of one queue run one at a time, in order. */
  queue?: string;
  runAt?: Date;
  maxAttempts?: number;
  /** A job with the same key replaces the pending one. */
  jobKey?: string;
};

export function createJobQueue() {
  return {
    async add(db: Knex | Knex.Transaction, task: string, payload: Record<string, unknown>, options: AddJobOptions = {}): Promise<void> {
      await db.raw(
        'select graphile_worker.add_job(?, ?::json, queue_name => ?, run_at => ?, max_attempts => ?, job_key => ?)',
        [task, JSON.stringify(payload), options.queue ?? null, options.runAt ?? null, options.maxAttempts ?? null, options.jobKey ?? null],
      );
    },
  };
}
export type JobQueue = ReturnType<typeof createJobQueue>;

/**
 * graphile-worker's log lines, as pino JSON. A job is logged by its id, task and attempt only: its payload holds
 * customers' addresses and IPs, which stay out of the logs (SECURITY S18).
 */
export function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    const method = level === 'warning' ? 'warn' : level;
    const { job, ...rest } = (meta ?? {}) as { job?: { id: string; task_identifier: string; attempts: number; max_attempts: number } };
    const summary = job && { id: job.id, task: job.task_identifier, attempts: job.attempts, maxAttempts: job.max_attempts };
    logger[method]({ worker: scope, ...rest, ...(summary ? { job: summary } : {}) }, message);
  });
}

export type WorkerOptions = {
  connectionString: string;
  logger: Logger;
  tasks: TaskList;
  concurrency?: number;
  crontab?: string;
  pollInterval?: number;
};

/** Runs the tasks in this process until stop(); stop() lets the running jobs finish first. */
export function createWorker(options: WorkerOptions) {
  let runner: Runner | undefined;
  return {
    async start(): Promise<void> {
      runner = await run({
        connectionString: options.connectionString,
        taskList: options.tasks,
        concurrency: options.concurrency ?? 2,
        crontab: options.crontab ?? '# no periodic jobs',
        pollInterval: options.pollInterval ?? 2000,
        noHandleSignals: true,
        logger: workerLogger(options.logger),
        maxPoolSize: 4,
      });
    },
    async stop(): Promise<void> {
      await runner?.stop();
      runner = undefined;
    },
  };
}
export type Worker = ReturnType<typeof createWorker>;
