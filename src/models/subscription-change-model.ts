// The writes of subscription self-service: the customer's row locked for the change (SELECT … FOR UPDATE, so two
// submits of one form or a mail link and the account at once are applied one after the other), the changes to
// single deliveries, the pause and the cancellation.
import type { Knex } from 'knex';
import type { Interval } from '../services/catalog-service.js';
import type { ChangeSource } from './subscription-event-model.js';

export type LockedSubscription = {
  firstDate: string | null; interval: Interval | null; pausedFrom: string | null; pausedUntil: string | null; cancelled: boolean;
};
export type CancelReason = 'price' | 'too_often' | 'moving' | 'quality' | 'other';
export type UpcomingOrder = { id: number; deliveryDate: string; status: 'placed' | 'confirmed'; bouquet: string; address: string };

export function createSubscriptionChangeModel(db: Knex | Knex.Transaction) {
  return {
    /** The customer's subscription, its row locked until the transaction ends; null for no such customer. */
    async lock(userId: number): Promise<LockedSubscription | null> {
      const row = await db('users').where({ id: userId, role: 'customer' }).forUpdate()
        .first('delivery_date', 'interval', 'paused_from', 'paused_until', 'cancelled_at');
      if (!row) return null;
      return {
        firstDate: row.delivery_date, interval: row.interval, pausedFrom: row.paused_from, pausedUntil: row.paused_until, cancelled: row.cancelled_at !== null,
      };
    },

    /** Skips or moves the delivery the rule schedules on `scheduledDate`, replacing an earlier change to it. */
    async setException(userId: number, scheduledDate: string, kind: 'skip' | 'move', newDate: string | null, source: ChangeSource): Promise<void> {
      await db('delivery_exceptions').insert({ user_id: userId, scheduled_date: scheduledDate, kind, new_date: newDate, source })
        .onConflict(['user_id', 'scheduled_date']).merge(['kind', 'new_date', 'source', 'created_at']);
    },

    async deleteException(userId: number, scheduledDate: string): Promise<void> {
      await db('delivery_exceptions').where({ user_id: userId, scheduled_date: scheduledDate }).delete();
    },

    /** The change to the delivery scheduled on a date, if any. */
    async exception(userId: number, scheduledDate: string): Promise<{ kind: 'skip' | 'move'; newDate: string | null } | null> {
      const row = await db('delivery_exceptions').where({ user_id: userId, scheduled_date: scheduledDate }).first('kind', 'new_date');
      return row ? { kind: row.kind, newDate: row.new_date } : null;
    },

    /** Drops the changes to deliveries scheduled from a date on (a new first date makes them meaningless). */
    async deleteExceptionsFrom(userId: number, from: string): Promise<void> {
      await db('delivery_exceptions').where({ user_id: userId }).andWhere('scheduled_date', '>=', from).delete();
    },

    async setPause(userId: number, from: string | null, until: string | null): Promise<void> {
      await db('users').where({ id: userId }).update({ paused_from: from, paused_until: until, updated_at: db.fn.now() });
    },

    async cancel(userId: number, at: Date, reason: CancelReason, comment: string | null): Promise<void> {
      await db('users').where({ id: userId }).update({ cancelled_at: at, cancel_reason: reason, cancel_comment: comment, updated_at: db.fn.now() });
    },

    /** Ends the cancellation (and any pause) with a new first delivery date. */
    async reactivate(userId: number, deliveryDate: string): Promise<void> {
      await db('users').where({ id: userId }).update({
        cancelled_at: null, cancel_reason: null, cancel_comment: null, paused_from: null, paused_until: null, delivery_date: deliveryDate, updated_at: db.fn.now(),
      });
    },

    /** The placed and confirmed one-off orders from `from` to `to`, with what is delivered where. */
    async orders(userId: number, from: string, to: string): Promise<UpcomingOrder[]> {
      const rows = await db('orders').where({ user_id: userId }).whereIn('status', ['placed', 'confirmed']).whereBetween('delivery_date', [from, to])
        .select('id', 'delivery_date', 'status', 'bouquet', 'address').orderBy([{ column: 'delivery_date' }, { column: 'id' }]);
      return rows.map((r) => ({ id: Number(r.id), deliveryDate: r.delivery_date, status: r.status, bouquet: r.bouquet, address: r.address }));
    },
  };
}
