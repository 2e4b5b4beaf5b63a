// The /api/v4 actions: parse amoCRM's query and body conventions, one call into the account state, render
// HAL (or 204 when nothing is found). Writes by the integration fire webhooks like amoCRM does.
import type { Request, Response } from 'express';
import { CREATABLE_TYPES, isObject, renderField, type EntityType } from './custom-fields.js';
import { renderPipeline, renderStatus } from './pipelines.js';
import { invalid, problems, sendHal, sendNoContent, sendProblem, type ValidationError } from './problems.js';
import type { Renderer } from './render.js';
import { API_USER_ID, STAFF_USER_ID, type AmoState, type Change, type ContactQuery, type EventQuery, type LeadQuery, type Note } from './state.js';
import type { Webhooks } from './webhooks.js';

const MAX_PAGE = 250;
const MAX_BATCH = 250;
const MAX_COMPLEX = 50;

export type ApiDeps = { state: AmoState; webhooks: Webhooks; render: Renderer; accountId: number; subdomain: string };

export const baseUrl = (req: Request) => `${req.protocol}://${req.get('host')}`;

type Query = Record<string, unknown>;
const list = (v: unknown): string[] => (v === undefined || v === null ? []
  : Array.isArray(v) ? v.flatMap(list)
  : isObject(v) ? Object.values(v).flatMap(list)
  : String(v).split(',').map((s) => s.trim()).filter(Boolean));
const ints = (v: unknown): number[] | undefined => (v === undefined ? undefined : list(v).map(Number).filter(Number.isInteger));
const int = (v: unknown): number | undefined => (v === undefined || v === '' || Number.isNaN(Number(v)) ? undefined : Math.trunc(Number(v)));
function range(v: unknown): { from?: number; to?: number } | undefined {
  if (isObject(v)) return { from: int(v.from), to: int(v.to) };
  if (typeof v === 'string' && v.includes(',')) {
    const [from, to] = v.split(',');
    return { from: int(from), to: int(to) };
  }
  return undefined;
}
function order(v: unknown): LeadQuery['order'] {
  if (!isObject(v)) return undefined;
  for (const field of ['id', 'created_at', 'updated_at'] as const) {
    const direction = v[field];
    if (direction === 'asc' || direction === 'desc') return { field, direction };
  }
  return undefined;
}
const withList = (req: Request) => list((req.query as Query).with);
const filterOf = (req: Request): Query => (isObject((req.query as Query).filter) ? (req.query as Query).filter as Query : {});

/** page/limit from the query; answers 422 itself when the limit is above amoCRM's cap. */
function paging(req: Request, res: Response, max = MAX_PAGE): { page: number; limit: number } | null {
  const q = req.query as Query;
  const limit = int(q.limit) ?? 50;
  if (limit > max) {
    sendProblem(res, problems.unprocessable(`Limit ${max} per page`));
    return null;
  }
  return { page: Math.max(1, int(q.page) ?? 1), limit: Math.max(1, limit) };
}

/** A HAL page: `_page`, `_links.self/next/prev`, `_embedded[key]`; 204 when the page is empty. */
function sendPage(req: Request, res: Response, key: string, all: unknown[], paged: { page: number; limit: number }, extra: Record<string, unknown> = {}): void {
  const { page, limit } = paged;
  const items = all.slice((page - 1) * limit, page * limit);
  if (items.length === 0) return sendNoContent(res);
  const href = (p: number) => {
    const params = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
    params.set('page', String(p));
    params.set('limit', String(limit));
    return { href: `${baseUrl(req)}${req.path}?${params.toString().replace(/%5B/gi, '[').replace(/%5D/gi, ']')}` };
  };
  const links: Record<string, { href: string }> = { self: href(page) };
  if (page * limit < all.length) links.next = href(page + 1);
  links.first = href(1);
  if (page > 1) links.prev = href(page - 1);
  sendHal(res, { ...extra, _page: page, _links: links, _embedded: { [key]: items } });
}

/**
 * The body of a write as a list of entities. Empty → amoCRM's "Request data can not be empty"; a single
 * object is taken as a one-element batch. Answers itself and returns null when the body is unusable.
 */
function batch(req: Request, res: Response, max = MAX_BATCH): unknown[] | null {
  if (res.locals.bodyError) {
    sendProblem(res, problems.emptyBody());
    return null;
  }
  const body: unknown = req.body;
  const items = Array.isArray(body) ? body : isObject(body) && Object.keys(body).length ? [body] : [];
  if (items.length === 0) {
    sendProblem(res, problems.emptyBody());
    return null;
  }
  if (items.length > max) {
    sendProblem(res, problems.validation([{ request_id: '0', errors: [invalid.tooMany('', max)] }]));
    return null;
  }
  return items;
}

