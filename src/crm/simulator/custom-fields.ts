// Custom field definitions of the simulated account (leads and contacts), the seeded fields, and the
// validation of `custom_fields_values` on write the way amoCRM does it: by field_id or field_code only.
import { invalid, type ValidationError } from './problems.js';

export type EntityType = 'leads' | 'contacts';
export type FieldEnum = { id: number; value: string; sort: number };
export type CustomField = {
  id: number;
  name: string;
  type: string;
  code: string | null;
  sort: number;
  entity_type: EntityType;
  is_predefined: boolean;
  is_deletable: boolean;
  enums: FieldEnum[] | null;
};
/** A stored value: `value` as amoCRM returns it on read, plus the enum for list and multitext fields. */
export type StoredValue = { value: string | number | boolean; enum_id?: number; enum_code?: string | null };
export type StoredFieldValues = { field_id: number; values: StoredValue[] };
/** One entry of a write: `values: null` clears the field. */
export type FieldValuesInput = { field_id: number; values: StoredValue[] | null };

export const CREATABLE_TYPES = ['text', 'textarea', 'numeric', 'checkbox', 'select', 'multiselect', 'radiobutton', 'date', 'date_time',
  'birthday', 'url', 'streetaddress', 'price'] as const;
const LIST_TYPES = new Set(['select', 'multiselect', 'radiobutton']);
const TEXT_TYPES = new Set(['text', 'textarea', 'url', 'streetaddress', 'tracking_data']);
const NUMBER_TYPES = new Set(['numeric', 'price']);
const DATE_TYPES = new Set(['date', 'date_time', 'birthday']);

/** amoCRM's numeric field type ids, used in event bodies. */
export const FIELD_TYPE_IDS: Record<string, number> = {
  text: 1, numeric: 2, checkbox: 3, select: 4, multiselect: 5, date: 6, url: 7, multitext: 8, textarea: 9, radiobutton: 10,
  streetaddress: 11, birthday: 14, date_time: 19, price: 20,
};

export type FieldSeed = { name: string; type: string; code?: string; enums?: string[] };

/** The eight lead fields of the flower shop (design document), in this order. */
export const SHOP_LEAD_FIELDS: FieldSeed[] = [
  { name: 'Сумма счёта', type: 'numeric' },
  { name: 'Выбор букета (категория)', type: 'select', enums: ['Романтический', 'Сезонный', 'Люкс'] },
  { name: 'Адрес доставки', type: 'textarea' },
  { name: 'Дата доставки', type: 'date' },
  { name: 'Интервал поставки букетов', type: 'select', enums: ['1 раз в неделю', '1 раз в 2 недели', '1 раз в месяц'] },
  { name: 'Пожелания к букетам', type: 'textarea' },
  { name: 'Email', type: 'text' },
  { name: 'Реферальная ссылка', type: 'url' },
];

/** amoCRM's predefined lead fields for ad tracking (type tracking_data, text values), found by their code. */
const TRACKING_LEAD_FIELDS: FieldSeed[] = ['UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_CONTENT', 'UTM_TERM', 'REFERRER', 'YCLID', 'GCLID']
  .map((code) => ({ name: code.toLowerCase(), type: 'tracking_data', code }));

