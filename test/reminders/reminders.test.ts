// Reminder mails: what they say (ru/en, the four links, List-Unsubscribe), who gets one (each delivery once, not
// the opted-out), and that planning again — the hourly job, the CLI, a retried job — sends nothing twice, even
// after the mail server failed halfway.
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import { SMTPServer } from 'smtp-server';
import { findProjectRoot } from '../../src/config.js';
import { formatDate } from '../../src/i18n/i18n.js';
import { TEST_ENV } from '../helpers/app.js';
import { sharedSimulator } from '../helpers/amocrm.js';
import { client, csrfFrom, daysFromToday, signUp } from '../helpers/client.js';
import { mailsTo, smtpUrl, waitForMail, type ReceivedMail } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { customersOn, reminderWorld, type ReminderWorld } from './helpers.js';

const header = (mail: ReceivedMail, key: string) =>
  mail.raw.headerLines.find((h) => h.key === key)?.line.replace(/^[^:]+:\s*/, '').replace(/\r?\n\s+/g, ' ');

/** The operator's command, run asynchronously: the test's own SMTP server must keep answering meanwhile. */
function cli(args: string[], databaseUrl: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const root = findProjectRoot();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli.ts'), ...args], {
      cwd: root, encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, ...TEST_ENV, DATABASE_URL: databaseUrl, SMTP_URL: smtpUrl(), AMOCRM_BASE_URL: sharedSimulator().url, AMOCRM_LONG_LIVED_TOKEN: sharedSimulator().token, LOG_LEVEL: 'warn' },
    }, (error, stdout, stderr) => resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }));
  });
}

