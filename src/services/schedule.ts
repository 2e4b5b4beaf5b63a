// The subscription's delivery calendar: from the first delivery date, every week, every two weeks, or every
// month on the same day (the last day of a shorter month when that day does not exist: 31 Jan → 28 Feb → 31 Mar).
import type { Interval } from './catalog-service.js';

const DAY_MS = 86_400_000;

function parse(iso: string): Date {
  return new Date(`${iso}T00:00:00Z`);
}
function iso(d: Date): string {
  return d.toISOString().slice(0, 10);
}
function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** The n-th delivery (n = 0 is the first delivery date). */
export function nthDelivery(first: string, interval: Interval, n: number): string {
  const start = parse(first);
  if (interval !== 'monthly') return iso(new Date(start.getTime() + n * (interval === 'weekly' ? 7 : 14) * DAY_MS));
  const months = start.getUTCMonth() + n;
  const year = start.getUTCFullYear() + Math.floor(months / 12);
  const month = ((months % 12) + 12) % 12;
  return iso(new Date(Date.UTC(year, month, Math.min(start.getUTCDate(), daysInMonth(year, month)))));
}

/** The next `count` delivery dates on or after `from` (all dates 'YYYY-MM-DD'). */
export function upcomingDeliveries(first: string, interval: Interval, from: string, count: number): string[] {
  let n = 0;
  if (first < from) {
    const gap = (parse(from).getTime() - parse(first).getTime()) / DAY_MS;
    n = interval === 'monthly' ? Math.max(0, Math.floor(gap / 31) - 1) : Math.floor(gap / (interval === 'weekly' ? 7 : 14));
    while (nthDelivery(first, interval, n) < from) n++;
  }
  const out: string[] = [];
  for (; out.length < count; n++) out.push(nthDelivery(first, interval, n));
  return out;
}

/** Whether a subscription delivers on the given date. */
export function deliversOn(first: string, interval: Interval, date: string): boolean {
  if (date < first) return false;
  return upcomingDeliveries(first, interval, date, 1)[0] === date;
}