/** Every account has these predefined contact fields; their enums are codes (WORK, PRIV, …). */
const CONTACT_FIELDS: FieldSeed[] = [
  { name: 'Телефон', type: 'multitext', code: 'PHONE', enums: ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'] },
  { name: 'Email', type: 'multitext', code: 'EMAIL', enums: ['WORK', 'PRIV', 'OTHER'] },
  { name: 'Должность', type: 'text', code: 'POSITION' },
];

export function createFieldStore(options: { seedLeadFields: boolean; seedTrackingFields?: boolean }) {
  let fields: CustomField[] = [];
  let nextFieldId = 0;
  let nextEnumId = 0;

  function add(entity: EntityType, seed: FieldSeed & { sort?: number; enumSorts?: number[] }, predefined = false): CustomField {
    const field: CustomField = {
      id: nextFieldId++,
      name: seed.name,
      type: seed.type,
      code: seed.code ?? null,
      sort: seed.sort ?? 500 + fields.filter((f) => f.entity_type === entity).length * 2,
      entity_type: entity,
      is_predefined: predefined,
      is_deletable: !predefined,
      enums: seed.enums ? seed.enums.map((value, i) => ({ id: nextEnumId++, value, sort: seed.enumSorts?.[i] ?? (i + 1) * 10 })) : null,
    };
    fields.push(field);
    return field;
  }

  function reset(): void {
    fields = [];
    nextFieldId = 1278801;
    nextEnumId = 3340001;
    for (const seed of CONTACT_FIELDS) add('contacts', seed, true);
    if (options.seedLeadFields) for (const seed of SHOP_LEAD_FIELDS) add('leads', seed);
    if (options.seedTrackingFields) for (const seed of TRACKING_LEAD_FIELDS) add('leads', seed, true);
  }
  reset();

  return {
    reset,
    add,
    list: (entity?: EntityType) => fields.filter((f) => !entity || f.entity_type === entity),
    byId: (entity: EntityType, id: number) => fields.find((f) => f.entity_type === entity && f.id === id),
    byCode: (entity: EntityType, code: string) => fields.find((f) => f.entity_type === entity && f.code !== null && f.code.toUpperCase() === code.toUpperCase()),
  };
}
export type FieldStore = ReturnType<typeof createFieldStore>;

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Validates `custom_fields_values` of one entity. Errors are pushed with paths relative to the entity
 * (prefix included); the returned inputs are only meaningful when no error was added.
 */
export function parseFieldValues(raw: unknown, store: FieldStore, entity: EntityType, prefix: string, errors: ValidationError[]): FieldValuesInput[] | undefined {
  const path = `${prefix}custom_fields_values`;
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    errors.push(invalid.type(path, 'array'));
    return undefined;
  }
  const result: FieldValuesInput[] = [];
  raw.forEach((entry, i) => {
    const p = `${path}.${i}`;
    if (!isObject(entry)) return errors.push(invalid.type(p, 'array'));
    const hasId = entry.field_id !== undefined && entry.field_id !== null;
    const hasCode = typeof entry.field_code === 'string' && entry.field_code !== '';
    if (!hasId && !hasCode) return errors.push(invalid.fieldIdentity(p));
    let field: CustomField | undefined;
    if (hasId) {
      if (!isInt(entry.field_id)) return errors.push(invalid.type(`${p}.field_id`, 'int'));
      field = store.byId(entity, entry.field_id);
      if (!field) return errors.push(invalid.choice(`${p}.field_id`));
    } else {
      field = store.byCode(entity, entry.field_code as string);
      if (!field) return errors.push(invalid.choice(`${p}.field_code`));
    }
    if (entry.values === null) return result.push({ field_id: field.id, values: null });
    if (entry.values === undefined) return errors.push(invalid.missing(`${p}.values`));
    if (!Array.isArray(entry.values)) return errors.push(invalid.type(`${p}.values`, 'array'));
    const before = errors.length;
    const values = entry.values.map((v, j) => parseValue(v, field, `${p}.values.${j}`, errors));
    const multiple = field.type === 'multiselect' || field.type === 'multitext';
    if (!multiple && values.length > 1) errors.push(invalid.tooMany(`${p}.values`, 1));
    if (errors.length === before) result.push({ field_id: field.id, values: values as StoredValue[] });
  });
  return result;
}

