// The subscription's history as staff read it (the customer's timeline): what changed, in words, and where the
// change was made. Details come from subscription_events (see src/models/subscription-event-model.ts for what each
// kind records); a detail that is missing or malformed is shown as a dash, never an error.
import { formatDayMonth, todayIn, type Language, type MessageKey, type Translate } from '../i18n/i18n.js';
import type { CustomerHistoryEntry } from '../models/staff-customer-model.js';

const REASONS = new Set(['price', 'too_often', 'moving', 'quality', 'other']);

export function historyLine(entry: CustomerHistoryEntry, t: Translate, language: Language, timeZone: string): { at: Date; what: string; where: string } {
  const year = todayIn(timeZone, entry.at).slice(0, 4);
  const detail = (name: string) => {
    const value = entry.details?.[name];
    return value === null || value === undefined ? '' : String(value);
  };
  const day = (name: string) => (/^\d{4}-\d{2}-\d{2}$/.test(detail(name)) ? formatDayMonth(detail(name), language, year) : '—');
  return { at: entry.at, what: what(), where: where() };

  function what(): string {
    switch (entry.kind) {
      case 'skip': case 'unskip': return t(`staff.timeline.${entry.kind}`, { date: day('date') });
      case 'move': {
        // «12 → 14 декабря» within one month, «30 декабря → 2 января» across months.
        const [from, to] = [day('from'), day('to')];
        const sameMonth = from !== '—' && detail('from').slice(0, 7) === detail('to').slice(0, 7);
        return t('staff.timeline.move', { from: sameMonth ? from.split(' ')[0]! : from, to });
      }
      case 'pause': return t('staff.timeline.pause', { until: day('until') });
      case 'reactivate': return t('staff.timeline.reactivate', { date: day('deliveryDate') });
      case 'gift_order': return t('staff.timeline.gift_order', { number: detail('orderId') || '—', name: detail('recipientName') || '—' });
      case 'cancel': {
        const code = detail('reason');
        const reason = REASONS.has(code) ? t(`staff.timeline.reason.${code}` as MessageKey) : code || '—';
        const comment = detail('comment').trim();
        return comment ? t('staff.timeline.cancel_comment', { reason, comment }) : t('staff.timeline.cancel', { reason });
      }
      default: return t(`staff.timeline.${entry.kind}` as MessageKey); // resume, reminders_off, reminders_on
    }
  }

  function where(): string {
    if (entry.source === 'staff') return entry.staffEmail ? t('staff.timeline.source.staff', { email: entry.staffEmail }) : t('staff.timeline.source.staff_gone');
    return t(`staff.timeline.source.${entry.source}` as MessageKey);
  }
}