describe('reminder mails', function () {
  this.timeout(60_000);
  let w: ReminderWorld;
  before(async () => { w = await reminderWorld(); });
  after(() => w.close());

  const jobs = async (task: string) => Number((await w.t.db.raw('select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = ?', [task])).rows[0].n);

  it('a delivery skipped after planning, or a customer who opted out after it, gets no mail: the mail job looks again', async () => {
    const date = daysFromToday(6);
    const [skipped, off] = await customersOn(w.t, date, 2);
    expect(await w.services.reminders.plan(date)).to.equal(2);
    expect((await w.services.subscriptions.skip(skipped!.id, date, 'account')).ok).to.equal(true);
    await w.services.reminders.setWanted(off!.id, false, 'account');
    expect(await w.services.reminders.sendOne(skipped!.id, date)).to.equal('no_delivery');
    expect(await w.services.reminders.sendOne(off!.id, date)).to.equal('opted_out');
    expect(mailsTo(skipped!.email)).to.have.length(0);
    expect(mailsTo(off!.email)).to.have.length(0);
    expect(await w.t.db('reminders').where({ delivery_date: date })).to.have.length(0); // released: a skip taken back is reminded of later
  });

  it('each customer with a delivery on the day gets one mail in their language: date, bouquet, address, the four links, and List-Unsubscribe for a one-click POST', async () => {
    const date = daysFromToday(2);
    const [ru] = await customersOn(w.t, date, 1);
    const [en] = await customersOn(w.t, date, 1, { language: 'en' });
    expect(await w.services.reminders.plan(date)).to.equal(2);
    await w.t.startWorker();
    const mail = await waitForMail(ru!.email);
    expect(mail.subject).to.equal(`Доставка ${formatDate(date, 'ru')}: напоминание`);
    expect(mail.text).to.include(formatDate(date, 'ru')).and.include('Сезонный').and.include('ул. Цветочная, 7, кв. 12');
    for (const label of ['Пропустить эту доставку', 'Перенести', 'Управлять подпиской', 'Не присылать напоминания']) {
      expect(mail.html, label).to.include(label);
      expect(mail.text, label).to.include(label);
    }
    const base = w.t.config.appUrl;
    const actions = mail.links.filter((l) => l.startsWith(`${base}/m/`));
    expect(actions).to.have.length(3);
    expect(new Set(actions).size).to.equal(3);
    expect(mail.links).to.include(`${base}/account/deliveries`);
    for (const link of [...actions, `${base}/account/deliveries`]) expect(mail.html).to.include(`href="${link}"`);
    // RFC 8058: the https URL of the unsubscribe link, and the one-click POST announced.
    expect(header(mail, 'list-unsubscribe')).to.equal(`<${actions[2]}>`);
    expect(header(mail, 'list-unsubscribe-post')).to.equal('List-Unsubscribe=One-Click');
    expect(header(mail, 'message-id')).to.equal(`<reminder-${ru!.id}-${date}@127.0.0.1>`);
    // The unsubscribe link is the one under «Не присылать напоминания», in the text too.
    expect(mail.text.indexOf(actions[2]!)).to.be.above(mail.text.indexOf('Не присылать напоминания'));

    const english = await waitForMail(en!.email);
    expect(english.subject).to.equal(`Delivery on ${formatDate(date, 'en')}: a reminder`);
    for (const label of ['Skip this delivery', 'Move it', 'Manage my subscription', 'Stop these reminders']) expect(english.html, label).to.include(label);
    expect(english.text).to.include('Seasonal').and.include('ул. Цветочная, 7, кв. 12');
    expect(header(english, 'list-unsubscribe-post')).to.equal('List-Unsubscribe=One-Click');
    await waitFor(async () => (await w.t.db('reminders').where({ delivery_date: date }).whereNotNull('sent_at')).length === 2, 10_000, 'both marked sent');
  });

  it('planning the same day again (the hourly job, a second worker, a retried job) queues and sends nothing more', async () => {
    const date = daysFromToday(3);
    const customers = await customersOn(w.t, date, 5);
    const queuedBefore = await jobs('reminders:mail');
    const [a, b] = await Promise.all([w.services.reminders.plan(date, 2), w.services.reminders.plan(date, 3)]);
    expect(a + b).to.equal(5);
    expect(await w.services.reminders.plan(date)).to.equal(0);
    expect(await jobs('reminders:mail')).to.be.at.most(queuedBefore + 5);
    await w.t.startWorker();
    for (const c of customers) await waitForMail(c.email);
    // A mail job run again for a reminder already sent (a retry, a job stuck and released) sends nothing.
    for (const c of customers) expect(await w.services.reminders.sendOne(c.id, date)).to.equal('already_sent');
    await new Promise((r) => setTimeout(r, 500));
    for (const c of customers) expect(mailsTo(c.email), c.email).to.have.length(1);
  });

  it('a customer who turned reminders off, a skipped delivery and a cancelled subscription get no mail; a delivery moved onto the day does', async () => {
    const date = daysFromToday(4);
    const [off, skipped, cancelled, kept] = await customersOn(w.t, date, 4);
    const [moved] = await customersOn(w.t, daysFromToday(5), 1);
    await w.t.db('users').where({ id: off!.id }).update({ reminders_opt_out_at: w.t.db.fn.now() });
    await w.t.db('delivery_exceptions').insert({ user_id: skipped!.id, scheduled_date: date, kind: 'skip', source: 'account' });
    await w.t.db('users').where({ id: cancelled!.id }).update({ cancelled_at: w.t.db.fn.now(), cancel_reason: 'price' });
    await w.t.db('delivery_exceptions').insert({ user_id: moved!.id, scheduled_date: daysFromToday(5), kind: 'move', new_date: date, source: 'account' });
    expect(await w.services.reminders.plan(date)).to.equal(2);
    await w.t.startWorker();
    await waitForMail(kept!.email);
    await waitForMail(moved!.email);
    await waitFor(async () => (await w.t.db('reminders').where({ delivery_date: date }).whereNotNull('sent_at')).length === 2, 10_000, 'sent');
    for (const c of [off, skipped, cancelled]) expect(mailsTo(c!.email), c!.email).to.have.length(0);
  });

  it('the hourly job plans today + REMINDER_DAYS_BEFORE in the shop time zone, from 09:00 shop time on', () => {
    const { reminders } = w.services;
    expect(reminders.scheduledDate(new Date('2026-12-10T05:59:00Z'))).to.equal(null); // 08:59 in Moscow
    expect(reminders.scheduledDate(new Date('2026-12-10T06:00:00Z'))).to.equal('2026-12-12');
    expect(reminders.scheduledDate(new Date('2026-12-10T21:30:00Z'))).to.equal(null); // 00:30 on the 11th in Moscow
    expect(reminders.scheduledDate(new Date('2026-12-11T20:59:00Z'))).to.equal('2026-12-13'); // 23:59 on the 11th in Moscow
  });

  it('npm run cli -- reminders:send --date sends the day at once, and run again sends nothing more', async () => {
    const date = daysFromToday(8);
    const customers = await customersOn(w.t, date, 3);
    const first = await cli(['reminders:send', '--date', date], w.databaseUrl);
    expect(first.status, `${first.stderr}\n${first.stdout}`).to.equal(0);
    expect(first.stdout).to.include(`${date}: 3 reminders queued now`); // sent by the command, or by the worker running beside it
    for (const c of customers) await waitForMail(c.email);
    await waitFor(async () => (await w.t.db('reminders').where({ delivery_date: date }).whereNotNull('sent_at')).length === 3, 10_000, 'marked sent');
    const second = await cli(['reminders:send', '--date', date], w.databaseUrl);
    expect(second.status, second.stderr).to.equal(0);
    expect(second.stdout).to.include(`${date}: 0 reminders queued now, 3 sent in all`);
    await new Promise((r) => setTimeout(r, 300));
    for (const c of customers) expect(mailsTo(c.email), c.email).to.have.length(1);
    const bad = await cli(['reminders:send', '--date', '2026-02-30x'], w.databaseUrl);
    expect(bad.status).to.equal(2);
  });

  it('without --date, reminders:send takes today + REMINDER_DAYS_BEFORE in the shop time zone', async () => {
    const date = daysFromToday(2);
    const [c] = await customersOn(w.t, date, 1, { prefix: 'default-date' });
    const run = await cli(['reminders:send'], w.databaseUrl);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.include(`${date}: 1 reminders queued now`);
    await waitForMail(c!.email);
  });
});

