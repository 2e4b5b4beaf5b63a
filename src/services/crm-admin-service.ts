// What staff can see and do about the amoCRM mirror: the connection, the field map, the queue, retries.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { AmoError } from '../crm/amocrm-client.js';
import type { Crm } from '../crm/crm.js';
import { FIELD_ROLES, type FieldNames } from '../crm/field-map.js';
import { createJobModel } from '../models/job-model.js';
import { createSyncLogModel } from '../models/sync-log-model.js';
import { translator, type Language } from '../i18n/i18n.js';
import { CRM_QUEUE } from './crm-sync/queue.js';
import { crmTask, crmText } from './crm-text.js';

export function createCrmAdminService({ db, crm, cancelStageProblem, names }: {
  db: Knex; crm: Crm; cancelStageProblem: () => Promise<string | null>; names: FieldNames;
}) {
  const queue = createJobModel(db);
  const log = createSyncLogModel(db);

  return {
    /** The page's view-model; the sync's own messages and task names in the staff's language. */
    async overview(language: Language) {
      const t = translator(language);
      const stored = await crm.fields.stored();
      const mapped = new Map(stored.map((f) => [f.role, f]));
      const connection = await crm.connection.status();
      const told = <E extends { task: string; message: string | null }>(e: E) => ({ ...e, task: crmTask(e.task, t), message: crmText(e.message, t) });
      return {
        connection: { ...connection, reason: crmText(connection.reason, t) },
        canConnect: crm.connection.mode === 'oauth',
        fields: FIELD_ROLES.map((role) => ({ role, name: names[role], fieldId: mapped.get(role)?.fieldId ?? null, type: mapped.get(role)?.type ?? null })),
        queue: await queue.counts(CRM_QUEUE),
        jobs: (await queue.inQueue(CRM_QUEUE, 50)).map((j) => ({ ...j, task: crmTask(j.task, t), lastError: crmText(j.lastError, t) })),
        failures: (await log.failures(20)).map(told),
        recent: (await log.recent(20)).map(told),
      };
    },

    /** The consent-page URL and the state to check on return. */
    authorization(): { url: string; state: string } {
      const state = randomBytes(16).toString('base64url');
      return { url: crm.consentPageUrl(state), state };
    },

    /** The consent page sent the browser back: check the state, trade the code for tokens, retry waiting jobs. */
    async completeAuthorization(expectedState: string | undefined, query: { code?: unknown; state?: unknown; referer?: unknown; error?: unknown }):
      Promise<{ ok: true } | { error: 'state' | 'declined' | 'exchange'; detail?: string }> {
      const state = typeof query.state === 'string' ? query.state : '';
      if (!expectedState || state.length !== expectedState.length || !timingSafeEqual(Buffer.from(state), Buffer.from(expectedState))) return { error: 'state' };
      if (query.error) return { error: 'declined' };
      if (typeof query.code !== 'string' || !query.code) return { error: 'exchange', detail: 'no code' };
      const referer = typeof query.referer === 'string' && /^[a-z0-9.-]+(:\d+)?$/i.test(query.referer) ? query.referer : null;
      try {
        await crm.connection.connect(query.code, referer);
      } catch (error) {
        if (error instanceof AmoError) return { error: 'exchange', detail: error.details.hint ?? error.message };
        throw error;
      }
      await queue.retryNow(await queue.idsInQueue(CRM_QUEUE));
      return { ok: true };
    },

    /** Subscribes the site's webhook URL to lead stage and lead changes (once). */
    registerWebhook: (url: string) => crm.leads.subscribeWebhook(url),

    async createMissingFields() {
      return crm.fields.createMissing();
    },

    /** Whether the configured cancellation stage exists in amoCRM (null: yes, or none configured). */
    cancelStageProblem,

    /** After a 402/403 pause: send again, and run the waiting jobs now. */
    async resume(): Promise<void> {
      await crm.connection.resume();
      await queue.retryNow(await queue.idsInQueue(CRM_QUEUE));
    },

    async retryJob(jobId: string): Promise<boolean> {
      return (await queue.retryNow([jobId])) > 0;
    },
  };
}

export type CrmAdminService = ReturnType<typeof createCrmAdminService>;
