// What comes back from amoCRM: webhook deliveries (stored and queued before the answer), the lead they name read
// again and applied to the local account, and the periodic reconciliation that catches a webhook lost in an outage.
import type { Knex } from 'knex';
import type { Crm } from '../../crm/crm.js';
import type { Lead } from '../../crm/leads.js';
import { parseWebhook } from '../../crm/webhook-parser.js';
import { translator } from '../../i18n/i18n.js';
import { createAmocrmConnectionModel } from '../../models/amocrm-connection-model.js';
import { createAmocrmStatusModel } from '../../models/amocrm-status-model.js';
import { createBouquetCategoryModel } from '../../models/bouquet-category-model.js';
import { createCrmLinkModel } from '../../models/crm-link-model.js';
import { createOrderModel } from '../../models/order-model.js';
import { createUserModel } from '../../models/user-model.js';
import { createWebhookIntake } from '../../models/webhook-model.js';
import { recordLeadStage } from '../account-timeline-service.js';
import { INTERVALS } from '../catalog-service.js';
import type { LeadValuesBuilder, Snapshot } from './lead-values.js';
import { CRM_MAX_ATTEMPTS, CRM_QUEUE, LEAD_CHANGED } from './queue.js';

export type LeadOutcome = 'applied' | 'unchanged' | 'order' | 'unknown';

export function createLeadUpdates({ db, crm, leadValues }: { db: Knex; crm: Crm; leadValues: LeadValuesBuilder }) {
  const users = createUserModel(db);
  const links = createCrmLinkModel(db);
  const ru = translator('ru');
  const webhooks = createWebhookIntake(db, { task: LEAD_CHANGED, queue: CRM_QUEUE, maxAttempts: CRM_MAX_ATTEMPTS, keyPrefix: 'amocrm:lead:' });

  /**
   * A lead as amoCRM has it now, applied to the local account: stage, sum (the lead's price, or the sum field),
   * and the preferences staff changed there. Only what differs from what this site last sent counts, so the
   * echo of the site's own writes changes nothing and starts no new sync.
   */
  async function applyLead(lead: Lead): Promise<LeadOutcome> {
    if (!(await createAmocrmStatusModel(db).name(lead.stageId))) await crm.leads.refreshStages();
    const userId = await links.findUserByLead(lead.id);
    if (!userId) {
      const order = await createOrderModel(db).findByLead(lead.id);
      if (!order) return 'unknown';
      if (order.amoStatusId !== lead.stageId) await createOrderModel(db).setAmoStatus(order.id, lead.stageId);
      return 'order';
    }
    const [user, link] = [(await users.findById(userId))!, (await links.get(userId))!];
    const sent = (link.snapshot as Snapshot | null) ?? (await leadValues.customer(user));
    const seen = await lead.values();
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
    const stageChanged = link.statusId !== lead.stageId;
    if (!Object.keys(changes).length && !stageChanged) return 'unchanged';
    await db.transaction(async (trx) => {
      await createUserModel(trx).applyCrmValues(userId, { ...changes, amoStatusId: lead.stageId, amoPipelineId: lead.pipelineId });
      if (stageChanged) await recordLeadStage(trx, userId, link.statusId, lead); // the customer's timeline
      // Remember the lead as amoCRM holds it now, so that only later changes made there count (and the echo of
      // this very change is recognised as nothing new).
      const after = await leadValues.customer((await createUserModel(trx).findById(userId))!, trx);
      const held: Snapshot = { email: sent.email, price: lead.price, cancelled: sent.cancelled ?? after.cancelled, values: { ...after.values, ...seen } };
      await createCrmLinkModel(trx).setSnapshot(userId, held);
    });
    return 'applied';
  }

  return {
    applyLead,

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
      const lead = await crm.leads.lead(leadId);
      if (!lead) return 'skipped';
      return applyLead(lead);
    },

    /** Cron: leads changed in amoCRM since the last run, so that a webhook lost in an outage is still applied. */
    async reconcile(): Promise<string> {
      const cursor = createAmocrmConnectionModel(db);
      const until = await cursor.reconciledUntil();
      const startedAt = new Date();
      const from = Math.floor((until?.getTime() ?? Date.now() - 86_400_000) / 1000) - 60;
      let applied = 0;
      for (let page = 1; page <= 40; page++) {
        const { leads, more } = await crm.leads.leadsUpdatedSince(from, page);
        for (const lead of leads) if ((await applyLead(lead)) === 'applied') applied++;
        if (!more) break;
      }
      await cursor.setReconciledUntil(startedAt);
      return `reconciled, ${applied} applied`;
    },
  };
}

export type LeadUpdates = ReturnType<typeof createLeadUpdates>;
