// The lead fields, found in the amoCRM account by name (names configurable) and written by field_id — amoCRM
// refuses fields identified only by name. The map is kept in PostgreSQL so that every process shares it;
// `resolve()` reads the account again and `createMissing()` adds what is not there. The eight fields of the
// design document are required; the later ones (subscription status, marketing consent) are sent once they
// exist, so that an account set up for an earlier release keeps syncing until `amocrm:fields` is run.
import type { Knex } from 'knex';
import { createAmocrmFieldModel, type MappedField as StoredField } from '../models/amocrm-field-model.js';
import { AmoError, type AmoClient, type AmoCustomField, type AmoLead, type CustomFieldValue } from './amocrm-client.js';

export const FIELD_ROLES = ['sum', 'bouquet', 'address', 'deliveryDate', 'interval', 'wishes', 'email', 'referralLink', 'subscriptionStatus', 'marketingConsent'] as const;
export type FieldRole = (typeof FIELD_ROLES)[number];
/** Roles whose field may be missing without stopping the sync: their values are simply not sent yet. */
const OPTIONAL_ROLES: ReadonlySet<FieldRole> = new Set(['subscriptionStatus', 'marketingConsent']);
const REQUIRED_ROLES = FIELD_ROLES.filter((r) => !OPTIONAL_ROLES.has(r));
export type FieldNames = Record<FieldRole, string>;

/** How each field is created when it is missing. */
export const FIELD_SPECS: Record<FieldRole, { type: string; enums?: string[] }> = {
  sum: { type: 'numeric' },
  bouquet: { type: 'select', enums: ['Романтический', 'Сезонный', 'Люкс'] },
  address: { type: 'textarea' },
  deliveryDate: { type: 'date' },
  interval: { type: 'select', enums: ['1 раз в неделю', '1 раз в 2 недели', '1 раз в месяц'] },
  wishes: { type: 'textarea' },
  email: { type: 'text' },
  referralLink: { type: 'url' },
  // Free text: «активна», «пауза до 12.01.2027», «отменена» — a list field could not hold the date.
  subscriptionStatus: { type: 'text' },
  // amoCRM's checkbox: written as {"value": true|false}.
  marketingConsent: { type: 'checkbox' },
};

/** The lead's values in their plain form: money in roubles, dates as YYYY-MM-DD, selects by their label, checkboxes as booleans. */
type LeadValue = string | number | boolean;
export type LeadValues = Partial<Record<FieldRole, LeadValue>>;

/** amoCRM's predefined tracking fields of leads (type tracking_data), each found by its code; never created by us. */
const TRACKING_CODES = {
  utmSource: 'UTM_SOURCE', utmMedium: 'UTM_MEDIUM', utmCampaign: 'UTM_CAMPAIGN', utmContent: 'UTM_CONTENT', utmTerm: 'UTM_TERM',
  referrer: 'REFERRER', yclid: 'YCLID', gclid: 'GCLID',
} as const;
/** What brought the customer, as amoCRM's tracking fields hold it. */
export type Tracking = Partial<Record<keyof typeof TRACKING_CODES, string | null>>;

type MappedField = StoredField<FieldRole>;

const norm = (s: string) => s.trim().toLowerCase();

/** Midnight of the calendar date in the shop's time zone, as unix seconds (amoCRM date fields). */
export function dateToUnix(isoDate: string, timeZone: string): number {
  const [y, m, d] = isoDate.split('-').map(Number) as [number, number, number];
  const utc = Date.UTC(y, m - 1, d);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    .formatToParts(new Date(utc)).map((p) => [p.type, p.value]));
  const seenAsUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return (utc - (seenAsUtc - utc)) / 1000;
}

export function unixToDate(unix: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(unix * 1000));
}

