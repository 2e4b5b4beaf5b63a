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

// `rank` orders entries of the same moment as they happen (an account before its lead's first stage).
const UNION = `
  select 'received' as kind, u.created_at as at, 0 as rank, u.id as id, null::text as text, null::bigint as amount
    from users u where u.id = :userId and u.role = 'customer'
  union all
  select 'stage', c.changed_at, 1, c.id, c.stage_name, null from lead_stage_changes c where c.user_id = :userId
  union all
  select 'order', o.confirmed_at, 2, o.id, null, o.price_kopecks from orders o where o.user_id = :userId and o.confirmed_at is not null
  union all
  select 'reminder', r.sent_at, 3, 0, to_char(r.delivery_date, 'YYYY-MM-DD'), null from reminders r where r.user_id = :userId and r.sent_at is not null
  union all
  select 'mail', m.sent_at, 4, m.id, m.kind, null from sent_mails m where m.user_id = :userId`;

export function createAccountTimelineModel(db: Knex) {
  return {
    /** Up to `limit` entries after skipping `offset`, newest first. */
    async page(userId: number, limit: number, offset = 0): Promise<TimelineRow[]> {
      const { rows } = await db.raw(`select kind, at, text, id, amount from (${UNION}) e order by at desc, rank desc, id desc limit :limit offset :offset`,
        { userId, limit, offset });
      return (rows as { kind: TimelineRow['kind']; at: Date; text: string | null; id: string; amount: string | null }[]).map((r): TimelineRow => {
        switch (r.kind) {
          case 'stage': return { kind: 'stage', at: r.at, stageName: r.text };
          case 'order': return { kind: 'order', at: r.at, orderId: Number(r.id), priceKopecks: Number(r.amount) };
          case 'reminder': return { kind: 'reminder', at: r.at, deliveryDate: r.text! };
          case 'mail': return { kind: 'mail', at: r.at, mail: r.text! };
          default: return { kind: 'received', at: r.at };
        }
      });
    },
  };
}
