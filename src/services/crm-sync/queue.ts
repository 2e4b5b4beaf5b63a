// The single "amocrm" queue: its task names, its job keys and the one side effect other services need from the
// mirror — "queue a sync of this customer" (or of this order), added inside the caller's transaction. The names and
// keys are those of the deployed queues: a pending job of an earlier release keeps its meaning.
import type { Knex } from 'knex';
import type { JobQueue } from '../job-queue.js';

export const CRM_QUEUE = 'amocrm';
export const SYNC_CUSTOMER = 'amocrm:sync-customer';
export const SYNC_ORDER = 'amocrm:sync-order';
export const LEAD_CHANGED = 'amocrm:lead-changed';
export const RECONCILE = 'amocrm:reconcile';
export const REFRESH_DUE = 'amocrm:refresh-due';
/** How often a job of the amoCRM queue is tried before it waits for staff. */
export const CRM_MAX_ATTEMPTS = 25;

/** One pending job per customer and per order: a newer one replaces it. */
export const customerJobKey = (userId: number) => `amocrm:customer:${userId}`;
export const orderJobKey = (orderId: number) => `amocrm:order:${orderId}`;

/** Queues the sync of the customer's current state to amoCRM, in the caller's transaction. */
export type QueueCustomerSync = (trx: Knex.Transaction, userId: number) => Promise<void>;
/** Queues the sync of the order (its own lead) to amoCRM, in the caller's transaction. */
export type QueueOrderSync = (trx: Knex.Transaction, orderId: number) => Promise<void>;

export function createCrmQueue(jobs: JobQueue): { queueCustomerSync: QueueCustomerSync; queueOrderSync: QueueOrderSync } {
  return {
    async queueCustomerSync(trx, userId) {
      await jobs.add(trx, SYNC_CUSTOMER, { userId }, { queue: CRM_QUEUE, jobKey: customerJobKey(userId), maxAttempts: CRM_MAX_ATTEMPTS });
    },
    async queueOrderSync(trx, orderId) {
      await jobs.add(trx, SYNC_ORDER, { orderId }, { queue: CRM_QUEUE, jobKey: orderJobKey(orderId), maxAttempts: CRM_MAX_ATTEMPTS });
    },
  };
}

export type CrmQueue = ReturnType<typeof createCrmQueue>;
