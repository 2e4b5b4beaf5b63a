// Entities as amoCRM v4 returns them on read (HAL objects with _links and _embedded).
import { renderFieldValues, type FieldStore } from './custom-fields.js';
import type { AmoEvent, Contact, Lead, Note, Tag } from './state.js';

export function createRenderer(deps: { accountId: number; fields: FieldStore; leadsOfContact: (id: number) => Lead[] }) {
  const tags = (list: Tag[]) => list.map((t) => ({ id: t.id, name: t.name, color: null }));

  function lead(l: Lead, base: string, withContacts = false) {
    const embedded: Record<string, unknown> = {
      tags: tags(l.tags),
      companies: l.company_id === null ? [] : [{ id: l.company_id, _links: { self: { href: `${base}/api/v4/companies/${l.company_id}` } } }],
    };
    if (withContacts) {
      embedded.contacts = l.contacts.map((c) => ({ id: c.id, is_main: c.is_main, _links: { self: { href: `${base}/api/v4/contacts/${c.id}` } } }));
    }
    return {
      id: l.id,
      name: l.name,
      price: l.price,
      responsible_user_id: l.responsible_user_id,
      group_id: 0,
      status_id: l.status_id,
      pipeline_id: l.pipeline_id,
      loss_reason_id: l.loss_reason_id,
      created_by: l.created_by,
      updated_by: l.updated_by,
      created_at: l.created_at,
      updated_at: l.updated_at,
      closed_at: l.closed_at,
      closest_task_at: null,
      is_deleted: false,
      custom_fields_values: renderFieldValues(l.custom_fields, deps.fields, 'leads'),
      score: null,
      account_id: deps.accountId,
      labor_cost: null,
      _links: { self: { href: `${base}/api/v4/leads/${l.id}` } },
      _embedded: embedded,
    };
  }

  function contact(c: Contact, base: string, withLeads = false) {
    const embedded: Record<string, unknown> = {
      tags: tags(c.tags),
      companies: c.company_id === null ? [] : [{ id: c.company_id, _links: { self: { href: `${base}/api/v4/companies/${c.company_id}` } } }],
    };
    if (withLeads) embedded.leads = deps.leadsOfContact(c.id).map((l) => ({ id: l.id, _links: { self: { href: `${base}/api/v4/leads/${l.id}` } } }));
    return {
      id: c.id,
      name: c.name,
      first_name: c.first_name,
      last_name: c.last_name,
      responsible_user_id: c.responsible_user_id,
      group_id: 0,
      created_by: c.created_by,
      updated_by: c.updated_by,
      created_at: c.created_at,
      updated_at: c.updated_at,
      closest_task_at: null,
      is_deleted: false,
      is_unsorted: false,
      custom_fields_values: renderFieldValues(c.custom_fields, deps.fields, 'contacts'),
      account_id: deps.accountId,
      _links: { self: { href: `${base}/api/v4/contacts/${c.id}` } },
      _embedded: embedded,
    };
  }

  function note(n: Note, base: string) {
    return {
      id: n.id,
      entity_id: n.entity_id,
      created_by: n.created_by,
      updated_by: n.updated_by,
      created_at: n.created_at,
      updated_at: n.updated_at,
      responsible_user_id: n.responsible_user_id,
      group_id: 0,
      note_type: n.note_type,
      params: n.params,
      account_id: deps.accountId,
      _links: { self: { href: `${base}/api/v4/leads/${n.entity_id}/notes/${n.id}` } },
    };
  }

  function event(e: AmoEvent, base: string) {
    const entityPath = e.entity_type === 'lead' ? 'leads' : 'contacts';
    return {
      id: e.id,
      type: e.type,
      entity_id: e.entity_id,
      entity_type: e.entity_type,
      created_by: e.created_by,
      created_at: e.created_at,
      value_after: e.value_after,
      value_before: e.value_before,
      account_id: deps.accountId,
      _links: { self: { href: `${base}/api/v4/events/${e.id}` } },
      _embedded: { entity: { id: e.entity_id, _links: { self: { href: `${base}/api/v4/${entityPath}/${e.entity_id}` } } } },
    };
  }

  return { lead, contact, note, event };
}
export type Renderer = ReturnType<typeof createRenderer>;
