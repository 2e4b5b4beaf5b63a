// A lead's history in amoCRM (its notes and its event log) read and told in words for staff: the only place that
// knows the shapes of amoCRM's notes and events. Stage and field names come from the caller (what the shop has
// stored), so reading the history costs the requests for the two lists and the users, and no more when all is known.
import { AmoError, type AmoClient, type AmoEvent, type AmoHistoryNote } from './amocrm-client.js';

export type HistoryEntry = { kind: 'note' | 'event'; at: Date; author?: string; text: string };

/** What the words need besides amoCRM's lists: stage names by status id, field names by field id (both may miss some). */
export type HistoryNames = { stages: Map<number, string>; fields: Map<number, string> };

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v.trim() : typeof v === 'number' ? String(v) : null);
const record = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {});
/** The first value object of an event's value_after/value_before that has `key`. */
const valueOf = (list: unknown[] | null, key: string): Record<string, unknown> | null => {
  for (const item of list ?? []) if (key in record(item)) return record(record(item)[key]);
  return null;
};
const withDetail = (label: string, detail: string | null) => (detail ? `${label}: ${detail}` : label);

function duration(seconds: unknown): string | null {
  const s = Number(seconds);
  if (!Number.isFinite(s) || s <= 0) return null;
  const m = Math.floor(s / 60);
  return m ? `${m} мин ${Math.round(s % 60)} с` : `${Math.round(s)} с`;
}

/** A note as staff reads it: a manager's text as it is; calls, SMS, mails and files by what they are. */
export function noteText(note: AmoHistoryNote): string {
  const p = record(note.params);
  const text = str(p.text);
  switch (note.note_type) {
    case 'common': return text ?? 'Примечание';
    case 'call_in': return withDetail('Входящий звонок', duration(p.duration));
    case 'call_out': return withDetail('Исходящий звонок', duration(p.duration));
    case 'sms_in': return withDetail('Входящее SMS', text);
    case 'sms_out': return withDetail('Исходящее SMS', text);
    case 'amomail_message': return withDetail(p.income === true ? 'Входящее письмо' : 'Исходящее письмо', str(p.subject));
    case 'service_message':
    case 'extended_service_message': return withDetail(str(p.service) ?? 'Служебное сообщение', text);
    case 'attachment': return withDetail('Файл', str(p.original_name) ?? str(p.file_name));
    case 'geolocation': return withDetail('Геолокация', str(p.address) ?? text);
    case 'invoice_paid': return withDetail('Счёт оплачен', text);
    default: return withDetail('Примечание', text);
  }
}

/** Event types told in a fixed phrase (those with values are handled in eventText). */
const EVENT_PHRASES: Record<string, string> = {
  lead_added: 'Сделка создана',
  lead_deleted: 'Сделка удалена',
  lead_restored: 'Сделка восстановлена',
  name_field_changed: 'Изменено название сделки',
  entity_responsible_changed: 'Сменился ответственный',
  entity_linked: 'Привязан контакт',
  entity_unlinked: 'Отвязан контакт',
  incoming_call: 'Входящий звонок',
  outgoing_call: 'Исходящий звонок',
  incoming_sms: 'Входящее SMS',
  outgoing_sms: 'Исходящее SMS',
  incoming_chat_message: 'Входящее сообщение в чате',
  outgoing_chat_message: 'Исходящее сообщение в чате',
  incoming_mail: 'Входящее письмо',
  outgoing_mail: 'Исходящее письмо',
  common_note_added: 'Добавлено примечание',
  common_note_deleted: 'Удалено примечание',
  attachment_note_added: 'Добавлен файл',
  service_note_added: 'Служебное примечание',
  geo_note_added: 'Добавлена геолокация',
  task_added: 'Поставлена задача',
  task_completed: 'Задача выполнена',
  task_deleted: 'Задача удалена',
  task_result_added: 'Добавлен результат задачи',
  task_deadline_changed: 'Изменён срок задачи',
  task_text_changed: 'Изменён текст задачи',
};

function stage(value: Record<string, unknown> | null, names: HistoryNames): string {
  const id = Number(value?.id);
  return names.stages.get(id) ?? `этап №${Number.isFinite(id) ? id : '?'}`;
}

