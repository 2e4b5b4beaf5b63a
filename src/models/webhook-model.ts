import type { Knex } from 'knex';
import { isDatabaseUnavailable } from '../database-errors.js';

export type WebhookDelivery = { requestId: string | null; raw: string; leadIds: number[] };
export type LeadJob = { task: string; queue: string; maxAttempts: number; keyPrefix: string };

export function createWebhookModel(db: Knex | Knex.Transaction) {
  return {
    /**
     * Stores the deliveries and queues one job per lead they name in a single statement (atomic, one round trip
     * and one commit for all of them). For each delivery: stored, or false when its X-Amocrm-Requestid was stored
     * before (or earlier in the same list).
     */
    async storeAndQueue(deliveries: WebhookDelivery[], job: LeadJob): Promise<boolean[]> {
      const first = new Map<string, number>();
      const unique = deliveries.filter((d, i) => d.requestId === null || (!first.has(d.requestId) && first.set(d.requestId, i)));
      const { rows } = await db.raw(
        `with input as (
           select i.request_id, i.raw, i.lead_ids::bigint[] as lead_ids, i.n
           from unnest(?::text[], ?::text[], ?::text[]) with ordinality as i(request_id, raw, lead_ids, n)),
         stored as (
           insert into amocrm_webhooks (request_id, raw, lead_ids, processed_at)
           select request_id, raw, lead_ids, now() from input order by n
           on conflict (request_id) do nothing returning request_id, lead_ids),
         queued as (
           select count(*) as jobs from graphile_worker.add_jobs((
             select array_agg((?::text, json_build_object('leadId', lead_id), ?::text, null::timestamptz, ?::smallint,
                      ?::text || lead_id::text, null::smallint, null::text[])::graphile_worker.job_spec)
             from (select distinct unnest(stored.lead_ids) as lead_id from stored) as leads)))
         select (select jobs from queued) as jobs,
           array(select n from input where request_id is null or request_id in (select request_id from stored)) as stored`,
        [unique.map((d) => d.requestId), unique.map((d) => d.raw), unique.map((d) => `{${d.leadIds.join(',')}}`),
          job.task, job.queue, job.maxAttempts, job.keyPrefix] as Knex.RawBinding[],
      );
      const stored = new Set((rows[0].stored as (string | number)[]).map((n) => unique[Number(n) - 1]));
      return deliveries.map((d) => stored.has(d));
    },
  };
}

type Waiting = WebhookDelivery & { resolve: (stored: boolean) => void; reject: (error: unknown) => void };

/**
 * Webhooks arriving while a statement is under way wait for it and go together in the next one: under a burst,
 * one commit holds many deliveries instead of each waiting its turn for its own (graphile-worker's add_job
 * commits one after another). Each is answered only once its own statement has committed, so a 200 still means
 * stored and queued. A failed batch is retried delivery by delivery, so that one bad delivery fails alone (unless
 * the database is unavailable: then all fail at once). A batch holds at most 100 deliveries and about 1 MB of
 * bodies (one body may be larger: it then goes alone).
 */
export function createWebhookIntake(db: Knex, job: LeadJob, limits = { deliveries: 100, bytes: 1 << 20 }) {
  const model = createWebhookModel(db);
  const waiting: Waiting[] = [];
  let flushing = false;

  async function store(batch: Waiting[]): Promise<void> {
    try {
      const stored = await model.storeAndQueue(batch, job);
      batch.forEach((w, i) => w.resolve(stored[i]!));
    } catch (error) {
      // Without a database every retry would wait its own connection timeout: all fail now (503, sent again).
      if (batch.length === 1 || isDatabaseUnavailable(error)) return batch.forEach((w) => w.reject(error));
      for (const w of batch) await store([w]);
    }
  }

  async function flush(): Promise<void> {
    flushing = true;
    while (waiting.length) {
      let n = 0;
      let bytes = 0;
      while (n < waiting.length && n < limits.deliveries) {
        bytes += waiting[n]!.raw.length;
        if (n > 0 && bytes > limits.bytes) break;
        n++;
      }
      await store(waiting.splice(0, n));
    }
    flushing = false;
  }

  return {
    /** Resolves once stored and queued (true), or once found stored before (false). */
    receive(delivery: WebhookDelivery): Promise<boolean> {
      return new Promise((resolve, reject) => {
        waiting.push({ ...delivery, resolve, reject });
        if (!flushing) void flush();
      });
    },
  };
}
