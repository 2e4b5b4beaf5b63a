// npx tsx bench/reminders.ts [--customers 100000 --concurrency 4 --pool --fresh --database flowers_reminders_scale]
//
// Reminder mails at scale: a database of 100,000 customers (scripts/seed-scale.ts, kept between runs on
// BENCH_DATABASE_URL's / TEST_DATABASE_URL's server, else the embedded PostgreSQL in var/bench-postgres),
//   1. the time to plan one day (today + REMINDER_DAYS_BEFORE): the set-based claims and the mail jobs queued;
//      planning it again (nothing left to claim);
//   2. the mail rate: the day's mails sent by a job worker (--concurrency jobs at once) into a local SMTP server
//      (smtp-server, counting messages), one SMTP connection per mail, or with --pool nodemailer's pooled
//      connections (SMTP_URL …?pool=true).
// Each run starts from no reminders. Results are printed and written to var/bench/reminders.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { createServices } from '../src/app.js';
import { findProjectRoot, loadConfig } from '../src/config.js';
import { createDb } from '../src/db.js';
import { todayIn } from '../src/i18n/i18n.js';
import { deliveryCountSql } from '../src/models/staff-delivery-model.js';
import { createWorker } from '../src/services/job-queue.js';
import { reminderMailTask } from '../src/tasks.js';
import { scaleDatabase } from './staff.js';

const ROOT = findProjectRoot();
const { values: args } = parseArgs({
  options: {
    customers: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '4' }, pool: { type: 'boolean', default: false },
    fresh: { type: 'boolean', default: false }, database: { type: 'string', default: 'flowers_reminders_scale' },
  },
});
const customers = Number(args.customers);
const log = (line: string) => process.stdout.write(`${line}\n`);

async function countingSmtp() {
  let received = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => { received += 1; callback(); });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, received: () => received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const { url, stop } = await scaleDatabase({ database: args.database, customers, orders: customers, fresh: args.fresh, log });
const smtp = await countingSmtp();
const logger = pino({ level: 'warn' });
const config = loadConfig({
  NODE_ENV: 'test', APP_URL: 'https://flowers.test', DATABASE_URL: url, SMTP_URL: `${smtp.url}${args.pool ? '?pool=true&maxConnections=4' : ''}`,
  SESSION_SECRET: 'bench-secret-bench-secret-bench-secret-0123', AMOCRM_WEBHOOK_SECRET: 'bench-webhook-secret-bench-webhook-secret-01',
  AMOCRM_BASE_URL: 'http://127.0.0.1:9', AMOCRM_LONG_LIVED_TOKEN: 'unused', LOG_LEVEL: 'warn',
}, { root: ROOT });
const db = createDb(url, { poolMax: 8 });
try {
  // From no reminders: the claims, the queued mail jobs and the opt-outs of an earlier run go.
  await db('reminders').delete();
  await db.raw(`delete from graphile_worker._private_jobs where task_id in (select id from graphile_worker._private_tasks where identifier = 'reminders:mail')`);
  await db.raw('vacuum analyze reminders');
  const { reminders } = createServices({ config, db, logger });
  const date = reminders.dateFor(todayIn(config.shopTimeZone));
  const count = deliveryCountSql(date);
  const deliveries = (await db.raw(count.sql, count.bindings)).rows[0].n as number;
  const total = Number((await db('users').where({ role: 'customer' }).count({ n: '*' }).first())!.n);
  log(`${total} customers; ${deliveries} deliveries on ${date}`);

  let t0 = performance.now();
  const queued = await reminders.plan(date);
  const planMs = performance.now() - t0;
  log(`plan ${date}: ${queued} reminders claimed and queued in ${(planMs / 1000).toFixed(2)} s`);
  t0 = performance.now();
  const again = await reminders.plan(date);
  const replanMs = performance.now() - t0;
  log(`plan again: ${again} queued in ${(replanMs / 1000).toFixed(2)} s`);

  const concurrency = Number(args.concurrency);
  const worker = createWorker({ connectionString: url, logger, tasks: reminderMailTask(reminders), concurrency, pollInterval: 200 });
  t0 = performance.now();
  await worker.start();
  let last = 0;
  while (smtp.received() < queued) {
    await new Promise((r) => setTimeout(r, 1000));
    if (smtp.received() - last === 0 && performance.now() - t0 > 10_000) throw new Error(`stalled at ${smtp.received()} of ${queued}`);
    last = smtp.received();
  }
  const sendMs = performance.now() - t0;
  await worker.stop();
  const sent = Number((await db('reminders').where({ delivery_date: date }).whereNotNull('sent_at').count({ n: '*' }).first())!.n);
  const rate = queued / (sendMs / 1000);
  log(`send: ${smtp.received()} mails accepted by the SMTP server (${sent} marked sent) in ${(sendMs / 1000).toFixed(1)} s = ${rate.toFixed(0)} mails/s (worker concurrency ${concurrency}, ${args.pool ? 'pooled SMTP connections' : 'one SMTP connection per mail'})`);
  const out = path.join(ROOT, 'var', 'bench');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'reminders.json'), `${JSON.stringify({ customers: total, date, deliveries, queued, planMs, replanMs, sendMs, mailsPerSecond: rate, concurrency, pool: args.pool }, null, 2)}\n`);
} finally {
  await db.destroy();
  await smtp.close();
  await stop();
}
