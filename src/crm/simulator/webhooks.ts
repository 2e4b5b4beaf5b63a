// Account webhooks: the subscriptions managed through /api/v4/webhooks, and their delivery the way amoCRM
// sends them — a form-encoded POST in PHP bracket notation, amoCRM's headers, a 2-second wait, no
// signature — with every delivery recorded for tests. Disabled after >100 failures in 2 hours.
import { randomUUID } from 'node:crypto';
import type { FieldStore, StoredFieldValues } from './custom-fields.js';
import { invalid, type ValidationError } from './problems.js';
import type { Change, Contact, Lead } from './state.js';

export const WEBHOOK_EVENTS = new Set([
  'add_lead', 'update_lead', 'delete_lead', 'restore_lead', 'status_lead', 'responsible_lead', 'note_lead',
  'add_contact', 'update_contact', 'delete_contact', 'restore_contact', 'responsible_contact', 'note_contact',
  'add_company', 'update_company', 'delete_company', 'restore_company', 'responsible_company', 'note_company',
  'add_customer', 'update_customer', 'delete_customer', 'responsible_customer', 'note_customer',
  'add_task', 'update_task', 'delete_task', 'responsible_task', 'add_unsorted', 'delete_unsorted', 'add_talk', 'update_talk', 'add_message',
]);
const WAIT_MS = 2000;
const DISABLE_AFTER_FAILURES = 100;
const FAILURE_WINDOW_MS = 2 * 3600 * 1000;

export type Webhook = {
  id: number;
  destination: string;
  settings: string[];
  sort: number;
  disabled: boolean;
  created_by: number;
  created_at: number;
  updated_at: number;
  failures: number[];
};
export type WebhookDelivery = {
  index: number;
  at: number;
  destination: string;
  event: string;
  requestId: string;
  body: string;
  /** The receiver's HTTP status; null when it did not answer within 2 s or could not be reached. */
  status: number | null;
  ok: boolean;
  durationMs: number | null;
  error: string | null;
  pending: boolean;
  replayOf: number | null;
};

type Pair = [string, string];

