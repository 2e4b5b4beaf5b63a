import type { Knex } from 'knex';

export function createWebhookModel(db: Knex | Knex.Transaction) {
  return {
    /**
     * Stores the delivery and queues one job per lead in a single statement (atomic, one round trip: amoCRM
     * waits at most 2 s, even when a burst arrives). Null when this X-Amocrm-Requestid was stored before.
     */
    async storeAndQueue(requestId: string | null, raw: string, leadIds: number[], job: { task: string; queue: string; maxAttempts: number; keyPrefix: string }): Promise<number | null> {
      const { rows } = await db.raw(
        `with stored as (
           insert into amocrm_webhooks (request_id, raw, lead_ids, processed_at) values (?, ?, ?::bigint[], now())
           on conflict (request_id) do nothing returning id, lead_ids)
         select stored.id, count(graphile_worker.add_job(?, json_build_object('leadId', lead_id), queue_name => ?,
                  max_attempts => ?, job_key => ? || lead_id::text)) as queued
         from stored, unnest(stored.lead_ids) as lead_id group by stored.id`,
        [requestId, raw, leadIds, job.task, job.queue, job.maxAttempts, job.keyPrefix],
      );
      return rows[0] ? Number(rows[0].id) : null;
    },
  };
}