/** An event in words; a type this list does not know gets a generic phrase with its name, never its JSON. */
export function eventText(event: AmoEvent, names: HistoryNames): string {
  if (event.type === 'lead_status_changed') {
    return `Этап: ${stage(valueOf(event.value_before, 'lead_status'), names)} → ${stage(valueOf(event.value_after, 'lead_status'), names)}`;
  }
  const byField = /^custom_field_(\d+)_value_changed$/.exec(event.type);
  if (byField || event.type === 'custom_field_value_changed') {
    const id = Number(byField?.[1] ?? (valueOf(event.value_after, 'custom_field_value') ?? valueOf(event.value_before, 'custom_field_value'))?.field_id);
    const name = names.fields.get(id);
    return name ? `Изменено поле «${name}»` : `Изменено поле №${Number.isFinite(id) ? id : '?'}`;
  }
  if (event.type === 'sale_field_changed') {
    const sale = valueOf(event.value_after, 'sale_field_value')?.sale;
    return withDetail('Изменён бюджет', str(sale) && `${str(sale)} ₽`);
  }
  if (event.type === 'entity_tag_added' || event.type === 'entity_tag_deleted') {
    const tag = valueOf(event.type === 'entity_tag_added' ? event.value_after : event.value_before, 'tag');
    return withDetail(event.type === 'entity_tag_added' ? 'Добавлен тег' : 'Удалён тег', str(tag?.name));
  }
  return EVENT_PHRASES[event.type] ?? `Событие amoCRM: ${event.type.replace(/[^a-z0-9]+/gi, ' ').trim() || 'без названия'}`;
}

/** The note ids an event points at (a call, a note added): such an event is the note itself, already listed. */
function noteIdsOf(event: AmoEvent): number[] {
  return [...(event.value_after ?? []), ...(event.value_before ?? [])].map((v) => Number(record(record(v).note).id)).filter(Number.isFinite);
}

/** Notes and events together, newest first, at most `max`; an event that only repeats a listed note is left out. */
export function historyEntries(notes: AmoHistoryNote[], events: AmoEvent[], names: HistoryNames & { users: Map<number, string> }, max: number): HistoryEntry[] {
  const noteIds = new Set(notes.map((n) => Number(n.id)));
  const author = (id: number) => names.users.get(Number(id));
  const entries = [
    ...notes.map((n) => ({ kind: 'note' as const, at: new Date(n.created_at * 1000), author: author(n.created_by), text: noteText(n) })),
    ...events.filter((e) => !noteIdsOf(e).some((id) => noteIds.has(id)))
      .map((e) => ({ kind: 'event' as const, at: new Date(e.created_at * 1000), author: author(e.created_by), text: eventText(e, names) })),
  ];
  return entries.sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, max)
    .map((e) => (e.author ? e : { kind: e.kind, at: e.at, text: e.text }));
}

/** The status ids and field ids the events name, so that the caller can look up the ones it does not know. */
export function namedIn(events: AmoEvent[]): { statusIds: number[]; fieldIds: number[] } {
  const statusIds = new Set<number>();
  const fieldIds = new Set<number>();
  for (const e of events) {
    if (e.type === 'lead_status_changed') {
      for (const v of [valueOf(e.value_before, 'lead_status'), valueOf(e.value_after, 'lead_status')]) if (Number.isFinite(Number(v?.id))) statusIds.add(Number(v!.id));
    }
    const byField = /^custom_field_(\d+)_value_changed$/.exec(e.type);
    if (byField) fieldIds.add(Number(byField[1]));
    if (e.type === 'custom_field_value_changed') {
      const v = valueOf(e.value_after, 'custom_field_value') ?? valueOf(e.value_before, 'custom_field_value');
      if (Number.isFinite(Number(v?.field_id))) fieldIds.add(Number(v!.field_id));
    }
  }
  return { statusIds: [...statusIds], fieldIds: [...fieldIds] };
}

/**
 * Reads the lead's latest notes and events (each list paged until `max`) and the users, and tells them in words.
 * `known` gives the names the shop has stored; a stage or field the events name beyond that is looked up once in
 * amoCRM (the pipelines, the lead fields). The stages read that way come back, for the caller to keep.
 */
export async function readLeadHistory(client: AmoClient, leadId: number, max: number, known: HistoryNames): Promise<{
  entries: HistoryEntry[]; stagesRead: { statusId: number; pipelineId: number; name: string; pipelineName: string }[] | null;
}> {
  const notes = await client.latestLeadNotes(leadId, max);
  const events = await client.latestLeadEvents(leadId, max);
  // The user list needs an administrator's rights: without them the history is shown without authors (a blocked
  // account would have refused the two lists already).
  const users = await client.userNames().catch((error: unknown) => {
    if (error instanceof AmoError && error.kind === 'forbidden') return new Map<number, string>();
    throw error;
  });
  const need = namedIn(events);
  const stages = new Map(known.stages);
  const fields = new Map(known.fields);
  let stagesRead = null;
  if (need.statusIds.some((id) => !stages.has(id))) {
    stagesRead = (await client.pipelines()).flatMap((p) => p._embedded.statuses.map((st) => ({ statusId: st.id, pipelineId: p.id, name: st.name, pipelineName: p.name })));
    for (const st of stagesRead) stages.set(st.statusId, st.name);
  }
  if (need.fieldIds.some((id) => !fields.has(id))) for (const f of await client.customFields()) fields.set(f.id, f.name);
  return { entries: historyEntries(notes, events, { stages, fields, users }, max), stagesRead };
}
