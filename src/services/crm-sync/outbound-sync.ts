// Mirroring customers and orders into amoCRM. Every change queues one job (queue.ts); the job sends the current
// state, so jobs are safe to repeat and to reorder. A customer is one lead with a linked contact; a confirmed
// order is a lead of its own on the same contact.
import type { Knex } from 'knex';
import type { Crm } from '../../crm/crm.js';
import type { FieldRole, LeadValues, Tracking } from '../../crm/field-map.js';
import { LOST_STAGE_ID, type Lead } from '../../crm/leads.js';
import type { Logger } from '../../logger.js';
import { createAmocrmStatusModel } from '../../models/amocrm-status-model.js';
import { createCrmLinkModel } from '../../models/crm-link-model.js';
import { createCrmNoteModel } from '../../models/crm-note-model.js';
import { createOrderModel, type Order } from '../../models/order-model.js';
import { createUserAttributionModel } from '../../models/user-attribution-model.js';
import { createUserModel, type User } from '../../models/user-model.js';
import { orderConfirmedNote, preferenceNotes } from '../crm-text.js';
import { dateIn } from '../deliveries.js';
import { RetryLater } from './job-policy.js';
import type { LeadOutcome } from './lead-updates.js';
import { addDays, type LeadValuesBuilder, type Snapshot } from './lead-values.js';
import { createLeadNotes } from './lead-notes.js';
import type { QueueCustomerSync } from './queue.js';

const leadName = (email: string) => `Цветочная подписка — ${email}`;
/** The tags a new lead gets: where it came from (the site, a referral link) and, for an order, a gift. */
const leadTags = (user: User, order?: Order) => [
  'сайт', ...(user.referredBy !== null ? ['реферал'] : []), ...(order?.gift ? ['подарок'] : []),
];

