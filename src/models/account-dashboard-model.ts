import type { Knex } from 'knex';
import type { DeliveryException } from '../services/deliveries.js';
import { TIMELINE_ORDER, timelineRow, timelineUnion, type RawTimelineRow, type TimelineRow } from './account-timeline-model.js';

export type DashboardOrder = { id: number; bouquet: string; deliveryDate: string; address: string; status: string; priceKopecks: number; recipientName: string | null };
export type DashboardRows = {
  referredCount: number; leadId: number | null; statusId: number | null; syncedAt: Date | null;
  upcoming: DashboardOrder[]; recent: DashboardOrder[];
  pausedFrom: string | null; pausedUntil: string | null; cancelled: boolean;
  /** The changes to deliveries scheduled or moved from `from` to `to`. */
  exceptions: DeliveryException[];
  /** The newest entries of the customer's timeline. */
  history: TimelineRow[];
};

const ORDER_JSON = `json_build_object('id', o.id, 'bouquet', o.bouquet, 'deliveryDate', o.delivery_date, 'address', o.address,
  'status', o.status, 'priceKopecks', o.price_kopecks, 'recipientName', o.recipient_name)`;

/**
 * What the account page shows beyond the user row, in one round trip: the referral count, the amoCRM link, the
 * upcoming placed or confirmed orders from a day on, the latest orders, and the subscription's pause,
 * cancellation and changes to single deliveries from `from` to `to`, and the newest `historyLimit` entries of the
 * customer's timeline.
 */
export function createAccountDashboardModel(db: Knex) {
  return {
    async forUser(userId: number, from: string, to: string, upcomingLimit: number, recentLimit: number, historyLimit: number): Promise<DashboardRows | null> {
      const { rows } = await db.raw(`
        select (select count(*) from users r where r.referred_by = u.id)::int as referred_count,
               u.amo_lead_id, u.amo_status_id, u.amo_synced_at, u.paused_from, u.paused_until, u.cancelled_at is not null as cancelled,
               coalesce((select json_agg(json_build_object('scheduledDate', e.scheduled_date, 'kind', e.kind, 'newDate', e.new_date))
                 from delivery_exceptions e where e.user_id = u.id
                   and (e.scheduled_date between ?::date and ?::date or e.new_date between ?::date and ?::date)), '[]') as exceptions,
               coalesce((select json_agg(${ORDER_JSON} order by o.delivery_date, o.id) from (
                 select id, bouquet, delivery_date, address, status, price_kopecks, recipient_name from orders
                 where user_id = u.id and status in ('placed', 'confirmed') and delivery_date >= ?::date
                 order by delivery_date limit ?) o), '[]') as upcoming,
               coalesce((select json_agg(${ORDER_JSON} order by o.id desc) from (
                 select id, bouquet, delivery_date, address, status, price_kopecks, recipient_name from orders
                 where user_id = u.id order by id desc limit ?) o), '[]') as recent,
               coalesce((select json_agg(json_build_object('kind', e.kind, 'at', e.at, 'text', e.text, 'id', e.id, 'amount', e.amount) order by ${TIMELINE_ORDER})
                 from (select * from (${timelineUnion('u.id')}) t order by ${TIMELINE_ORDER} limit ?) e), '[]') as history
        from users u where u.id = ?`, [from, to, from, to, from, upcomingLimit, recentLimit, historyLimit, userId]);
      const r = rows[0];
      if (!r) return null;
      const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
      const orders = (list: DashboardOrder[]) => list.map((o) => ({ ...o, id: Number(o.id), priceKopecks: Number(o.priceKopecks) }));
      return {
        referredCount: Number(r.referred_count), leadId: n(r.amo_lead_id), statusId: n(r.amo_status_id), syncedAt: r.amo_synced_at ?? null,
        upcoming: orders(r.upcoming), recent: orders(r.recent),
        pausedFrom: r.paused_from, pausedUntil: r.paused_until, cancelled: r.cancelled, exceptions: r.exceptions,
        history: (r.history as RawTimelineRow[]).map(timelineRow),
      };
    },
  };
}
