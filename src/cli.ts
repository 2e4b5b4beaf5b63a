// Operator commands: npm run cli -- <command> [args]
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, readEnvironment, type Config } from './config.js';
import { migrate, openDatabase } from './db.js';
import { createLogger, type Logger } from './logger.js';
import { createWorker } from './services/job-queue.js';
import { CRONTAB, createTasks } from './tasks.js';

type Command = { usage: string; run: (args: string[], ctx: { config: Config; logger: Logger }) => Promise<void> };

const commands: Record<string, Command> = {
  migrate: {
    usage: 'migrate                 apply pending database migrations',
    async run(_args, { config, logger }) {
      const database = await openDatabase(config, logger, { poolMax: 2 });
      try {
        const applied = await migrate(database.db, database.url);
        logger.info({ migrations: applied }, applied.length ? 'migrations applied' : 'already up to date');
      } finally {
        await database.close();
      }
    },
  },
  'migrate:make': {
    usage: 'migrate:make <name>     create migrations/<timestamp>_<name>.ts',
    async run(args, { config }) {
      const name = args[0];
      if (!name || !/^[a-z0-9_]+$/.test(name)) throw new UsageError('migrate:make needs a snake_case name, e.g. add_phone_to_users');
      const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
      const file = path.join(config.paths.migrations, `${stamp}_${name}.ts`);
      writeFileSync(file, `import type { Knex } from 'knex';\n\nexport async function up(knex: Knex): Promise<void> {\n}\n\nexport async function down(knex: Knex): Promise<void> {\n}\n`, { flag: 'wx' });
      process.stdout.write(`${path.relative(config.paths.root, file)}\n`);
    },
  },
  worker: {
    usage: 'worker                  run the job worker alone (no web server) until SIGTERM/SIGINT',
    async run(_args, { config, logger }) {
      const database = await openDatabase(config, logger, { poolMax: 4 });
      await migrate(database.db, database.url);
      const worker = createWorker({ connectionString: database.url, logger, tasks: createTasks({ config, db: database.db, logger }), crontab: CRONTAB });
      await worker.start();
      logger.info('worker running');
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await worker.stop();
      await database.close();
    },
  },
};

class UsageError extends Error {}

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`usage: npm run cli -- <command>\n\n${Object.values(commands).map((c) => `  ${c.usage}`).join('\n')}\n`);
    process.exit(name ? 2 : 0);
  }
  const config = loadConfig(readEnvironment());
  const logger = createLogger({ level: config.logLevel });
  await command.run(args, { config, logger });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  }
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
