// Leads, contacts and notes as the shop speaks of them: a lead's stage, price and field values by role; a contact
// by email; the text of a note. This is where amoCRM's JSON (custom_fields_values, _embedded, status_id, enum and
// field codes, page URLs) is written and read, so that the services see domain values only.
import type { Knex } from 'knex';
import { createAmocrmStatusModel } from '../models/amocrm-status-model.js';
import type { AmoClient, AmoLead, CustomFieldValue } from './amocrm-client.js';
import type { FieldMap, FieldRole, LeadValues, Tracking } from './field-map.js';

/** amoCRM's system stage "closed and not realised". */
export const LOST_STAGE_ID = 143;

/** A lead as amoCRM has it now; its field values are decoded on demand (reading the field map). */
/** A lead as amoCRM holds it; `updatedAt` is when it last changed there (null when amoCRM does not say). */
export type Lead = { id: number; stageId: number; pipelineId: number; price: number; contactId: number | null; updatedAt: Date | null; values: () => Promise<LeadValues> };
export type Stage = { statusId: number; pipelineId: number };
/** A common note of a lead: its text and when it was created (unix seconds). */
type LeadNote = { id: number; text: string; createdAt: number };

/** The customer's lead and contact pages in the amoCRM account, for staff (null when unknown). */
export function amoPageUrls(baseUrl: string | null, ids: { leadId: number | null; contactId: number | null }): { leadUrl: string | null; contactUrl: string | null } {
  const base = baseUrl?.replace(/\/+$/, '') ?? null;
  return {
    leadUrl: base && ids.leadId ? `${base}/leads/detail/${ids.leadId}` : null,
    contactUrl: base && ids.contactId ? `${base}/contacts/detail/${ids.contactId}` : null,
  };
}

const emailField = (email: string): CustomFieldValue[] => [{ field_code: 'EMAIL', values: [{ value: email, enum_code: 'WORK' }] }];

