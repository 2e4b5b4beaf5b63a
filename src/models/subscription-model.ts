// A customer's subscription as src/services/deliveries.ts reads it: the rule and state from users, the
// changes to single deliveries (delivery_exceptions) and the one-off orders, for a range of dates.
import type { Knex } from 'knex';
import type { Interval } from '../services/catalog-service.js';
import type { DeliveryException, OneOffOrder, Subscription } from '../services/deliveries.js';

export type SubscriptionRecord = { subscription: Subscription; exceptions: DeliveryException[]; orders: OneOffOrder[] };

type UserRow = { delivery_date: string; interval: Interval; paused_from: string | null; paused_until: string | null; cancelled_at: Date | null };
type ExceptionRow = { scheduled_date: string; kind: 'skip' | 'move'; new_date: string | null };
type OrderRow = { id: number; delivery_date: string; status: OneOffOrder['status'] };

export function createSubscriptionModel(db: Knex | Knex.Transaction) {
  return {
    /**
     * What decides the customer's deliveries from `from` to `to`: the changes to deliveries scheduled in the
     * range or moved into it, and the orders of the range. Null for no such customer (or a staff account).
     */
    async load(userId: number, from: string, to: string): Promise<SubscriptionRecord | null> {
      const user: UserRow | undefined = await db('users').where({ id: userId, role: 'customer' })
        .first('delivery_date', 'interval', 'paused_from', 'paused_until', 'cancelled_at');
      if (!user) return null;
      const exceptions: ExceptionRow[] = await db('delivery_exceptions').where({ user_id: userId })
        .andWhere((q) => q.whereBetween('scheduled_date', [from, to]).orWhereBetween('new_date', [from, to]))
        .select('scheduled_date', 'kind', 'new_date').orderBy('scheduled_date');
      const orders: OrderRow[] = await db('orders').where({ user_id: userId }).whereBetween('delivery_date', [from, to])
        .select('id', 'delivery_date', 'status').orderBy('id');
      return {
        subscription: {
          firstDate: user.delivery_date, interval: user.interval, pausedFrom: user.paused_from, pausedUntil: user.paused_until, cancelled: user.cancelled_at !== null,
        },
        exceptions: exceptions.map((e) => ({ scheduledDate: e.scheduled_date, kind: e.kind, newDate: e.new_date })),
        orders: orders.map((o) => ({ id: Number(o.id), deliveryDate: o.delivery_date, status: o.status })),
      };
    },
  };
}
