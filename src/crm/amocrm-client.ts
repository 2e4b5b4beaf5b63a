// amoCRM REST API v4 over HTTP: transport only. Knows amoCRM's URLs and JSON; every failure becomes an
// AmoError with a kind that the sync service turns into a decision (retry, wait, stop, give up).
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';

export type AmoErrorKind =
  | 'rate_limited' // 429: wait retryAfter seconds
  | 'unavailable' // 5xx, timeout, connection refused: retry with backoff
  | 'invalid' // 400/422: the request is wrong; retrying will not help
  | 'unauthorized' // 401: refresh once, then re-authorize
  | 'payment_required' // 402: the account's subscription ended
  | 'forbidden' // 403: blocked; stop sending
  | 'not_found';

export type ValidationError = { code: string; path: string; detail: string };

export class AmoError extends Error {
  constructor(
    readonly kind: AmoErrorKind,
    message: string,
    readonly details: { status?: number; retryAfter?: number; validation?: ValidationError[]; hint?: string } = {},
  ) {
    super(message);
    this.name = 'AmoError';
  }
}

export type CustomFieldValue = { field_id?: number; field_code?: string; values: { value?: string | number | boolean; enum_id?: number; enum_code?: string }[] };
export type AmoCustomField = { id: number; name: string; type: string; code: string | null; enums: { id: number; value: string; sort?: number }[] | null };
export type AmoLead = {
  id: number; name: string; price: number; status_id: number; pipeline_id: number; updated_at: number;
  custom_fields_values: ({ field_id: number; field_name: string; values: { value: unknown; enum_id?: number }[] })[] | null;
  _embedded?: { contacts?: { id: number; is_main?: boolean }[] };
};
type AmoFieldValues = { field_id: number; field_code?: string | null; values: { value?: unknown }[] }[];
const normEmail = (email: string) => email.trim().toLowerCase();
export type AmoPipeline = { id: number; name: string; is_main: boolean; _embedded: { statuses: { id: number; name: string; sort: number; type: number }[] } };
export type AmoNote = { id: number; entity_id: number; note_type: string; created_at: number; params: { text?: string } | null };
/** A note or an event as the lead's history reads it (src/crm/lead-history.ts turns them into words). */
export type AmoHistoryNote = { id: number; note_type: string; created_at: number; created_by: number; params: Record<string, unknown> | null };
export type AmoEvent = { id: string; type: string; created_at: number; created_by: number; value_after: unknown[] | null; value_before: unknown[] | null };
export type TokenPair = { accessToken: string; refreshToken: string; expiresIn: number };

export type NewLead = {
  name: string; price: number; custom_fields_values: CustomFieldValue[];
  /** Tag names, sent on creation only: `_embedded.tags` on an update would replace the tags staff added. */
  tags?: string[];
  contact?: { name: string; custom_fields_values: CustomFieldValue[] } | { id: number };
};

const TIMEOUT_MS = 10_000;

/** What the client needs from the outside: where the account is, the current token, and a throttle slot. */
export type ClientDeps = {
  baseUrl: () => Promise<string>;
  accessToken: () => Promise<string>;
  /** Resolves when this process may send the next request (the installation-wide ≤ 7 requests/s). */
  slot: () => Promise<void>;
  /** After a 401: true when a new token was obtained and the request may be tried once more. */
  onUnauthorized: (failedToken: string) => Promise<boolean>;
};