export function createWebhooks(deps: {
  accountId: number;
  subdomain: string;
  fields: FieldStore;
  accountUrl: () => string;
  now: () => number;
  userId: number;
}) {
  let webhooks: Webhook[] = [];
  let deliveries: WebhookDelivery[] = [];
  let nextId = 1;
  const inFlight = new Set<Promise<unknown>>();
  const aborts = new Set<AbortController>();

  function reset(): void {
    webhooks = [];
    deliveries = [];
    nextId = 1;
  }

  /** POST /api/v4/webhooks: subscribes (or re-subscribes and re-enables) a destination. */
  function subscribe(raw: Record<string, unknown>): { webhook: Webhook } | { errors: ValidationError[] } {
    const errors: ValidationError[] = [];
    let destination = '';
    if (typeof raw.destination !== 'string' || !raw.destination) errors.push(invalid.missing('destination'));
    else {
      try {
        const url = new URL(raw.destination);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
        destination = raw.destination;
      } catch {
        errors.push(invalid.type('destination', 'url'));
      }
    }
    if (!Array.isArray(raw.settings) || raw.settings.length === 0) errors.push(invalid.missing('settings'));
    else raw.settings.forEach((s, i) => { if (typeof s !== 'string' || !WEBHOOK_EVENTS.has(s)) errors.push(invalid.choice(`settings.${i}`)); });
    if (raw.sort !== undefined && !Number.isInteger(raw.sort)) errors.push(invalid.type('sort', 'int'));
    if (errors.length) return { errors };
    const now = Math.floor(deps.now() / 1000);
    const settings = [...new Set(raw.settings as string[])];
    const existing = webhooks.find((w) => w.destination === destination);
    if (existing) {
      Object.assign(existing, { settings, sort: (raw.sort as number | undefined) ?? existing.sort, disabled: false, updated_at: now, failures: [] });
      return { webhook: existing };
    }
    const webhook: Webhook = {
      id: nextId++, destination, settings, sort: (raw.sort as number | undefined) ?? 1, disabled: false,
      created_by: deps.userId, created_at: now, updated_at: now, failures: [],
    };
    webhooks.push(webhook);
    return { webhook };
  }

  function unsubscribe(destination: unknown): boolean {
    const before = webhooks.length;
    webhooks = webhooks.filter((w) => w.destination !== destination);
    return webhooks.length !== before;
  }

  function render(webhook: Webhook) {
    const { failures: _failures, ...rest } = webhook;
    return { ...rest, account_id: deps.accountId };
  }

  // ---- payloads -----------------------------------------------------------------------------------------

  function customFieldPairs(prefix: string, values: StoredFieldValues[], entity: 'leads' | 'contacts'): Pair[] {
    const pairs: Pair[] = [];
    values.forEach((fv, i) => {
      const field = deps.fields.byId(entity, fv.field_id);
      const p = `${prefix}[custom_fields][${i}]`;
      pairs.push([`${p}[id]`, String(fv.field_id)], [`${p}[name]`, field?.name ?? '']);
      if (field?.code) pairs.push([`${p}[code]`, field.code]);
      const isDate = field?.type === 'date' || field?.type === 'date_time' || field?.type === 'birthday';
      fv.values.forEach((v, j) => {
        if (isDate) return pairs.push([`${p}[values][${j}]`, String(v.value)]);
        pairs.push([`${p}[values][${j}][value]`, String(v.value)]);
        if (v.enum_id !== undefined) pairs.push([`${p}[values][${j}][enum]`, String(v.enum_id)]);
      });
    });
    return pairs;
  }

  function accountPairs(): Pair[] {
    return [['account[subdomain]', deps.subdomain], ['account[id]', String(deps.accountId)], ['account[_links][self]', deps.accountUrl()]];
  }

  function leadPairs(section: 'add' | 'update' | 'status', lead: Lead, oldStatus: number, oldPipeline: number): Pair[] {
    const p = `leads[${section}][0]`;
    const pairs: Pair[] = [
      [`${p}[id]`, String(lead.id)], [`${p}[name]`, lead.name], [`${p}[status_id]`, String(lead.status_id)],
    ];
    if (section !== 'add') pairs.push([`${p}[old_status_id]`, String(oldStatus)]);
    pairs.push([`${p}[price]`, String(lead.price)], [`${p}[responsible_user_id]`, String(lead.responsible_user_id)],
      [`${p}[last_modified]`, String(lead.updated_at)], [`${p}[modified_user_id]`, String(lead.updated_by)],
      [`${p}[created_user_id]`, String(lead.created_by)], [`${p}[date_create]`, String(lead.created_at)],
      [`${p}[pipeline_id]`, String(lead.pipeline_id)]);
    if (section === 'status') pairs.push([`${p}[old_pipeline_id]`, String(oldPipeline)]);
    lead.tags.forEach((t, i) => pairs.push([`${p}[tags][${i}][id]`, String(t.id)], [`${p}[tags][${i}][name]`, t.name]));
    pairs.push([`${p}[account_id]`, String(deps.accountId)]);
    pairs.push(...customFieldPairs(p, lead.custom_fields, 'leads'));
    pairs.push([`${p}[created_at]`, String(lead.created_at)], [`${p}[updated_at]`, String(lead.updated_at)]);
    return pairs;
  }

  function contactPairs(section: 'add' | 'update', contact: Contact): Pair[] {
    const p = `contacts[${section}][0]`;
    const pairs: Pair[] = [
      [`${p}[id]`, String(contact.id)], [`${p}[name]`, contact.name], [`${p}[first_name]`, contact.first_name], [`${p}[last_name]`, contact.last_name],
      [`${p}[responsible_user_id]`, String(contact.responsible_user_id)], [`${p}[date_create]`, String(contact.created_at)],
      [`${p}[last_modified]`, String(contact.updated_at)], [`${p}[created_user_id]`, String(contact.created_by)],
      [`${p}[modified_user_id]`, String(contact.updated_by)], [`${p}[account_id]`, String(deps.accountId)],
    ];
    pairs.push(...customFieldPairs(p, contact.custom_fields, 'contacts'));
    pairs.push([`${p}[type]`, 'contact'], [`${p}[created_at]`, String(contact.created_at)], [`${p}[updated_at]`, String(contact.updated_at)]);
    return pairs;
  }

  /** The deliveries one change produces: event name and form body (a stage change gives status + update). */
  function payloads(change: Change): { event: string; body: string }[] {
    const encode = (pairs: Pair[]) => new URLSearchParams([...accountPairs(), ...pairs]).toString();
    if (change.entity === 'contact') {
      return [{ event: `${change.action}_contact`, body: encode(contactPairs(change.action, change.contact)) }];
    }
    const { lead, old_status_id: oldStatus, old_pipeline_id: oldPipeline } = change;
    if (change.action === 'add') return [{ event: 'add_lead', body: encode(leadPairs('add', lead, oldStatus, oldPipeline)) }];
    const list = [{ event: 'update_lead', body: encode(leadPairs('update', lead, oldStatus, oldPipeline)) }];
    if (change.status_changed) list.unshift({ event: 'status_lead', body: encode(leadPairs('status', lead, oldStatus, oldPipeline)) });
    return list;
  }

  // ---- delivery -----------------------------------------------------------------------------------------

  async function send(delivery: WebhookDelivery): Promise<WebhookDelivery> {
    const controller = new AbortController();
    aborts.add(controller);
    const timer = setTimeout(() => controller.abort(), WAIT_MS);
    const started = performance.now();
    try {
      const res = await fetch(delivery.destination, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'User-Agent': 'amoCRM-Webhooks/3.0',
          'X-Amocrm-Requestid': delivery.requestId,
          'Accept-Encoding': 'gzip',
        },
        body: delivery.body,
        signal: controller.signal,
        redirect: 'manual',
      });
      await res.arrayBuffer();
      delivery.status = res.status;
      delivery.ok = res.status >= 100 && res.status <= 299;
    } catch (error) {
      delivery.status = null;
      delivery.ok = false;
      delivery.error = controller.signal.aborted ? `no answer within ${WAIT_MS} ms` : String((error as Error).cause ?? error);
    } finally {
      clearTimeout(timer);
      aborts.delete(controller);
    }
    delivery.durationMs = Math.round(performance.now() - started);
    delivery.pending = false;
    noteResult(delivery);
    return delivery;
  }

  function noteResult(delivery: WebhookDelivery): void {
    const webhook = webhooks.find((w) => w.destination === delivery.destination);
    if (!webhook) return;
    const now = deps.now();
    webhook.failures = webhook.failures.filter((t) => t > now - FAILURE_WINDOW_MS);
    if (delivery.ok) return;
    webhook.failures.push(now);
    if (webhook.failures.length > DISABLE_AFTER_FAILURES) webhook.disabled = true;
  }

  function start(destination: string, event: string, body: string, requestId: string, replayOf: number | null): Promise<WebhookDelivery> {
    const delivery: WebhookDelivery = {
      index: deliveries.length, at: deps.now(), destination, event, requestId, body,
      status: null, ok: false, durationMs: null, error: null, pending: true, replayOf,
    };
    deliveries.push(delivery);
    const promise = send(delivery);
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
    return promise;
  }

  /** Sends every change to every enabled subscriber of its event; resolves when all answered or timed out. */
  function dispatch(changes: Change[]): Promise<WebhookDelivery[]> {
    const started: Promise<WebhookDelivery>[] = [];
    for (const change of changes) {
      for (const { event, body } of payloads(change)) {
        for (const webhook of [...webhooks].sort((a, b) => a.sort - b.sort)) {
          if (webhook.disabled || !webhook.settings.includes(event)) continue;
          started.push(start(webhook.destination, event, body, randomUUID(), null));
        }
      }
    }
    return Promise.all(started);
  }

  return {
    reset,
    subscribe,
    unsubscribe,
    render,
    dispatch,
    list: () => webhooks.map(render),
    deliveries: () => deliveries.map((d) => ({ ...d })),
    /** Sends a recorded delivery again, byte for byte and with the same X-Amocrm-Requestid (a retry). */
    replay(index: number): Promise<WebhookDelivery> {
      const original = deliveries[index];
      if (!original) return Promise.reject(new RangeError(`no webhook delivery #${index}`));
      return start(original.destination, original.event, original.body, original.requestId, index);
    },
    /** Resolves once every delivery started so far has been answered or has timed out. */
    async settled(): Promise<void> {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
    abortAll(): void {
      for (const controller of aborts) controller.abort();
    },
  };
}
export type Webhooks = ReturnType<typeof createWebhooks>;
