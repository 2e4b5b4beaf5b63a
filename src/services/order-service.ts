// One-off bouquet orders: place (price from the price list), confirm (then a lead is made in amoCRM), cancel
// before the delivery date. Customers reach only their own orders.
import type { Knex } from 'knex';
import { todayIn, type Language } from '../i18n/i18n.js';
import { createAmocrmStatusModel } from '../models/amocrm-status-model.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createOrderModel, type Gift, type Order } from '../models/order-model.js';
import { createSubscriptionEventModel } from '../models/subscription-event-model.js';
import { categoryName } from './catalog-service.js';
import type { QueueOrderSync } from './crm-sync/queue.js';

/** The gift fields are empty strings when the order is not a gift (the phone already normalised to +7XXXXXXXXXX). */
export type OrderInput = {
  bouquet: string; deliveryDate: string; address: string; wishes: string; recipientName: string; recipientPhone: string; cardMessage: string;
};

function giftOf(input: OrderInput): Gift | null {
  if (!input.recipientName) return null;
  return { recipientName: input.recipientName, recipientPhone: input.recipientPhone, cardMessage: input.cardMessage || null };
}

/**
 * Orders one customer may place in a shop day. Every confirmed order is a lead sent through the one serial amoCRM
 * queue, so without a cap one account could delay every customer's sync by hours and fill amoCRM with junk.
 */
export const ORDERS_PER_DAY = 5;

export function createOrderService({ db, timeZone, queueOrderSync, onConfirmed = async () => undefined }: {
  db: Knex; timeZone: string; queueOrderSync: QueueOrderSync;
  /** Also in the confirmation's transaction: what else follows a confirmed order (analytics' order_confirmed). */
  onConfirmed?: (trx: Knex.Transaction, userId: number, order: { id: number; priceKopecks: number }) => Promise<void>;
}) {
  const orders = createOrderModel(db);

  async function view(order: Order, language: Language) {
    const category = await createBouquetCategoryModel(db).findByCode(order.bouquet);
    const stage = order.amoStatusId ? await createAmocrmStatusModel(db).name(order.amoStatusId) : null;
    return {
      id: order.id, number: order.id, bouquet: category ? categoryName(category, language) : order.bouquet,
      deliveryDate: order.deliveryDate, address: order.address, wishes: order.wishes, priceKopecks: order.priceKopecks,
      status: order.status, inCrm: order.amoLeadId !== null, stage, syncedAt: order.amoSyncedAt,
      canConfirm: order.status === 'placed',
      canCancel: order.status !== 'cancelled' && order.deliveryDate > todayIn(timeZone), gift: order.gift,
    };
  }

  return {
    async place(userId: number, input: OrderInput): Promise<{ order: Order } | { error: 'unknown_bouquet' | 'daily_limit' }> {
      const category = await createBouquetCategoryModel(db).findByCode(input.bouquet);
      if (!category) return { error: 'unknown_bouquet' };
      return db.transaction(async (trx) => {
        const model = createOrderModel(trx);
        await model.lockCustomer(userId);
        if ((await model.countPlacedSince(userId, todayIn(timeZone), timeZone)) >= ORDERS_PER_DAY) return { error: 'daily_limit' } as const;
        const { bouquet, deliveryDate, address, wishes } = input;
        const gift = giftOf(input);
        const order = await model.insert({ userId, bouquet, deliveryDate, address, wishes, priceKopecks: category.priceKopecks, gift });
        // A gift is part of the subscription's history (staff's timeline, the notes in amoCRM).
        if (gift) {
          await createSubscriptionEventModel(trx).record({ userId, kind: 'gift_order', details: { orderId: order.id, recipientName: gift.recipientName }, source: 'account' });
        }
        return { order };
      });
    },

    async show(userId: number, id: number, language: Language) {
      const order = await orders.findForUser(userId, id);
      return order ? view(order, language) : null;
    },

    /** The customer completes the order: only now it goes to amoCRM. */
    async confirm(userId: number, id: number): Promise<boolean> {
      return db.transaction(async (trx) => {
        if (!(await createOrderModel(trx).transition(id, userId, ['placed'], 'confirmed'))) return false;
        await queueOrderSync(trx, id);
        const order = await createOrderModel(trx).findForUser(userId, id);
        if (order) await onConfirmed(trx, userId, { id: order.id, priceKopecks: order.priceKopecks });
        return true;
      });
    },

    /** Cancels before the delivery date; a confirmed order's lead is closed in amoCRM. */
    async cancel(userId: number, id: number): Promise<boolean> {
      return db.transaction(async (trx) => {
        const before = await createOrderModel(trx).findForUser(userId, id);
        if (!(await createOrderModel(trx).transition(id, userId, ['placed', 'confirmed'], 'cancelled', { notBefore: todayIn(timeZone) }))) return false;
        if (before?.status === 'confirmed') await queueOrderSync(trx, id);
        return true;
      });
    },
  };
}

export type OrderService = ReturnType<typeof createOrderService>;
