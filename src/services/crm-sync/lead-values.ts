// What the site shows amoCRM about a customer or an order: the lead's price and its field values by role, and
// what was last sent (the snapshot both directions compare against).
import type { Knex } from 'knex';
import type { LeadValues } from '../../crm/field-map.js';
import { translator } from '../../i18n/i18n.js';
import { createBouquetCategoryModel } from '../../models/bouquet-category-model.js';
import { createConsentEventModel } from '../../models/consent-event-model.js';
import type { Order } from '../../models/order-model.js';
import { createSubscriptionModel } from '../../models/subscription-model.js';
import type { User } from '../../models/user-model.js';
import { subscriptionStatusText } from '../crm-text.js';
import { dateIn, deliveriesBetween } from '../deliveries.js';

/** What was last sent to the lead; `cancelled` (absent in snapshots of earlier releases) moves the lead once. */
export type Snapshot = { values: LeadValues; price: number; email: string; cancelled?: boolean };
/** How far ahead the next delivery is looked for: longer than the longest pause (6 months) plus a month. */
const LOOKAHEAD_DAYS = 400;

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function createLeadValues({ db, appUrl, timeZone }: { db: Knex; appUrl: string; timeZone: string }) {
  const ru = translator('ru');

  /** The subscription as amoCRM shows it: the next real delivery (after skips, moves, pauses; none when cancelled) and the status. */
  async function subscriptionOf(user: User, db_: Knex | Knex.Transaction): Promise<{ nextDelivery: string; status: string; cancelled: boolean }> {
    const today = dateIn(new Date(), timeZone);
    const record = await createSubscriptionModel(db_).load(user.id, today, addDays(today, LOOKAHEAD_DAYS));
    if (!record || !record.subscription.firstDate || !record.subscription.interval) return { nextDelivery: user.deliveryDate ?? '', status: '', cancelled: false };
    const next = deliveriesBetween(record.subscription, record.exceptions, [], today, addDays(today, LOOKAHEAD_DAYS))
      .find((e) => e.state === 'planned' || e.state === 'moved');
    return { nextDelivery: next?.date ?? '', status: subscriptionStatusText(record.subscription, today), cancelled: record.subscription.cancelled };
  }

  const intervalName = (user: User) => (user.interval ? ru(`interval.${user.interval}`) : '');
  const referralLink = (user: User) => `${appUrl}/${user.referralId}`;

  return {
    /** The customer's lead as it should be now (read in the given transaction, if any). */
    async customer(user: User, db_: Knex | Knex.Transaction = db): Promise<Snapshot> {
      const category = user.bouquet ? await createBouquetCategoryModel(db_).findByCode(user.bouquet) : null;
      const sum = Math.round((user.accountSumKopecks ?? 0) / 100);
      const subscription = await subscriptionOf(user, db_);
      return {
        price: sum,
        email: user.email,
        cancelled: subscription.cancelled,
        values: {
          sum, bouquet: category?.nameRu ?? '', address: user.address ?? '', deliveryDate: subscription.nextDelivery,
          interval: intervalName(user), wishes: user.wishes, email: user.email, referralLink: referralLink(user),
          subscriptionStatus: subscription.status, marketingConsent: await createConsentEventModel(db_).isGranted(user.id, 'marketing'),
        },
      };
    },

    /** An order's own lead. */
    async order(order: Order, user: User): Promise<Snapshot> {
      const category = await createBouquetCategoryModel(db).findByCode(order.bouquet);
      const sum = Math.round(order.priceKopecks / 100);
      return {
        price: sum, email: user.email,
        values: {
          sum, bouquet: category?.nameRu ?? '', address: order.address, deliveryDate: order.deliveryDate,
          interval: intervalName(user), wishes: order.wishes, email: user.email, referralLink: referralLink(user),
        },
      };
    },
  };
}

export type LeadValuesBuilder = ReturnType<typeof createLeadValues>;
