// Customers for staff: the search, one customer's whole picture (preferences, the subscription's history, orders,
// referrals, amoCRM ids, the lead's history in amoCRM as last read, sync history, sign-in events, staff actions), and a re-sync to amoCRM that is recorded as a staff action.
import type { Knex } from 'knex';
import type { Crm } from '../crm/crm.js';
import { amoPageUrls } from '../crm/leads.js';
import { todayIn, translator, type Language } from '../i18n/i18n.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createStaffActionModel, type StaffActor } from '../models/staff-action-model.js';
import { containsPattern, createStaffCustomerModel, MATCH_CAP } from '../models/staff-customer-model.js';
import { categoryName } from './catalog-service.js';
import { crmTask, crmText } from './crm-text.js';
import { customerJobKey, orderJobKey, type QueueCustomerSync } from './crm-sync/queue.js';
import { historyLine } from './subscription-history.js';
import { upcomingDeliveries } from './schedule.js';
import type { LeadHistoryService } from './lead-history-service.js';

export const CUSTOMERS_PER_PAGE = 50;
const HISTORY = 15;
/** Changes to the subscription shown on the customer's page (the latest; the data export has them all). */
const TIMELINE = 30;
const AUTH_EVENTS = new Set(['signup', 'login_ok', 'login_fail', 'locked', 'reset_requested', 'reset_done', 'password_changed', 'email_changed', 'logout', 'logout_all',
  'email_change_requested', 'email_confirmed']);

export type CustomerQuery = { q: string; after?: number; before?: number };

/** A fragment the trigram index can find: three letters or digits in a row. */
function searchable(q: string): boolean {
  return /[\p{L}\p{N}]{3}/u.test(q);
}

export function createStaffCustomerService({ db, crm, timeZone, queueCustomerSync, leadHistory }: {
  db: Knex; crm: Crm; timeZone: string; queueCustomerSync: QueueCustomerSync; leadHistory: LeadHistoryService;
}) {
  const customers = createStaffCustomerModel(db);
  const categories = createBouquetCategoryModel(db);
  const actions = createStaffActionModel(db);
  const namesIn = async (language: Language) => new Map((await categories.list()).map((c) => [c.code, categoryName(c, language)]));

  return {
    /** Newest first, 50 a page, by keyset (`after`/`before` a customer id) so that every page costs the same. */
    async search(query: CustomerQuery, language: Language) {
      const q = query.q.trim();
      const number = /^\d{1,15}$/.test(q) ? Number(q) : null;
      const pattern = q && searchable(q) ? containsPattern(q) : null;
      if (q && pattern === null && number === null) {
        return { q, tooShort: true, customers: [], total: 0, totalCapped: false, nextAfter: null, prevBefore: null };
      }
      const found = await customers.search({ pattern, number, after: query.after, before: query.before, limit: CUSTOMERS_PER_PAGE + 1 });
      const more = found.customers.length > CUSTOMERS_PER_PAGE;
      const page = found.customers.slice(0, CUSTOMERS_PER_PAGE);
      if (query.before !== undefined) page.reverse();
      const names = await namesIn(language);
      const hasNext = query.before !== undefined ? true : more;
      const hasPrev = query.before !== undefined ? more : query.after !== undefined;
      return {
        q, tooShort: false, total: found.matches ?? MATCH_CAP, totalCapped: found.matches === null,
        customers: page.map((c) => (c.deletedAt ? { id: c.id, deletedAt: c.deletedAt } : { ...c, bouquet: c.bouquet ? names.get(c.bouquet) ?? c.bouquet : null, signedUpOn: todayIn(timeZone, c.createdAt) })),
        nextAfter: hasNext && page.length ? page[page.length - 1]!.id : null,
        prevBefore: hasPrev && page.length ? page[0]!.id : null,
      };
    },

    /** Everything staff may need about one customer; null when there is no such customer. */
    async profile(id: number, language: Language) {
      const c = await customers.findById(id);
      if (!c || c.role !== 'customer') return null;
      // A deleted customer: that they were deleted, and when; nothing else.
      if (c.deletedAt) return { id: c.id, deletedAt: c.deletedAt };
      const [orders, orderCount, referred, referrer, events, sync, staffActions, connection, names, history, crmHistory] = await Promise.all([
        customers.orders(id, HISTORY), customers.countOrders(id), customers.countReferred(id),
        c.referredBy ? customers.emailOf(c.referredBy) : null, customers.authEvents(id, HISTORY), customers.syncLog(id, HISTORY),
        actions.forCustomer(id, HISTORY), crm.connection.status(), namesIn(language), customers.history(id, TIMELINE),
        leadHistory.forStaff(id, c.amoLeadId),
      ]);
      const jobs = await customers.jobsByKeys([customerJobKey(id), ...orders.map((o) => orderJobKey(o.id))]);
      const nameOf = (code: string | null) => (code ? names.get(code) ?? code : null);
      const t = translator(language);
      return {
        id: c.id, email: c.email, language: c.language, createdAt: c.createdAt, lastLoginAt: c.lastLoginAt,
        emailConfirmedAt: c.emailConfirmedAt, pendingEmail: c.pendingEmail,
        locked: c.lockedUntil !== null && c.lockedUntil.getTime() > Date.now(),
        preferences: { bouquet: nameOf(c.bouquet), address: c.address, deliveryDate: c.deliveryDate, interval: c.interval, wishes: c.wishes },
        accountSumKopecks: c.accountSumKopecks,
        upcoming: c.deliveryDate && c.interval ? upcomingDeliveries(c.deliveryDate, c.interval, todayIn(timeZone), 4) : [],
        referredCount: referred,
        referrer: c.referredBy && referrer ? { id: c.referredBy, email: referrer } : null,
        orders: orders.map((o) => ({ ...o, bouquet: nameOf(o.bouquet) })), orderCount,
        amo: {
          leadId: c.amoLeadId, contactId: c.amoContactId, syncedAt: c.amoSyncedAt,
          ...amoPageUrls(connection.baseUrl, { leadId: c.amoLeadId, contactId: c.amoContactId }),
        },
        jobs: jobs.map((j) => ({ ...j, task: crmTask(j.task, t), lastError: crmText(j.lastError, t), failed: j.attempts >= j.maxAttempts })),
        sync: sync.map((e) => ({ ...e, task: crmTask(e.task, t), message: crmText(e.message, t) })),
        authEvents: events.map((e) => ({ ...e, known: AUTH_EVENTS.has(e.event) })),
        staffActions,
        timeline: history.map((e) => historyLine(e, t, language, timeZone)),
        // The lead's notes and events as last read from amoCRM (a job reads them; this page never asks amoCRM).
        crmHistory,
      };
    },

    /** Queues the customer's current state for amoCRM again and records who asked. False when there is no such customer. */
    async resync(actor: StaffActor, id: number): Promise<boolean> {
      return db.transaction(async (trx) => {
        const c = await createStaffCustomerModel(trx).findById(id);
        if (!c || c.role !== 'customer' || c.deletedAt) return false;
        await queueCustomerSync(trx, id);
        await createStaffActionModel(trx).record(actor, { action: 'customer.resync', customerId: id, outcome: 'queued' });
        return true;
      });
    },
  };
}

export type StaffCustomerService = ReturnType<typeof createStaffCustomerService>;
