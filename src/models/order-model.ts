import type { Knex } from 'knex';

export type OrderStatus = 'placed' | 'confirmed' | 'cancelled';
export type Order = {
  id: number; userId: number; bouquet: string; deliveryDate: string; address: string; wishes: string;
  priceKopecks: number; status: OrderStatus; amoLeadId: number | null; amoStatusId: number | null;
  amoSnapshot: Record<string, unknown> | null; amoSyncedAt: Date | null; createdAt: Date; confirmedAt: Date | null; cancelledAt: Date | null;
  /** A gift: who receives the bouquet (the phone as +7XXXXXXXXXX) and the card's text; null when it is not a gift. */
  gift: Gift | null;
};
export type Gift = { recipientName: string; recipientPhone: string; cardMessage: string | null };

const COLUMNS = ['id', 'user_id', 'bouquet', 'delivery_date', 'address', 'wishes', 'price_kopecks', 'status', 'amo_lead_id', 'amo_status_id',
  'amo_snapshot', 'amo_synced_at', 'created_at', 'confirmed_at', 'cancelled_at', 'recipient_name', 'recipient_phone', 'card_message'];

function toOrder(r: Record<string, unknown>): Order {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: Number(r.id), userId: Number(r.user_id), bouquet: r.bouquet as string, deliveryDate: r.delivery_date as string,
    address: r.address as string, wishes: r.wishes as string, priceKopecks: r.price_kopecks as number, status: r.status as OrderStatus,
    amoLeadId: n(r.amo_lead_id), amoStatusId: n(r.amo_status_id), amoSnapshot: r.amo_snapshot as Record<string, unknown> | null,
    amoSyncedAt: r.amo_synced_at as Date | null, createdAt: r.created_at as Date, confirmedAt: r.confirmed_at as Date | null, cancelledAt: r.cancelled_at as Date | null,
    gift: r.recipient_name === null || r.recipient_name === undefined ? null
      : { recipientName: r.recipient_name as string, recipientPhone: r.recipient_phone as string, cardMessage: r.card_message as string | null },
  };
}

export function createOrderModel(db: Knex | Knex.Transaction) {
  return {
    async insert(o: { userId: number; bouquet: string; deliveryDate: string; address: string; wishes: string; priceKopecks: number; gift: Gift | null }): Promise<Order> {
      const [row] = await db('orders').insert({
        user_id: o.userId, bouquet: o.bouquet, delivery_date: o.deliveryDate, address: o.address, wishes: o.wishes, price_kopecks: o.priceKopecks,
        recipient_name: o.gift?.recipientName ?? null, recipient_phone: o.gift?.recipientPhone ?? null, card_message: o.gift?.cardMessage ?? null,
      }).returning(COLUMNS);
      return toOrder(row);
    },
    /** Holds the customer's row until the transaction ends, so that one customer's placements take turns. */
    async lockCustomer(userId: number): Promise<void> {
      await db('users').where({ id: userId }).forUpdate().first('id');
    },
    /** Orders the customer placed since the start of the given shop day (cancelled ones too). */
    async countPlacedSince(userId: number, day: string, timeZone: string): Promise<number> {
      const { rows } = await db.raw('select count(*)::int as n from orders where user_id = ? and created_at >= (?::timestamp at time zone ?)', [userId, day, timeZone]);
      return rows[0].n;
    },
    /** Customers who placed at least `cap` orders since the start of the given shop day, most recent first. */
    async customersAtCapSince(day: string, timeZone: string, cap: number, limit: number): Promise<{ count: number; userIds: number[] }> {
      const { rows } = await db.raw(
        `select user_id, count(*) over () as customers from orders where created_at >= (?::timestamp at time zone ?)
         group by user_id having count(*) >= ? order by max(created_at) desc limit ?`,
        [day, timeZone, cap, limit],
      );
      return { count: Number(rows[0]?.customers ?? 0), userIds: rows.map((r: { user_id: string }) => Number(r.user_id)) };
    },
    /** Only the owner's order: another customer's id is simply not found (S22). */
    async findForUser(userId: number, id: number): Promise<Order | null> {
      const row = await db('orders').select(COLUMNS).where({ id, user_id: userId }).first();
      return row ? toOrder(row) : null;
    },
    async findById(id: number): Promise<Order | null> {
      const row = await db('orders').select(COLUMNS).where({ id }).first();
      return row ? toOrder(row) : null;
    },
    async findByLead(leadId: number): Promise<Order | null> {
      const row = await db('orders').select(COLUMNS).where({ amo_lead_id: leadId }).first();
      return row ? toOrder(row) : null;
    },
    async listForUser(userId: number, limit = 20): Promise<Order[]> {
      return (await db('orders').select(COLUMNS).where({ user_id: userId }).orderBy('id', 'desc').limit(limit)).map(toOrder);
    },
    async upcomingForUser(userId: number, from: string, limit: number): Promise<Order[]> {
      return (await db('orders').select(COLUMNS).where({ user_id: userId }).whereIn('status', ['placed', 'confirmed'])
        .andWhere('delivery_date', '>=', from).orderBy('delivery_date').limit(limit)).map(toOrder);
    },
    /** Moves the order from one status to another; false when it was not in `from` any more. */
    async transition(id: number, userId: number, from: OrderStatus[], to: OrderStatus, extra: { notBefore?: string } = {}): Promise<boolean> {
      const q = db('orders').where({ id, user_id: userId }).whereIn('status', from);
      if (extra.notBefore) q.andWhere('delivery_date', '>', extra.notBefore);
      const stamp = to === 'confirmed' ? { confirmed_at: db.fn.now() } : to === 'cancelled' ? { cancelled_at: db.fn.now() } : {};
      return (await q.update({ status: to, updated_at: db.fn.now(), ...stamp })) > 0;
    },
    async setLead(id: number, leadId: number): Promise<void> {
      await db('orders').where({ id }).update({ amo_lead_id: leadId });
    },
    async setSynced(id: number, snapshot: Record<string, unknown>): Promise<void> {
      await db('orders').where({ id }).update({ amo_snapshot: JSON.stringify(snapshot), amo_synced_at: db.fn.now() });
    },
    async setAmoStatus(id: number, statusId: number): Promise<void> {
      await db('orders').where({ id }).update({ amo_status_id: statusId, amo_synced_at: db.fn.now() });
    },
  };
}
