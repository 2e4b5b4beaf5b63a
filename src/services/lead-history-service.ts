// A customer's lead history in amoCRM for staff: read by a job on the amoCRM queue and kept with its time, so that
// the staff customer page shows it without asking amoCRM. Opening the page when the copy is missing or older than
// 15 minutes queues the job (one per customer: a pending one is never queued twice); «обновить» queues it as well,
// and is recorded as a staff action.
import type { Knex } from 'knex';
import type { Crm } from '../crm/crm.js';
import { readLeadHistory, type HistoryEntry } from '../crm/lead-history.js';
import { createAmocrmFieldModel } from '../models/amocrm-field-model.js';
import { createAmocrmStatusModel } from '../models/amocrm-status-model.js';
import { createJobModel } from '../models/job-model.js';
import { createLeadHistoryModel } from '../models/lead-history-model.js';
import { createStaffActionModel, type StaffActor } from '../models/staff-action-model.js';
import { CRM_QUEUE } from './crm-sync/queue.js';
import type { JobQueue } from './job-queue.js';

export const LEAD_HISTORY = 'amocrm:lead-history';
/** The latest notes and events kept (each list is read up to this many, then both together are cut to it). */
export const HISTORY_MAX = 100;
/** Shown on the page (staff use slow phones); the stored copy and the data export keep all of them. */
const SHOWN = 30;
const STALE_MS = 15 * 60_000;
/** A history is worth a few tries, not the sync's day of them: the next visit to the page queues it again. */
const MAX_ATTEMPTS = 5;
const jobKey = (userId: number) => `amocrm:lead-history:${userId}`;

export type StaffLeadHistory =
  | { lead: false }
  | { lead: true; entries: HistoryEntry[]; stored: number; fetchedAt: Date | null; loading: boolean };

export function createLeadHistoryService({ db, crm, jobs }: { db: Knex; crm: Crm; jobs: JobQueue }) {
  const history = createLeadHistoryModel(db);

  /** Whether the customer's job waits or runs. */
  const pending = (trx: Knex | Knex.Transaction, userId: number) => createJobModel(trx).pendingWithKey(jobKey(userId));

  /** Queues the job unless one is pending; the job key makes two that race one. */
  async function queue(trx: Knex | Knex.Transaction, userId: number): Promise<void> {
    if (await pending(trx, userId)) return;
    await jobs.add(trx, LEAD_HISTORY, { userId }, { queue: CRM_QUEUE, jobKey: jobKey(userId), maxAttempts: MAX_ATTEMPTS });
  }

  /** What a stage or field id is called, as the shop last read it from amoCRM. */
  async function knownNames() {
    const [stages, fields] = await Promise.all([createAmocrmStatusModel(db).names(), createAmocrmFieldModel(db).list()]);
    return { stages, fields: new Map(fields.map((f) => [f.fieldId, f.name])) };
  }

  return {
    /**
     * The history for the staff customer page, from the database only. A missing or stale copy (or one of another
     * lead) queues the job and says that it is loading; the page never waits for it.
     */
    async forStaff(userId: number, leadId: number | null): Promise<StaffLeadHistory> {
      if (!leadId) return { lead: false };
      const cached = await history.find(userId);
      const ours = cached && cached.leadId === leadId ? cached : null;
      let loading = await pending(db, userId);
      if (!loading && (!ours || Date.now() - ours.fetchedAt.getTime() > STALE_MS)) {
        await queue(db, userId);
        loading = true;
      }
      const entries = ours?.entries ?? [];
      return { lead: true, entries: entries.slice(0, SHOWN), stored: entries.length, fetchedAt: ours?.fetchedAt ?? null, loading };
    },

    /** «обновить»: queues the job and records who asked. Null when there is no such customer, 'no_lead' before amoCRM has one. */
    async refresh(actor: StaffActor, userId: number): Promise<'queued' | 'no_lead' | null> {
      return db.transaction(async (trx) => {
        const c = await trx('users').where({ id: userId, role: 'customer' }).whereNull('deleted_at').first('amo_lead_id');
        if (!c) return null;
        if (!c.amo_lead_id) return 'no_lead';
        await queue(trx, userId);
        await createStaffActionModel(trx).record(actor, { action: 'customer.history_refresh', customerId: userId, outcome: 'queued' });
        return 'queued';
      });
    },

    /** Job: reads the lead's notes and events and replaces the stored copy; nothing for a deleted customer or one without a lead. */
    async fetch(userId: number): Promise<string> {
      const user = await db('users').where({ id: userId }).first('amo_lead_id', 'deleted_at');
      if (!user || user.deleted_at || !user.amo_lead_id) return 'skipped';
      const leadId = Number(user.amo_lead_id);
      const { entries, stagesRead } = await readLeadHistory(crm.client, leadId, HISTORY_MAX, await knownNames());
      if (stagesRead) await createAmocrmStatusModel(db).replaceAll(stagesRead);
      return (await history.replace(userId, leadId, entries)) ? 'updated' : 'skipped';
    },
  };
}

export type LeadHistoryService = ReturnType<typeof createLeadHistoryService>;
