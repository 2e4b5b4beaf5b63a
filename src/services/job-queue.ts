// The durable job queue (graphile-worker). Jobs are added inside the caller's database transaction, so a
// rolled-back change never sends anything and a committed one always does.
import { Logger as WorkerLogger, run, type Runner, type TaskList } from 'graphile-worker';
import type { Knex } from 'knex';
import pg from 'pg';
import { isDatabaseUnavailable } from '../database-errors.js';
import type { Logger } from '../logger.js';
import { createJobModel, type AddJobOptions } from '../models/job-model.js';

export function createJobQueue() {
  return {
    async add(db: Knex | Knex.Transaction, task: string, payload: Record<string, unknown>, options: AddJobOptions = {}): Promise<void> {
      await createJobModel(db).add(task, payload, options);
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

const WAIT_MIN_MS = 250;
const WAIT_MAX_MS = 10_000;
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

/** Exponential backoff with jitter: attempt 0 → about min, doubling up to about max. */
function backoff(attempt: number, min: number, max: number): number {
  return Math.min(min * 2 ** Math.min(attempt, 20), max) * (0.5 + Math.random() / 2);
}

/**
 * The worker's connection pool, whose connect() waits while the database is unavailable (down, restarting, refusing
 * connections) instead of failing. graphile-worker 0.17 does not await the statements that record a job as done or
 * failed and does not retry them on connection errors: a failure there ends its worker pool, and the job would stay
 * locked for hours, then run a second time. Waiting here lets those statements (and the polling, LISTEN and cron
 * connections) go through once the database is back, so each job that ran is recorded exactly once.
 */
function patientPool(connectionString: string, logger: Logger, stopping: () => boolean, sleep: (ms: number) => Promise<void>): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: 4, connectionTimeoutMillis: 5000, application_name: 'flowers-worker' });
  // A connection the database ends (idle, or in use) is dropped by pg and replaced on the next connect.
  pool.on('error', (error) => logger.warn({ err: error.message }, 'job worker: an idle database connection ended'));
  pool.on('connect', (client) => client.on('error', (error) => logger.warn({ err: error.message }, 'job worker: a database connection ended')));
  const connectOnce = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  let waiting = false;
  const connect = async (): Promise<pg.PoolClient> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const client = await connectOnce();
        if (waiting) logger.info('job worker: the database is back');
        waiting = false;
        return client;
      } catch (error) {
        if (stopping() || !isDatabaseUnavailable(error)) throw error;
        if (!waiting) logger.warn({ err: (error as Error).message }, 'job worker: database unavailable; jobs wait for it');
        waiting = true;
        await sleep(backoff(attempt, WAIT_MIN_MS, WAIT_MAX_MS));
      }
    }
  };
  type Callback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;
  pool.connect = ((callback?: Callback) => {
    if (!callback) return connect();
    connect().then((client) => callback(undefined, client, (release) => client.release(release as boolean | Error | undefined)), (error: Error) => callback(error, undefined, () => undefined));
    return undefined;
  }) as typeof pool.connect;
  return pool;
}

/**
 * Runs the tasks in this process until stop(); stop() lets the running jobs finish first. A database outage is
 * waited out (see patientPool); should graphile-worker's pool still stop on an error of its own, it is logged and a
 * new one starts after a backoff, so jobs always resume when the database returns.
 */
export function createWorker(options: WorkerOptions) {
  let runner: Runner | undefined;
  let pool: pg.Pool | undefined;
  let stopping = false;
  let restarts = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  const sleepers = new Set<() => void>();
  const sleep = (ms: number) => new Promise<void>((resolve) => {
    const wake = () => { clearTimeout(timer); sleepers.delete(wake); resolve(); };
    const timer = setTimeout(wake, ms);
    sleepers.add(wake);
  });

  async function launch(): Promise<void> {
    const ownPool = patientPool(options.connectionString, options.logger, () => stopping, sleep);
    pool = ownPool;
    const current = await run({
      pgPool: ownPool,
      taskList: options.tasks,
      concurrency: options.concurrency ?? 2,
      crontab: options.crontab ?? '# no periodic jobs',
      pollInterval: options.pollInterval ?? 2000,
      noHandleSignals: true,
      logger: workerLogger(options.logger),
      // Completions and failures go through graphile-worker's batcher (sent at once, delay 0), which reports an
      // error to the worker pool; unbatched, it would be an unhandled rejection that ends the process.
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    });
    runner = current;
    const startedAt = Date.now();
    // In 0.17 the promise resolves (or rejects) when the pool stops on its own after an error it could not handle.
    void current.promise.then(() => undefined, (error: unknown) => error).then((error) => {
      if (stopping || runner !== current) return;
      if (Date.now() - startedAt > RESTART_MAX_MS * 2) restarts = 0; // it ran well for a while: start again soon
      options.logger.error({ err: error }, 'job worker stopped unexpectedly; starting a new one');
      runner = undefined;
      void ownPool.end().catch(() => undefined);
      scheduleRestart();
    });
  }

  function scheduleRestart(): void {
    if (stopping) return;
    const delay = backoff(restarts++, RESTART_MIN_MS, RESTART_MAX_MS);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopping) return;
      launch().catch((error: unknown) => {
        options.logger.error({ err: error }, 'job worker could not start; trying again');
        scheduleRestart();
      });
    }, delay);
  }

  return {
    async start(): Promise<void> {
      stopping = false;
      await launch();
    },
    async stop(): Promise<void> {
      stopping = true;
      clearTimeout(restartTimer);
      for (const wake of [...sleepers]) wake();
      // A pool that has just stopped on its own makes stop() reject ("already stopped"): nothing is left to stop then.
      await runner?.stop().catch((error: unknown) => options.logger.warn({ err: error }, 'job worker: stop'));
      runner = undefined;
      await pool?.end().catch(() => undefined);
      pool = undefined;
    },
  };
}
export type Worker = ReturnType<typeof createWorker>;
