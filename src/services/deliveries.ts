// Which deliveries a customer gets: the one answer, in TypeScript. The calendar rule (schedule.ts) gives the
// scheduled dates; a skip or a move changes one of them; a pause holds every delivery inside it; a cancelled
// subscription delivers nothing; confirmed one-off orders are deliveries of their own. The SQL of "the
// deliveries of a day" (src/models/staff-delivery-model.ts) must give the same customers on every day —
// test/staff/deliveries-truth.test.ts compares the two. Everything here is pure: dates are 'YYYY-MM-DD' in the
// shop's time zone, instants are Dates.
import type { Interval } from './catalog-service.js';
import { deliversOn, nthDelivery, upcomingDeliveries } from './schedule.js';

export type Subscription = {
  firstDate: string; interval: Interval;
  /** No delivery on pausedFrom ≤ date < pausedUntil (both set or both null). */
  pausedFrom: string | null; pausedUntil: string | null;
  cancelled: boolean;
};
export type DeliveryException = { scheduledDate: string; kind: 'skip' | 'move'; newDate: string | null };
export type OneOffOrder = { id: number; deliveryDate: string; status: 'placed' | 'confirmed' | 'cancelled' };

/**
 * One dated entry. planned, moved and order are deliveries; skipped and paused are the scheduled deliveries that
 * do not happen. A moved delivery is listed once, on its new date (`date` = `to`), never on its old one.
 */
export type DeliveryEntry =
  | { date: string; state: 'planned' | 'skipped' | 'paused' }
  | { date: string; state: 'moved'; from: string; to: string }
  | { date: string; state: 'order'; orderId: number };

/** The shop's rules for changes: the cut-off time on the day before a delivery, in the shop's time zone. */
export type ChangeRules = { cutoff: string; timeZone: string };

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function isPaused(s: Subscription, date: string): boolean {
  return s.pausedFrom !== null && s.pausedUntil !== null && s.pausedFrom <= date && date < s.pausedUntil;
}

/** A customer's entries dated from `from` to `to` (both included), by date; on one day the subscription first. */
export function deliveriesBetween(
  subscription: Subscription, exceptions: readonly DeliveryException[], orders: readonly OneOffOrder[], from: string, to: string,
): DeliveryEntry[] {
  const entries: DeliveryEntry[] = [];
  if (!subscription.cancelled) {
    const { firstDate, interval } = subscription;
    const byDate = new Map(exceptions.map((e) => [e.scheduledDate, e]));
    const at = (date: string, entry: DeliveryEntry): DeliveryEntry => (isPaused(subscription, date) ? { date, state: 'paused' } : entry);
    for (const date of scheduledBetween(firstDate, interval, from, to)) {
      const exception = byDate.get(date);
      if (exception?.kind === 'move') continue; // listed on its new date below
      entries.push(at(date, { date, state: exception ? 'skipped' : 'planned' }));
    }
    for (const e of exceptions) {
      if (e.kind !== 'move' || e.newDate === null || e.newDate < from || e.newDate > to) continue;
      if (!deliversOn(firstDate, interval, e.scheduledDate)) continue; // a change to a date the rule no longer has
      entries.push(at(e.newDate, { date: e.newDate, state: 'moved', from: e.scheduledDate, to: e.newDate }));
    }
  }
  for (const o of orders) {
    if (o.status === 'confirmed' && o.deliveryDate >= from && o.deliveryDate <= to) entries.push({ date: o.deliveryDate, state: 'order', orderId: o.id });
  }
  const rank = (e: DeliveryEntry) => (e.state === 'order' ? e.orderId : 0);
  return entries.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : rank(a) - rank(b)));
}

/** The rule's dates from `from` to `to`: at most one a week, so that many from the first on or after `from`. */
function scheduledBetween(first: string, interval: Interval, from: string, to: string): string[] {
  if (from > to) return [];
  const weeks = Math.floor((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / (7 * 86_400_000));
  return upcomingDeliveries(first, interval, from, weeks + 2).filter((date) => date <= to);
}

/** The date 'YYYY-MM-DD' of an instant in a time zone. */
export function dateIn(instant: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(instant);
}

/** How far a time zone is ahead of UTC at an instant, in milliseconds. */
function offsetAt(instant: Date, timeZone: string): number {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  }).formatToParts(instant).map((p) => [p.type, Number(p.value)]));
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - Math.floor(instant.getTime() / 1000) * 1000;
}

/** The last moment a delivery can be changed: `cutoff` ('HH:MM') on the day before, in the shop's time zone. */
export function cutoffOf(date: string, cutoff: string, timeZone: string): Date {
  const [hours, minutes] = cutoff.split(':').map(Number) as [number, number];
  const [y, m, d] = addDays(date, -1).split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d, hours, minutes);
  let instant = wall - offsetAt(new Date(wall), timeZone);
  instant = wall - offsetAt(new Date(instant), timeZone); // the offset at the cut-off itself (daylight saving)
  return new Date(instant);
}

/** Whether a delivery's cut-off has passed: it can no longer be skipped, moved or paused. */
export function isLocked(date: string, now: Date, rules: ChangeRules): boolean {
  return now.getTime() >= cutoffOf(date, rules.cutoff, rules.timeZone).getTime();
}

export type MoveRefusal =
  | 'cancelled' // the subscription is cancelled
  | 'not_a_delivery' // nothing of the subscription is delivered on that date
  | 'locked' // the delivery is past its cut-off
  | 'same_day'
  | 'past' // the new date is today or before, or past its own cut-off
  | 'taken' // another delivery of the subscription is on the new date
  | 'paused' // the new date is inside the pause
  | 'too_late'; // more than one interval after the scheduled date

/**
 * Whether the delivery now on `date` (planned, or moved there before) can go to `newDate`; null when it can.
 * The rest of the schedule is unchanged, so moving it again replaces its move.
 */
export function canMove(
  subscription: Subscription, exceptions: readonly DeliveryException[], date: string, newDate: string, now: Date, rules: ChangeRules,
): MoveRefusal | null {
  if (subscription.cancelled) return 'cancelled';
  const entry = deliveriesBetween(subscription, exceptions, [], date, date).find((e) => e.state === 'planned' || e.state === 'moved');
  if (!entry) return 'not_a_delivery';
  if (isLocked(date, now, rules)) return 'locked';
  if (newDate === date) return 'same_day';
  if (newDate <= dateIn(now, rules.timeZone) || isLocked(newDate, now, rules)) return 'past';
  const taken = deliveriesBetween(subscription, exceptions, [], newDate, newDate).some((e) => e.state === 'planned' || e.state === 'moved');
  if (taken) return 'taken';
  if (isPaused(subscription, newDate)) return 'paused';
  if (newDate > nthDelivery(entry.state === 'moved' ? entry.from : date, subscription.interval, 1)) return 'too_late';
  return null;
}

export type PauseRefusal = 'past' | 'too_far';

/** Whether a pause until `until` (the first day delivered again) can start on `today`: at most 6 months ahead. */
export function canPause(until: string, today: string): PauseRefusal | null {
  if (until <= today) return 'past';
  if (until > nthDelivery(today, 'monthly', 6)) return 'too_far';
  return null;
}
