// Mirroring customers into amoCRM. Every change adds one job (in the caller's transaction) to the single
// "amocrm" queue; the job sends the customer's current state, so jobs are safe to repeat and to reorder.
// This service decides what each amoCRM failure means: wait, retry, stop sending, or give up and tell staff.
import type { Knex } from 'knex';
import { AmoError } from '../crm/amocrm-client.js';
import type { Crm } from '../crm/crm.js';
import type { FieldRole, LeadValues, Tracking } from '../crm/field-map.js';
import { translator } from '../i18n/i18n.js';
import type { Logger } from '../logger.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createCrmLinkModel } from '../models/crm-link-model.js';
import { createSyncLogModel, type SyncOutcome } from '../models/sync-log-model.js';
import { createUserModel, type User } from '../models/user-model.js';
import { createAmocrmStatusModel } from '../models/amocrm-status-model.js';
import { createOrderModel, type Order } from '../models/order-model.js';
import { createWebhookIntake } from '../models/webhook-model.js';
import type { AmoLead } from '../crm/amocrm-client.js';
import { parseWebhook } from '../crm/webhook-parser.js';
import { createSubscriptionModel } from '../models/subscription-model.js';
import { createCrmNoteModel, type PendingNote } from '../models/crm-note-model.js';
import { recordLeadStage } from './account-timeline-service.js';
import { INTERVALS } from './catalog-service.js';
import { orderConfirmedNote, preferenceNotes, subscriptionEventNote, subscriptionStatusText } from './crm-text.js';
import { dateIn, deliveriesBetween } from './deliveries.js';
import type { JobQueue } from './job-queue.js';

export const CRM_QUEUE = 'amocrm';
export const SYNC_CUSTOMER = 'amocrm:sync-customer';
export const SYNC_ORDER = 'amocrm:sync-order';
export const LEAD_CHANGED = 'amocrm:lead-changed';
export const RECONCILE = 'amocrm:reconcile';
export const REFRESH_DUE = 'amocrm:refresh-due';
/** amoCRM's system stage "closed and not realised". */
const LOST_STATUS_ID = 143;

/** What was last sent to the lead; `cancelled` (absent in snapshots of earlier releases) moves the lead once. */
type Snapshot = { values: LeadValues; price: number; email: string; cancelled?: boolean };
/** Notes posted in one request (amoCRM recommends ≤ 50 entities per write). */
const NOTE_BATCH = 50;
/** How far amoCRM's clock may be behind ours when looking for a note whose answer was lost. */
const CLOCK_SKEW_S = 600;
/** How far ahead the next delivery is looked for: longer than the longest pause (6 months) plus a month. */
const LOOKAHEAD_DAYS = 400;

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
export type JobInfo = { id: string; attempts: number; maxAttempts: number };

/** A job that could not run now and should be tried again later. */
export class RetryLater extends Error {}

