// The test controls of the simulator (also served over HTTP by control-routes.ts): inspect what arrived,
// shape what the next requests get, and act as a manager editing a lead in amoCRM's interface.
import { isObject, renderField, type EntityType } from './custom-fields.js';
import type { AccountState, Faults, LostAnswer } from './faults.js';
import type { OAuth } from './oauth.js';
import type { Renderer } from './render.js';
import type { RequestLog } from './request-log.js';
import { STAFF_USER_ID, type AmoState } from './state.js';
import type { WebhookDelivery, Webhooks } from './webhooks.js';

/** A control used wrongly (unknown lead, invalid change); `details` carries amoCRM-style validation errors. */
export class SimulatorControlError extends Error {
  constructor(message: string, readonly details?: unknown) {
    super(message);
    this.name = 'SimulatorControlError';
  }
}

export type StaffChange = {
  status_id?: number;
  pipeline_id?: number;
  price?: number;
  /** The whole tag list of the lead (as a manager edits it). */
  _embedded?: { tags: { name: string }[] };
  name?: string;
  /** As on the API (field_id/field_code + values); a manager may also name the field (`field_name`). */
  custom_fields_values?: unknown[];
};

export type SimulatorConfig = {
  subdomain: string;
  accountId: number;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
};

export function createControls(deps: {
  config: SimulatorConfig;
  state: AmoState;
  oauth: OAuth;
  faults: Faults;
  webhooks: Webhooks;
  render: Renderer;
  requestLog: RequestLog;
  baseUrl: () => string;
}) {
  const { state, oauth, faults, webhooks, render } = deps;
  const apiDomain = () => new URL(deps.baseUrl()).host;

  /** A manager sees field names; resolve them to ids the way the interface does before validating. */
  function resolveNames(values: unknown[]): unknown[] {
    return values.map((entry) => {
      if (!isObject(entry) || entry.field_id !== undefined || entry.field_code !== undefined || typeof entry.field_name !== 'string') return entry;
      const field = state.fields.list('leads').find((f) => f.name === entry.field_name);
      return field ? { ...entry, field_id: field.id } : entry;
    });
  }

  return {
    config: (): SimulatorConfig => ({ ...deps.config }),

    issueAuthorizationCode: (): string => oauth.issueCode(),
    issueLongLivedToken: (ttlSeconds?: number): string => oauth.issueLongLivedToken(ttlSeconds, apiDomain()),
    expireAccessTokens: (): void => oauth.expireAccessTokens(),
    revokeRefreshTokens: (): void => oauth.revokeRefreshTokens(),

    setAccountState: (accountState: AccountState): void => faults.setAccountState(accountState),
    /** The next `count` API/token requests (to `path` only, when given) answer `status` (default amoCRM/nginx body for it, or `body`). */
    failNext: (count: number, status: number, body?: unknown, path?: string): void => faults.failNext(count, status, body, path),
    /** The next request that matches is carried out, but its answer is lost (the connection drops). */
    loseAnswer: (match?: LostAnswer): void => faults.loseAnswer(match),
    /** Delays every API/token response by `ms` (0 turns it off). */
    delay: (ms: number): void => faults.delay(ms),
    setRateLimit: (limit: { perSecond?: number; retryAfterSeconds?: number }): void => faults.setRateLimit(limit),

    requests: () => deps.requestLog.entries(),
    leads: () => state.allLeads().map((l) => render.lead(l, deps.baseUrl(), true)),
    contacts: () => state.allContacts().map((c) => render.contact(c, deps.baseUrl(), true)),
    customFields: (entity: EntityType = 'leads') => state.fields.list(entity).map((f) => renderField(f, deps.config.accountId, deps.baseUrl())),
    notes: () => state.allNotes().map((n) => render.note(n, deps.baseUrl())),
    events: () => state.allEvents().map((e) => render.event(e, deps.baseUrl())),
    webhooks: () => webhooks.list(),
    webhookDeliveries: (): WebhookDelivery[] => webhooks.deliveries(),
    /** Resolves when every webhook delivery started so far has been answered or timed out. */
    webhooksSettled: (): Promise<void> => webhooks.settled(),

    /**
     * A manager changes the lead in amoCRM: the lead is updated, events are recorded, and webhooks go out
     * to every subscriber. Resolves with the deliveries once each was answered (or timed out after 2 s).
     */
    async staffChangeLead(id: number, change: StaffChange): Promise<WebhookDelivery[]> {
      if (!state.lead(id)) throw new SimulatorControlError(`no lead ${id}`);
      const raw: Record<string, unknown> = { ...change, id };
      if (Array.isArray(change.custom_fields_values)) raw.custom_fields_values = resolveNames(change.custom_fields_values);
      const result = state.updateLeads([raw], STAFF_USER_ID);
      if (!result.ok) throw new SimulatorControlError(`invalid change of lead ${id}`, result.errors);
      return webhooks.dispatch(result.changes);
    },
    /** A manager adds a note to the lead in amoCRM's interface (a common note, a call, an SMS …); the event log records it. */
    staffAddNote(leadId: number, note: { note_type: string; params: Record<string, unknown> }) {
      if (!state.lead(leadId)) throw new SimulatorControlError(`no lead ${leadId}`);
      const result = state.addNotes([note], STAFF_USER_ID, leadId);
      if (!result.ok) throw new SimulatorControlError(`invalid note for lead ${leadId}`, result.errors);
      return render.note(result.items[0]!.note, deps.baseUrl());
    },
    /** Sends a recorded delivery again (same body, same X-Amocrm-Requestid), as amoCRM's retry would. */
    async replayWebhook(index: number): Promise<WebhookDelivery> {
      if (!webhooks.deliveries()[index]) throw new SimulatorControlError(`no webhook delivery #${index}`);
      return webhooks.replay(index);
    },

    /**
     * Back to a fresh account: data (fields re-seeded), webhooks, deliveries, request log and every knob.
     * Issued tokens stay valid — the integration remains installed — unless `tokens: true`.
     */
    reset(options: { tokens?: boolean } = {}): void {
      state.reset();
      webhooks.reset();
      faults.reset();
      deps.requestLog.clear();
      if (options.tokens) oauth.reset();
    },
  };
}
export type SimulatorControls = ReturnType<typeof createControls>;
