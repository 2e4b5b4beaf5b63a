// Builds the real app on the run's test database, with a log that the test can read.
import { Writable } from 'node:stream';
import express from 'express';
import { loadConfig, findProjectRoot, type Environment } from '../../src/config.js';
import { createDb, type Db } from '../../src/db.js';
import { createLogger } from '../../src/logger.js';
import { createApp } from '../../src/app.js';
import { collectPages } from './pages.js';
import { testDatabase } from './db.js';

export const TEST_ENV: Environment = {
  NODE_ENV: 'test',
  APP_URL: 'http://127.0.0.1:3999',
  SESSION_SECRET: 'test-session-secret-test-session-secret-0123456789',
  AMOCRM_WEBHOOK_SECRET: 'test-webhook-secret-test-webhook-secret-0123456789',
  LOG_LEVEL: 'info',
};

export type TestApp = { app: express.Express; db: Db; config: ReturnType<typeof loadConfig>; logs: string[]; close: () => Promise<void> };

export function createTestApp(options: { env?: Environment; databaseUrl?: string } = {}): TestApp {
  const url = options.databaseUrl ?? testDatabase().url;
  const config = loadConfig({ ...TEST_ENV, DATABASE_URL: url, ...options.env }, { root: findProjectRoot() });
  const logs: string[] = [];
  const logger = createLogger({
    level: config.logLevel,
    destination: new Writable({ write(chunk, _enc, done) { logs.push(String(chunk)); done(); } }),
  });
  const db = createDb(url, { logger });
  const inner = createApp({ config, db, logger });
  const app = express();
  app.disable('x-powered-by');
  app.use(collectPages);
  app.use(inner);
  return { app, db, config, logs, close: () => db.destroy() };
}
