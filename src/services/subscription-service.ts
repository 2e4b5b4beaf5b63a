// A customer's own changes to their subscription: skip, move, pause, resume, cancel, reactivate, and the upcoming
// deliveries with the state of each. Every change runs in one transaction with the customer's row locked (two
// submits of a form, or a mail link and the account at the same time, are applied one after the other), is
// checked by the rules of deliveries.ts, is recorded in subscription_events and queues the amoCRM sync. A change
// the rules refuse is a result with a reason, never an exception; asking for what is already so (a second
// submit) is a success that changes nothing (`changed: false`).
import type { Knex } from 'knex';
import { createSubscriptionChangeModel, type CancelReason, type LockedSubscription, type UpcomingOrder } from '../models/subscription-change-model.js';
import { createSubscriptionEventModel, type ChangeSource, type SubscriptionEventKind, type SubscriptionEventDetails, type SubscriptionEvent } from '../models/subscription-event-model.js';
import { createSubscriptionModel } from '../models/subscription-model.js';
import {
  canMove, canPause, dateIn, deliveriesBetween, isLocked, type ChangeRules, type DeliveryEntry, type DeliveryException, type MoveRefusal, type PauseRefusal, type Subscription,
} from './deliveries.js';
import { nthDelivery } from './schedule.js';
import type { QueueCustomerSync } from './crm-sync/queue.js';

export const CANCEL_REASONS = ['price', 'too_often', 'moving', 'quality', 'other'] as const satisfies readonly CancelReason[];
export type { CancelReason };

export type ChangeRefusal =
  | MoveRefusal // 'cancelled' | 'not_a_delivery' | 'locked' | 'same_day' | 'past' | 'taken' | 'paused' | 'too_late'
  | PauseRefusal // 'past' | 'too_far'
  | 'no_subscription' // no such customer, or no delivery date and interval yet
  | 'not_cancelled' // reactivate of a subscription that is not cancelled
  | 'invalid'; // a date that is not a real 'YYYY-MM-DD', an unknown cancel reason or a comment over 500 characters
export type ChangeResult = { ok: true; changed: boolean } | { ok: false; reason: ChangeRefusal };

/** One upcoming entry: a delivery of deliveries.ts, `locked` past its cut-off; orders also placed ones, with their own bouquet and address. */
export type UpcomingEntry = DeliveryEntry & {
  locked: boolean; orderStatus?: 'placed' | 'confirmed'; bouquet?: string; address?: string;
  /** A planned or moved delivery not yet locked: the dates it can move to. */
  moveRange?: MoveRange;
};
export type Upcoming = { entries: UpcomingEntry[]; pausedUntil: string | null; cancelled: boolean };
export type MoveRange = { earliest: string; latest: string };

