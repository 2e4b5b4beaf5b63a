// "История" on the customer's account: when the request came, the lead's stages (kept locally as webhooks and
// the reconciliation bring them), confirmed orders, reminders and notices the shop mailed. Everything comes from
// the local database; nothing of amoCRM's notes is ever stored or shown, and no mail's content.
import type { Knex } from 'knex';
import type { Lead } from '../crm/leads.js';
import { formatDate, formatMoney, translator, type Language, type MessageKey } from '../i18n/i18n.js';
import { createAccountTimelineModel, type TimelineRow } from '../models/account-timeline-model.js';
import { createLeadStageModel } from '../models/lead-stage-model.js';

/** Entries per page of /account/history. */
export const HISTORY_PAGE_SIZE = 50;
/** The notices the timeline names (sent_mails.kind); another kind shows as a mail sent. */
const MAIL_KINDS = new Set(['email-confirmation', 'email-change-requested', 'email-changed', 'password-changed', 'signup-attempt']);

/**
 * In the transaction that stores the lead's new stage: one timeline row, dated when amoCRM last changed the lead
 * (now if it does not say). The first stage a lead is seen in is the one it was created in.
 */
export async function recordLeadStage(trx: Knex.Transaction, userId: number, previousStatusId: number | null, lead: Pick<Lead, 'stageId' | 'pipelineId' | 'updatedAt'>): Promise<void> {
  await createLeadStageModel(trx).record({
    userId, statusId: lead.stageId, pipelineId: Number.isFinite(lead.pipelineId) ? lead.pipelineId : null, changedAt: lead.updatedAt ?? new Date(),
    source: previousStatusId === null ? 'lead_created' : 'amocrm',
  });
}

export type TimelineEntry = { at: Date; iso: string; text: string };

/** Timeline rows in the customer's language. */
export function timelineEntries(rows: TimelineRow[], language: Language): TimelineEntry[] {
  const t = translator(language);
  return rows.map((row) => {
    const text = (() => {
      switch (row.kind) {
        case 'received': return t('history.received');
        case 'stage': return row.stageName ? t('history.stage', { stage: row.stageName }) : t('history.stage_unknown');
        case 'order': return t('history.order_confirmed', { number: row.orderId, sum: formatMoney(row.priceKopecks, language) });
        case 'reminder': return t('history.reminder', { date: formatDate(row.deliveryDate, language) });
        case 'mail': return MAIL_KINDS.has(row.mail) ? t(`history.mail.${row.mail}` as MessageKey) : t('history.mail.other');
      }
    })();
    return { at: row.at, iso: row.at.toISOString(), text };
  });
}

export function createAccountTimelineService({ db }: { db: Knex }) {
  const rows = createAccountTimelineModel(db);
  return {
    /** One page of /account/history (1 is the newest); `older`: there is a next page. */
    async page(userId: number, language: Language, page: number): Promise<{ entries: TimelineEntry[]; page: number; older: boolean }> {
      const found = await rows.page(userId, HISTORY_PAGE_SIZE + 1, (page - 1) * HISTORY_PAGE_SIZE);
      return { entries: timelineEntries(found.slice(0, HISTORY_PAGE_SIZE), language), page, older: found.length > HISTORY_PAGE_SIZE };
    },
  };
}