function parseValue(raw: unknown, field: CustomField, p: string, errors: ValidationError[]): StoredValue | undefined {
  if (!isObject(raw)) {
    errors.push(invalid.type(p, 'array'));
    return undefined;
  }
  const value = raw.value;
  if (TEXT_TYPES.has(field.type)) {
    if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return { value: String(value) };
    errors.push(value === undefined ? invalid.missing(`${p}.value`) : invalid.type(`${p}.value`, 'string'));
    return undefined;
  }
  if (NUMBER_TYPES.has(field.type)) {
    if (typeof value === 'number' && Number.isFinite(value)) return { value: String(value) };
    if (typeof value === 'string' && /^-?\d+(?:[.,]\d+)?$/.test(value.trim())) return { value: value.trim().replace(',', '.') };
    errors.push(value === undefined ? invalid.missing(`${p}.value`) : invalid.type(`${p}.value`, 'numeric'));
    return undefined;
  }
  if (DATE_TYPES.has(field.type)) {
    if (isInt(value)) return { value };
    if (typeof value === 'string' && RFC3339.test(value) && !Number.isNaN(Date.parse(value))) return { value: Math.floor(Date.parse(value) / 1000) };
    errors.push(value === undefined ? invalid.missing(`${p}.value`) : invalid.type(`${p}.value`, 'int'));
    return undefined;
  }
  if (field.type === 'checkbox') {
    if (typeof value === 'boolean') return { value };
    errors.push(value === undefined ? invalid.missing(`${p}.value`) : invalid.type(`${p}.value`, 'bool'));
    return undefined;
  }
  const enums = field.enums ?? [];
  if (field.type === 'multitext') {
    if (typeof value !== 'string' || value.trim() === '') {
      errors.push(value === undefined ? invalid.missing(`${p}.value`) : invalid.type(`${p}.value`, 'string'));
      return undefined;
    }
    let chosen = enums[0];
    if (raw.enum_id !== undefined && raw.enum_id !== null) {
      chosen = enums.find((e) => e.id === raw.enum_id);
      if (!chosen) return void errors.push(invalid.choice(`${p}.enum_id`));
    } else if (raw.enum_code !== undefined && raw.enum_code !== null) {
      chosen = enums.find((e) => e.value === raw.enum_code);
      if (!chosen) return void errors.push(invalid.choice(`${p}.enum_code`));
    }
    return { value, enum_id: chosen!.id, enum_code: chosen!.value };
  }
  if (LIST_TYPES.has(field.type)) {
    let chosen: FieldEnum | undefined;
    if (raw.enum_id !== undefined && raw.enum_id !== null) {
      chosen = enums.find((e) => e.id === raw.enum_id);
      if (!chosen) return void errors.push(invalid.choice(`${p}.enum_id`));
    } else if (raw.enum_code !== undefined && raw.enum_code !== null) {
      return void errors.push(invalid.choice(`${p}.enum_code`)); // list enums of custom fields carry no codes
    } else if (value !== undefined && value !== null) {
      chosen = enums.find((e) => e.value === value);
      if (!chosen) return void errors.push(invalid.choice(`${p}.value`));
    } else {
      return void errors.push(invalid.missing(`${p}.enum_id`));
    }
    return { value: chosen.value, enum_id: chosen.id, enum_code: null };
  }
  errors.push(invalid.choice(p));
  return undefined;
}

/** Applies a write to stored values: each field sent replaces its values; `values: null` clears it. */
export function mergeFieldValues(current: StoredFieldValues[], changes: FieldValuesInput[]): StoredFieldValues[] {
  const next = current.map((f) => ({ ...f }));
  for (const change of changes) {
    const at = next.findIndex((f) => f.field_id === change.field_id);
    if (change.values === null || change.values.length === 0) {
      if (at >= 0) next.splice(at, 1);
    } else if (at >= 0) {
      next[at] = { field_id: change.field_id, values: change.values };
    } else {
      next.push({ field_id: change.field_id, values: change.values });
    }
  }
  return next;
}

/** `custom_fields_values` as amoCRM returns it on read (null when the entity has none). */
export function renderFieldValues(values: StoredFieldValues[], store: FieldStore, entity: EntityType) {
  if (values.length === 0) return null;
  return values.map((fv) => {
    const field = store.byId(entity, fv.field_id);
    return {
      field_id: fv.field_id,
      field_name: field?.name ?? null,
      field_code: field?.code ?? null,
      field_type: field?.type ?? 'text',
      values: fv.values.map((v) => (v.enum_id === undefined ? { value: v.value } : { value: v.value, enum_id: v.enum_id, enum_code: v.enum_code ?? null })),
    };
  });
}

export function renderField(field: CustomField, accountId: number, base: string) {
  return {
    id: field.id,
    name: field.name,
    type: field.type,
    code: field.code,
    sort: field.sort,
    entity_type: field.entity_type,
    is_predefined: field.is_predefined,
    is_deletable: field.is_deletable,
    is_api_only: false,
    is_visible: true,
    is_required: false,
    group_id: null,
    required_statuses: [],
    enums: field.enums ? field.enums.map((e) => ({ ...e })) : null,
    remind: null,
    settings: null,
    account_id: accountId,
    _links: { self: { href: `${base}/api/v4/${field.entity_type}/custom_fields/${field.id}` } },
  };
}

/** The text a full-text `query=` sees for a set of values. */
export function searchableText(values: StoredFieldValues[]): string[] {
  return values.flatMap((fv) => fv.values.map((v) => String(v.value)));
}
