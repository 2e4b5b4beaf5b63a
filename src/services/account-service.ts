// What a customer sees of their account, and the preferences they change.
import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';
import { createAccountDashboardModel } from '../models/account-dashboard-model.js';
import { createAmocrmStatusModel } from '../models/amocrm-status-model.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createUserModel, type Preferences, type User } from '../models/user-model.js';
import { createAccountTimelineService, timelineEntries } from './account-timeline-service.js';
import { categoryName } from './catalog-service.js';
import { firstChangeable, upcomingOf, upcomingRange, type UpcomingEntry } from './subscription-service.js';
import type { QueueCustomerSync } from './crm-sync/queue.js';

const UPCOMING = 6;
/** Entries of the history shown on the account page; /account/history has them all. */
const HISTORY_SHOWN = 5;

export function createAccountService({ db, appUrl, timeZone, cutoff, queueCustomerSync }: {
  db: Knex; appUrl: string; timeZone: string; cutoff: string; queueCustomerSync: QueueCustomerSync;
}) {
  const users = createUserModel(db);
  const categories = createBouquetCategoryModel(db);
  const dashboardRows = createAccountDashboardModel(db);
  const timeline = createAccountTimelineService({ db });
  return {
    /**
     * The dashboard, from the local database only (amoCRM is never called while rendering), in one round trip
     * beside the user row the request already holds (categories and stage names come from the process's cache).
     */
    async dashboard(userId: number, language: Language, loaded?: User) {
      const now = new Date();
      const { from, to } = upcomingRange(now, timeZone, UPCOMING);
      const [user, rows, all] = await Promise.all([
        loaded && loaded.id === userId ? loaded : users.findById(userId),
        dashboardRows.forUser(userId, from, to, UPCOMING, 10, HISTORY_SHOWN),
        categories.list(),
      ]);
      if (!user || !rows) throw new Error(`no user ${userId}`);
      const nameOf = (code: string | null) => {
        const c = all.find((x) => x.code === code);
        return c ? categoryName(c, language) : code ?? '';
      };
      // The same entries as the deliveries page (subscription-service's upcomingOf), from the rows read here.
      const orders = rows.upcoming.map((o) => ({ id: o.id, deliveryDate: o.deliveryDate, status: o.status as 'placed' | 'confirmed', bouquet: o.bouquet, address: o.address }));
      const recipients = new Map(rows.upcoming.map((o) => [o.id, o.recipientName]));
      const schedule = user.deliveryDate && user.interval
        ? { firstDate: user.deliveryDate, interval: user.interval, pausedFrom: rows.pausedFrom, pausedUntil: rows.pausedUntil, cancelled: rows.cancelled }
        : { firstDate: '', interval: 'weekly' as const, pausedFrom: null, pausedUntil: null, cancelled: true };
      const upcoming = upcomingOf(schedule, rows.exceptions, orders, now, { timeZone, cutoff }, UPCOMING);
      const entry = (e: UpcomingEntry) => ({
        ...e, bouquet: nameOf(e.bouquet ?? user.bouquet), address: e.address ?? user.address ?? '', order: e.state === 'order' ? e.orderId : null,
        recipientName: e.state === 'order' ? recipients.get(e.orderId) ?? null : null,
      });
      return {
        email: user.email,
        emailConfirmed: user.emailConfirmedAt !== null,
        pendingEmail: user.pendingEmail,
        accountSumKopecks: user.accountSumKopecks ?? 0,
        referralLink: `${appUrl}/${user.referralId}`,
        referredCount: rows.referredCount,
        upcoming: upcoming.entries.map(entry),
        pausedUntil: upcoming.pausedUntil,
        cancelled: rows.cancelled,
        /** The earliest first delivery date of a reactivated subscription. */
        firstOpenDate: firstChangeable(now, { timeZone, cutoff }),
        crm: {
          inCrm: rows.leadId !== null,
          stage: rows.statusId ? await createAmocrmStatusModel(db).name(rows.statusId) : null,
          syncedAt: rows.syncedAt,
        },
        /** The newest entries of the customer's timeline (account-timeline-service). */
        history: timelineEntries(rows.history, language),
        orders: rows.recent.map((o) => ({ id: o.id, date: o.deliveryDate, bouquet: nameOf(o.bouquet), status: o.status, priceKopecks: o.priceKopecks, recipientName: o.recipientName })),
        preferences: {
          bouquet: nameOf(user.bouquet), address: user.address, deliveryDate: user.deliveryDate, interval: user.interval, wishes: user.wishes,
        },
      };
    },

    /** One page (1: the newest) of the customer's whole timeline. */
    history(userId: number, language: Language, page: number) {
      return timeline.page(userId, language, page);
    },

    async preferences(userId: number): Promise<Preferences | null> {
      const user = await users.findById(userId);
      if (!user?.bouquet || !user.address || !user.deliveryDate || !user.interval) return null;
      return { bouquet: user.bouquet, address: user.address, deliveryDate: user.deliveryDate, interval: user.interval, wishes: user.wishes };
    },

    /** Saves the preferences; a new category brings its price as the account sum. The amoCRM job joins the transaction. */
    async updatePreferences(userId: number, prefs: Preferences): Promise<'saved' | 'unchanged' | 'unknown_bouquet'> {
      return db.transaction(async (trx) => {
        const category = await createBouquetCategoryModel(trx).findByCode(prefs.bouquet);
        if (!category) return 'unknown_bouquet';
        const changed = await createUserModel(trx).updatePreferences(userId, prefs, category.priceKopecks);
        if (!changed) return 'unchanged';
        await queueCustomerSync(trx, userId);
        return 'saved';
      });
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
