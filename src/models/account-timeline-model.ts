// The customer's timeline, newest first, from local tables only: the account's creation, the lead's stages,
// confirmed orders, delivery reminders and notices sent. One query; amoCRM's notes are not among them (they
// are never stored here).
import type { Knex } from 'knex';

export type TimelineRow =
  | { kind: 'received'; at: Date }
  | { kind: 'stage'; at: Date; stageName: string | null }
  | { kind: 'order'; at: Date; orderId: number; priceKopecks: number }
  | { kind: 'reminder'; at: Date; deliveryDate: string }
  | { kind: 'mail'; at: Date; mail: string };

/**
 * The entries of one customer as rows (kind, at, rank, id, text, amount); `user` is the SQL naming the customer's id
 * (a binding, or the outer query's column). `rank` orders entries of the same moment as they happen (an account
 * before its lead's first stage); newest first is `order by at desc, rank desc, id desc`.
 */
export function timelineUnion(user: string): string {
  return `
  select 'received' as kind, a.created_at as at, 0 as rank, a.id as id, null::text as text, null::bigint as amount
    from users a where a.id = ${user} and a.role = 'customer'
  union all
  select 'stage', c.changed_at, 1, c.id, c.stage_name, null from lead_stage_changes c where c.user_id = ${user}
  union all
  select 'order', o.confirmed_at, 2, o.id, null, o.price_kopecks from orders o where o.user_id = ${user} and o.confirmed_at is not null
  union all
  select 'reminder', r.sent_at, 3, 0, to_char(r.delivery_date, 'YYYY-MM-DD'), null from reminders r where r.user_id = ${user} and r.sent_at is not null
  union all
  select 'mail', m.sent_at, 4, m.id, m.kind, null from sent_mails m where m.user_id = ${user}`;
}
export const TIMELINE_ORDER = 'at desc, rank desc, id desc';

export type RawTimelineRow = { kind: TimelineRow['kind']; at: Date | string; text: string | null; id: string | number; amount: string | number | null };

/** A row of timelineUnion (from SQL, or from JSON built of it: the moment is then a string). */
export function timelineRow(r: RawTimelineRow): TimelineRow {
  const at = r.at instanceof Date ? r.at : new Date(r.at);
  switch (r.kind) {
    case 'stage': return { kind: 'stage', at, stageName: r.text };
    case 'order': return { kind: 'order', at, orderId: Number(r.id), priceKopecks: Number(r.amount) };
    case 'reminder': return { kind: 'reminder', at, deliveryDate: r.text! };
    case 'mail': return { kind: 'mail', at, mail: r.text! };
    default: return { kind: 'received', at };
  }
}

export function createAccountTimelineModel(db: Knex) {
  return {
    /** Up to `limit` entries after skipping `offset`, newest first. */
    async page(userId: number, limit: number, offset = 0): Promise<TimelineRow[]> {
      const { rows } = await db.raw(`select kind, at, text, id, amount from (${timelineUnion(':userId')}) e order by ${TIMELINE_ORDER} limit :limit offset :offset`,
        { userId, limit, offset });
      return (rows as RawTimelineRow[]).map(timelineRow);
    },
  };
}
