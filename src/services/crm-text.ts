// What the amoCRM sync writes down in English for itself (connection reasons, sync-log messages, job errors,
// task names), told to staff in their language. amoCRM's own words (a validation hint, a network error) stay as
// they are, after the translated part.
import type { MessageKey, Translate } from '../i18n/i18n.js';

/** Whole messages the app writes, each with its key. */
const MESSAGES: Record<string, MessageKey> = {
  'needs re-authorization': 'staff.crm.needs_reauth',
  'amoCRM needs to be re-authorized': 'staff.crm.needs_reauth',
  'not connected yet': 'staff.crm.not_connected',
  'amoCRM is not connected yet': 'staff.crm.not_connected',
  'no amoCRM credentials configured': 'staff.crm.no_credentials',
  paused: 'staff.crm.paused',
  'the long-lived token was refused (expired or revoked)': 'staff.crm.token_refused',
  'amoCRM answered 402 Payment Required': 'staff.crm.http.402',
  'amoCRM answered 403 Forbidden (blocked)': 'staff.crm.http.403',
  'the customer is not in amoCRM yet': 'staff.crm.customer_not_yet',
  'token endpoint answered without tokens': 'staff.crm.no_tokens',
  'no account host: set AMOCRM_BASE_URL': 'staff.crm.no_host',
  created: 'staff.crm.result.created',
  updated: 'staff.crm.result.updated',
  unchanged: 'staff.crm.result.unchanged',
  skipped: 'staff.crm.result.skipped',
  applied: 'staff.crm.result.applied',
  adopted: 'staff.crm.result.adopted',
  cancelled: 'staff.crm.result.cancelled',
  order: 'staff.crm.result.order',
  unknown: 'staff.crm.result.unknown',
};

const HTTP: Record<string, MessageKey> = {
  '400': 'staff.crm.http.400', '401': 'staff.crm.http.401', '402': 'staff.crm.http.402', '403': 'staff.crm.http.403',
  '404': 'staff.crm.http.404', '422': 'staff.crm.http.400', '429': 'staff.crm.http.429',
};
/** The reason phrases the client adds after a status; amoCRM's own hint is kept instead. */
const REASON_PHRASES = new Set(['Too Many Requests', 'Payment Required', 'Forbidden']);

const TASKS: Record<string, MessageKey> = {
  'amocrm:sync-customer': 'staff.crm.task.sync-customer',
  'amocrm:sync-order': 'staff.crm.task.sync-order',
  'amocrm:lead-changed': 'staff.crm.task.lead-changed',
  'amocrm:reconcile': 'staff.crm.task.reconcile',
  'amocrm:lead-history': 'staff.crm.task.lead-history',
};

/** A task of the amoCRM queue by what it does; an unknown one by its name. */
export function crmTask(task: string, t: Translate): string {
  const key = TASKS[task];
  return key ? t(key) : task;
}

/** A message of the sync (null stays null), in the staff's language; what amoCRM itself said follows unchanged. */
export function crmText(message: string | null, t: Translate): string | null {
  if (message === null) return null;
  const known = MESSAGES[message];
  if (known) return t(known);
  let m: RegExpExecArray | null;
  if ((m = /^not sent: (.*)$/s.exec(message))) return t('staff.crm.not_sent', { why: crmText(m[1]!, t)! });
  if ((m = /^amoCRM: (.*)$/s.exec(message))) return `amoCRM: ${crmText(m[1]!, t)}`;
  if ((m = /^token refresh refused: (.*)$/s.exec(message))) return `${t('staff.crm.refresh_refused')}: ${m[1]}`;
  if ((m = /^(.*); waiting (\d+) s$/s.exec(message))) return `${crmText(m[1]!, t)}; ${t('staff.crm.waiting', { s: m[2]! })}`;
  if ((m = /^amoCRM lead fields are missing: (.*) \(staff: create missing fields\)$/s.exec(message))) return t('staff.crm.fields_missing', { fields: m[1]! });
  if ((m = /^amoCRM field «(.*)» has no option «(.*)»$/s.exec(message))) return t('staff.crm.no_option', { field: m[1]!, value: m[2]! });
  if ((m = /^((?:GET|POST|PATCH|PUT|DELETE) \S+): no lead id in the answer$/.exec(message))) return `${m[1]}: ${t('staff.crm.no_lead_id')}`;
  // "<METHOD> <path>: <status> <amoCRM's hint>" from the HTTP client: the request, the status in words, the hint.
  if ((m = /^((?:GET|POST|PATCH|PUT|DELETE) \S+): (\d{3})(?: (.*))?$/s.exec(message))) {
    const [, request, status, rest] = m;
    const words = HTTP[status!] ? t(HTTP[status!]!) : t('staff.crm.http.other', { status: status! });
    const hint = rest && !REASON_PHRASES.has(rest) ? `: ${rest}` : '';
    return `${request} — ${words}${hint}`;
  }
  if ((m = /^((?:GET|POST|PATCH|PUT|DELETE) \S+): (.*)$/s.exec(message))) return `${m[1]} — ${t('staff.crm.unreachable')}: ${m[2]}`;
  return message;
}

