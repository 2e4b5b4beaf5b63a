import type { Knex } from 'knex';

export type CrmLink = { leadId: number | null; contactId: number | null; snapshot: Record<string, unknown> | null; syncedAt: Date | null; statusId: number | null };

/** The user's side of the amoCRM mirror: lead and contact ids, what was last sent, the lead's stage. */
export function createCrmLinkModel(db: Knex | Knex.Transaction) {
  return {
    async get(userId: number): Promise<CrmLink | null> {
      const row = await db('users').where({ id: userId }).first('amo_lead_id', 'amo_contact_id', 'amo_snapshot', 'amo_synced_at', 'amo_status_id');
      return row ? {
        leadId: row.amo_lead_id === null ? null : Number(row.amo_lead_id),
        contactId: row.amo_contact_id === null ? null : Number(row.amo_contact_id),
        snapshot: row.amo_snapshot, syncedAt: row.amo_synced_at,
        statusId: row.amo_status_id === null ? null : Number(row.amo_status_id),
      } : null;
    },
    async setIds(userId: number, leadId: number, contactId: number | null): Promise<void> {
      await db('users').where({ id: userId }).update({ amo_lead_id: leadId, amo_contact_id: contactId });
    },
    async setSnapshot(userId: number, snapshot: Record<string, unknown>): Promise<void> {
      await db('users').where({ id: userId }).update({ amo_snapshot: JSON.stringify(snapshot), amo_synced_at: db.fn.now() });
    },
    async findUserByLead(leadId: number): Promise<number | null> {
      const row = await db('users').where({ amo_lead_id: leadId }).first('id');
      return row ? Number(row.id) : null;
    },
  };
}
