// The deliveries of a day for staff and couriers: one page sorted by address, the whole day as CSV, the count.
import type { Knex } from 'knex';
import { formatPhone, todayIn, translator, type Language } from '../i18n/i18n.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createStaffDeliveryModel, type Delivery } from '../models/staff-delivery-model.js';
import { categoryName } from './catalog-service.js';

export const DELIVERIES_PER_PAGE = 50;
/** Wishes longer than this are cut on the page (the customer page and the CSV have them whole). */
const WISHES_SHOWN = 160;
const DAY_MS = 86_400_000;

/** A real calendar date 'YYYY-MM-DD' in a sane range. */
export function isIsoDate(value: unknown): value is string {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value && value >= '1900-01-01' && value <= '2199-12-31';
}

export function addDays(date: string, days: number): string {
  return new Date(new Date(`${date}T00:00:00Z`).getTime() + days * DAY_MS).toISOString().slice(0, 10);
}

/** The Monday of the date's week. */
export function mondayOf(date: string): string {
  const weekday = new Date(`${date}T00:00:00Z`).getUTCDay(); // 0 = Sunday
  return addDays(date, -((weekday + 6) % 7));
}

/**
 * A CSV cell, never read by a spreadsheet as a formula: one starting with =, +, -, @ (after any blanks), a tab or
 * a CR gets a leading apostrophe, and every cell is quoted (RFC 4180), so that a comma inside it stays inside it
 * even when the file is opened with commas as the separator.
 */
function cell(value: string | number): string {
  let text = String(value);
  if (/^\s*[=+\-@]|^[\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

export function createStaffDeliveryService({ db, timeZone }: { db: Knex; timeZone: string }) {
  const deliveries = createStaffDeliveryModel(db);
  const categories = createBouquetCategoryModel(db);
  const namesIn = async (language: Language) => new Map((await categories.list()).map((c) => [c.code, categoryName(c, language)]));

  return {
    today(): string {
      return todayIn(timeZone);
    },

    /** One page of the day's deliveries (sorted by address), with what the page needs to link around. */
    async day(date: string, page: number, language: Language) {
      const offset = (page - 1) * DELIVERIES_PER_PAGE;
      const found = await deliveries.page(date, DELIVERIES_PER_PAGE, offset);
      const total = found.total ?? (offset ? await deliveries.count(date) : 0);
      const names = await namesIn(language);
      return {
        date, previous: addDays(date, -1), next: addDays(date, 1), today: todayIn(timeZone),
        total, page, pages: Math.max(1, Math.ceil(total / DELIVERIES_PER_PAGE)), first: offset + 1,
        deliveries: found.deliveries.map((d) => ({
          ...d,
          bouquet: names.get(d.bouquet) ?? d.bouquet,
          wishes: d.wishes.length > WISHES_SHOWN ? `${d.wishes.slice(0, WISHES_SHOWN - 1).trimEnd()}…` : d.wishes,
          wishesCut: d.wishes.length > WISHES_SHOWN,
        })),
      };
    },

    /**
     * The whole day as CSV for Excel: UTF-8 with a byte-order mark (so Cyrillic opens correctly), semicolons
     * (the list separator of Russian Excel), every cell quoted, CRLF line ends.
     */
    async csv(date: string, language: Language): Promise<string> {
      const t = translator(language);
      const names = await namesIn(language);
      const header = ['staff.deliveries.number', 'staff.deliveries.date', 'staff.deliveries.address', 'staff.deliveries.email',
        'staff.deliveries.bouquet', 'staff.deliveries.wishes', 'staff.deliveries.order', 'staff.deliveries.kind',
        'staff.deliveries.recipient', 'staff.deliveries.recipient_phone', 'staff.deliveries.card'] as const;
      // The gift columns come last, so that the columns a courier's sheet already uses keep their places. The phone is
      // written the way it is dialled in Russia, "8 912 345-67-89": a leading + would get cell()'s apostrophe, which a
      // spreadsheet shows, and bare digits would become a number.
      const line = (d: Delivery, n: number) => [n, date, d.address, d.email, names.get(d.bouquet) ?? d.bouquet, d.wishes,
        d.orderId ?? '', t(d.kind === 'order' ? 'staff.deliveries.kind_order' : 'staff.deliveries.kind_subscription'),
        d.gift?.recipientName ?? '', d.gift ? formatPhone(d.gift.recipientPhone, { plain: true }).replace(/^\+7 /, '8 ') : '', d.gift?.cardMessage ?? ''];
      const rows = (await deliveries.all(date)).map((d, i) => line(d, i + 1));
      return `\uFEFF${[header.map((k) => t(k)), ...rows].map((r) => r.map(cell).join(';')).join('\r\n')}\r\n`;
    },

    async count(date: string): Promise<number> {
      return deliveries.count(date);
    },
  };
}

export type StaffDeliveryService = ReturnType<typeof createStaffDeliveryService>;
