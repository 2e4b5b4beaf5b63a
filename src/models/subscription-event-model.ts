// The history of a customer's subscription (table subscription_events): one row per change, written in the same
// transaction as the change itself.
import type { Knex } from 'knex';

export type SubscriptionEventKind =
  | 'skip' | 'unskip' | 'move' | 'pause' | 'resume' | 'cancel' | 'reactivate' | 'gift_order' | 'reminders_off' | 'reminders_on';
export type ChangeSource = 'account' | 'mail' | 'staff';

/**
 * What each kind records (dates YYYY-MM-DD): skip/unskip {date}; move {from, to}; pause {until}; resume {until}
 * (the pause it ended); cancel {reason, comment}; reactivate {deliveryDate}; gift_order {orderId, recipientName};
 * reminders_off/reminders_on {}.
 */
export type SubscriptionEventDetails = Record<string, string | number | null>;

export type NewSubscriptionEvent = {
  userId: number;
  kind: SubscriptionEventKind;
  details?: SubscriptionEventDetails;
  source: ChangeSource;
  /** The staff member who made the change; required when source is 'staff'. */
  staffUserId?: number | null;
};

export type SubscriptionEvent = {
  id: number; userId: number; kind: SubscriptionEventKind; details: SubscriptionEventDetails;
  source: ChangeSource; staffUserId: number | null; createdAt: Date;
};

type Row = { id: string; user_id: string; kind: SubscriptionEventKind; details: SubscriptionEventDetails; source: ChangeSource; staff_user_id: string | null; created_at: Date };

const toEvent = (r: Row): SubscriptionEvent => ({
  id: Number(r.id), userId: Number(r.user_id), kind: r.kind, details: r.details, source: r.source,
  staffUserId: r.staff_user_id === null ? null : Number(r.staff_user_id), createdAt: r.created_at,
});

export function createSubscriptionEventModel(db: Knex | Knex.Transaction) {
  return {
    async record(event: NewSubscriptionEvent): Promise<SubscriptionEvent> {
      const [row] = await db('subscription_events').insert({
        user_id: event.userId, kind: event.kind, details: JSON.stringify(event.details ?? {}), source: event.source,
        staff_user_id: event.staffUserId ?? null,
      }).returning('*');
      return toEvent(row as Row);
    },

    /** The customer's history, newest first. */
    async listForUser(userId: number, limit = 50): Promise<SubscriptionEvent[]> {
      const rows: Row[] = await db('subscription_events').where({ user_id: userId }).orderBy('id', 'desc').limit(limit);
      return rows.map(toEvent);
    },
  };
}