/** Who made a change: the customer in the account, a one-click mail link, or a staff member (then staffUserId). */
type Actor = { source: ChangeSource; staffUserId?: number | null };

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** A real calendar date 'YYYY-MM-DD' (not 2027-02-30). */
export function isDate(value: unknown): value is string {
  if (typeof value !== 'string' || !DATE.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

/** The first day whose delivery can still be changed: tomorrow, or the day after once tomorrow's cut-off passed. */
export function firstChangeable(now: Date, rules: ChangeRules): string {
  const tomorrow = addDays(dateIn(now, rules.timeZone), 1);
  return isLocked(tomorrow, now, rules) ? addDays(tomorrow, 1) : tomorrow;
}

/** Where the delivery scheduled on `scheduled` can move: from the first day still open to one interval later. */
function rangeOf(scheduled: string, interval: Subscription['interval'], now: Date, rules: ChangeRules): MoveRange | null {
  const earliest = firstChangeable(now, rules);
  const latest = nthDelivery(scheduled, interval, 1);
  return earliest <= latest ? { earliest, latest } : null;
}

/** The dates that can hold the next `count` entries: today to `count` months and the longest pause ahead. */
export function upcomingRange(now: Date, timeZone: string, count: number): { from: string; to: string } {
  const from = dateIn(now, timeZone);
  return { from, to: nthDelivery(from, 'monthly', count + 7) };
}

/**
 * The next `count` entries from today on: the subscription's deliveries with their state (planned, skipped,
 * moved from → to, paused; `locked` once past the cut-off) and the placed or confirmed one-off orders. The one
 * answer for the deliveries page and the dashboard; `exceptions` and `orders` cover upcomingRange().
 */
export function upcomingOf(
  s: Subscription, exceptions: readonly DeliveryException[], orders: readonly UpcomingOrder[], now: Date, rules: ChangeRules, count: number,
): Upcoming {
  const { from, to } = upcomingRange(now, rules.timeZone, count);
  const own = s.firstDate && s.interval ? deliveriesBetween(s, exceptions, [], from, to) : [];
  const withRange = (e: DeliveryEntry): UpcomingEntry => {
    const locked = isLocked(e.date, now, rules);
    const range = !locked && (e.state === 'planned' || e.state === 'moved') ? rangeOf(e.state === 'moved' ? e.from : e.date, s.interval, now, rules) : null;
    return range ? { ...e, locked, moveRange: range } : { ...e, locked };
  };
  const entries: UpcomingEntry[] = [
    ...own.map(withRange),
    ...orders.filter((o) => o.deliveryDate >= from && o.deliveryDate <= to).map((o) => ({
      date: o.deliveryDate, state: 'order' as const, orderId: o.id, orderStatus: o.status, bouquet: o.bouquet, address: o.address, locked: isLocked(o.deliveryDate, now, rules),
    })),
  ];
  const rank = (e: UpcomingEntry) => (e.state === 'order' ? e.orderId : 0);
  entries.sort((a, b) => a.date.localeCompare(b.date) || rank(a) - rank(b));
  const paused = s.pausedUntil !== null && s.pausedUntil > from;
  return { entries: entries.slice(0, count), pausedUntil: paused ? s.pausedUntil : null, cancelled: s.cancelled };
}

export function createSubscriptionService({ db, timeZone, cutoff, queueCustomerSync, onRecorded, clock = () => new Date() }: {
  db: Knex; timeZone: string; cutoff: string; queueCustomerSync: QueueCustomerSync;
  /** Work for each recorded change, in its transaction (analytics' pause and cancel events). */
  onRecorded?: (trx: Knex.Transaction, event: SubscriptionEvent) => Promise<void>;
  /** The current instant; tests set it around the cut-off. */
  clock?: () => Date;
}) {
  const rules: ChangeRules = { cutoff, timeZone };

  const firstOpen = (now: Date) => firstChangeable(now, rules);

  const subscriptionOf = (s: LockedSubscription): Subscription | null => (s.firstDate && s.interval
    ? { firstDate: s.firstDate, interval: s.interval, pausedFrom: s.pausedFrom, pausedUntil: s.pausedUntil, cancelled: s.cancelled }
    : null);

  /**
   * Runs a change: locks the row, lets `change` decide and write, then records the event and queues the sync when
   * it changed something.
   */
  async function change(
    userId: number, actor: Actor, valid: boolean,
    change: (trx: Knex.Transaction, locked: LockedSubscription, now: Date) => Promise<ChangeRefusal | null | { kind: SubscriptionEventKind; details: SubscriptionEventDetails }>,
  ): Promise<ChangeResult> {
    if (actor.source === 'staff' && !actor.staffUserId) throw new Error('a staff change needs staffUserId');
    if (!valid) return { ok: false, reason: 'invalid' };
    return db.transaction(async (trx) => {
      const locked = await createSubscriptionChangeModel(trx).lock(userId);
      if (!locked) return { ok: false, reason: 'no_subscription' } as const;
      const outcome = await change(trx, locked, clock());
      if (typeof outcome === 'string') return { ok: false, reason: outcome } as const;
      if (outcome === null) return { ok: true, changed: false } as const;
      const event = await createSubscriptionEventModel(trx).record({ userId, ...outcome, source: actor.source, staffUserId: actor.staffUserId ?? null });
      await onRecorded?.(trx, event);
      await queueCustomerSync(trx, userId);
      return { ok: true, changed: true } as const;
    });
  }

  /** The subscription's entry on a date (planned, skipped, moved there, paused), read inside the transaction. */
  async function entryOn(trx: Knex.Transaction, userId: number, date: string) {
    const record = await createSubscriptionModel(trx).load(userId, date, date);
    if (!record) return null;
    const entries = deliveriesBetween(record.subscription, record.exceptions, [], date, date);
    return { record, entries };
  }

  return {
    /** The first day whose delivery can still be changed (the earliest date the forms accept). */
    firstOpenDate: (now: Date = clock()): string => firstOpen(now),

    /** Skips the delivery on `date` (a planned one, or one moved there). */
    skip(userId: number, date: string, source: ChangeSource, staffUserId?: number | null): Promise<ChangeResult> {
      return change(userId, { source, staffUserId }, isDate(date), async (trx, locked, now) => {
        if (!subscriptionOf(locked)) return 'no_subscription';
        if (locked.cancelled) return 'cancelled';
        const found = await entryOn(trx, userId, date);
        const entry = found?.entries.find((e) => e.state !== 'order');
        if (entry?.state === 'skipped') return null;
        if (entry?.state === 'paused') return 'paused';
        if (!entry) return 'not_a_delivery';
        if (isLocked(date, now, rules)) return 'locked';
        const scheduled = entry.state === 'moved' ? entry.from : date;
        await createSubscriptionChangeModel(trx).setException(userId, scheduled, 'skip', null, source);
        return { kind: 'skip', details: { date } };
      });
    },

    /** Takes back the skip of the delivery scheduled on `date`: it is delivered on its own day again. */
    unskip(userId: number, date: string, source: ChangeSource, staffUserId?: number | null): Promise<ChangeResult> {
      return change(userId, { source, staffUserId }, isDate(date), async (trx, locked, now) => {
        if (!subscriptionOf(locked)) return 'no_subscription';
        if (locked.cancelled) return 'cancelled';
        const found = await entryOn(trx, userId, date);
        const own = found?.entries.find((e) => e.state !== 'order' && (e.state !== 'moved' || e.from === date));
        if (own?.state === 'planned') return null;
        if (own?.state === 'paused') return 'paused';
        if (own?.state !== 'skipped') return 'not_a_delivery';
        if (isLocked(date, now, rules)) return 'locked';
        if (found!.entries.some((e) => e.state === 'moved')) return 'taken'; // another delivery was moved onto the day since
        await createSubscriptionChangeModel(trx).deleteException(userId, date);
        return { kind: 'unskip', details: { date } };
      });
    },

    /** Moves the delivery on `date` to `newDate`; the rest of the schedule stays as it is. */
    move(userId: number, date: string, newDate: string, source: ChangeSource, staffUserId?: number | null): Promise<ChangeResult> {
      return change(userId, { source, staffUserId }, isDate(date) && isDate(newDate), async (trx, locked, now) => {
        if (!subscriptionOf(locked)) return 'no_subscription';
        const model = createSubscriptionChangeModel(trx);
        const done = await model.exception(userId, date);
        if (done?.kind === 'move' && done.newDate === newDate) return null; // the same move submitted twice
        const found = await entryOn(trx, userId, date);
        if (!found) return 'no_subscription';
        const { subscription, exceptions } = (await createSubscriptionModel(trx).load(userId, date < newDate ? date : newDate, date < newDate ? newDate : date))!;
        const refusal = canMove(subscription, exceptions, date, newDate, now, rules);
        if (refusal) return refusal;
        const entry = found.entries.find((e) => e.state === 'planned' || e.state === 'moved')!;
        const scheduled = entry.state === 'moved' ? entry.from : date;
        if (newDate === scheduled) await model.deleteException(userId, scheduled); // moved back to its own day
        else await model.setException(userId, scheduled, 'move', newDate, source);
        return { kind: 'move', details: { from: date, to: newDate } };
      });
    },

    /**
     * The dates the delivery on `date` can move to, for the form: from the first day still open to one interval
     * after its scheduled day (another delivery's day inside the range is still refused). Null when it cannot move.
     */
    async moveRange(userId: number, date: string, now: Date = clock()): Promise<MoveRange | null> {
      if (!isDate(date)) return null;
      const record = await createSubscriptionModel(db).load(userId, date, date);
      if (!record || record.subscription.cancelled || isLocked(date, now, rules)) return null;
      const entry = deliveriesBetween(record.subscription, record.exceptions, [], date, date).find((e) => e.state === 'planned' || e.state === 'moved');
      if (!entry) return null;
      return rangeOf(entry.state === 'moved' ? entry.from : date, record.subscription.interval, now, rules);
    },

    /** No deliveries from the first day still open until `until` (delivered again from that day on). */
    pause(userId: number, until: string, source: ChangeSource, staffUserId?: number | null): Promise<ChangeResult> {
      return change(userId, { source, staffUserId }, isDate(until), async (trx, locked, now) => {
        if (!subscriptionOf(locked)) return 'no_subscription';
        if (locked.cancelled) return 'cancelled';
        const today = dateIn(now, timeZone);
        const refusal = canPause(until, today);
        if (refusal) return refusal;
        const from = firstOpen(now);
        if (until <= from) return 'past';
        // A pause still running keeps its start: the days it already held stay held.
        const running = locked.pausedFrom !== null && locked.pausedUntil !== null && locked.pausedUntil > today;
        const start = running && locked.pausedFrom! < from ? locked.pausedFrom! : from;
        if (locked.pausedFrom === start && locked.pausedUntil === until) return null;
        await createSubscriptionChangeModel(trx).setPause(userId, start, until);
        return { kind: 'pause', details: { until } };
      });
    },

    /** Ends the pause at once: deliveries from the first day still open. */
    resume(userId: number, source: ChangeSource, staffUserId?: number | null): Promise<ChangeResult> {
      return change(userId, { source, staffUserId }, true, async (trx, locked, now) => {
        if (!subscriptionOf(locked)) return 'no_subscription';
        const from = firstOpen(now);
        if (locked.pausedFrom === null || locked.pausedUntil === null || locked.pausedUntil <= from) return null;
        const model = createSubscriptionChangeModel(trx);
        if (locked.pausedFrom >= from) await model.setPause(userId, null, null);
        else await model.setPause(userId, locked.pausedFrom, from);
        return { kind: 'resume', details: { until: locked.pausedUntil } };
      });
    },

    /** Ends the subscription, with the reason (and a comment of at most 500 characters, '' for none). */
    cancel(userId: number, reason: CancelReason, comment: string, source: ChangeSource, staffUserId?: number | null): Promise<ChangeResult> {
      return change(userId, { source, staffUserId }, CANCEL_REASONS.includes(reason) && typeof comment === 'string' && comment.length <= 500, async (trx, locked, now) => {
        if (!subscriptionOf(locked)) return 'no_subscription';
        if (locked.cancelled) return null;
        const text = comment.trim() || null;
        await createSubscriptionChangeModel(trx).cancel(userId, now, reason, text);
        return { kind: 'cancel', details: { reason, comment: text } };
      });
    },

    /** Starts a cancelled subscription again, with its first delivery on `deliveryDate`. */
    reactivate(userId: number, deliveryDate: string, source: ChangeSource, staffUserId?: number | null): Promise<ChangeResult> {
      return change(userId, { source, staffUserId }, isDate(deliveryDate), async (trx, locked, now) => {
        if (!subscriptionOf(locked)) return 'no_subscription';
        if (!locked.cancelled) return locked.firstDate === deliveryDate ? null : 'not_cancelled';
        const today = dateIn(now, timeZone);
        if (deliveryDate <= today || isLocked(deliveryDate, now, rules)) return 'past';
        if (deliveryDate > nthDelivery(today, 'monthly', 12)) return 'too_far';
        const model = createSubscriptionChangeModel(trx);
        await model.deleteExceptionsFrom(userId, today);
        await model.reactivate(userId, deliveryDate);
        return { kind: 'reactivate', details: { deliveryDate } };
      });
    },

    /**
     * The next `count` entries from today on: the subscription's deliveries with their state (planned, skipped,
     * moved from → to, paused; `locked` once past the cut-off) and the placed or confirmed one-off orders. Null
     * for no such customer.
     */
    async upcoming(userId: number, count = 8, now: Date = clock()): Promise<Upcoming | null> {
      const { from, to } = upcomingRange(now, timeZone, count);
      const record = await createSubscriptionModel(db).load(userId, from, to);
      if (!record) return null;
      const orders = await createSubscriptionChangeModel(db).orders(userId, from, to);
      return upcomingOf(record.subscription, record.exceptions, orders, now, rules, count);
    },
  };
}

export type SubscriptionService = ReturnType<typeof createSubscriptionService>;