function toAmoError(error: unknown, what: string): AmoError {
  if (error instanceof AmoError) return error;
  if (!axios.isAxiosError(error)) return new AmoError('unavailable', `${what}: ${String(error)}`);
  const response = error.response;
  if (!response) return new AmoError('unavailable', `${what}: ${error.code ?? 'network error'} ${error.message}`);
  const status = response.status;
  const body = (typeof response.data === 'object' && response.data) || {};
  const detail = (body as { detail?: string; hint?: string }).hint ?? (body as { detail?: string }).detail ?? '';
  if (status === 429) {
    const retryAfter = Number((body as { retry_after?: unknown }).retry_after ?? response.headers['retry-after'] ?? 1);
    return new AmoError('rate_limited', `${what}: 429 Too Many Requests`, { status, retryAfter: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 1 });
  }
  if (status === 400 || status === 422) {
    const groups = (body as { 'validation-errors'?: { errors: ValidationError[] }[] })['validation-errors'] ?? [];
    const validation = groups.flatMap((g) => g.errors ?? []);
    return new AmoError('invalid', `${what}: ${status} ${detail}`, { status, validation, hint: detail });
  }
  if (status === 401) return new AmoError('unauthorized', `${what}: 401 ${detail}`, { status, hint: detail });
  if (status === 402) return new AmoError('payment_required', `${what}: 402 Payment Required`, { status });
  if (status === 403) return new AmoError('forbidden', `${what}: 403 Forbidden`, { status });
  if (status === 404) return new AmoError('not_found', `${what}: 404`, { status });
  return new AmoError('unavailable', `${what}: ${status}`, { status });
}

