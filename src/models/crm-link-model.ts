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
    /** The pipeline the customer's lead was last seen in (null: not known). */
    async pipelineId(userId: number): Promise<number | null> {
      const row = await db('users').where({ id: userId }).first('amo_pipeline_id');
      return row?.amo_pipeline_id == null ? null : Number(row.amo_pipeline_id);
    },

    /**
     * Customers whose lead shows what the calendar has made stale: a delivery date before today, a pause that has
     * begun or ended (dates as YYYY-MM-DD, shop time), by id, at most `limit`.
     */
    async staleByCalendar(today: string, yesterday: string, limit: number): Promise<number[]> {
      return (await db('users').where({ role: 'customer' }).whereNotNull('amo_lead_id').whereNotNull('amo_snapshot')
        .andWhere((q) => q
          .whereRaw("coalesce(amo_snapshot #>> '{values,deliveryDate}', '') between '0000' and ?", [yesterday])
          .orWhereRaw("paused_from <= ? and amo_snapshot #>> '{values,subscriptionStatus}' like 'активна, пауза%'", [today])
          .orWhereRaw("paused_until <= ? and amo_snapshot #>> '{values,subscriptionStatus}' like 'пауза до%'", [today]))
        .orderBy('id').limit(limit).pluck('id')).map(Number);
    },

    async findUserByLead(leadId: number): Promise<number | null> {
      const row = await db('users').where({ amo_lead_id: leadId }).first('id');
      return row ? Number(row.id) : null;
    },
  };
}
