// Operator commands: npm run cli -- <command> [args]
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigError, loadConfig, readEnvironment, type Config, type Environment } from './config.js';
import { migrate, openDatabase, type Database } from './db.js';
import { createServices, type Services } from './app.js';
import { createLogger, type Logger } from './logger.js';
import { runOnce } from 'graphile-worker';
import { createWorker, workerLogger } from './services/job-queue.js';
import { dateIn } from './services/deliveries.js';
import { CRONTAB, createTasks, reminderMailTask } from './tasks.js';

type Ctx = { config: Config; logger: Logger; env: Environment };
type Command = { usage: string; run: (args: string[], ctx: Ctx) => Promise<void> };

/** Opens the database and the services for one command, and always closes them. */
async function withServices<T>({ config, logger }: Ctx, work: (services: Services, db: Database['db'], url: string) => Promise<T>): Promise<T> {
  const database = await openDatabase(config, logger, { poolMax: 2 });
  try {
    await migrate(database.db, database.url);
    return await work(createServices({ config, db: database.db, logger }), database.db, database.url);
  } finally {
    await database.close();
  }
}

async function askPassword(question: string): Promise<string> {
  if (!process.stdin.isTTY) throw new UsageError('set STAFF_PASSWORD, or run in a terminal to be asked');
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  const write = (rl as unknown as { _writeToOutput: (s: string) => void });
  process.stdout.write(question);
  write._writeToOutput = () => undefined; // typed characters are not echoed
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stdout.write('\n');
  return answer;
}

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
  'staff:add': {
    usage: 'staff:add [--promote] <email>  create a staff account (password from STAFF_PASSWORD or asked); --promote makes an existing account staff with that password and ends its sessions',
    async run(args, ctx) {
      const promote = args.includes('--promote');
      const rest = args.filter((a) => a !== '--promote');
      const email = rest[0]?.trim().toLowerCase();
      if (rest.length !== 1 || !email || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new UsageError('staff:add needs an email address');
      const password = ctx.env.STAFF_PASSWORD ?? await askPassword(`Password for ${email}: `);
      await withServices(ctx, async ({ auth }) => {
        const result = await auth.addStaff(email, password, { promote });
        if ('error' in result) {
          if (result.error === 'exists') {
            throw new UsageError(`${email} already has an account; nothing changed. To make it staff with this password and end its sessions: staff:add --promote ${email}`);
          }
          throw new UsageError(`password refused: ${result.error.replace('_', ' ')}`);
        }
        process.stdout.write(`${email} is staff${'created' in result ? ' (new account)' : ' (existing account: password set, its sessions ended)'}\n`);
      });
    },
  },
  'staff:reset-2fa': {
    usage: 'staff:reset-2fa <email>  for a lost phone: removes the staff account\'s TOTP and recovery codes and ends its sessions; the next login enrols again',
    async run(args, ctx) {
      const email = args[0]?.trim().toLowerCase();
      if (args.length !== 1 || !email) throw new UsageError('staff:reset-2fa needs the email of a staff account');
      await withServices(ctx, async ({ totp }) => {
        const result = await totp.reset(email);
        if (result === 'not_staff') throw new UsageError(`${email} is not a staff account; nothing changed`);
        process.stdout.write(`${email}: ${result === 'reset' ? 'second factor removed' : 'had no second factor'}, sessions ended; the next login enrols again\n`);
      });
    },
  },
  'amocrm:fields': {
    usage: 'amocrm:fields           find the lead fields in amoCRM, create the missing ones, and check AMOCRM_CANCEL_STAGE',
    async run(_args, ctx) {
      await withServices(ctx, async ({ crmAdmin }) => {
        const { created, missing } = await crmAdmin.createMissingFields();
        process.stdout.write(`created: ${created.join(', ') || 'none'}; missing: ${missing.join(', ') || 'none'}\n`);
        if (missing.length) process.exitCode = 1;
        const stage = await crmAdmin.cancelStageProblem();
        if (stage) {
          process.stderr.write(`${stage}\n`);
          process.exitCode = 1;
        }
      });
    },
  },
  'amocrm:webhooks': {
    usage: 'amocrm:webhooks         subscribe $APP_URL/webhooks/amocrm/<secret> to status_lead and update_lead',
    async run(_args, ctx) {
      await withServices(ctx, async ({ crmAdmin }) => {
        const url = `${ctx.config.appUrl}/webhooks/amocrm/${ctx.config.amocrm.webhookSecret}`;
        const result = await crmAdmin.registerWebhook(url);
        process.stdout.write(`${result === 'registered' ? 'webhook registered' : 'webhook was already registered'}: ${ctx.config.appUrl}/webhooks/amocrm/…\n`);
      });
    },
  },
  'reminders:send': {
    usage: 'reminders:send [--date YYYY-MM-DD]  remind of the deliveries on that date (default: today + REMINDER_DAYS_BEFORE) now; each customer once, however often it runs',
    async run(args, ctx) {
      const at = args.indexOf('--date');
      const given = at >= 0 ? args[at + 1] : undefined;
      if ((at >= 0 && (!given || !/^\d{4}-\d{2}-\d{2}$/.test(given) || Number.isNaN(Date.parse(given)))) || args.length !== (at >= 0 ? 2 : 0)) {
        throw new UsageError('reminders:send takes only --date YYYY-MM-DD');
      }
      await withServices(ctx, async ({ reminders }, db, url) => {
        const date = given ?? reminders.dateFor(dateIn(new Date(), ctx.config.shopTimeZone));
        const queued = await reminders.plan(date);
        // The mails go now, from this process (a running worker may take some of them: each is sent once either way).
        await runOnce({ connectionString: url, taskList: reminderMailTask(reminders), concurrency: 2, logger: workerLogger(ctx.logger), noHandleSignals: true });
        const sent = await db('reminders').where({ delivery_date: date }).whereNotNull('sent_at').count({ n: '*' }).first();
        process.stdout.write(`${date}: ${queued} reminders queued now, ${Number(sent?.n ?? 0)} sent in all\n`);
      });
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
  const env = readEnvironment();
  const config = loadConfig(env);
  const logger = createLogger({ level: config.logLevel });
  await command.run(args, { config, logger, env });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  }
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