export function createCrmSyncService({ db, crm, jobs, appUrl, logger, timeZone, cancelStage = null }: {
  db: Knex; crm: Crm; jobs: JobQueue; appUrl: string; logger: Logger; timeZone: string;
  /** The stage (by name) a customer's lead moves to when the subscription is cancelled; null: it stays. */
  cancelStage?: string | null;
}) {
  const users = createUserModel(db);
  const links = createCrmLinkModel(db);
  const log = createSyncLogModel(db);
  const noteState = createCrmNoteModel(db);
  const noteText = (n: PendingNote) => (n.from === 'subscription_events' ? subscriptionEventNote(n) : n.text);
  const ru = translator('ru');
  let stageWarned = false;

  /** The subscription as amoCRM shows it: the next real delivery (after skips, moves, pauses; none when cancelled) and the status. */
  async function subscriptionOf(user: User, db_: Knex | Knex.Transaction): Promise<{ nextDelivery: string; status: string; cancelled: boolean }> {
    const today = dateIn(new Date(), timeZone);
    const record = await createSubscriptionModel(db_).load(user.id, today, addDays(today, LOOKAHEAD_DAYS));
    if (!record || !record.subscription.firstDate || !record.subscription.interval) return { nextDelivery: user.deliveryDate ?? '', status: '', cancelled: false };
    const next = deliveriesBetween(record.subscription, record.exceptions, [], today, addDays(today, LOOKAHEAD_DAYS))
      .find((e) => e.state === 'planned' || e.state === 'moved');
    return { nextDelivery: next?.date ?? '', status: subscriptionStatusText(record.subscription, today), cancelled: record.subscription.cancelled };
  }

  /** Whether the customer's latest answer to the marketing consent is a grant. */
  async function marketingConsent(userId: number, db_: Knex | Knex.Transaction): Promise<boolean> {
    const latest = await db_('consent_events').where({ user_id: userId, document: 'marketing' }).orderBy('id', 'desc').first('action');
    return latest?.action === 'grant';
  }

  async function valuesOf(user: User, db_: Knex | Knex.Transaction = db): Promise<Snapshot> {
    const category = user.bouquet ? await createBouquetCategoryModel(db_).findByCode(user.bouquet) : null;
    const sum = Math.round((user.accountSumKopecks ?? 0) / 100);
    const subscription = await subscriptionOf(user, db_);
    return {
      price: sum,
      email: user.email,
      cancelled: subscription.cancelled,
      values: {
        sum, bouquet: category?.nameRu ?? '', address: user.address ?? '', deliveryDate: subscription.nextDelivery,
        interval: user.interval ? ru(`interval.${user.interval}`) : '', wishes: user.wishes, email: user.email,
        referralLink: `${appUrl}/${user.referralId}`,
        subscriptionStatus: subscription.status, marketingConsent: await marketingConsent(user.id, db_),
      },
    };
  }

  /** The snapshot with only the roles whose field exists in the account: the others are sent once it does. */
  async function sendable(snapshot: Snapshot): Promise<Snapshot> {
    const present = await crm.fields.present();
    return { ...snapshot, values: Object.fromEntries(Object.entries(snapshot.values).filter(([role]) => present.has(role as FieldRole))) };
  }

  /** The cancellation stage in the lead's pipeline (else the first pipeline that has one), read again once if unknown. */
  async function cancelStageOf(userId: number): Promise<{ statusId: number; pipelineId: number } | null> {
    if (!cancelStage) return null;
    const statuses = createAmocrmStatusModel(db);
    let found = await statuses.findByName(cancelStage);
    if (!found.length) {
      await refreshStages();
      found = await statuses.findByName(cancelStage);
    }
    if (!found.length) {
      if (!stageWarned) logger.error({ stage: cancelStage }, 'AMOCRM_CANCEL_STAGE names no stage of the amoCRM pipelines; cancelled leads are not moved');
      stageWarned = true;
      return null;
    }
    const pipelineId = (await db('users').where({ id: userId }).first('amo_pipeline_id'))?.amo_pipeline_id;
    const stage = found.find((s) => s.pipelineId === Number(pipelineId)) ?? found[0]!;
    return { statusId: stage.statusId, pipelineId: stage.pipelineId };
  }

  /**
   * Every subscription change of the customer not yet on the lead (and every other note waiting for it:
   * preference changes, confirmed orders) becomes one note, in order. Exactly once:
   * each row is marked as attempted (committed) before its post; a row attempted earlier whose answer never came
   * is looked for among the lead's notes first — the same text, created no earlier than the attempt (less clock
   * skew), and not already the note of another row — and re-posted only when it is not there. Jobs of the
   * amoCRM queue run one at a time, so no other post of the same row can be under way.
   */
  const requestIdOf = (n: PendingNote) => `${n.from === 'subscription_events' ? 'event' : 'note'}-${n.id}`;

  async function sendNotes(userId: number, leadId: number): Promise<number> {
    let posted = 0;
    for (let round = 0; round < 20; round++) {
      const pending = await noteState.pending(userId, NOTE_BATCH);
      if (!pending.length) break;
      const toPost: PendingNote[] = [];
      const uncertain = pending.filter((e) => e.attemptedAt !== null);
      const onLead = uncertain.length ? await crm.client.leadNotes(leadId) : [];
      const claimed = uncertain.length ? await noteState.claimedNoteIds(userId) : new Set<number>();
      for (const event of pending) {
        if (event.attemptedAt) {
          const text = noteText(event);
          const since = Math.floor(event.attemptedAt.getTime() / 1000) - CLOCK_SKEW_S;
          const found = onLead.find((n) => n.note_type === 'common' && n.params?.text === text && n.created_at >= since && !claimed.has(n.id));
          if (found) {
            await noteState.setNoteId(event, found.id);
            claimed.add(found.id);
            continue;
          }
        }
        toPost.push(event);
      }
      if (!toPost.length) continue;
      await noteState.markAttempted(toPost);
      let created: Map<string, number>;
      try {
        created = await crm.client.addNotes(leadId, toPost.map((e) => ({ text: noteText(e), requestId: requestIdOf(e) })));
      } catch (error) {
        // A refusal (400, 401, 402, 403, 429) created nothing; a timeout or 5xx may have: those stay uncertain.
        const status = error instanceof AmoError ? error.details.status : undefined;
        if (status !== undefined && status >= 400 && status < 500) await noteState.clearAttempt(toPost);
        throw error;
      }
      for (const event of toPost) {
        const noteId = created.get(requestIdOf(event));
        if (noteId !== undefined) await noteState.setNoteId(event, noteId);
      }
      posted += created.size;
      if (created.size < toPost.length) break; // an answer without some ids: looked for on the next run
    }
    return posted;
  }

  const leadName = (email: string) => `Цветочная подписка — ${email}`;
  /** The tags a new lead gets: where it came from (the site, a referral link) and, for an order, a gift. */
  const leadTags = (user: User, order?: Order) => [
    'сайт', ...(user.referredBy !== null ? ['реферал'] : []), ...(order?.gift ? ['подарок'] : []),
  ];

  /** What brought the customer (the first touch kept at sign-up), for amoCRM's tracking fields of a new lead. */
  async function trackingOf(userId: number): Promise<Tracking> {
    const a = await db('user_attribution').where({ user_id: userId }).first('utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term', 'yclid', 'gclid', 'referrer_host');
    if (!a) return {};
    return {
      utmSource: a.utm_source, utmMedium: a.utm_medium, utmCampaign: a.utm_campaign, utmContent: a.utm_content, utmTerm: a.utm_term,
      referrer: a.referrer_host, yclid: a.yclid, gclid: a.gclid,
    };
  }

  /** The lead that already carries this referral link (a retried job after a lost answer), if any. */
  async function findExistingLead(referralLink: string) {
    const fieldId = await crm.fields.fieldId('referralLink');
    const candidates = await crm.client.searchLeads(referralLink);
    return candidates.find((lead) => lead.custom_fields_values?.some((cf) => Number(cf.field_id) === fieldId && cf.values.some((v) => v.value === referralLink)));
  }

  async function syncCustomer(userId: number): Promise<'created' | 'adopted' | 'updated' | 'unchanged' | 'skipped'> {
    const user = await users.findById(userId);
    // A deleted account sends nothing more (a job queued before the deletion included): amoCRM's copy is erased instead.
    if (!user || user.role !== 'customer' || (await users.isDeleted(userId))) return 'skipped';
    const link = (await links.get(userId))!;
    const now = await sendable(await valuesOf(user));

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
        // A customer already in amoCRM (an order by phone, say) keeps the one contact: the lead is linked to it.
        const knownContactId = await crm.client.findContactIdByEmail(user.email);
        const created = await crm.client.createLeadWithContact({
          name: leadName(user.email), price: now.price,
          custom_fields_values: [...await crm.fields.encode(now.values, { forCreate: true }), ...await crm.fields.encodeTracking(await trackingOf(userId))],
          tags: leadTags(user),
          contact: knownContactId !== null ? { id: knownContactId }
            : { name: user.email, custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: user.email, enum_code: 'WORK' }] }] },
        }, `user-${user.id}`);
        // Stored at once: a crash after this line cannot lead to a second lead.
        await links.setIds(userId, created.leadId, created.contactId);
        await links.setSnapshot(userId, now);
        const lead = await crm.client.lead(created.leadId); // its first stage, for the dashboard
        if (lead) await applyLead(lead);
        await sendNotes(userId, created.leadId); // changes made before the lead existed
        return 'created';
      }
    }

    const changed = (Object.keys(now.values) as FieldRole[]).filter((role) => previous?.values[role] !== now.values[role]);
    const priceChanged = previous?.price !== now.price;
    const emailChanged = previous?.email !== now.email;
    const stage = now.cancelled && previous?.cancelled !== true ? await cancelStageOf(userId) : null;
    if (changed.length || priceChanged || emailChanged || stage) {
      const values: LeadValues = Object.fromEntries(changed.map((role) => [role, now.values[role]]));
      await crm.client.updateLead(leadId, {
        ...(priceChanged ? { price: now.price } : {}),
        ...(emailChanged ? { name: leadName(now.email) } : {}),
        ...(changed.length ? { custom_fields_values: await crm.fields.encode(values, { forCreate: false }) } : {}),
        ...(stage ? { status_id: stage.statusId, pipeline_id: stage.pipelineId } : {}),
      });
      if (emailChanged && contactId) await crm.client.updateContactEmail(contactId, now.email);
      // The notes of preference changes are decided with the snapshot they compare against: once each.
      await db.transaction(async (trx) => {
        await createCrmLinkModel(trx).setSnapshot(userId, now);
        if (previous) await createCrmNoteModel(trx).add(userId, preferenceNotes(previous.values, now.values));
      });
    } else if (previous && previous.cancelled !== now.cancelled) {
      await links.setSnapshot(userId, now); // cancelled without a stage to move to: nothing to send
    }
    const notes = await sendNotes(userId, leadId);
    if (!changed.length && !priceChanged && !emailChanged && !stage && !notes) return 'unchanged';
    return outcome;
  }

  async function orderValues(order: Order, user: User): Promise<Snapshot> {
    const category = await createBouquetCategoryModel(db).findByCode(order.bouquet);
    const sum = Math.round(order.priceKopecks / 100);
    return {
      price: sum, email: user.email,
      values: {
        sum, bouquet: category?.nameRu ?? '', address: order.address, deliveryDate: order.deliveryDate,
        interval: user.interval ? ru(`interval.${user.interval}`) : '', wishes: order.wishes, email: user.email,
        referralLink: `${appUrl}/${user.referralId}`,
      },
    };
  }

  /** The order's lead is stored with the note for the customer's lead, once (the customer's sync job posts it). */
  async function orderLinked(order: Order, userId: number, leadId: number, sent: Snapshot): Promise<void> {
    await db.transaction(async (trx) => {
      await createOrderModel(trx).setLead(order.id, leadId);
      await createOrderModel(trx).setSynced(order.id, sent);
      await createCrmNoteModel(trx).add(userId, [orderConfirmedNote(order.id, order.priceKopecks)]);
      await jobs.add(trx, SYNC_CUSTOMER, { userId }, { queue: CRM_QUEUE, jobKey: `amocrm:customer:${userId}`, maxAttempts: 25 });
    });
  }

  /** A confirmed order becomes its own lead, linked to the customer's contact; a cancelled one is closed as lost. */
  async function syncOrder(orderId: number): Promise<'created' | 'adopted' | 'cancelled' | 'skipped'> {
    const orders = createOrderModel(db);
    const order = await orders.findById(orderId);
    if (!order || order.status === 'placed') return 'skipped';
    const user = (await users.findById(order.userId))!;
    if (await users.isDeleted(user.id)) return 'skipped';
    if (order.amoLeadId) {
      if (order.status !== 'cancelled' || order.amoStatusId === LOST_STATUS_ID) return 'skipped';
      await crm.client.updateLead(order.amoLeadId, { status_id: LOST_STATUS_ID });
      await crm.client.addNote(order.amoLeadId, `Заказ №${order.id} отменён клиентом на сайте`);
      await orders.setAmoStatus(order.id, LOST_STATUS_ID);
      return 'cancelled';
    }
    if (order.status === 'cancelled') return 'skipped';
    const link = await links.get(user.id);
    if (!link?.contactId) throw new RetryLater('the customer is not in amoCRM yet');
    const name = `Заказ №${order.id} — ${user.email}`;
    const existing = (await crm.client.searchLeads(`Заказ №${order.id}`)).find((l) => l.name === name);
    const now = await orderValues(order, user);
    if (existing) {
      await orderLinked(order, user.id, existing.id, now);
      return 'adopted';
    }
    const created = await crm.client.createLeadWithContact({
      name, price: now.price, custom_fields_values: await crm.fields.encode(now.values, { forCreate: true }), tags: leadTags(user, order),
      contact: { id: link.contactId },
    }, `order-${order.id}`);
    await orderLinked(order, user.id, created.leadId, now);
    return 'created';
  }

  /** Reads the account's pipelines again, so that every stage has its name. */
  async function refreshStages(): Promise<void> {
    const pipelines = await crm.client.pipelines();
    await createAmocrmStatusModel(db).replaceAll(pipelines.flatMap((p) => p._embedded.statuses.map((st) => ({ statusId: st.id, pipelineId: p.id, name: st.name, pipelineName: p.name }))));
  }

  /**
   * A lead as amoCRM has it now, applied to the local account: stage, sum (the lead's price, or the sum field),
   * and the preferences staff changed there. Only what differs from what this site last sent counts, so the
   * echo of the site's own writes changes nothing and starts no new sync.
   */
  async function applyLead(lead: AmoLead): Promise<'applied' | 'unchanged' | 'order' | 'unknown'> {
    if (!(await createAmocrmStatusModel(db).name(lead.status_id))) await refreshStages();
    const userId = await links.findUserByLead(lead.id);
    if (!userId) {
      const order = await createOrderModel(db).findByLead(lead.id);
      if (!order) return 'unknown';
      if (order.amoStatusId !== lead.status_id) await createOrderModel(db).setAmoStatus(order.id, lead.status_id);
      return 'order';
    }
    const [user, link] = [(await users.findById(userId))!, (await links.get(userId))!];
    const sent = (link.snapshot as Snapshot | null) ?? (await valuesOf(user));
    const seen = await crm.fields.decode(lead);
    const changes: Parameters<typeof users.applyCrmValues>[1] = {};
    if (lead.price !== sent.price && Number.isFinite(lead.price)) changes.accountSumKopecks = Math.round(lead.price * 100);
    else if (seen.sum !== undefined && Number(seen.sum) !== Number(sent.values.sum)) changes.accountSumKopecks = Math.round(Number(seen.sum) * 100);
    if (seen.bouquet !== undefined && seen.bouquet !== sent.values.bouquet) {
      const category = (await createBouquetCategoryModel(db).list()).find((c) => c.nameRu === seen.bouquet);
      if (category) changes.bouquet = category.code;
    }
    if (seen.address !== undefined && seen.address !== sent.values.address && String(seen.address).trim()) changes.address = String(seen.address).slice(0, 500);
    if (seen.deliveryDate !== undefined && seen.deliveryDate !== sent.values.deliveryDate && /^\d{4}-\d{2}-\d{2}$/.test(String(seen.deliveryDate))) changes.deliveryDate = String(seen.deliveryDate);
    if (seen.interval !== undefined && seen.interval !== sent.values.interval) {
      const interval = INTERVALS.find((i) => ru(`interval.${i}`) === seen.interval);
      if (interval) changes.interval = interval;
    }
    if (seen.wishes !== undefined && seen.wishes !== sent.values.wishes) changes.wishes = String(seen.wishes).slice(0, 2000);
    const stageChanged = link.statusId !== lead.status_id;
    if (!Object.keys(changes).length && !stageChanged) return 'unchanged';
    await db.transaction(async (trx) => {
      await createUserModel(trx).applyCrmValues(userId, { ...changes, amoStatusId: lead.status_id, amoPipelineId: lead.pipeline_id });
      if (stageChanged) await recordLeadStage(trx, userId, link.statusId, lead); // the customer's timeline
      // Remember the lead as amoCRM holds it now, so that only later changes made there count (and the echo of
      // this very change is recognised as nothing new).
      const after = await valuesOf((await createUserModel(trx).findById(userId))!, trx);
      const held: Snapshot = { email: sent.email, price: lead.price, cancelled: sent.cancelled ?? after.cancelled, values: { ...after.values, ...seen } };
      await createCrmLinkModel(trx).setSnapshot(userId, held);
    });
    return 'applied';
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
        case 'not_found': // e.g. the lead was deleted in amoCRM: retrying cannot help, staff decides
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

  const webhooks = createWebhookIntake(db, { task: LEAD_CHANGED, queue: CRM_QUEUE, maxAttempts: 25, keyPrefix: 'amocrm:lead:' });

  return {
    /** Adds the sync job inside the caller's transaction; pending syncs of one customer collapse into one. */
    async customerChanged(trx: Knex | Knex.Transaction, userId: number): Promise<void> {
      await jobs.add(trx, SYNC_CUSTOMER, { userId }, { queue: CRM_QUEUE, jobKey: `amocrm:customer:${userId}`, maxAttempts: 25 });
    },
    syncCustomer,
    syncOrder,

    /**
     * Cron: what the lead shows changes with the calendar too — a delivery date that has passed, a pause that has
     * begun or ended. Queues the sync of each customer whose last sent values are out of date that way (the
     * sync then sends the next real delivery and the status of today). Returns how many were queued.
     */
    async refreshDue(): Promise<number> {
      const today = dateIn(new Date(), timeZone);
      const ids: number[] = (await db('users').where({ role: 'customer' }).whereNotNull('amo_lead_id').whereNotNull('amo_snapshot')
        .andWhere((q) => q
          .whereRaw("coalesce(amo_snapshot #>> '{values,deliveryDate}', '') between '0000' and ?", [addDays(today, -1)])
          .orWhereRaw("paused_from <= ? and amo_snapshot #>> '{values,subscriptionStatus}' like 'активна, пауза%'", [today])
          .orWhereRaw("paused_until <= ? and amo_snapshot #>> '{values,subscriptionStatus}' like 'пауза до%'", [today]))
        .orderBy('id').limit(5000).pluck('id')).map(Number);
      await db.transaction(async (trx) => {
        for (const id of ids) await jobs.add(trx, SYNC_CUSTOMER, { userId: id }, { queue: CRM_QUEUE, jobKey: `amocrm:customer:${id}`, maxAttempts: 25 });
      });
      return ids.length;
    },

    /** For `amocrm:fields`: reads the pipelines and tells whether AMOCRM_CANCEL_STAGE names a stage (null: fine or not set). */
    async cancelStageProblem(): Promise<string | null> {
      if (!cancelStage) return null;
      await refreshStages();
      if ((await createAmocrmStatusModel(db).findByName(cancelStage)).length) return null;
      return `AMOCRM_CANCEL_STAGE: no stage named «${cancelStage}» in the amoCRM pipelines`;
    },
    runJob,

    /** The customer an order belongs to (for the sync log), or null when the order is gone. */
    async orderOwner(orderId: number): Promise<number | null> {
      return (await createOrderModel(db).findById(orderId))?.userId ?? null;
    },

    async orderChanged(trx: Knex | Knex.Transaction, orderId: number): Promise<void> {
      await jobs.add(trx, SYNC_ORDER, { orderId }, { queue: CRM_QUEUE, jobKey: `amocrm:order:${orderId}`, maxAttempts: 25 });
    },

    /**
     * A webhook delivery: stored raw, deduplicated by its request id, one job per lead; nothing else happens
     * before the answer. Null when the body is not an amoCRM lead webhook.
     */
    async receiveWebhook(requestId: string | null, raw: string, body: unknown): Promise<'queued' | 'duplicate' | null> {
      const parsed = parseWebhook(body);
      if (!parsed) return null;
      return (await webhooks.receive({ requestId, raw, leadIds: parsed.leadIds })) ? 'queued' : 'duplicate';
    },

    /** Job: re-reads the lead (the webhook's own values are not trusted) and applies it. */
    async leadChanged(leadId: number): Promise<string> {
      const lead = await crm.client.lead(leadId);
      if (!lead) return 'skipped';
      return applyLead(lead);
    },

    /** Cron: leads changed in amoCRM since the last run, so that a webhook lost in an outage is still applied. */
    async reconcile(): Promise<string> {
      const row = await db('amocrm_connection').where({ id: 1 }).first('reconciled_until');
      const startedAt = new Date();
      const from = Math.floor(((row?.reconciled_until as Date | null)?.getTime() ?? Date.now() - 86_400_000) / 1000) - 60;
      let applied = 0;
      for (let page = 1; page <= 40; page++) {
        const { leads, more } = await crm.client.leadsUpdatedSince(from, page);
        for (const lead of leads) if ((await applyLead(lead)) === 'applied') applied++;
        if (!more) break;
      }
      await db('amocrm_connection').where({ id: 1 }).update({ reconciled_until: startedAt });
      return `reconciled, ${applied} applied`;
    },
  };
}

export type CrmSyncService = ReturnType<typeof createCrmSyncService>;
