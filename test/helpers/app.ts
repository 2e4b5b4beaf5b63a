// Builds the real app on the run's test database, with a log that the test can read, mail going to the
// test SMTP server, and (when asked) a real job worker.
import { Writable } from 'node:stream';
import express from 'express';
import { loadConfig, findProjectRoot, type Config, type Environment } from '../../src/config.js';
import { createDb, type Db } from '../../src/db.js';
import { createLogger } from '../../src/logger.js';
import { createApp, type AppDeps } from '../../src/app.js';
import { createWorker } from '../../src/services/job-queue.js';
import { createTasks } from '../../src/tasks.js';
import { collectPages } from './pages.js';
import { testDatabase } from './db.js';
import { smtpUrl } from './smtp.js';
import { sharedSimulator } from './amocrm.js';

export const TEST_ENV: Environment = {
  NODE_ENV: 'test',
  APP_URL: 'http://127.0.0.1:3999',
  SESSION_SECRET: 'test-session-secret-test-session-secret-0123456789',
  AMOCRM_WEBHOOK_SECRET: 'test-webhook-secret-test-webhook-secret-0123456789',
  MAIL_FROM: 'Цветочная подписка <shop@flowers.test>',
  TRUST_PROXY: 'loopback',
  LOG_LEVEL: 'info',
};

export type TestApp = {
  app: express.Express; db: Db; config: Config; logs: string[];
  /** Starts a job worker with the app's configuration (mail to the test SMTP server); stopped by close(). */
  startWorker: () => Promise<void>;
  close: () => Promise<void>;
};

export function testConfig(env: Environment = {}, databaseUrl = testDatabase().url): Config {
  const amo = sharedSimulator();
  return loadConfig({
    ...TEST_ENV, SMTP_URL: smtpUrl(), DATABASE_URL: databaseUrl, AMOCRM_BASE_URL: amo.url, AMOCRM_LONG_LIVED_TOKEN: amo.token, ...env,
  }, { root: findProjectRoot() });
}

/** `documents`: other versions of the personal-data documents than the repository's (a new version coming into force). */
export function createTestApp(options: { env?: Environment; databaseUrl?: string; documents?: AppDeps['documents'] } = {}): TestApp {
  const url = options.databaseUrl ?? testDatabase().url;
  const config = testConfig(options.env, url);
  const logs: string[] = [];
  const logger = createLogger({
    level: config.logLevel,
    destination: new Writable({ write(chunk, _enc, done) { logs.push(String(chunk)); done(); } }),
  });
  const db = createDb(url, { logger });
  const inner = createApp({ config, db, logger, documents: options.documents });
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.use(collectPages);
  app.use(inner);
  const workers: ReturnType<typeof createWorker>[] = [];
  return {
    app, db, config, logs,
    async startWorker() {
      const worker = createWorker({ connectionString: url, logger, tasks: createTasks({ config, db, logger }), pollInterval: 200 });
      await worker.start();
      workers.push(worker);
    },
    async close() {
      for (const w of workers) await w.stop();
      await db.destroy();
    },
  };
}

/** Collects the SQL of every query `db` runs until `stop()`; a test empties `sql` (length = 0) before what it counts. */
export function recordQueries(db: Db): { sql: string[]; stop: () => void } {
  const sql: string[] = [];
  const record = (q: { sql: string }) => { sql.push(q.sql); };
  db.on('query', record);
  return { sql, stop: () => { db.off('query', record); } };
}

/**
 * A test app whose template renders are counted (a page served from memory is not rendered). Express copies its
 * methods onto each app it makes, so the counting render is in place only while this app is made.
 */
export function createCountingTestApp(): { t: TestApp; renders: { count: number } } {
  const render = express.application.render;
  const renders = { count: 0 };
  express.application.render = function (this: typeof express.application, ...args: Parameters<typeof render>) {
    renders.count++;
    return render.apply(this, args);
  } as typeof render;
  try {
    return { t: createTestApp(), renders };
  } finally {
    express.application.render = render;
  }
}