export function createOutboundSync({ db, crm, leadValues, applyLead, queueCustomerSync, logger, timeZone, cancelStage = null }: {
  db: Knex; crm: Crm; leadValues: LeadValuesBuilder; logger: Logger; timeZone: string;
  /** The first stage of a new lead, applied to the account (see lead-updates.ts). */
  applyLead: (lead: Lead) => Promise<LeadOutcome>;
  queueCustomerSync: QueueCustomerSync;
  /** The stage (by name) a customer's lead moves to when the subscription is cancelled; null: it stays. */
  cancelStage?: string | null;
}) {
  const users = createUserModel(db);
  const links = createCrmLinkModel(db);
  const notes = createLeadNotes({ db, crm });
  let stageWarned = false;

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
      await crm.leads.refreshStages();
      found = await statuses.findByName(cancelStage);
    }
    if (!found.length) {
      if (!stageWarned) logger.error({ stage: cancelStage }, 'AMOCRM_CANCEL_STAGE names no stage of the amoCRM pipelines; cancelled leads are not moved');
      stageWarned = true;
      return null;
    }
    const pipelineId = await links.pipelineId(userId);
    const stage = found.find((s) => s.pipelineId === pipelineId) ?? found[0]!;
    return { statusId: stage.statusId, pipelineId: stage.pipelineId };
  }

  /** What brought the customer (the first touch kept at sign-up), for amoCRM's tracking fields of a new lead. */
  const trackingOf = async (userId: number): Promise<Tracking> => (await createUserAttributionModel(db).firstTouch(userId)) ?? {};

  async function syncCustomer(userId: number): Promise<'created' | 'adopted' | 'updated' | 'unchanged' | 'skipped'> {
    const user = await users.findById(userId);
    // A deleted account sends nothing more (a job queued before the deletion included): amoCRM's copy is erased instead.
    if (!user || user.role !== 'customer' || (await users.isDeleted(userId))) return 'skipped';
    const link = (await links.get(userId))!;
    const now = await sendable(await leadValues.customer(user));

    let outcome: 'adopted' | 'updated' = 'updated';
    let { leadId, contactId } = link;
    let previous = link.snapshot as Snapshot | null;
    if (!leadId) {
      const existing = await crm.leads.findByReferralLink(String(now.values.referralLink));
      if (existing) {
        leadId = existing.id;
        contactId = existing.contactId;
        await links.setIds(userId, leadId, contactId);
        previous = null; // what it holds is unknown: send everything
        outcome = 'adopted';
      } else {
        // A customer already in amoCRM (an order by phone, say) keeps the one contact: the lead is linked to it.
        const knownContactId = await crm.leads.findContactIdByEmail(user.email);
        const created = await crm.leads.create({
          name: leadName(user.email), price: now.price, values: now.values, tracking: await trackingOf(userId), tags: leadTags(user),
          contact: knownContactId !== null ? { id: knownContactId } : { email: user.email }, requestId: `user-${user.id}`,
        });
        // Stored at once: a crash after this line cannot lead to a second lead.
        await links.setIds(userId, created.leadId, created.contactId);
        await links.setSnapshot(userId, now);
        const lead = await crm.leads.lead(created.leadId); // its first stage, for the dashboard
        if (lead) await applyLead(lead);
        await notes.send(userId, created.leadId); // changes made before the lead existed
        return 'created';
      }
    }

    const changed = (Object.keys(now.values) as FieldRole[]).filter((role) => previous?.values[role] !== now.values[role]);
    const priceChanged = previous?.price !== now.price;
    const emailChanged = previous?.email !== now.email;
    const stage = now.cancelled && previous?.cancelled !== true ? await cancelStageOf(userId) : null;
    if (changed.length || priceChanged || emailChanged || stage) {
      const values: LeadValues = Object.fromEntries(changed.map((role) => [role, now.values[role]]));
      await crm.leads.update(leadId, {
        ...(priceChanged ? { price: now.price } : {}),
        ...(emailChanged ? { name: leadName(now.email) } : {}),
        ...(changed.length ? { values } : {}),
        ...(stage ? { stage } : {}),
      });
      if (emailChanged && contactId) await crm.leads.updateContactEmail(contactId, now.email);
      // The notes of preference changes are decided with the snapshot they compare against: once each.
      await db.transaction(async (trx) => {
        await createCrmLinkModel(trx).setSnapshot(userId, now);
        if (previous) await createCrmNoteModel(trx).add(userId, preferenceNotes(previous.values, now.values));
      });
    } else if (previous && previous.cancelled !== now.cancelled) {
      await links.setSnapshot(userId, now); // cancelled without a stage to move to: nothing to send
    }
    const posted = await notes.send(userId, leadId);
    if (!changed.length && !priceChanged && !emailChanged && !stage && !posted) return 'unchanged';
    return outcome;
  }

  /** The order's lead is stored with the note for the customer's lead, once (the customer's sync job posts it). */
  async function orderLinked(order: Order, userId: number, leadId: number, sent: Snapshot): Promise<void> {
    await db.transaction(async (trx) => {
      await createOrderModel(trx).setLead(order.id, leadId);
      await createOrderModel(trx).setSynced(order.id, sent);
      await createCrmNoteModel(trx).add(userId, [orderConfirmedNote(order.id, order.priceKopecks)]);
      await queueCustomerSync(trx, userId);
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
      if (order.status !== 'cancelled' || order.amoStatusId === LOST_STAGE_ID) return 'skipped';
      await orders.setAmoStatus(order.id, await crm.leads.closeAsLost(order.amoLeadId, `Заказ №${order.id} отменён клиентом на сайте`));
      return 'cancelled';
    }
    if (order.status === 'cancelled') return 'skipped';
    const link = await links.get(user.id);
    if (!link?.contactId) throw new RetryLater('the customer is not in amoCRM yet');
    const name = `Заказ №${order.id} — ${user.email}`;
    const existing = await crm.leads.findIdByName(`Заказ №${order.id}`, name);
    const now = await leadValues.order(order, user);
    if (existing !== null) {
      await orderLinked(order, user.id, existing, now);
      return 'adopted';
    }
    const created = await crm.leads.create({
      name, price: now.price, values: now.values, tags: leadTags(user, order), contact: { id: link.contactId }, requestId: `order-${order.id}`,
    });
    await orderLinked(order, user.id, created.leadId, now);
    return 'created';
  }

  return {
    syncCustomer,
    syncOrder,

    /** The customer an order belongs to (for the sync log), or null when the order is gone. */
    async orderOwner(orderId: number): Promise<number | null> {
      return (await createOrderModel(db).findById(orderId))?.userId ?? null;
    },

    /**
     * Cron: what the lead shows changes with the calendar too — a delivery date that has passed, a pause that has
     * begun or ended. Queues the sync of each customer whose last sent values are out of date that way (the
     * sync then sends the next real delivery and the status of today). Returns how many were queued.
     */
    async refreshDue(): Promise<number> {
      const today = dateIn(new Date(), timeZone);
      const ids = await links.staleByCalendar(today, addDays(today, -1), 5000);
      await db.transaction(async (trx) => {
        for (const id of ids) await queueCustomerSync(trx, id);
      });
      return ids.length;
    },

    /** For `amocrm:fields`: reads the pipelines and tells whether AMOCRM_CANCEL_STAGE names a stage (null: fine or not set). */
    async cancelStageProblem(): Promise<string | null> {
      if (!cancelStage) return null;
      await crm.leads.refreshStages();
      if ((await createAmocrmStatusModel(db).findByName(cancelStage)).length) return null;
      return `AMOCRM_CANCEL_STAGE: no stage named «${cancelStage}» in the amoCRM pipelines`;
    },
  };
}
