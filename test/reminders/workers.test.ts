// Two job worker processes (`npm run cli -- worker`, as the systemd unit runs them) on one database: the day's
// reminders, planned by both at once, reach a real SMTP server exactly once per customer.
import path from 'node:path';
import { expect } from 'chai';
import { TEST_ENV } from '../helpers/app.js';
import { sharedSimulator } from '../helpers/amocrm.js';
import { daysFromToday } from '../helpers/client.js';
import { mailsTo, smtpUrl } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT, spawnService } from '../deploy/helpers/processes.js';
import { customersOn, reminderWorld, type ReminderWorld } from './helpers.js';

describe('reminders with two worker processes on one database', function () {
  this.timeout(120_000);
  let w: ReminderWorld;
  let workers: ReturnType<typeof spawnService>[] = [];
  before(async () => { w = await reminderWorld(); });
  after(async () => {
    for (const p of workers) await p.stop();
    await w.close();
  });

  it('both plan the same day at the same time; each customer gets exactly one mail, and both processes sent some', async () => {
    const date = daysFromToday(2);
    const customers = await customersOn(w.t, date, 60, { prefix: 'two-workers' });
    const env = {
      ...TEST_ENV, DATABASE_URL: w.databaseUrl, SMTP_URL: smtpUrl(), AMOCRM_BASE_URL: sharedSimulator().url,
      AMOCRM_LONG_LIVED_TOKEN: sharedSimulator().token, LOG_LEVEL: 'info', VAR_DIR: path.join(ROOT, 'var'),
    } as Record<string, string>;
    workers = [0, 1].map(() => spawnService([process.execPath, '--import', 'tsx', path.join(ROOT, 'src', 'cli.ts'), 'worker'], env));
    await waitFor(() => workers.every((p) => p.output().includes('worker running')), 60_000, 'both workers running');
    // Two planning jobs for the same day, one for each worker, as two hourly runs or a run and its retry would be.
    for (let i = 0; i < 2; i++) await w.t.db.raw('select graphile_worker.add_job(?, ?::json)', ['reminders:plan', JSON.stringify({ date })]);
    await waitFor(() => customers.every((c) => mailsTo(c.email).length >= 1), 60_000, 'a mail to every customer');
    await waitFor(async () => (await w.t.db('reminders').where({ delivery_date: date }).whereNotNull('sent_at')).length === 60, 20_000, 'all marked sent');
    await waitFor(async () => (await w.t.db.raw('select count(*)::int as n from graphile_worker._private_jobs')).rows[0].n === 0, 20_000, 'the queue empty');
    await new Promise((r) => setTimeout(r, 1000));
    const counts = customers.map((c) => mailsTo(c.email).length);
    expect(counts.filter((n) => n !== 1), 'customers with other than one mail').to.deep.equal([]);
    const done = workers.map((p) => (p.output().match(/Completed task \d+ \(reminders:mail/g) ?? []).length);
    expect(done[0]! + done[1]!, `mail jobs completed per process: ${done.join(' + ')}`).to.equal(60);
    expect(Math.min(...done), `mail jobs completed per process: ${done.join(' + ')}`).to.be.above(0);
    expect(workers.map((p) => (p.output().match(/Completed task \d+ \(reminders:plan/g) ?? []).length).reduce((a, b) => a + b)).to.equal(2);
  });
});
