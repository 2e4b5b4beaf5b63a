// A staff world of its own: a fresh database (so that the deliveries of a day are exactly what the test put
// there), the real app on it, a signed-in staff member, and quick ways to add customers and orders.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import type { Db } from '../../src/db.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, logIn, uniqueEmail, type Agent } from '../helpers/client.js';
import { freshDatabase } from '../helpers/db.js';

export const STAFF_PASSWORD = 'Menedzher magazina 2026';

export type StaffWorld = { t: TestApp; staff: Agent; staffEmail: string; staffId: number; close: () => Promise<void> };

export async function staffWorld(): Promise<StaffWorld> {
  const database = await freshDatabase();
  const t = createTestApp({ databaseUrl: database.url });
  const { agent, email, id } = await staffAgent(t);
  return {
    t, staff: agent, staffEmail: email, staffId: id,
    async close() {
      await t.close();
      await database.drop();
    },
  };
}

/** A staff account made the way the CLI makes it, signed in through the real login form. */
export async function staffAgent(t: TestApp, email = uniqueEmail('staff')) {
  const { auth } = createServices({ config: t.config, db: t.db, logger: pino({ level: 'silent' }) });
  await auth.addStaff(email, STAFF_PASSWORD);
  const agent = client(t.app);
  const res = await logIn(agent, email, STAFF_PASSWORD);
  if (res.status !== 303) throw new Error(`staff login failed with ${res.status}`);
  const { id } = await t.db('users').whereRaw('lower(email) = ?', [email]).first('id');
  return { agent, email, id: Number(id) };
}

export type CustomerSeed = {
  email?: string; address?: string; bouquet?: 'romantic' | 'seasonal' | 'luxe'; deliveryDate: string;
  interval: 'weekly' | 'biweekly' | 'monthly'; wishes?: string; createdAt?: Date; referredBy?: number | null;
};

// Any bcrypt hash: these customers never log in.
const HASH = '$2b$12$C6UzMDM.H6dfI/f/IKxGhuA0F5bZ5c5U5qTjzE4e3cQdJ1u0bYbQW';

/** Customers written straight into the table (no bcrypt, no amoCRM job): for lists, calendars and weights. */
export async function insertCustomers(db: Db, seeds: CustomerSeed[]): Promise<number[]> {
  if (!seeds.length) return [];
  const ids: number[] = [];
  for (let i = 0; i < seeds.length; i += 500) {
    const rows = seeds.slice(i, i + 500).map((s) => ({
      email: s.email ?? uniqueEmail('c'), password_hash: HASH, role: 'customer', language: 'ru', referral_id: randomUUID(),
      bouquet: s.bouquet ?? 'seasonal', address: s.address ?? 'ул. Ленина, 25, кв. 10', delivery_date: s.deliveryDate,
      interval: s.interval, wishes: s.wishes ?? '', account_sum_kopecks: 500_000, referred_by: s.referredBy ?? null,
      ...(s.createdAt ? { created_at: s.createdAt } : {}),
    }));
    ids.push(...(await db('users').insert(rows).returning('id')).map((r: { id: number }) => Number(r.id)));
  }
  return ids;
}

export async function insertOrder(db: Db, o: {
  userId: number; deliveryDate: string; status?: 'placed' | 'confirmed' | 'cancelled'; address?: string; bouquet?: string; wishes?: string;
  gift?: { recipientName: string; recipientPhone: string; cardMessage?: string };
}): Promise<number> {
  const [row] = await db('orders').insert({
    user_id: o.userId, bouquet: o.bouquet ?? 'luxe', delivery_date: o.deliveryDate, address: o.address ?? 'ул. Заказная, 1',
    wishes: o.wishes ?? '', price_kopecks: 900_000, status: o.status ?? 'confirmed',
    recipient_name: o.gift?.recipientName ?? null, recipient_phone: o.gift?.recipientPhone ?? null, card_message: o.gift?.cardMessage ?? null,
  }).returning('id');
  return Number(row.id);
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}