/** A mail server that accepts the first `accept` messages, then answers 451 to every message until reopened. */
async function failingSmtp(accept: number) {
  let open = false;
  const accepted: string[] = [];
  let refused = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        if (open || accepted.length < accept) {
          accepted.push(...session.envelope.rcptTo.map((r) => r.address.toLowerCase()));
          return callback();
        }
        refused += 1;
        const error = new Error('4.3.0 mail server busy, try later') as Error & { responseCode: number };
        error.responseCode = 451;
        callback(error);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`, accepted, refused: () => refused, reopen: () => { open = true; },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('reminder mails when the mail server fails halfway', function () {
  this.timeout(60_000);

  it('the retried jobs send only the mails that were not accepted: every customer gets exactly one', async () => {
    const smtp = await failingSmtp(3);
    const w = await reminderWorld({ SMTP_URL: smtp.url });
    try {
      const date = daysFromToday(2);
      const customers = await customersOn(w.t, date, 8);
      expect(await w.services.reminders.plan(date)).to.equal(8);
      await w.t.startWorker();
      await waitFor(() => smtp.accepted.length === 3 && smtp.refused() >= 5, 15_000, 'three accepted, five refused');
      const sentNow = await w.t.db('reminders').where({ delivery_date: date }).whereNotNull('sent_at').pluck('user_id');
      expect(sentNow).to.have.length(3);
      // The server is back; the failed jobs are retried now instead of after their backoff. Planning runs again too.
      smtp.reopen();
      expect(await w.services.reminders.plan(date)).to.equal(0);
      await w.t.db.raw(`update graphile_worker._private_jobs set run_at = now() where attempts > 0`);
      // And every mail job once more, as if the whole batch were retried: those already accepted are not sent again.
      for (const c of customers) await w.t.db.raw('select graphile_worker.add_job(?, ?::json)', ['reminders:mail', JSON.stringify({ userId: c.id, date })]);
      await waitFor(() => smtp.accepted.length >= 8, 15_000, 'all eight accepted');
      await waitFor(async () => (await w.t.db('reminders').where({ delivery_date: date }).whereNotNull('sent_at')).length === 8, 10_000, 'all marked sent');
      await new Promise((r) => setTimeout(r, 500));
      expect([...smtp.accepted].sort()).to.deep.equal(customers.map((c) => c.email.toLowerCase()).sort());
    } finally {
      await w.close();
      await smtp.close();
    }
  });
});

describe('the reminder setting on the account page', function () {
  this.timeout(30_000);
  let w: ReminderWorld;
  before(async () => { w = await reminderWorld(); });
  after(() => w.close());

  it('a ticked box that the customer unticks turns reminders off (event reminders_off, source account); ticked again turns them on; a forged value is a 400', async () => {
    const agent = client(w.t.app);
    const { email } = await signUp(agent, { deliveryDate: daysFromToday(9) });
    const { id } = await w.t.db('users').where({ email }).first('id');
    let page = await agent.get('/account').expect(200);
    expect(page.text).to.match(/<input type="checkbox" id="reminders" name="reminders" value="yes" checked/);
    await agent.post('/account/reminders').type('form').send({ _csrf: csrfFrom(page.text) }).expect(303);
    expect((await w.t.db('users').where({ id }).first('reminders_opt_out_at')).reminders_opt_out_at).to.be.an.instanceOf(Date);
    page = await agent.get('/account').expect(200);
    expect(page.text).to.include('Напоминания о доставках отключены.');
    expect(page.text).to.match(/<input type="checkbox" id="reminders" name="reminders" value="yes" aria-describedby/);
    // Planning the day leaves this customer out.
    expect(await w.services.reminders.plan(daysFromToday(9))).to.equal(0);
    await agent.post('/account/reminders').type('form').send({ _csrf: csrfFrom(page.text), reminders: 'yes' }).expect(303);
    expect((await w.t.db('users').where({ id }).first('reminders_opt_out_at')).reminders_opt_out_at).to.equal(null);
    await agent.post('/account/reminders').type('form').send({ _csrf: csrfFrom(page.text), reminders: 'yes' }).expect(303); // unchanged: no event
    const events = await w.t.db('subscription_events').where({ user_id: id }).orderBy('id').select('kind', 'source');
    expect(events).to.deep.equal([{ kind: 'reminders_off', source: 'account' }, { kind: 'reminders_on', source: 'account' }]);
    expect(await w.services.reminders.plan(daysFromToday(9))).to.equal(1);
    expect((await agent.post('/account/reminders').type('form').send({ _csrf: csrfFrom(page.text), reminders: 'no' })).status).to.equal(400);
  });
});
