// The process: loadConfig → database → createApp → listen → worker; graceful stop on SIGTERM/SIGINT.
import type { Server } from 'node:http';
import { ConfigError, loadConfig, readEnvironment, type Config } from './config.js';
import { migrate, openDatabase, type Database } from './db.js';
import { createLogger } from './logger.js';
import { createApp } from './app.js';
import { createWorker, type Worker } from './services/job-queue.js';
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
      server.closeIdleConnections();
      await closed; // in-flight requests finish; idle keep-alive sockets are closed
    }
    await worker?.stop(); // the running job finishes
    await database?.close(); // pools, then the embedded PostgreSQL
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  starting = (async () => {
    database = await openDatabase(config, logger);
    const applied = await migrate(database.db, database.url);
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
    if (stopping) return;

    const app = createApp({ config, db: database.db, logger });
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.port, config.host, () => resolve(s)).once('error', reject);
    });
    server.keepAliveTimeout = 65_000;
    logger.info({ url: config.appUrl, listen: `${config.host}:${config.port}` }, 'listening');

    if (config.runWorker && !stopping) {
      worker = createWorker({ connectionString: database.url, logger, tasks: createTasks({ config, db: database.db, logger }), crontab: CRONTAB });
      await worker.start();
    }
  })();
  try {
    await starting;
  } catch (error) {
    await database?.close().catch(() => undefined); // never leave an embedded PostgreSQL behind
    throw error;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`start-up failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
