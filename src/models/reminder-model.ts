// The reminder mails of a day (table reminders): claimed set-based from "the deliveries of a day" (the same SQL
// staff read, src/models/staff-delivery-model.ts) in batches, each batch queuing one mail job per customer in the
// same statement, so a claim without its job, or a job without its claim, cannot be committed.
import type { Knex } from 'knex';
import { keysOf } from './staff-delivery-model.js';

export const REMINDER_MAIL = 'reminders:mail';
/** After the sign-in and reset mails, which a person is waiting for (graphile-worker runs lower numbers first). */
const PRIORITY = 10;
const MAX_ATTEMPTS = 10;

export type ReminderRow = { sentAt: Date | null };

export function createReminderModel(db: Knex | Knex.Transaction) {
  return {
    /**
     * Claims the next `limit` customers (by id, after `afterId`) with a subscription delivery on `date` who take
     * reminders, and queues a mail job for each claim that is new. `last` is the cursor for the next batch (null
     * when the day is done); `queued` how many mails this batch added.
     */
    async claimBatch(date: string, afterId: number, limit: number): Promise<{ last: number | null; queued: number }> {
      const keys = keysOf(date);
      const { rows } = await db.raw(`
        with due as (
          select distinct d.customer_id from (${keys.sql}) d join users u on u.id = d.customer_id
           where d.kind = 'subscription' and u.reminders_opt_out_at is null and d.customer_id > ?
           order by d.customer_id limit ?
        ), claimed as (
          insert into reminders (user_id, delivery_date) select customer_id, ?::date from due
          on conflict do nothing returning user_id
        ), queued as (
          select 1 from graphile_worker.add_jobs((
            select coalesce(array_agg(row(?, json_build_object('userId', user_id, 'date', ?::text), null, null, ?, null, ?, null)::graphile_worker.job_spec), '{}')
              from claimed))
        )
        select (select max(customer_id) from due)::bigint as last, (select count(*) from queued)::int as queued`,
      [...keys.bindings, afterId, limit, date, REMINDER_MAIL, date, MAX_ATTEMPTS, PRIORITY]);
      const row = rows[0] as { last: string | null; queued: number };
      return { last: row.last === null ? null : Number(row.last), queued: row.queued };
    },

    /** The claim, locked until the transaction ends (a second run of the same mail waits, then sees sent_at). */
    async lock(userId: number, date: string): Promise<ReminderRow | null> {
      const row = await db('reminders').where({ user_id: userId, delivery_date: date }).forUpdate().first('sent_at');
      return row ? { sentAt: row.sent_at } : null;
    },

    async markSent(userId: number, date: string): Promise<void> {
      await db('reminders').where({ user_id: userId, delivery_date: date }).update({ sent_at: db.fn.now() });
    },

    /** Gives a claim up (the delivery is gone, or the customer opted out), so that planning may claim it again. */
    async release(userId: number, date: string): Promise<void> {
      await db('reminders').where({ user_id: userId, delivery_date: date }).delete();
    },

    async deleteBefore(date: string): Promise<number> {
      return db('reminders').where('delivery_date', '<', date).delete();
    },
  };
}