export function createLeads({ db, client, fields }: { db: Knex; client: AmoClient; fields: FieldMap }) {
  const toLead = (lead: AmoLead): Lead => ({
    id: lead.id, stageId: lead.status_id, pipelineId: lead.pipeline_id, price: lead.price,
    contactId: lead._embedded?.contacts?.[0]?.id ?? null,
    updatedAt: Number.isFinite(lead.updated_at) && lead.updated_at > 0 ? new Date(lead.updated_at * 1000) : null,
    values: () => fields.decode(lead),
  });

  return {
    async lead(id: number): Promise<Lead | null> {
      const lead = await client.lead(id);
      return lead ? toLead(lead) : null;
    },

    /** One page of the leads changed since then (unix seconds), oldest change first. */
    async leadsUpdatedSince(fromUnix: number, page: number): Promise<{ leads: Lead[]; more: boolean }> {
      const { leads, more } = await client.leadsUpdatedSince(fromUnix, page);
      return { leads: leads.map(toLead), more };
    },

    /** The lead that already carries this referral link (a retried job after a lost answer), if any. */
    async findByReferralLink(referralLink: string): Promise<{ id: number; contactId: number | null } | null> {
      const fieldId = await fields.fieldId('referralLink');
      const candidates = await client.searchLeads(referralLink);
      const found = candidates.find((lead) => lead.custom_fields_values?.some((cf) => Number(cf.field_id) === fieldId && cf.values.some((v) => v.value === referralLink)));
      return found ? { id: found.id, contactId: toLead(found).contactId } : null;
    },

    /** The id of the lead with exactly this name among those amoCRM finds for the query, if any. */
    async findIdByName(query: string, name: string): Promise<number | null> {
      return (await client.searchLeads(query)).find((l) => l.name === name)?.id ?? null;
    },

    findContactIdByEmail: (email: string) => client.findContactIdByEmail(email),

    /**
     * A new lead with its field values (empty ones left out), tracking fields and tags, linked to an existing
     * contact or to a new one with this email, in one request; `requestId` names it in amoCRM's answer.
     */
    async create(lead: { name: string; price: number; values: LeadValues; tracking?: Tracking; tags: string[]; contact: { id: number } | { email: string }; requestId: string }):
      Promise<{ leadId: number; contactId: number | null }> {
      return client.createLeadWithContact({
        name: lead.name, price: lead.price,
        custom_fields_values: [...await fields.encode(lead.values, { forCreate: true }), ...(lead.tracking ? await fields.encodeTracking(lead.tracking) : [])],
        tags: lead.tags,
        contact: 'id' in lead.contact ? { id: lead.contact.id } : { name: lead.contact.email, custom_fields_values: emailField(lead.contact.email) },
      }, lead.requestId);
    },

    /** Changes what is given: the name, the price, the values of these roles (an empty one is cleared), the stage. */
    async update(id: number, changes: { name?: string; price?: number; values?: LeadValues; stage?: Stage }): Promise<void> {
      await client.updateLead(id, {
        ...(changes.price !== undefined ? { price: changes.price } : {}),
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.values ? { custom_fields_values: await fields.encode(changes.values, { forCreate: false }) } : {}),
        ...(changes.stage ? { status_id: changes.stage.statusId, pipeline_id: changes.stage.pipelineId } : {}),
      });
    },

    /** Moves the lead to "closed and not realised" and says why in a note; returns that stage. */
    async closeAsLost(id: number, note: string): Promise<number> {
      await client.updateLead(id, { status_id: LOST_STAGE_ID });
      await client.addNote(id, note);
      return LOST_STAGE_ID;
    },

    updateContactEmail: (contactId: number, email: string) => client.updateContactEmail(contactId, email),

    /** Reads the account's pipelines again, so that every stage has its name. */
    async refreshStages(): Promise<void> {
      const pipelines = await client.pipelines();
      await createAmocrmStatusModel(db).replaceAll(pipelines.flatMap((p) => p._embedded.statuses.map((st) => ({ statusId: st.id, pipelineId: p.id, name: st.name, pipelineName: p.name }))));
    },

    /** The common notes of a lead, oldest first. */
    async notes(leadId: number): Promise<LeadNote[]> {
      return (await client.leadNotes(leadId)).flatMap((n) => (n.note_type === 'common' && typeof n.params?.text === 'string' ? [{ id: n.id, text: n.params.text, createdAt: n.created_at }] : []));
    },
    /** The texts of the lead's notes (the first 250), e.g. to add a note only once. */
    noteTexts: (leadId: number) => client.noteTexts(leadId),
    addNote: (leadId: number, text: string) => client.addNote(leadId, text),
    /** Posts the notes in one request; their ids come back by request id (see AmoClient.addNotes). */
    addNotes: (leadId: number, notes: { text: string; requestId: string }[]) => client.addNotes(leadId, notes),

    /** Gives each lead its new name and clears the values of these roles (the values are encoded once, first). */
    async erase(leads: { id: number; name: string }[], roles: FieldRole[]): Promise<void> {
      const blank = await fields.encode(Object.fromEntries(roles.map((role) => [role, ''])), { forCreate: false });
      for (const lead of leads) await client.updateLead(lead.id, { name: lead.name, custom_fields_values: blank });
    },

    /** Renames the contact and clears every value it holds (EMAIL, and a phone staff may have added); nothing when it is gone. */
    async eraseContact(id: number, name: string): Promise<void> {
      const contact = await client.contact(id);
      if (contact) await client.eraseContact(id, name, (contact.custom_fields_values ?? []).flatMap((f) => (f.field_id ? [Number(f.field_id)] : [])));
    },

    /** Subscribes the URL to lead stage and lead changes, once. */
    async subscribeWebhook(url: string): Promise<'registered' | 'already'> {
      const existing = await client.webhooks();
      if (existing.some((w) => w.destination === url)) return 'already';
      await client.subscribeWebhook(url, ['status_lead', 'update_lead']);
      return 'registered';
    },
  };
}