function pathId(req: Request): number | null {
  const id = req.params.id;
  return typeof id === 'string' && /^\d+$/.test(id) ? Number(id) : null;
}

export function createApiController(deps: ApiDeps) {
  const { state, webhooks, render } = deps;
  const fire = (changes: Change[]) => { if (changes.length) void webhooks.dispatch(changes); };
  const notFound = (req: Request, res: Response) => sendProblem(res, problems.notFound(`Cannot ${req.method} ${baseUrl(req)}${req.originalUrl}`));

  function leadQuery(req: Request): LeadQuery {
    const q = req.query as Query;
    const f = filterOf(req);
    const statuses = f.statuses === undefined ? undefined
      : (Array.isArray(f.statuses) ? f.statuses : isObject(f.statuses) ? Object.values(f.statuses) : [])
        .filter(isObject).map((s) => ({ pipeline_id: int(s.pipeline_id), status_id: int(s.status_id) }));
    return {
      query: typeof q.query === 'string' || typeof q.query === 'number' ? String(q.query) : undefined,
      ids: ints(f.id),
      names: f.name === undefined ? undefined : list(f.name),
      pipelineIds: ints(f.pipeline_id),
      statuses,
      createdAt: range(f.created_at),
      updatedAt: range(f.updated_at),
      order: order(q.order),
    };
  }

  const leads = {
    index(req: Request, res: Response) {
      const paged = paging(req, res);
      if (!paged) return;
      const withContacts = withList(req).includes('contacts');
      const base = baseUrl(req);
      sendPage(req, res, 'leads', state.findLeads(leadQuery(req)).map((l) => render.lead(l, base, withContacts)), paged);
    },
    show(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      const lead = state.lead(id);
      if (!lead) return sendNoContent(res);
      sendHal(res, render.lead(lead, baseUrl(req), withList(req).includes('contacts')));
    },
    create(req: Request, res: Response) {
      const items = batch(req, res);
      if (!items) return;
      const result = state.createLeads(items, API_USER_ID);
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      fire(result.changes);
      const base = baseUrl(req);
      sendHal(res, {
        _links: { self: { href: `${base}/api/v4/leads` } },
        _embedded: { leads: result.items.map(({ lead, request_id }) => ({ id: lead.id, request_id, _links: { self: { href: `${base}/api/v4/leads/${lead.id}` } } })) },
      });
    },
    updateMany(req: Request, res: Response) {
      const items = batch(req, res);
      if (!items) return;
      const result = state.updateLeads(items, API_USER_ID);
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      fire(result.changes);
      const base = baseUrl(req);
      sendHal(res, {
        _links: { self: { href: `${base}/api/v4/leads` } },
        _embedded: { leads: result.items.map(({ lead, request_id }) => ({ id: lead.id, updated_at: lead.updated_at, request_id, _links: { self: { href: `${base}/api/v4/leads/${lead.id}` } } })) },
      });
    },
    /** PATCH /leads/{id}: one object; answers flat `{id, updated_at, _links}` (what the official PHP library reads). */
    update(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      if (res.locals.bodyError || !isObject(req.body) || Object.keys(req.body).length === 0) return sendProblem(res, problems.emptyBody());
      const result = state.updateLeads([{ ...req.body, id }], API_USER_ID);
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      fire(result.changes);
      const { lead } = result.items[0]!;
      sendHal(res, { id: lead.id, updated_at: lead.updated_at, _links: { self: { href: `${baseUrl(req)}/api/v4/leads/${lead.id}` } } });
    },
    complex(req: Request, res: Response) {
      const items = batch(req, res, MAX_COMPLEX);
      if (!items) return;
      const result = state.createComplex(items, API_USER_ID);
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      fire(result.changes);
      sendHal(res, result.items.map((r) => ({ id: r.lead.id, contact_id: r.contact_id, company_id: r.company_id, request_id: [r.request_id], merged: false })));
    },
    link(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      const items = batch(req, res);
      if (!items) return;
      const result = state.linkContacts(id, items, API_USER_ID);
      if (!result) return sendProblem(res, problems.notFound(`Lead ${id} not found`));
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      const base = baseUrl(req);
      sendHal(res, {
        _links: { self: { href: `${base}/api/v4/leads/${id}/link` } },
        _embedded: { links: result.items.map((l) => ({ entity_id: id, entity_type: 'leads', ...l })) },
      });
    },
    unlink(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      const items = batch(req, res);
      if (!items) return;
      if (!state.unlinkContacts(id, items, API_USER_ID)) return sendProblem(res, problems.notFound(`Lead ${id} not found`));
      sendNoContent(res);
    },
    links(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      const lead = state.lead(id);
      if (!lead || lead.contacts.length === 0) return sendNoContent(res);
      sendHal(res, {
        _total_items: lead.contacts.length,
        _links: { self: { href: `${baseUrl(req)}/api/v4/leads/${id}/links` } },
        _embedded: { links: lead.contacts.map((c) => ({ entity_id: id, entity_type: 'leads', to_entity_id: c.id, to_entity_type: 'contacts', metadata: { main_contact: c.is_main } })) },
      });
    },
  };

  function createNotes(req: Request, res: Response, leadId?: number) {
    const items = batch(req, res);
    if (!items) return;
    const result = state.addNotes(items, API_USER_ID, leadId);
    if (!result.ok) return sendProblem(res, problems.validation(result.errors));
    const base = baseUrl(req);
    sendHal(res, {
      _links: { self: { href: `${base}/api/v4/leads/notes` } },
      _embedded: { notes: result.items.map(({ note, request_id }) => ({ id: note.id, entity_id: note.entity_id, request_id, _links: { self: { href: `${base}/api/v4/leads/${note.entity_id}/notes/${note.id}` } } })) },
    });
  }

  /** Notes by `order[id|updated_at]=asc|desc` (amoCRM's two sort keys for notes), else by id ascending. */
  function orderedNotes(req: Request, list: Note[]): Note[] {
    const o = (req.query as Query).order;
    const key = isObject(o) ? (['id', 'updated_at'] as const).find((k) => o[k] === 'asc' || o[k] === 'desc') : undefined;
    const sign = key && isObject(o) && o[key] === 'desc' ? -1 : 1;
    return [...list].sort((a, b) => ((key ? a[key] - b[key] : 0) || a.id - b.id) * sign);
  }

  const notes = {
    index(req: Request, res: Response) {
      const paged = paging(req, res);
      if (!paged) return;
      const entityIds = ints(filterOf(req).entity_id);
      const types = list(filterOf(req).note_type);
      const base = baseUrl(req);
      const found = orderedNotes(req, state.notesOf().filter((n) => (!entityIds || entityIds.includes(n.entity_id)) && (!types.length || types.includes(n.note_type))));
      sendPage(req, res, 'notes', found.map((n) => render.note(n, base)), paged);
    },
    create: (req: Request, res: Response) => createNotes(req, res),
    indexOfLead(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      const paged = paging(req, res);
      if (!paged) return;
      const base = baseUrl(req);
      sendPage(req, res, 'notes', orderedNotes(req, state.notesOf(id)).map((n) => render.note(n, base)), paged);
    },
    createForLead(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      if (!state.lead(id)) return sendProblem(res, problems.notFound(`Lead ${id} not found`));
      createNotes(req, res, id);
    },
  };

  const fields = (entity: EntityType) => ({
    index(req: Request, res: Response) {
      const paged = paging(req, res);
      if (!paged) return;
      const types = list(filterOf(req).type);
      const base = baseUrl(req);
      const all = state.fields.list(entity).filter((f) => !types.length || types.includes(f.type)).sort((a, b) => a.sort - b.sort || a.id - b.id);
      sendPage(req, res, 'custom_fields', all.map((f) => renderField(f, deps.accountId, base)), paged,
        { _total_items: all.length, _page_count: Math.max(1, Math.ceil(all.length / paged.limit)) });
    },
    show(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      const field = state.fields.byId(entity, id);
      if (!field) return sendNoContent(res);
      sendHal(res, renderField(field, deps.accountId, baseUrl(req)));
    },
    create(req: Request, res: Response) {
      const items = batch(req, res);
      if (!items) return;
      const groups: { request_id: string; errors: ValidationError[] }[] = [];
      items.forEach((raw, i) => {
        const errors: ValidationError[] = [];
        const rid = isObject(raw) && raw.request_id !== undefined ? String(raw.request_id) : String(i);
        if (!isObject(raw)) errors.push(invalid.type('', 'array'));
        else {
          if (typeof raw.name !== 'string' || !raw.name.trim()) errors.push(raw.name === undefined ? invalid.missing('name') : invalid.type('name', 'string'));
          if (raw.type === undefined) errors.push(invalid.missing('type'));
          else if (!(CREATABLE_TYPES as readonly unknown[]).includes(raw.type)) errors.push(invalid.choice('type'));
          if (raw.sort !== undefined && !Number.isInteger(raw.sort)) errors.push(invalid.type('sort', 'int'));
          if (raw.code !== undefined && raw.code !== null && (typeof raw.code !== 'string' || state.fields.byCode(entity, raw.code))) errors.push(invalid.choice('code'));
          const needsEnums = raw.type === 'select' || raw.type === 'multiselect' || raw.type === 'radiobutton';
          if (needsEnums) {
            if (!Array.isArray(raw.enums) || raw.enums.length === 0) errors.push(invalid.missing('enums'));
            else raw.enums.forEach((e, j) => { if (!isObject(e) || typeof e.value !== 'string' || !e.value) errors.push(invalid.blank(`enums.${j}.value`)); });
          }
        }
        if (errors.length) groups.push({ request_id: rid, errors });
      });
      if (groups.length) return sendProblem(res, problems.validation(groups));
      const base = baseUrl(req);
      const created = items.map((raw, i) => {
        const r = raw as Record<string, unknown>;
        const enums = Array.isArray(r.enums) ? (r.enums as Record<string, unknown>[]) : undefined;
        const field = state.fields.add(entity, {
          name: (r.name as string).trim(), type: r.type as string, code: typeof r.code === 'string' ? r.code : undefined,
          sort: r.sort as number | undefined, enums: enums?.map((e) => e.value as string),
          enumSorts: enums?.map((e, j) => (Number.isInteger(e.sort) ? e.sort as number : (j + 1) * 10)),
        });
        return { ...renderField(field, deps.accountId, base), request_id: r.request_id !== undefined ? String(r.request_id) : String(i) };
      });
      sendHal(res, { _total_items: created.length, _embedded: { custom_fields: created } });
    },
  });

  const pipelines = {
    index(req: Request, res: Response) {
      const base = baseUrl(req);
      const all = state.pipelines();
      sendHal(res, { _total_items: all.length, _links: { self: { href: `${base}/api/v4/leads/pipelines` } }, _embedded: { pipelines: all.map((p) => renderPipeline(p, deps.accountId, base)) } });
    },
    show(req: Request, res: Response) {
      const pipeline = state.pipelines().find((p) => p.id === pathId(req));
      if (!pipeline) return sendNoContent(res);
      sendHal(res, renderPipeline(pipeline, deps.accountId, baseUrl(req)));
    },
    statuses(req: Request, res: Response) {
      const pipeline = state.pipelines().find((p) => p.id === pathId(req));
      if (!pipeline) return sendNoContent(res);
      const base = baseUrl(req);
      sendHal(res, {
        _total_items: pipeline.statuses.length,
        _links: { self: { href: `${base}/api/v4/leads/pipelines/${pipeline.id}/statuses` } },
        _embedded: { statuses: pipeline.statuses.map((s) => renderStatus(s, pipeline.id, deps.accountId, base)) },
      });
    },
  };

  const contacts = {
    index(req: Request, res: Response) {
      const paged = paging(req, res);
      if (!paged) return;
      const q = req.query as Query;
      const query: ContactQuery = {
        query: typeof q.query === 'string' || typeof q.query === 'number' ? String(q.query) : undefined,
        ids: ints(filterOf(req).id),
        order: order(q.order),
      };
      const withLeads = withList(req).includes('leads');
      const base = baseUrl(req);
      sendPage(req, res, 'contacts', state.findContacts(query).map((c) => render.contact(c, base, withLeads)), paged);
    },
    show(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      const contact = state.contact(id);
      if (!contact) return sendNoContent(res);
      sendHal(res, render.contact(contact, baseUrl(req), withList(req).includes('leads')));
    },
    create(req: Request, res: Response) {
      const items = batch(req, res);
      if (!items) return;
      const result = state.createContacts(items, API_USER_ID);
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      fire(result.changes);
      const base = baseUrl(req);
      sendHal(res, {
        _links: { self: { href: `${base}/api/v4/contacts` } },
        _embedded: { contacts: result.items.map(({ contact, request_id }) => ({ id: contact.id, request_id, _links: { self: { href: `${base}/api/v4/contacts/${contact.id}` } } })) },
      });
    },
    updateMany(req: Request, res: Response) {
      const items = batch(req, res);
      if (!items) return;
      const result = state.updateContacts(items, API_USER_ID);
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      fire(result.changes);
      const base = baseUrl(req);
      sendHal(res, {
        _links: { self: { href: `${base}/api/v4/contacts` } },
        _embedded: { contacts: result.items.map(({ contact, request_id }) => ({ id: contact.id, name: contact.name, updated_at: contact.updated_at, request_id, _links: { self: { href: `${base}/api/v4/contacts/${contact.id}` } } })) },
      });
    },
    update(req: Request, res: Response) {
      const id = pathId(req);
      if (id === null) return notFound(req, res);
      if (res.locals.bodyError || !isObject(req.body) || Object.keys(req.body).length === 0) return sendProblem(res, problems.emptyBody());
      const result = state.updateContacts([{ ...req.body, id }], API_USER_ID);
      if (!result.ok) return sendProblem(res, problems.validation(result.errors));
      fire(result.changes);
      const { contact } = result.items[0]!;
      sendHal(res, { id: contact.id, name: contact.name, updated_at: contact.updated_at, _links: { self: { href: `${baseUrl(req)}/api/v4/contacts/${contact.id}` } } });
    },
  };

  const events = {
    index(req: Request, res: Response) {
      const paged = paging(req, res, 100);
      if (!paged) return;
      const f = filterOf(req);
      const query: EventQuery = {
        types: f.type === undefined ? undefined : list(f.type),
        entities: f.entity === undefined ? undefined : list(f.entity).map((e) => e.replace(/s$/, '')),
        entityIds: ints(f.entity_id),
        createdAt: range(f.created_at),
        order: isObject((req.query as Query).order) && ((req.query as Query).order as Query).created_at === 'asc' ? 'asc' : 'desc',
      };
      const base = baseUrl(req);
      sendPage(req, res, 'events', state.findEvents(query).map((e) => render.event(e, base)), paged);
    },
  };

  const hooks = {
    index(req: Request, res: Response) {
      const destinations = list(filterOf(req).destination);
      const found = webhooks.list().filter((w) => !destinations.length || destinations.includes(w.destination));
      if (!found.length) return sendNoContent(res);
      sendHal(res, { _total_items: found.length, _links: { self: { href: `${baseUrl(req)}/api/v4/webhooks` } }, _embedded: { webhooks: found } });
    },
    create(req: Request, res: Response) {
      if (res.locals.bodyError || !isObject(req.body) || Object.keys(req.body).length === 0) return sendProblem(res, problems.emptyBody());
      const result = webhooks.subscribe(req.body);
      if ('errors' in result) return sendProblem(res, problems.validation([{ request_id: '0', errors: result.errors }]));
      sendHal(res, webhooks.render(result.webhook));
    },
    destroy(req: Request, res: Response) {
      if (res.locals.bodyError || !isObject(req.body) || typeof req.body.destination !== 'string') {
        return sendProblem(res, problems.validation([{ request_id: '0', errors: [invalid.missing('destination')] }]));
      }
      webhooks.unsubscribe(req.body.destination);
      sendNoContent(res);
    },
  };

  /** GET /users: the account's users (the integration's admin and a manager), paged like every list. */
  const users = {
    index(req: Request, res: Response) {
      const paged = paging(req, res);
      if (!paged) return;
      const base = baseUrl(req);
      const all = [{ id: API_USER_ID, name: 'Администратор', email: 'admin@flowers.example' }, { id: STAFF_USER_ID, name: 'Менеджер', email: 'manager@flowers.example' }];
      sendPage(req, res, 'users', all.map((u) => ({ ...u, lang: 'ru', rights: {}, _links: { self: { href: `${base}/api/v4/users/${u.id}` } } })), paged, { _total_items: all.length });
    },
  };

  const account = {
    show(req: Request, res: Response) {
      sendHal(res, {
        id: deps.accountId, name: 'Цветочная подписка', subdomain: deps.subdomain, created_at: 1700000000, created_by: API_USER_ID,
        updated_at: 1700000000, updated_by: API_USER_ID, current_user_id: API_USER_ID, country: 'RU', currency: 'RUB', currency_symbol: '₽',
        customers_mode: 'disabled', is_unsorted_on: true, mobile_feature_version: 0, is_loss_reason_enabled: true, is_helpbot_enabled: false,
        is_technical_account: false, contact_name_display_order: 1, _links: { self: { href: `${baseUrl(req)}/api/v4/account` } },
        _embedded: { users: [{ id: API_USER_ID, name: 'Администратор' }, { id: STAFF_USER_ID, name: 'Менеджер' }] },
      });
    },
  };

  return { leads, notes, fields, pipelines, contacts, events, webhooks: hooks, account, users, notFound };
}
export type ApiController = ReturnType<typeof createApiController>;
