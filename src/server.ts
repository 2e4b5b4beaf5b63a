// The process: loadConfig → database → createApp → listen → worker; graceful stop on SIGTERM/SIGINT.
import type { Server } from 'node:http';
import { ConfigError, loadConfig, readEnvironment, type Config } from './config.js';
import { migrate, openDatabase, type Database } from './db.js';
import { isDatabaseUnavailable } from './database-errors.js';
import { createLogger } from './logger.js';
import { amoSettingsFrom, createApp } from './app.js';
import type { AmoSettings } from './crm/connection.js';
import type { Logger } from './logger.js';
import { createWorker, type Worker } from './services/job-queue.js';
import { onParentExit } from './parent-watch.js';
import { CRONTAB, createTasks } from './tasks.js';

const SHUTDOWN_LIMIT_MS = 9000;

function configOrExit(): Config {
  try {
    return loadConfig(readEnvironment());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const logger = createLogger({ level: config.logLevel });
  let database: Database | undefined;
  let server: Server | undefined;
  let worker: Worker | undefined;
  let starting: Promise<void> = Promise.resolve();
  let stopping = false;
  let stopSimulator: (() => Promise<void>) | undefined;

  // Installed first, so that a signal during start-up still stops everything that was started.
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS).unref();
    await starting.catch(() => undefined);
    if (server) {
      const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
      // In-flight requests finish; keep-alive sockets are closed as soon as they are idle, including those whose
      // request was still running when the signal came (otherwise they would hold the stop up until the limit).
      const sweep = setInterval(() => server!.closeIdleConnections(), 50);
      server.closeIdleConnections();
      await closed;
      clearInterval(sweep);
    }
    await worker?.stop(); // the running job finishes
    await database?.close(); // pools, then the embedded PostgreSQL
    await stopSimulator?.();
    logger.info('stopped');
    process.exit(0);
  };
  // PostgreSQL may end a connection that a library holds ("terminating connection due to administrator command")
  // or refuse new ones for a while (a restart, a failover, maintenance), and a library may leave such an error
  // unhandled. That is an outage to wait out, not a bug: pages answer 503 until the database is back, the worker
  // waits for it. Anything else unhandled still ends the process.
  process.on('uncaughtException', (error: Error & { code?: string }) => {
    if (isDatabaseUnavailable(error)) {
      logger[stopping ? 'warn' : 'error']({ err: error }, 'database unavailable (error outside a request)');
      return;
    }
    logger.fatal({ err: error }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (reason: unknown) => {
    if (isDatabaseUnavailable(reason)) {
      logger[stopping ? 'warn' : 'error']({ err: reason }, 'database unavailable (error outside a request)');
      return;
    }
    throw reason; // → uncaughtException above
  });
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  if (config.stopWithParent) onParentExit(() => void stop('parent exited'));

  starting = (async () => {
    const amo = await developmentAmoCrm(config, logger, (close) => { stopSimulator = close; });
    database = await openDatabase(config, logger);
    const applied = await migrate(database.db, database.url);
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
    if (stopping) return;

    const app = createApp({ config, db: database.db, logger, amo });
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.port, config.host, () => resolve(s)).once('error', reject);
    });
    server.keepAliveTimeout = 65_000;
    logger.info({ url: config.appUrl, listen: `${config.host}:${config.port}` }, 'listening');

    if (config.runWorker && !stopping) {
      worker = createWorker({ connectionString: database.url, logger, tasks: createTasks({ config, db: database.db, logger, amo }), crontab: CRONTAB });
      await worker.start();
    }
  })();
  try {
    await starting;
  } catch (error) {
    await database?.close().catch(() => undefined); // never leave an embedded PostgreSQL behind
    await stopSimulator?.().catch(() => undefined);
    throw error;
  }
}

/**
 * Without AMOCRM_BASE_URL (development only: production refuses to start without it) the built-in amoCRM
 * simulator runs in this process, with the shop's fields and a long-lived token, so that sign-ups reach a CRM.
 */
async function developmentAmoCrm(config: Config, logger: Logger, onStop: (close: () => Promise<void>) => void): Promise<AmoSettings | undefined> {
  if (config.amocrm.baseUrl) return undefined;
  if (config.production) throw new Error('the amoCRM simulator is refused in production');
  const { createAmoSimulator } = await import('./crm/simulator/simulator.js');
  const simulator = createAmoSimulator({ seedLeadFields: true, seedTrackingFields: true, redirectUri: config.amocrm.redirectUri, clientId: config.amocrm.clientId ?? undefined, clientSecret: config.amocrm.clientSecret ?? undefined });
  const { url } = await simulator.listen(0);
  onStop(() => simulator.close());
  logger.info({ url }, 'amoCRM simulator started (no AMOCRM_BASE_URL configured; its data lives in memory)');
  const oauth = Boolean(config.amocrm.clientId && config.amocrm.clientSecret);
  return {
    ...amoSettingsFrom(config), baseUrl: url, authUrl: `${url}/oauth`,
    longLivedToken: oauth ? null : config.amocrm.longLivedToken ?? simulator.controls.issueLongLivedToken(),
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`start-up failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
