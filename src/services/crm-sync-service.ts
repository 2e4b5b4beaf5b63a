// Mirroring customers into amoCRM. Every change adds one job (in the caller's transaction) to the single
// "amocrm" queue; the job sends the customer's current state, so jobs are safe to repeat and to reorder.
// This service decides what each amoCRM failure means: wait, retry, stop sending, or give up and tell staff.
import type { Knex } from 'knex';
import { AmoError } from '../crm/amocrm-client.js';
import type { Crm } from '../crm/crm.js';
import type { FieldRole, LeadValues } from '../crm/field-map.js';
import { translator } from '../i18n/i18n.js';
import type { Logger } from '../logger.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createCrmLinkModel } from '../models/crm-link-model.js';
import { createSyncLogModel, type SyncOutcome } from '../models/sync-log-model.js';
import { createUserModel, type User } from '../models/user-model.js';
import type { JobQueue } from './job-queue.js';

export const CRM_QUEUE = 'amocrm';
export const SYNC_CUSTOMER = 'amocrm:sync-customer';

type Snapshot = { values: LeadValues; price: number; email: string };
export type JobInfo = { id: string; attempts: number; maxAttempts: number };

/** A job that could not run now and should be tried again later. */
export class RetryLater extends Error {}

export function createCrmSyncService({ db, crm, jobs, appUrl, logger }: { db: Knex; crm: Crm; jobs: JobQueue; appUrl: string; logger: Logger }) {
  const users = createUserModel(db);
  const links = createCrmLinkModel(db);
  const log = createSyncLogModel(db);
  const ru = translator('ru');

  async function valuesOf(user: User): Promise<Snapshot> {
    const category = user.bouquet ? await createBouquetCategoryModel(db).findByCode(user.bouquet) : null;
    const sum = Math.round((user.accountSumKopecks ?? 0) / 100);
    return {
      price: sum,
      email: user.email,
      values: {
        sum, bouquet: category?.nameRu ?? '', address: user.address ?? '', deliveryDate: user.deliveryDate ?? '',
        interval: user.interval ? ru(`interval.${user.interval}`) : '', wishes: user.wishes, email: user.email,
        referralLink: `${appUrl}/${user.referralId}`,
      },
    };
  }

  const leadName = (email: string) => `Цветочная подписка — ${email}`;

  /** The lead that already carries this referral link (a retried job after a lost answer), if any. */
  async function findExistingLead(referralLink: string) {
    const fieldId = await crm.fields.fieldId('referralLink');
    const candidates = await crm.client.searchLeads(referralLink);
    return candidates.find((lead) => lead.custom_fields_values?.some((cf) => Number(cf.field_id) === fieldId && cf.values.some((v) => v.value === referralLink)));
  }

  async function syncCustomer(userId: number): Promise<'created' | 'adopted' | 'updated' | 'unchanged' | 'skipped'> {
    const user = await users.findById(userId);
    if (!user || user.role !== 'customer') return 'skipped';
    const link = (await links.get(userId))!;
    const now = await valuesOf(user);

    let outcome: 'adopted' | 'updated' = 'updated';
    let { leadId, contactId } = link;
    let previous = link.snapshot as Snapshot | null;
    if (!leadId) {
      const existing = await findExistingLead(String(now.values.referralLink));
      if (existing) {
        leadId = existing.id;
        contactId = existing._embedded?.contacts?.[0]?.id ?? null;
        await links.setIds(userId, leadId, contactId);
        previous = null; // what it holds is unknown: send everything
        outcome = 'adopted';
      } else {
        const created = await crm.client.createLeadWithContact({
          name: leadName(user.email), price: now.price,
          custom_fields_values: await crm.fields.encode(now.values, { forCreate: true }),
          contact: { name: user.email, custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: user.email, enum_code: 'WORK' }] }] },
        }, `user-${user.id}`);
        // Stored at once: a crash after this line cannot lead to a second lead.
        await links.setIds(userId, created.leadId, created.contactId);
        await links.setSnapshot(userId, now);
        return 'created';
      }
    }

    const changed = (Object.keys(now.values) as FieldRole[]).filter((role) => previous?.values[role] !== now.values[role]);
    const priceChanged = previous?.price !== now.price;
    const emailChanged = previous?.email !== now.email;
    if (!changed.length && !priceChanged && !emailChanged) return 'unchanged';
    const values: LeadValues = Object.fromEntries(changed.map((role) => [role, now.values[role]]));
    await crm.client.updateLead(leadId, {
      ...(priceChanged ? { price: now.price } : {}),
      ...(emailChanged ? { name: leadName(now.email) } : {}),
      ...(changed.length ? { custom_fields_values: await crm.fields.encode(values, { forCreate: false }) } : {}),
    });
    if (emailChanged && contactId) await crm.client.updateContactEmail(contactId, now.email);
    await links.setSnapshot(userId, now);
    return outcome;
  }

  /**
   * Runs one amoCRM job with the queue policy: 429 → every process waits retry_after; 5xx/timeouts → retried
   * with backoff; 400 → not retried, amoCRM's validation errors kept for staff; 401 after one refresh, 402,
   * 403 → sending stops until staff acts, the job waits. Every attempt is logged.
   */
  async function runJob(task: string, userId: number | null, job: JobInfo, work: () => Promise<string>): Promise<void> {
    const entry = (outcome: SyncOutcome, message: string | null, httpStatus: number | null = null, details?: unknown) =>
      log.record({ task, userId, jobId: job.id, attempt: job.attempts, outcome, httpStatus, message, details });
    const allowed = await crm.connection.canSend();
    if (!allowed.ok) {
      await entry('paused', `not sent: ${allowed.why}`);
      throw new RetryLater(`amoCRM: ${allowed.why}`);
    }
    try {
      const result = await work();
      await entry(result === 'skipped' ? 'skipped' : 'ok', result);
    } catch (error) {
      if (!(error instanceof AmoError)) {
        await entry('retry', error instanceof Error ? error.message : String(error));
        throw error;
      }
      const status = error.details.status ?? null;
      switch (error.kind) {
        case 'rate_limited':
          await crm.connection.backOff(error.details.retryAfter ?? 1);
          await entry('retry', `${error.message}; waiting ${error.details.retryAfter ?? 1} s`, status);
          throw error;
        case 'invalid':
          if (error.details.validation?.some((v) => v.code === 'NotSupportedChoice')) await crm.fields.forget(); // read the fields again next time
          await entry('failed', error.message, status, { validation: error.details.validation ?? [] });
          logger.warn({ task, userId, err: error.message }, 'amoCRM refused the request; not retried');
          return; // retrying the same request cannot succeed: staff sees it and can retry after fixing
        case 'payment_required':
        case 'forbidden':
          await crm.connection.pause(error.kind === 'payment_required' ? 'amoCRM answered 402 Payment Required' : 'amoCRM answered 403 Forbidden (blocked)');
          await entry('paused', error.message, status);
          throw error;
        case 'unauthorized':
          await entry('paused', error.message, status);
          throw error;
        default:
          await entry('retry', error.message, status);
          throw error;
      }
    }
  }

  return {
    /** Adds the sync job inside the caller's transaction; pending syncs of one customer collapse into one. */
    async customerChanged(trx: Knex | Knex.Transaction, userId: number): Promise<void> {
      await jobs.add(trx, SYNC_CUSTOMER, { userId }, { queue: CRM_QUEUE, jobKey: `amocrm:customer:${userId}`, maxAttempts: 25 });
    },
    syncCustomer,
    runJob,
  };
}

export type CrmSyncService = ReturnType<typeof createCrmSyncService>;