export function createFieldMap({ db, client, names, timeZone }: { db: Knex; client: AmoClient; names: FieldNames; timeZone: string }) {
  const rows = createAmocrmFieldModel<FieldRole>(db);
  /** The tracking fields' ids by code, read once per process (when first needed, or with every resolve()). */
  let trackingIds: Promise<Map<string, number>> | null = null;
  const trackingOf = (fields: AmoCustomField[]) =>
    new Map(fields.filter((f) => f.type === 'tracking_data' && f.code).map((f) => [f.code!.toUpperCase(), f.id]));

  const stored = () => rows.list();

  async function resolve(): Promise<{ found: FieldRole[]; missing: FieldRole[] }> {
    const fields = await client.customFields();
    trackingIds = Promise.resolve(trackingOf(fields));
    const byName = new Map<string, AmoCustomField>(fields.map((f) => [norm(f.name), f]));
    const found: MappedField[] = [];
    const missing: FieldRole[] = [];
    for (const role of FIELD_ROLES) {
      const f = byName.get(norm(names[role]));
      if (f) found.push({ role, name: f.name, fieldId: f.id, type: f.type, enums: (f.enums ?? []).map((e) => ({ id: e.id, value: e.value })) });
      else missing.push(role);
    }
    await rows.replaceAll(found);
    return { found: found.map((f) => f.role), missing };
  }

  /**
   * The map; reads the account once when a required field is not in the stored one. Missing required fields are a
   * permanent problem; missing optional ones are left out (`amocrm:fields` or the staff page maps them again).
   */
  async function complete(): Promise<Map<FieldRole, MappedField>> {
    let fields = await stored();
    if (REQUIRED_ROLES.some((r) => !fields.some((f) => f.role === r))) {
      await resolve();
      fields = await stored();
    }
    const map = new Map(fields.map((f) => [f.role, f]));
    const missing = REQUIRED_ROLES.filter((r) => !map.has(r));
    if (missing.length) {
      throw new AmoError('invalid', `amoCRM lead fields are missing: ${missing.map((r) => `«${names[r]}»`).join(', ')} (staff: create missing fields)`);
    }
    return map;
  }

  function encode(field: MappedField, value: LeadValue | undefined): CustomFieldValue {
    if (field.type === 'checkbox') return { field_id: field.fieldId, values: [{ value: value === true }] };
    if (value === undefined || value === '') return { field_id: field.fieldId, values: null as never };
    if (field.type === 'select' || field.type === 'radiobutton' || field.type === 'multiselect') {
      const option = field.enums.find((e) => norm(e.value) === norm(String(value)));
      if (!option) throw new AmoError('invalid', `amoCRM field «${field.name}» has no option «${value}»`);
      return { field_id: field.fieldId, values: [{ enum_id: option.id }] };
    }
    if (field.type === 'date' || field.type === 'date_time' || field.type === 'birthday') {
      return { field_id: field.fieldId, values: [{ value: dateToUnix(String(value), timeZone) }] };
    }
    if (field.type === 'numeric' || field.type === 'price') return { field_id: field.fieldId, values: [{ value: Number(value) }] };
    return { field_id: field.fieldId, values: [{ value: String(value) }] };
  }

  return {
    resolve,
    stored,

    /** Creates the fields that the account lacks, with their options, then maps again. */
    async createMissing(): Promise<{ created: FieldRole[]; missing: FieldRole[] }> {
      const { missing } = await resolve();
      if (missing.length) {
        await client.createCustomFields(missing.map((role, i) => ({
          name: names[role], type: FIELD_SPECS[role].type, sort: 500 + i,
          ...(FIELD_SPECS[role].enums ? { enums: FIELD_SPECS[role].enums!.map((value, sort) => ({ value, sort: sort + 1 })) } : {}),
        })));
      }
      const after = await resolve();
      return { created: missing.filter((r) => !after.missing.includes(r)), missing: after.missing };
    },

    /** custom_fields_values for the given roles; on create, empty values are left out, and so are roles without a field. */
    async encode(values: LeadValues, options: { forCreate: boolean }): Promise<CustomFieldValue[]> {
      const map = await complete();
      const out: CustomFieldValue[] = [];
      for (const [role, value] of Object.entries(values) as [FieldRole, LeadValue | undefined][]) {
        if (options.forCreate && (value === undefined || value === '')) continue;
        const field = map.get(role);
        if (field) out.push(encode(field, value));
      }
      return out;
    },

    /**
     * custom_fields_values for the tracking fields that have a value and exist in the account (looked up by code in
     * the custom-fields list, once); nothing is read when there is nothing to write.
     */
    async encodeTracking(values: Tracking): Promise<CustomFieldValue[]> {
      const given = (Object.entries(values) as [keyof typeof TRACKING_CODES, string | null | undefined][]).filter(([, v]) => v);
      if (!given.length) return [];
      if (!trackingIds) trackingIds = client.customFields().then(trackingOf).catch((error: unknown) => { trackingIds = null; throw error; });
      const ids = await trackingIds;
      return given.flatMap(([key, value]) => {
        const fieldId = ids.get(TRACKING_CODES[key]);
        return fieldId === undefined ? [] : [{ field_id: fieldId, values: [{ value: value! }] }];
      });
    },

    /** The roles that have a field in the account (every required one, or an error). */
    async present(): Promise<Set<FieldRole>> {
      return new Set((await complete()).keys());
    },

    /** The lead's field values read back into their plain form (for changes made by staff in amoCRM). */
    async decode(lead: AmoLead): Promise<LeadValues> {
      const map = await complete();
      const byId = new Map([...map.values()].map((f) => [f.fieldId, f]));
      const out: LeadValues = {};
      for (const cf of lead.custom_fields_values ?? []) {
        const field = byId.get(Number(cf.field_id));
        const first = cf.values?.[0];
        if (!field || !first) continue;
        if (field.type === 'select' || field.type === 'radiobutton') {
          const option = field.enums.find((e) => e.id === Number(first.enum_id)) ?? field.enums.find((e) => e.value === first.value);
          if (option) out[field.role] = option.value;
        } else if (field.type === 'date' || field.type === 'date_time' || field.type === 'birthday') {
          const n = typeof first.value === 'number' ? first.value : Number(first.value);
          out[field.role] = Number.isFinite(n) ? unixToDate(n, timeZone) : String(first.value);
        } else if (field.type === 'numeric' || field.type === 'price') {
          out[field.role] = Number(first.value);
        } else if (field.type === 'checkbox') {
          out[field.role] = first.value === true || first.value === 'true' || first.value === 1 || first.value === '1';
        } else {
          out[field.role] = String(first.value);
        }
      }
      return out;
    },

    /** The amoCRM field id of a role (to find a lead by its referral link). */
    async fieldId(role: FieldRole): Promise<number> {
      return (await complete()).get(role)!.fieldId;
    },

    forget: () => { trackingIds = null; return rows.clear(); },
  };
}

export type FieldMap = ReturnType<typeof createFieldMap>;
