// The simulated account in memory: leads, contacts, companies, notes and the event log, with amoCRM's
// write semantics (whole batch validated first, per-field custom value replacement, events per change).
// Speaks amoCRM's data shapes, never HTTP: the API routes render and send.
import {
  createFieldStore, FIELD_TYPE_IDS, isObject, mergeFieldValues, parseFieldValues, searchableText,
  type FieldValuesInput, type StoredFieldValues, type StoredValue,
} from './custom-fields.js';
import { createPipelines, firstWorkingStatus, LOST_STATUS_ID, WON_STATUS_ID, type Pipeline } from './pipelines.js';
import { invalid, type ValidationError, type ValidationGroup } from './problems.js';

/** The admin who installed the integration (API writes act as them) and a manager who edits leads by hand. */
export const API_USER_ID = 5550101;
export const STAFF_USER_ID = 5550102;
const USER_IDS = new Set([API_USER_ID, STAFF_USER_ID]);

export type Tag = { id: number; name: string };
export type LeadContact = { id: number; is_main: boolean };
export type Lead = {
  id: number;
  name: string;
  price: number;
  responsible_user_id: number;
  status_id: number;
  pipeline_id: number;
  loss_reason_id: number | null;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  closed_at: number | null;
  custom_fields: StoredFieldValues[];
  tags: Tag[];
  contacts: LeadContact[];
  company_id: number | null;
};
export type Contact = {
  id: number;
  name: string;
  first_name: string;
  last_name: string;
  responsible_user_id: number;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  custom_fields: StoredFieldValues[];
  tags: Tag[];
  company_id: number | null;
};
export type Company = { id: number; name: string; created_at: number };
export type Note = {
  id: number;
  entity_id: number;
  note_type: string;
  params: Record<string, unknown>;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  responsible_user_id: number;
};
export type AmoEvent = {
  id: string;
  type: string;
  entity_id: number;
  entity_type: 'lead' | 'contact';
  created_by: number;
  created_at: number;
  value_after: unknown[];
  value_before: unknown[];
};

export type LeadChange = { entity: 'lead'; action: 'add' | 'update'; lead: Lead; old_status_id: number; old_pipeline_id: number; status_changed: boolean };
export type ContactChange = { entity: 'contact'; action: 'add' | 'update'; contact: Contact };
export type Change = LeadChange | ContactChange;

export type Written<T> = { ok: true; items: T[]; changes: Change[] } | { ok: false; errors: ValidationGroup[] };

export type LeadQuery = {
  query?: string;
  ids?: number[];
  names?: string[];
  pipelineIds?: number[];
  statuses?: { pipeline_id?: number; status_id?: number }[];
  createdAt?: { from?: number; to?: number };
  updatedAt?: { from?: number; to?: number };
  order?: { field: 'id' | 'created_at' | 'updated_at'; direction: 'asc' | 'desc' };
};
export type ContactQuery = { query?: string; ids?: number[]; order?: LeadQuery['order'] };
export type EventQuery = {
  types?: string[];
  entities?: string[];
  entityIds?: number[];
  createdAt?: { from?: number; to?: number };
  order?: 'asc' | 'desc';
};

export const NOTE_TYPES = new Set(['common', 'call_in', 'call_out', 'service_message', 'extended_service_message', 'sms_in', 'sms_out',
  'attachment', 'geolocation', 'message_cashier', 'invoice_paid', 'link_followed', 'amomail_message']);

/** The event recorded when a note of that type is added. */
const NOTE_EVENTS: Record<string, string> = {
  common: 'common_note_added', call_in: 'incoming_call', call_out: 'outgoing_call', sms_in: 'incoming_sms', sms_out: 'outgoing_sms',
  attachment: 'attachment_note_added', geolocation: 'geo_note_added', service_message: 'service_note_added', extended_service_message: 'service_note_added',
};

type LeadInput = {
  request_id: string;
  id?: number;
  name?: string;
  price?: number;
  status_id?: number;
  pipeline_id?: number;
  responsible_user_id?: number;
  created_at?: number;
  updated_at?: number;
  closed_at?: number | null;
  loss_reason_id?: number | null;
  custom_fields?: FieldValuesInput[];
  contacts?: LeadContact[];
  tags?: string[];
  tags_to_add?: string[];
  tags_to_delete?: string[];
};
type ContactInput = {
  request_id: string;
  id?: number;
  name?: string;
  first_name?: string;
  last_name?: string;
  responsible_user_id?: number;
  custom_fields?: FieldValuesInput[];
  tags?: string[];
  tags_to_add?: string[];
};

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const seconds = (ms: number) => Math.floor(ms / 1000);
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