export function createAmoClient(deps: ClientDeps) {
  const http: AxiosInstance = axios.create({
    timeout: TIMEOUT_MS,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    validateStatus: (s) => s >= 200 && s < 300,
    maxRedirects: 0,
    transitional: { clarifyTimeoutError: true },
  });

  async function call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, options: { params?: Record<string, unknown>; data?: unknown } = {}): Promise<T | null> {
    const what = `${method} ${path}`;
    for (let attempt = 1; ; attempt++) {
      const token = await deps.accessToken();
      try {
        await deps.slot();
        const response: AxiosResponse = await http.request({
          method, url: `${await deps.baseUrl()}${path}`, params: options.params, data: options.data,
          headers: { Authorization: `Bearer ${token}` },
        });
        return response.status === 204 || response.data === '' ? null : (response.data as T);
      } catch (error) {
        const failure = toAmoError(error, what);
        // One refresh and one more try on a 401 (SECURITY/AMOCRM: the official library does the same).
        if (failure.kind === 'unauthorized' && attempt === 1 && (await deps.onUnauthorized(token))) continue;
        throw failure;
      }
    }
  }

  /** A list read page by page (`_links.next`) until `max` items; a 204 ends it. */
  async function latest<T>(path: string, key: string, params: Record<string, unknown>, max: number, limit = 50): Promise<T[]> {
    const all: T[] = [];
    for (let page = 1; all.length < max; page++) {
      const body = await call<{ _embedded: Record<string, T[]>; _links?: { next?: unknown } }>('GET', path, { params: { ...params, page, limit } });
      const items = body?._embedded[key] ?? [];
      all.push(...items);
      if (!items.length || !body?._links?.next) break;
    }
    return all.slice(0, max);
  }

  return {
    async customFields(): Promise<AmoCustomField[]> {
      const all: AmoCustomField[] = [];
      for (let page = 1; page < 50; page++) {
        const body = await call<{ _embedded: { custom_fields: AmoCustomField[] }; _links?: { next?: unknown } }>('GET', '/api/v4/leads/custom_fields', { params: { page, limit: 250 } });
        if (!body) break;
        all.push(...body._embedded.custom_fields);
        if (!body._links?.next) break;
      }
      return all;
    },

    async createCustomFields(fields: { name: string; type: string; sort?: number; enums?: { value: string; sort: number }[] }[]): Promise<AmoCustomField[]> {
      const body = await call<{ _embedded: { custom_fields: AmoCustomField[] } }>('POST', '/api/v4/leads/custom_fields', { data: fields });
      return body?._embedded.custom_fields ?? [];
    },

    async pipelines(): Promise<AmoPipeline[]> {
      const body = await call<{ _embedded: { pipelines: AmoPipeline[] } }>('GET', '/api/v4/leads/pipelines');
      return body?._embedded.pipelines ?? [];
    },

    /** Leads whose filled fields contain the text (amoCRM's search is fuzzy: the caller checks for an exact match). */
    async searchLeads(query: string): Promise<AmoLead[]> {
      const body = await call<{ _embedded: { leads: AmoLead[] } }>('GET', '/api/v4/leads', { params: { query, with: 'contacts', limit: 50 } });
      return body?._embedded.leads ?? [];
    },

    /**
     * The oldest contact whose EMAIL field holds exactly this address (trimmed, any case), if any. amoCRM's `query`
     * matches substrings of names and of every field, so each hit is checked here.
     */
    async findContactIdByEmail(email: string): Promise<number | null> {
      const wanted = normEmail(email);
      if (!wanted) return null;
      const body = await call<{ _embedded: { contacts: { id: number; custom_fields_values: AmoFieldValues | null }[] } }>('GET', '/api/v4/contacts', { params: { query: wanted, limit: 50 } });
      const matches = (body?._embedded.contacts ?? []).filter((c) => (c.custom_fields_values ?? [])
        .some((cf) => cf.field_code === 'EMAIL' && cf.values.some((v) => typeof v.value === 'string' && normEmail(v.value) === wanted)));
      return matches.length ? Math.min(...matches.map((c) => Number(c.id))) : null;
    },

    async lead(id: number): Promise<AmoLead | null> {
      return call<AmoLead>('GET', `/api/v4/leads/${id}`, { params: { with: 'contacts' } });
    },

    async leadsUpdatedSince(fromUnix: number, page: number): Promise<{ leads: AmoLead[]; more: boolean }> {
      const body = await call<{ _embedded: { leads: AmoLead[] }; _links?: { next?: unknown } }>('GET', '/api/v4/leads', {
        params: { 'filter[updated_at][from]': fromUnix, with: 'contacts', limit: 250, page, 'order[updated_at]': 'asc' },
      });
      return { leads: body?._embedded.leads ?? [], more: Boolean(body?._links?.next) };
    },

    /** Creates the lead with a new contact (or links an existing one) in one request; returns both ids. */
    async createLeadWithContact(lead: NewLead, requestId: string): Promise<{ leadId: number; contactId: number | null }> {
      const contact = lead.contact;
      const item = {
        name: lead.name, price: lead.price, custom_fields_values: lead.custom_fields_values, request_id: requestId,
        _embedded: {
          ...(lead.tags?.length ? { tags: lead.tags.map((name) => ({ name })) } : {}),
          ...(contact ? { contacts: ['id' in contact ? { id: contact.id, is_main: true } : { first_name: contact.name, name: contact.name, custom_fields_values: contact.custom_fields_values }] } : {}),
        },
      };
      const body = await call<{ id: number; contact_id: number | null }[]>('POST', '/api/v4/leads/complex', { data: [item] });
      const created = body?.[0];
      if (!created?.id) throw new AmoError('unavailable', 'POST /api/v4/leads/complex: no lead id in the answer');
      return { leadId: created.id, contactId: created.contact_id ?? null };
    },

    async updateLead(id: number, changes: { name?: string; price?: number; status_id?: number; pipeline_id?: number; custom_fields_values?: CustomFieldValue[] }): Promise<void> {
      await call('PATCH', `/api/v4/leads/${id}`, { data: changes });
    },

    async updateContactEmail(id: number, email: string): Promise<void> {
      await call('PATCH', `/api/v4/contacts/${id}`, { data: { name: email, custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: email, enum_code: 'WORK' }] }] } });
    },

    /** The texts of the lead's notes (the first 250), e.g. to add a note only once. */
    async noteTexts(leadId: number): Promise<string[]> {
      const body = await call<{ _embedded: { notes: { params?: { text?: unknown } }[] } }>('GET', `/api/v4/leads/${leadId}/notes`, { params: { limit: 250 } });
      return (body?._embedded.notes ?? []).flatMap((n) => (typeof n.params?.text === 'string' ? [n.params.text] : []));
    },

    /** The contact's custom field values (null when it is gone). */
    async contact(id: number): Promise<{ id: number; custom_fields_values: CustomFieldValue[] | null } | null> {
      return call('GET', `/api/v4/contacts/${id}`);
    },

    /** Replaces the contact's name and clears the custom fields given, by field_id (`values: null`). */
    async eraseContact(id: number, name: string, fieldIds: number[]): Promise<void> {
      await call('PATCH', `/api/v4/contacts/${id}`, {
        data: { name, first_name: name, last_name: '', ...(fieldIds.length ? { custom_fields_values: fieldIds.map((fieldId) => ({ field_id: fieldId, values: null })) } : {}) },
      });
    },

    async addNote(leadId: number, text: string): Promise<void> {
      await call('POST', `/api/v4/leads/${leadId}/notes`, { data: [{ note_type: 'common', params: { text } }] });
    },

    /**
     * Adds common notes to one lead in one request; the note ids come back by request_id (amoCRM has no
     * idempotency key: a caller that may repeat the request after a lost answer must look first, see leadNotes).
     */
    async addNotes(leadId: number, notes: { text: string; requestId: string }[]): Promise<Map<string, number>> {
      const body = await call<{ _embedded: { notes: { id: number; request_id: string }[] } }>('POST', `/api/v4/leads/${leadId}/notes`, {
        data: notes.map((n) => ({ note_type: 'common', params: { text: n.text }, request_id: n.requestId })),
      });
      return new Map((body?._embedded.notes ?? []).map((n) => [String(n.request_id), Number(n.id)]));
    },

    /** Every note of a lead, oldest first (paged by 250). */
    async leadNotes(leadId: number): Promise<AmoNote[]> {
      const all: AmoNote[] = [];
      for (let page = 1; page <= 40; page++) {
        const body = await call<{ _embedded: { notes: AmoNote[] }; _links?: { next?: unknown } }>('GET', `/api/v4/leads/${leadId}/notes`, { params: { page, limit: 250 } });
        if (!body) break;
        all.push(...body._embedded.notes);
        if (!body._links?.next) break;
      }
      return all;
    },

    /** The lead's latest notes, newest first: pages of 50 (`_links.next`) until `max` are read; none → []. */
    async latestLeadNotes(leadId: number, max: number): Promise<AmoHistoryNote[]> {
      return latest<AmoHistoryNote>(`/api/v4/leads/${leadId}/notes`, 'notes', { 'order[id]': 'desc' }, max);
    },

    /** The lead's latest events (stage moves, field changes, calls …), newest first, the same way. */
    async latestLeadEvents(leadId: number, max: number): Promise<AmoEvent[]> {
      return latest<AmoEvent>('/api/v4/events', 'events', { 'filter[entity][]': 'lead', 'filter[entity_id][]': leadId }, max);
    },

    /** The account's users by id → name (authors of notes and events). */
    async userNames(): Promise<Map<number, string>> {
      const users = await latest<{ id: number; name: string }>('/api/v4/users', 'users', {}, 1000, 250);
      return new Map(users.map((u) => [Number(u.id), String(u.name)]));
    },

    async webhooks(): Promise<{ destination: string; settings: string[] }[]> {
      const body = await call<{ _embedded: { webhooks: { destination: string; settings: string[] }[] } }>('GET', '/api/v4/webhooks');
      return body?._embedded.webhooks ?? [];
    },

    async subscribeWebhook(destination: string, settings: string[]): Promise<void> {
      await call('POST', '/api/v4/webhooks', { data: { destination, settings, sort: 10 } });
    },

    async unsubscribeWebhook(destination: string): Promise<void> {
      await call('DELETE', '/api/v4/webhooks', { data: { destination } });
    },
  };
}

export type AmoClient = ReturnType<typeof createAmoClient>;

/** The OAuth 2.0 token endpoint (no bearer token, but the same throttle). */
export async function requestTokens(
  baseUrl: string,
  body: Record<string, string>,
  slot: () => Promise<void>,
): Promise<TokenPair> {
  try {
    await slot();
    const res = await axios.post(`${baseUrl}/oauth2/access_token`, body, { timeout: TIMEOUT_MS, headers: { 'Content-Type': 'application/json' } });
    const data = res.data as { access_token?: string; refresh_token?: string; expires_in?: number };
    if (!data.access_token || !data.refresh_token) throw new AmoError('unavailable', 'token endpoint answered without tokens');
    return { accessToken: data.access_token, refreshToken: data.refresh_token, expiresIn: Number(data.expires_in ?? 86400) };
  } catch (error) {
    throw toAmoError(error, 'POST /oauth2/access_token');
  }
}
