// The cached amoCRM history of a customer's lead: one row per customer, replaced whole.
import type { Knex } from 'knex';
import type { HistoryEntry } from '../crm/lead-history.js';

export type LeadHistory = { leadId: number; entries: HistoryEntry[]; fetchedAt: Date };

type Row = { lead_id: string | number; entries: { kind: HistoryEntry['kind']; at: string; author?: string; text: string }[]; fetched_at: Date };

export function createLeadHistoryModel(db: Knex | Knex.Transaction) {
  return {
    async find(userId: number): Promise<LeadHistory | null> {
      const row: Row | undefined = await db('amocrm_lead_history').where({ user_id: userId }).first('lead_id', 'entries', 'fetched_at');
      if (!row) return null;
      return {
        leadId: Number(row.lead_id), fetchedAt: row.fetched_at,
        entries: row.entries.map((e) => ({ kind: e.kind, at: new Date(e.at), ...(e.author ? { author: e.author } : {}), text: e.text })),
      };
    },

    /**
     * Replaces the customer's history in one statement, only while the customer is not deleted and the lead is still
     * theirs (a job that read amoCRM while the account was being deleted stores nothing). False when nothing was stored.
     */
    async replace(userId: number, leadId: number, entries: HistoryEntry[]): Promise<boolean> {
      const { rowCount } = await db.raw(`
        insert into amocrm_lead_history (user_id, lead_id, entries, fetched_at)
        select id, ?, ?::jsonb, now() from users where id = ? and deleted_at is null and amo_lead_id = ?
        on conflict (user_id) do update set lead_id = excluded.lead_id, entries = excluded.entries, fetched_at = excluded.fetched_at`,
      [leadId, JSON.stringify(entries), userId, leadId]);
      return rowCount === 1;
    },

    async delete(userId: number): Promise<void> {
      await db('amocrm_lead_history').where({ user_id: userId }).delete();
    },
  };
}
