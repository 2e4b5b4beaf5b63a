// Reminder mails before each subscription delivery, sent exactly once per (customer, delivery date) as far as a
// mail server allows:
//  - plan(date) claims the day's customers in the reminders table (INSERT … ON CONFLICT DO NOTHING) and queues
//    their mail jobs in the same statement, in batches by customer id: a second planner (another worker, the CLI,
//    a retried job, the next hourly run) claims nobody twice and so queues nothing twice;
//  - sendOne() locks the claim, skips it when already sent, sends, and marks it sent in that transaction. A job
//    retried after the mail server failed sends only the mails that were not accepted.
// The window left: the SMTP server accepted a mail and the process died (or lost the database) before the commit
// of sent_at. The job then runs again and the customer gets a second copy — with the same Message-ID, so most mail
// clients show one. Marking before sending would turn that duplicate into a lost reminder instead.
import type { Knex } from 'knex';
import { formatDate, isLanguage, type Language } from '../i18n/i18n.js';
import type { Logger } from '../logger.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createReminderModel } from '../models/reminder-model.js';
import { createSubscriptionEventModel, type ChangeSource } from '../models/subscription-event-model.js';
import { createSubscriptionModel } from '../models/subscription-model.js';
import { categoryName } from './catalog-service.js';
import { cutoffOf, dateIn, deliveriesBetween, isLocked } from './deliveries.js';
import type { MailLinks } from './mail-links.js';
import type { Mailer } from './mailer.js';

/** Customers claimed (and mails queued) per transaction while planning a day. */
const BATCH = 2000;
/** An unsubscribe link keeps working this long after its delivery (a mail client may offer it weeks later). */
export const UNSUBSCRIBE_DAYS = 90;
/** The hourly planning starts at this shop-time hour, so that reminders do not arrive at night. */
const FIRST_HOUR = 9;

export type SendOutcome = 'sent' | 'already_sent' | 'not_claimed' | 'no_delivery' | 'opted_out' | 'too_late';

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function createReminderService({ db, mailer, links, appUrl, timeZone, cutoff, daysBefore, logger }: {
  db: Knex; mailer: Mailer; links: MailLinks; appUrl: string; timeZone: string; cutoff: string; daysBefore: number; logger: Logger;
}) {
  const rules = { cutoff, timeZone };
  const host = new URL(appUrl).hostname;

  /** The three links of one reminder: skip and move until the delivery's cut-off, unsubscribe for longer. */
  function linksFor(userId: number, date: string) {
    const until = cutoffOf(date, cutoff, timeZone);
    const url = (action: 'skip' | 'move' | 'unsubscribe', expiresAt: Date) => `${appUrl}/m/${links.make({ userId, date, action, expiresAt })}`;
    return {
      skipUrl: url('skip', until), moveUrl: url('move', until),
      unsubscribeUrl: url('unsubscribe', new Date(until.getTime() + UNSUBSCRIBE_DAYS * 86_400_000)),
      manageUrl: `${appUrl}/account/deliveries`, cutoffAt: until,
    };
  }

  return {
    /** The delivery date reminded of on `today` (shop time). */
    dateFor(today: string): string {
      return addDays(today, daysBefore);
    },

    /** The date the hourly job plans now, or null before the first hour of the shop's day. */
    scheduledDate(now = new Date()): string | null {
      const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(now));
      return hour < FIRST_HOUR ? null : addDays(dateIn(now, timeZone), daysBefore);
    },

    /** Claims and queues the reminders of the deliveries on `date`; returns how many mails were queued. */
    async plan(date: string, batch = BATCH): Promise<number> {
      const model = createReminderModel(db);
      let queued = 0;
      for (let after = 0; ;) {
        const result = await model.claimBatch(date, after, batch);
        queued += result.queued;
        if (result.last === null) break;
        after = result.last;
      }
      logger.info({ date, queued }, 'reminders planned');
      return queued;
    },

    /** Sends one claimed reminder, unless it was sent, the delivery is gone or past its cut-off, or the customer opted out. */
    async sendOne(userId: number, date: string): Promise<SendOutcome> {
      return db.transaction(async (trx) => {
        const reminders = createReminderModel(trx);
        const claim = await reminders.lock(userId, date);
        if (!claim) return 'not_claimed';
        if (claim.sentAt) return 'already_sent';
        const user = await trx('users').where({ id: userId, role: 'customer' })
          .first('email', 'language', 'bouquet', 'address', 'reminders_opt_out_at') as
          { email: string; language: string; bouquet: string; address: string; reminders_opt_out_at: Date | null } | undefined;
        if (!user || user.reminders_opt_out_at) {
          await reminders.release(userId, date);
          return 'opted_out';
        }
        const record = await createSubscriptionModel(trx).load(userId, date, date);
        const delivered = record && deliveriesBetween(record.subscription, record.exceptions, [], date, date)
          .some((e) => e.state === 'planned' || e.state === 'moved');
        if (!delivered) {
          await reminders.release(userId, date);
          return 'no_delivery';
        }
        if (isLocked(date, new Date(), rules)) return 'too_late';
        const language: Language = isLanguage(user.language) ? user.language : 'ru';
        const category = (await createBouquetCategoryModel(trx).list()).find((c) => c.code === user.bouquet);
        const mailLinks = linksFor(userId, date);
        await mailer.send({
          to: user.email, template: 'delivery-reminder', language,
          params: { deliveryDate: date, bouquet: category ? categoryName(category, language) : user.bouquet, address: user.address, ...mailLinks },
          subjectParams: { date: formatDate(date, language) },
          unsubscribeUrl: mailLinks.unsubscribeUrl,
          messageId: `<reminder-${userId}-${date}@${host}>`,
        });
        await reminders.markSent(userId, date);
        return 'sent';
      });
    },

    /** Turns the reminders on or off, with its subscription event; 'unchanged' when they already were. */
    async setWanted(userId: number, wanted: boolean, source: ChangeSource, trx?: Knex.Transaction): Promise<'changed' | 'unchanged'> {
      const run = async (t: Knex.Transaction) => {
        const changed = await t('users').where({ id: userId, role: 'customer' })
          .where((q) => (wanted ? q.whereNotNull('reminders_opt_out_at') : q.whereNull('reminders_opt_out_at')))
          .update({ reminders_opt_out_at: wanted ? null : t.fn.now() });
        if (!changed) return 'unchanged' as const;
        await createSubscriptionEventModel(t).record({ userId, kind: wanted ? 'reminders_on' : 'reminders_off', source });
        return 'changed' as const;
      };
      return trx ? run(trx) : db.transaction(run);
    },

    /** Claims of deliveries more than a month past, and the records of used links that have expired anyway. */
    async prune(today: string): Promise<number> {
      const old = await createReminderModel(db).deleteBefore(addDays(today, -31));
      const uses = await db('mail_action_uses').where('expires_at', '<', db.fn.now()).delete();
      return old + uses;
    },
  };
}
export type ReminderService = ReturnType<typeof createReminderService>;