// What the sync writes into amoCRM for managers, in Russian: the lead's subscription status and one note per
// change of the subscription (table subscription_events).

const MONTHS_GENITIVE = ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря'];

/** 'YYYY-MM-DD' → «12 декабря». */
export function dayMonth(date: string): string {
  const [, m, d] = date.split('-').map(Number) as [number, number, number];
  return `${d} ${MONTHS_GENITIVE[m - 1]}`;
}

/** 'YYYY-MM-DD' → «12.01.2027». */
const dotted = (date: string) => date.split('-').reverse().join('.');

/** The lead's «Статус подписки»: «активна», «пауза до 12.01.2027» (the first day delivered again), «отменена». */
export function subscriptionStatusText(state: { cancelled: boolean; pausedFrom: string | null; pausedUntil: string | null }, today: string): string {
  if (state.cancelled) return 'отменена';
  if (state.pausedFrom !== null && state.pausedUntil !== null && state.pausedUntil > today) {
    return state.pausedFrom <= today ? `пауза до ${dotted(state.pausedUntil)}` : `активна, пауза с ${dotted(state.pausedFrom)} до ${dotted(state.pausedUntil)}`;
  }
  return 'активна';
}

export const CANCEL_REASONS_RU: Record<string, string> = {
  price: 'дорого', too_often: 'слишком часто', moving: 'переезд', quality: 'качество букетов', other: 'другое',
};

const SOURCE_SUFFIX: Record<string, string> = { account: '', mail: ' (по ссылке из письма)', staff: ' (сотрудник)' };

/** One change of the subscription as the note on the customer's lead. */
export function subscriptionEventNote(event: { kind: string; details: Record<string, string | number | null>; source: string }): string {
  const d = event.details;
  const day = (key: string) => (typeof d[key] === 'string' ? dayMonth(d[key] as string) : '?');
  let text: string;
  switch (event.kind) {
    case 'skip': text = `Клиент пропустил доставку ${day('date')}`; break;
    case 'unskip': text = `Клиент вернул доставку ${day('date')}`; break;
    case 'move': text = `Доставка ${day('from')} перенесена на ${day('to')}`; break;
    case 'pause': text = `Пауза до ${day('until')}`; break;
    case 'resume': text = 'Подписка возобновлена'; break;
    case 'cancel': {
      const reason = CANCEL_REASONS_RU[String(d.reason)] ?? String(d.reason ?? 'причина не указана');
      const comment = typeof d.comment === 'string' && d.comment.trim() ? ` — “${d.comment.trim()}”` : '';
      text = `Отмена подписки: ${reason}${comment}`;
      break;
    }
    case 'reactivate': text = typeof d.deliveryDate === 'string' ? `Подписка возобновлена, первая доставка ${day('deliveryDate')}` : 'Подписка возобновлена'; break;
    case 'gift_order': text = `Подарок: получатель ${String(d.recipientName ?? '').trim() || 'не указан'}, заказ №${d.orderId}`; break;
    case 'reminders_off': text = 'Напоминания отключены'; break;
    case 'reminders_on': text = 'Напоминания включены'; break;
    default: text = `Изменение подписки: ${event.kind}`;
  }
  return `${text}${SOURCE_SUFFIX[event.source] ?? ''}`;
}

const PREFERENCE_LABELS: [role: 'interval' | 'bouquet' | 'address' | 'wishes', label: string][] = [
  ['interval', 'Интервал'], ['bouquet', 'Букет'], ['address', 'Адрес'], ['wishes', 'Пожелания'],
];

/** The preferences changed on the site, as notes «Интервал: 1 раз в неделю → 1 раз в 2 недели» (an empty value is «—»). */
export function preferenceNotes(before: Partial<Record<string, unknown>>, after: Partial<Record<string, unknown>>): string[] {
  const shown = (v: unknown) => (v === undefined || v === null || String(v).trim() === '' ? '—' : String(v));
  return PREFERENCE_LABELS.filter(([role]) => role in before && role in after && shown(before[role]) !== shown(after[role]))
    .map(([role, label]) => `${label}: ${shown(before[role])} → ${shown(after[role])}`);
}

/** «Заказ №12 подтверждён, 9 000 ₽». */
export function orderConfirmedNote(orderId: number, priceKopecks: number): string {
  const roubles = String(Math.round(priceKopecks / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return `Заказ №${orderId} подтверждён, ${roubles} ₽`;
}