export function createAmoState(options: { accountId: number; seedLeadFields: boolean; seedTrackingFields?: boolean; now: () => number }) {
  const fields = createFieldStore({ seedLeadFields: options.seedLeadFields, seedTrackingFields: options.seedTrackingFields });
  let pipelines: Pipeline[] = createPipelines();
  let leads = new Map<number, Lead>();
  let contacts = new Map<number, Contact>();
  let companies = new Map<number, Company>();
  let notes = new Map<number, Note>();
  let events: AmoEvent[] = [];
  let tags: Tag[] = [];
  let ids = { lead: 0, contact: 0, company: 0, note: 0, tag: 0, event: 0 };

  function reset(): void {
    fields.reset();
    pipelines = createPipelines();
    leads = new Map();
    contacts = new Map();
    companies = new Map();
    notes = new Map();
    events = [];
    tags = [];
    ids = { lead: 10542401, contact: 12117201, company: 13001, note: 84001, tag: 201, event: 1 };
  }
  reset();

  const nowSeconds = () => seconds(options.now());
  const mainPipeline = () => pipelines.find((p) => p.is_main)!;
  const pipelineById = (id: number) => pipelines.find((p) => p.id === id);

  function tagsByName(names: string[]): Tag[] {
    return names.map((name) => {
      let tag = tags.find((t) => t.name === name);
      if (!tag) {
        tag = { id: ids.tag++, name };
        tags.push(tag);
      }
      return tag;
    });
  }

  function eventId(at: number): string {
    let time = Math.max(0, Math.floor(at));
    let head = '';
    for (let i = 0; i < 10; i++) {
      head = CROCKFORD[time % 32] + head;
      time = Math.floor(time / 32);
    }
    return head + String(ids.event++).padStart(16, '0');
  }

  function record(type: string, entity: AmoEvent['entity_type'], entityId: number, actor: number, before: unknown[], after: unknown[]): void {
    const at = options.now();
    events.push({ id: eventId(at), type, entity_id: entityId, entity_type: entity, created_by: actor, created_at: seconds(at), value_before: before, value_after: after });
  }

  // ---- input parsing (amoCRM validates the whole batch before writing anything) -----------------------

  function parseTags(raw: unknown, path: string, errors: ValidationError[]): string[] | undefined {
    if (raw === undefined || raw === null) return undefined;
    if (!Array.isArray(raw)) return void errors.push(invalid.type(path, 'array'));
    const names: string[] = [];
    raw.forEach((t, i) => {
      if (isObject(t) && typeof t.name === 'string' && t.name.trim()) names.push(t.name.trim());
      else if (isObject(t) && isInt(t.id) && tags.some((x) => x.id === t.id)) names.push(tags.find((x) => x.id === t.id)!.name);
      else errors.push(invalid.choice(`${path}.${i}`));
    });
    return names;
  }

  function optionalInt(raw: Record<string, unknown>, key: string, prefix: string, errors: ValidationError[], nullable = false): number | null | undefined {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (v === null && nullable) return null;
    if (!isInt(v)) return void errors.push(invalid.type(`${prefix}${key}`, 'int'));
    return v;
  }

  function optionalString(raw: Record<string, unknown>, key: string, prefix: string, errors: ValidationError[]): string | undefined {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return void errors.push(invalid.type(`${prefix}${key}`, 'string'));
    return v;
  }

  function requestIdOf(raw: Record<string, unknown>, index: number): string {
    return typeof raw.request_id === 'string' || typeof raw.request_id === 'number' ? String(raw.request_id) : String(index);
  }

  function parseLead(raw: Record<string, unknown>, index: number, mode: 'create' | 'update', errors: ValidationError[], prefix = ''): LeadInput {
    const input: LeadInput = { request_id: requestIdOf(raw, index) };
    if (mode === 'update') {
      if (raw.id === undefined) errors.push(invalid.missing(`${prefix}id`));
      else if (!isInt(raw.id)) errors.push(invalid.type(`${prefix}id`, 'int'));
      else if (!leads.has(raw.id)) errors.push(invalid.choice(`${prefix}id`));
      else input.id = raw.id;
    }
    input.name = optionalString(raw, 'name', prefix, errors);
    if (raw.price === null) input.price = 0;
    else input.price = optionalInt(raw, 'price', prefix, errors) ?? undefined;
    input.pipeline_id = optionalInt(raw, 'pipeline_id', prefix, errors) ?? undefined;
    input.status_id = optionalInt(raw, 'status_id', prefix, errors) ?? undefined;
    input.responsible_user_id = optionalInt(raw, 'responsible_user_id', prefix, errors) ?? undefined;
    input.created_at = optionalInt(raw, 'created_at', prefix, errors) ?? undefined;
    input.updated_at = optionalInt(raw, 'updated_at', prefix, errors) ?? undefined;
    input.closed_at = optionalInt(raw, 'closed_at', prefix, errors, true);
    input.loss_reason_id = optionalInt(raw, 'loss_reason_id', prefix, errors, true);
    if (input.responsible_user_id !== undefined && !USER_IDS.has(input.responsible_user_id)) errors.push(invalid.choice(`${prefix}responsible_user_id`));

    const current = input.id !== undefined ? leads.get(input.id) : undefined;
    const pipeline = pipelineById(input.pipeline_id ?? current?.pipeline_id ?? mainPipeline().id);
    if (!pipeline) errors.push(invalid.choice(`${prefix}pipeline_id`));
    if (pipeline && input.status_id !== undefined) {
      const status = pipeline.statuses.find((s) => s.id === input.status_id);
      if (!status || status.type === 1) errors.push(invalid.choice(`${prefix}status_id`));
    }
    input.custom_fields = parseFieldValues(raw.custom_fields_values, fields, 'leads', prefix, errors);
    input.tags_to_add = parseTags(raw.tags_to_add, `${prefix}tags_to_add`, errors);
    input.tags_to_delete = parseTags(raw.tags_to_delete, `${prefix}tags_to_delete`, errors);
    const embedded = raw._embedded;
    if (embedded !== undefined && embedded !== null && !isObject(embedded)) errors.push(invalid.type(`${prefix}_embedded`, 'array'));
    if (isObject(embedded)) {
      input.tags = parseTags(embedded.tags, `${prefix}_embedded.tags`, errors);
      if (mode === 'create' && embedded.contacts !== undefined) {
        // On the plain create, contacts are linked by id (complex create handles full contacts itself).
        if (!Array.isArray(embedded.contacts)) errors.push(invalid.type(`${prefix}_embedded.contacts`, 'array'));
        else {
          input.contacts = [];
          embedded.contacts.forEach((c, i) => {
            const p = `${prefix}_embedded.contacts.${i}`;
            if (!isObject(c) || c.id === undefined) return errors.push(invalid.missing(`${p}.id`));
            if (!isInt(c.id)) return errors.push(invalid.type(`${p}.id`, 'int'));
            if (!contacts.has(c.id)) return errors.push(invalid.choice(`${p}.id`));
            input.contacts!.push({ id: c.id, is_main: c.is_main === true });
          });
        }
      }
    }
    return input;
  }

  function parseContact(raw: Record<string, unknown>, index: number, mode: 'create' | 'update', errors: ValidationError[], prefix = ''): ContactInput {
    const input: ContactInput = { request_id: requestIdOf(raw, index) };
    if (mode === 'update') {
      if (raw.id === undefined) errors.push(invalid.missing(`${prefix}id`));
      else if (!isInt(raw.id)) errors.push(invalid.type(`${prefix}id`, 'int'));
      else if (!contacts.has(raw.id)) errors.push(invalid.choice(`${prefix}id`));
      else input.id = raw.id;
    }
    input.name = optionalString(raw, 'name', prefix, errors);
    input.first_name = optionalString(raw, 'first_name', prefix, errors);
    input.last_name = optionalString(raw, 'last_name', prefix, errors);
    input.responsible_user_id = optionalInt(raw, 'responsible_user_id', prefix, errors) ?? undefined;
    if (input.responsible_user_id !== undefined && !USER_IDS.has(input.responsible_user_id)) errors.push(invalid.choice(`${prefix}responsible_user_id`));
    input.custom_fields = parseFieldValues(raw.custom_fields_values, fields, 'contacts', prefix, errors);
    input.tags_to_add = parseTags(raw.tags_to_add, `${prefix}tags_to_add`, errors);
    if (isObject(raw._embedded)) input.tags = parseTags(raw._embedded.tags, `${prefix}_embedded.tags`, errors);
    return input;
  }

  /** Runs `parse` over every element; any error rejects the whole batch with one group per failing element. */
  function parseBatch<T>(items: unknown[], parse: (raw: Record<string, unknown>, index: number, errors: ValidationError[]) => T): { ok: true; inputs: T[] } | { ok: false; errors: ValidationGroup[] } {
    const groups: ValidationGroup[] = [];
    const inputs: T[] = [];
    items.forEach((raw, index) => {
      const errors: ValidationError[] = [];
      if (!isObject(raw)) {
        groups.push({ request_id: String(index), errors: [invalid.type('', 'array')] });
        return;
      }
      inputs.push(parse(raw, index, errors));
      if (errors.length) groups.push({ request_id: requestIdOf(raw, index), errors });
    });
    return groups.length ? { ok: false, errors: groups } : { ok: true, inputs };
  }

  // ---- writes -------------------------------------------------------------------------------------------

  function insertLead(input: LeadInput, actor: number): LeadChange {
    const now = nowSeconds();
    const pipeline = pipelineById(input.pipeline_id ?? mainPipeline().id)!;
    const status_id = input.status_id ?? firstWorkingStatus(pipeline).id;
    const lead: Lead = {
      id: ids.lead++,
      name: input.name ?? '',
      price: input.price ?? 0,
      responsible_user_id: input.responsible_user_id ?? actor,
      status_id,
      pipeline_id: pipeline.id,
      loss_reason_id: input.loss_reason_id ?? null,
      created_by: actor,
      updated_by: actor,
      created_at: input.created_at ?? now,
      updated_at: input.updated_at ?? input.created_at ?? now,
      closed_at: input.closed_at ?? (status_id === WON_STATUS_ID || status_id === LOST_STATUS_ID ? now : null),
      custom_fields: mergeFieldValues([], input.custom_fields ?? []),
      tags: tagsByName([...(input.tags ?? []), ...(input.tags_to_add ?? [])]),
      contacts: input.contacts ? normaliseMain(input.contacts) : [],
      company_id: null,
    };
    if (!lead.name) lead.name = `Сделка #${lead.id}`;
    leads.set(lead.id, lead);
    record('lead_added', 'lead', lead.id, actor, [], [{ lead_status: { id: lead.status_id, pipeline_id: lead.pipeline_id } }]);
    for (const c of lead.contacts) record('entity_linked', 'lead', lead.id, actor, [], [{ link: { entity: { id: c.id, type: 'contact' } } }]);
    return { entity: 'lead', action: 'add', lead: structuredClone(lead), old_status_id: lead.status_id, old_pipeline_id: lead.pipeline_id, status_changed: false };
  }

  function normaliseMain(list: LeadContact[]): LeadContact[] {
    const unique = list.filter((c, i) => list.findIndex((x) => x.id === c.id) === i);
    if (unique.length && !unique.some((c) => c.is_main)) unique[0]!.is_main = true;
    return unique;
  }

  function applyLeadUpdate(input: LeadInput, actor: number): LeadChange {
    const lead = leads.get(input.id!)!;
    const before = structuredClone(lead);
    if (input.name !== undefined) lead.name = input.name;
    if (input.price !== undefined) lead.price = input.price;
    if (input.responsible_user_id !== undefined) lead.responsible_user_id = input.responsible_user_id;
    if (input.pipeline_id !== undefined) lead.pipeline_id = input.pipeline_id;
    if (input.status_id !== undefined) lead.status_id = input.status_id;
    else if (input.pipeline_id !== undefined && input.pipeline_id !== before.pipeline_id) lead.status_id = firstWorkingStatus(pipelineById(input.pipeline_id)!).id;
    if (input.loss_reason_id !== undefined) lead.loss_reason_id = input.loss_reason_id;
    if (input.closed_at !== undefined) lead.closed_at = input.closed_at;
    else if (lead.status_id !== before.status_id) {
      lead.closed_at = lead.status_id === WON_STATUS_ID || lead.status_id === LOST_STATUS_ID ? nowSeconds() : null;
    }
    if (input.custom_fields) lead.custom_fields = mergeFieldValues(lead.custom_fields, input.custom_fields);
    if (input.tags) lead.tags = tagsByName(input.tags);
    if (input.tags_to_add) lead.tags = [...lead.tags, ...tagsByName(input.tags_to_add).filter((t) => !lead.tags.some((x) => x.id === t.id))];
    if (input.tags_to_delete) lead.tags = lead.tags.filter((t) => !input.tags_to_delete!.includes(t.name));
    lead.updated_by = actor;
    lead.updated_at = input.updated_at ?? Math.max(nowSeconds(), before.updated_at);

    if (lead.status_id !== before.status_id || lead.pipeline_id !== before.pipeline_id) {
      record('lead_status_changed', 'lead', lead.id, actor,
        [{ lead_status: { id: before.status_id, pipeline_id: before.pipeline_id } }], [{ lead_status: { id: lead.status_id, pipeline_id: lead.pipeline_id } }]);
    }
    if (lead.price !== before.price) record('sale_field_changed', 'lead', lead.id, actor, [{ sale_field_value: { sale: before.price } }], [{ sale_field_value: { sale: lead.price } }]);
    if (lead.name !== before.name) record('name_field_changed', 'lead', lead.id, actor, [{ name_field_value: { name: before.name } }], [{ name_field_value: { name: lead.name } }]);
    recordFieldChanges('lead', lead.id, actor, before.custom_fields, lead.custom_fields, 'leads');
    const status_changed = lead.status_id !== before.status_id || lead.pipeline_id !== before.pipeline_id;
    return { entity: 'lead', action: 'update', lead: structuredClone(lead), old_status_id: before.status_id, old_pipeline_id: before.pipeline_id, status_changed };
  }

  function recordFieldChanges(entity: AmoEvent['entity_type'], id: number, actor: number, before: StoredFieldValues[], after: StoredFieldValues[], entityType: 'leads' | 'contacts'): void {
    const fieldIds = new Set([...before, ...after].map((f) => f.field_id));
    const describe = (fieldId: number, values: StoredValue[] | undefined) => {
      const type = FIELD_TYPE_IDS[fields.byId(entityType, fieldId)?.type ?? 'text'] ?? 1;
      return (values ?? []).map((v) => ({ custom_field_value: { field_id: fieldId, field_type: type, enum_id: v.enum_id ?? null, text: String(v.value) } }));
    };
    for (const fieldId of fieldIds) {
      const old = before.find((f) => f.field_id === fieldId)?.values;
      const now = after.find((f) => f.field_id === fieldId)?.values;
      if (JSON.stringify(old ?? []) === JSON.stringify(now ?? [])) continue;
      record('custom_field_value_changed', entity, id, actor, describe(fieldId, old), describe(fieldId, now));
    }
  }

  function insertContact(input: ContactInput, actor: number): ContactChange {
    const now = nowSeconds();
    const first = input.first_name ?? '';
    const last = input.last_name ?? '';
    const contact: Contact = {
      id: ids.contact++,
      name: input.name ?? [first, last].filter(Boolean).join(' '),
      first_name: first,
      last_name: last,
      responsible_user_id: input.responsible_user_id ?? actor,
      created_by: actor,
      updated_by: actor,
      created_at: now,
      updated_at: now,
      custom_fields: mergeFieldValues([], input.custom_fields ?? []),
      tags: tagsByName([...(input.tags ?? []), ...(input.tags_to_add ?? [])]),
      company_id: null,
    };
    contacts.set(contact.id, contact);
    record('contact_added', 'contact', contact.id, actor, [], []);
    return { entity: 'contact', action: 'add', contact: structuredClone(contact) };
  }

  function applyContactUpdate(input: ContactInput, actor: number): ContactChange {
    const contact = contacts.get(input.id!)!;
    const before = structuredClone(contact);
    if (input.first_name !== undefined) contact.first_name = input.first_name;
    if (input.last_name !== undefined) contact.last_name = input.last_name;
    if (input.name !== undefined) contact.name = input.name;
    else if (input.first_name !== undefined || input.last_name !== undefined) contact.name = [contact.first_name, contact.last_name].filter(Boolean).join(' ');
    if (input.responsible_user_id !== undefined) contact.responsible_user_id = input.responsible_user_id;
    if (input.custom_fields) contact.custom_fields = mergeFieldValues(contact.custom_fields, input.custom_fields);
    if (input.tags) contact.tags = tagsByName(input.tags);
    if (input.tags_to_add) contact.tags = [...contact.tags, ...tagsByName(input.tags_to_add).filter((t) => !contact.tags.some((x) => x.id === t.id))];
    contact.updated_by = actor;
    contact.updated_at = Math.max(nowSeconds(), before.updated_at);
    if (contact.name !== before.name) record('name_field_changed', 'contact', contact.id, actor, [{ name_field_value: { name: before.name } }], [{ name_field_value: { name: contact.name } }]);
    recordFieldChanges('contact', contact.id, actor, before.custom_fields, contact.custom_fields, 'contacts');
    return { entity: 'contact', action: 'update', contact: structuredClone(contact) };
  }

  function createLeads(items: unknown[], actor: number): Written<{ lead: Lead; request_id: string }> {
    const parsed = parseBatch(items, (raw, i, errors) => parseLead(raw, i, 'create', errors));
    if (!parsed.ok) return parsed;
    const changes = parsed.inputs.map((input) => insertLead(input, actor));
    return { ok: true, items: changes.map((c, i) => ({ lead: c.lead, request_id: parsed.inputs[i]!.request_id })), changes };
  }

  function updateLeads(items: unknown[], actor: number): Written<{ lead: Lead; request_id: string }> {
    const parsed = parseBatch(items, (raw, i, errors) => parseLead(raw, i, 'update', errors));
    if (!parsed.ok) return parsed;
    const changes = parsed.inputs.map((input) => applyLeadUpdate(input, actor));
    return { ok: true, items: changes.map((c, i) => ({ lead: c.lead, request_id: parsed.inputs[i]!.request_id })), changes };
  }

  type ComplexInput = { lead: LeadInput; contact?: ContactInput; contactId?: number; company?: { name: string }; companyId?: number };

  /** POST /leads/complex: each lead with at most one contact and one company, new (full object) or existing (id). */
  function createComplex(items: unknown[], actor: number): Written<{ lead: Lead; contact_id: number | null; company_id: number | null; request_id: string }> {
    const parsed = parseBatch<ComplexInput>(items, (raw, i, errors) => {
      const lead = parseLead({ ...raw, _embedded: isObject(raw._embedded) ? { ...raw._embedded, contacts: undefined } : raw._embedded }, i, 'create', errors);
      const out: ComplexInput = { lead };
      const embedded = isObject(raw._embedded) ? raw._embedded : {};
      if (embedded.contacts !== undefined) {
        if (!Array.isArray(embedded.contacts)) errors.push(invalid.type('_embedded.contacts', 'array'));
        else if (embedded.contacts.length > 1) errors.push(invalid.tooMany('_embedded.contacts', 1));
        else if (embedded.contacts.length === 1) {
          const c = embedded.contacts[0];
          const p = '_embedded.contacts.0.';
          if (!isObject(c)) errors.push(invalid.type('_embedded.contacts.0', 'array'));
          else if (c.id !== undefined) {
            if (!isInt(c.id)) errors.push(invalid.type(`${p}id`, 'int'));
            else if (!contacts.has(c.id)) errors.push(invalid.choice(`${p}id`));
            else out.contactId = c.id;
          } else {
            out.contact = parseContact(c, i, 'create', errors, p);
          }
        }
      }
      if (embedded.companies !== undefined) {
        if (!Array.isArray(embedded.companies)) errors.push(invalid.type('_embedded.companies', 'array'));
        else if (embedded.companies.length > 1) errors.push(invalid.tooMany('_embedded.companies', 1));
        else if (embedded.companies.length === 1) {
          const c = embedded.companies[0];
          if (isObject(c) && isInt(c.id)) {
            if (!companies.has(c.id)) errors.push(invalid.choice('_embedded.companies.0.id'));
            else out.companyId = c.id;
          } else if (isObject(c)) {
            out.company = { name: typeof c.name === 'string' ? c.name : '' };
          } else errors.push(invalid.type('_embedded.companies.0', 'array'));
        }
      }
      return out;
    });
    if (!parsed.ok) return parsed;
    const changes: Change[] = [];
    const results = parsed.inputs.map((input) => {
      let contactId = input.contactId ?? null;
      if (input.contact) {
        const added = insertContact(input.contact, actor);
        changes.push(added);
        contactId = added.contact.id;
      }
      let companyId = input.companyId ?? null;
      if (input.company) {
        const company: Company = { id: ids.company++, name: input.company.name, created_at: nowSeconds() };
        companies.set(company.id, company);
        companyId = company.id;
      }
      if (contactId !== null) {
        input.lead.contacts = [{ id: contactId, is_main: true }];
        const contact = contacts.get(contactId)!;
        if (companyId !== null && contact.company_id === null) contact.company_id = companyId;
      }
      const change = insertLead(input.lead, actor);
      leads.get(change.lead.id)!.company_id = companyId;
      change.lead.company_id = companyId;
      changes.push(change);
      return { lead: change.lead, contact_id: contactId, company_id: companyId, request_id: input.lead.request_id };
    });
    return { ok: true, items: results, changes };
  }

  function createContacts(items: unknown[], actor: number): Written<{ contact: Contact; request_id: string }> {
    const parsed = parseBatch(items, (raw, i, errors) => parseContact(raw, i, 'create', errors));
    if (!parsed.ok) return parsed;
    const changes = parsed.inputs.map((input) => insertContact(input, actor));
    return { ok: true, items: changes.map((c, i) => ({ contact: c.contact, request_id: parsed.inputs[i]!.request_id })), changes };
  }

  function updateContacts(items: unknown[], actor: number): Written<{ contact: Contact; request_id: string }> {
    const parsed = parseBatch(items, (raw, i, errors) => parseContact(raw, i, 'update', errors));
    if (!parsed.ok) return parsed;
    const changes = parsed.inputs.map((input) => applyContactUpdate(input, actor));
    return { ok: true, items: changes.map((c, i) => ({ contact: c.contact, request_id: parsed.inputs[i]!.request_id })), changes };
  }

  type Link = { to_entity_id: number; to_entity_type: 'contacts'; metadata: { is_main: boolean } };

  /** POST /leads/{id}/link with contacts; returns null when the lead does not exist. */
  function linkContacts(leadId: number, items: unknown[], actor: number): Written<Link> | null {
    const lead = leads.get(leadId);
    if (!lead) return null;
    const parsed = parseBatch<Link>(items, (raw, _i, errors) => {
      if (raw.to_entity_type !== 'contacts') errors.push(invalid.choice('to_entity_type'));
      if (!isInt(raw.to_entity_id)) errors.push(invalid.type('to_entity_id', 'int'));
      else if (!contacts.has(raw.to_entity_id)) errors.push(invalid.choice('to_entity_id'));
      const isMain = isObject(raw.metadata) && raw.metadata.is_main === true;
      return { to_entity_id: raw.to_entity_id as number, to_entity_type: 'contacts', metadata: { is_main: isMain } };
    });
    if (!parsed.ok) return parsed;
    for (const link of parsed.inputs) {
      if (lead.contacts.some((c) => c.id === link.to_entity_id)) continue;
      if (link.metadata.is_main) for (const c of lead.contacts) c.is_main = false;
      lead.contacts.push({ id: link.to_entity_id, is_main: link.metadata.is_main });
      record('entity_linked', 'lead', lead.id, actor, [], [{ link: { entity: { id: link.to_entity_id, type: 'contact' } } }]);
    }
    lead.contacts = normaliseMain(lead.contacts);
    return { ok: true, items: parsed.inputs, changes: [] };
  }

  function unlinkContacts(leadId: number, items: unknown[], actor: number): boolean {
    const lead = leads.get(leadId);
    if (!lead) return false;
    for (const raw of items) {
      if (!isObject(raw) || raw.to_entity_type !== 'contacts') continue;
      const before = lead.contacts.length;
      lead.contacts = lead.contacts.filter((c) => c.id !== raw.to_entity_id);
      if (lead.contacts.length !== before) record('entity_unlinked', 'lead', lead.id, actor, [{ link: { entity: { id: raw.to_entity_id, type: 'contact' } } }], []);
    }
    lead.contacts = normaliseMain(lead.contacts);
    return true;
  }

  function addNotes(items: unknown[], actor: number, leadId?: number): Written<{ note: Note; request_id: string }> {
    const parsed = parseBatch(items, (raw, i, errors) => {
      const entityId = leadId ?? raw.entity_id;
      if (leadId === undefined) {
        if (raw.entity_id === undefined) errors.push(invalid.missing('entity_id'));
        else if (!isInt(raw.entity_id)) errors.push(invalid.type('entity_id', 'int'));
        else if (!leads.has(raw.entity_id)) errors.push(invalid.choice('entity_id'));
      }
      if (raw.note_type === undefined) errors.push(invalid.missing('note_type'));
      else if (typeof raw.note_type !== 'string' || !NOTE_TYPES.has(raw.note_type)) errors.push(invalid.choice('note_type'));
      if (raw.params !== undefined && !isObject(raw.params)) errors.push(invalid.type('params', 'array'));
      const params = isObject(raw.params) ? raw.params : {};
      if ((raw.note_type === 'common' || raw.note_type === 'service_message') && (typeof params.text !== 'string' || params.text === '')) {
        errors.push(invalid.blank('params.text'));
      }
      return { entity_id: entityId as number, note_type: raw.note_type as string, params, request_id: requestIdOf(raw, i) };
    });
    if (!parsed.ok) return parsed;
    const now = nowSeconds();
    const created = parsed.inputs.map((input) => {
      const note: Note = {
        id: ids.note++, entity_id: input.entity_id, note_type: input.note_type, params: structuredClone(input.params),
        created_by: actor, updated_by: actor, created_at: now, updated_at: now, responsible_user_id: actor,
      };
      notes.set(note.id, note);
      // amoCRM's event log names each note added, by the note's id (a call as a call).
      record(NOTE_EVENTS[note.note_type] ?? `${note.note_type}_note_added`, 'lead', note.entity_id, actor, [], [{ note: { id: note.id } }]);
      return { note, request_id: input.request_id };
    });
    return { ok: true, items: created, changes: [] };
  }

  // ---- reads --------------------------------------------------------------------------------------------

  function leadText(lead: Lead): string[] {
    return [String(lead.id), lead.name, ...searchableText(lead.custom_fields)];
  }

  const inRange = (value: number, range?: { from?: number; to?: number }) =>
    !range || ((range.from === undefined || value >= range.from) && (range.to === undefined || value <= range.to));

  function sorted<T extends { id: number; created_at: number; updated_at: number }>(list: T[], order?: LeadQuery['order']): T[] {
    const { field, direction } = order ?? { field: 'id', direction: 'asc' };
    const sign = direction === 'desc' ? -1 : 1;
    return [...list].sort((a, b) => (a[field] - b[field] || a.id - b.id) * sign);
  }

  function findLeads(q: LeadQuery): Lead[] {
    const needle = q.query?.trim().toLowerCase();
    return sorted([...leads.values()].filter((lead) =>
      (!needle || leadText(lead).some((t) => t.toLowerCase().includes(needle)))
      && (!q.ids || q.ids.includes(lead.id))
      && (!q.names || q.names.includes(lead.name))
      && (!q.pipelineIds || q.pipelineIds.includes(lead.pipeline_id))
      && (!q.statuses || q.statuses.some((s) => (s.pipeline_id === undefined || s.pipeline_id === lead.pipeline_id) && (s.status_id === undefined || s.status_id === lead.status_id)))
      && inRange(lead.created_at, q.createdAt)
      && inRange(lead.updated_at, q.updatedAt)), q.order);
  }

  function findContacts(q: ContactQuery): Contact[] {
    const needle = q.query?.trim().toLowerCase();
    return sorted([...contacts.values()].filter((c) =>
      (!needle || [String(c.id), c.name, c.first_name, c.last_name, ...searchableText(c.custom_fields)].some((t) => t.toLowerCase().includes(needle)))
      && (!q.ids || q.ids.includes(c.id))), q.order);
  }

  function findEvents(q: EventQuery): AmoEvent[] {
    const typeMatches = (event: AmoEvent, type: string) => {
      if (type === event.type) return true;
      const byField = /^custom_field_(\d+)_value_changed$/.exec(type);
      return Boolean(byField && event.type === 'custom_field_value_changed'
        && [...event.value_after, ...event.value_before].some((v) => (v as { custom_field_value: { field_id: number } }).custom_field_value.field_id === Number(byField[1])));
    };
    const list = events.filter((e) =>
      (!q.types || q.types.some((t) => typeMatches(e, t)))
      && (!q.entities || q.entities.includes(e.entity_type))
      && (!q.entityIds || q.entityIds.includes(e.entity_id))
      && inRange(e.created_at, q.createdAt));
    return q.order === 'asc' ? list : list.reverse();
  }

  function leadsOfContact(contactId: number): Lead[] {
    return [...leads.values()].filter((l) => l.contacts.some((c) => c.id === contactId));
  }

  return {
    reset,
    fields,
    pipelines: () => pipelines,
    createLeads,
    updateLeads,
    createComplex,
    createContacts,
    updateContacts,
    linkContacts,
    unlinkContacts,
    addNotes,
    findLeads,
    findContacts,
    findEvents,
    leadsOfContact,
    lead: (id: number) => leads.get(id),
    contact: (id: number) => contacts.get(id),
    notesOf: (leadId?: number) => [...notes.values()].filter((n) => leadId === undefined || n.entity_id === leadId),
    allLeads: () => [...leads.values()].map((l) => structuredClone(l)),
    allContacts: () => [...contacts.values()].map((c) => structuredClone(c)),
    allNotes: () => [...notes.values()].map((n) => structuredClone(n)),
    allEvents: () => events.map((e) => structuredClone(e)),
  };
}
export type AmoState = ReturnType<typeof createAmoState>;
