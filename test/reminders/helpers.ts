// A reminders world of its own: a fresh database (so that a day's deliveries are exactly the test's customers),
// the real app on it, and customers with a delivery on a chosen date.
import { pino } from 'pino';
import { createServices, type Services } from '../../src/app.js';
import type { Environment } from '../../src/config.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { freshDatabase } from '../helpers/db.js';
import { insertCustomers } from '../staff/helpers.js';
import { uniqueEmail } from '../helpers/client.js';

export type ReminderWorld = { t: TestApp; services: Services; databaseUrl: string; close: () => Promise<void> };

export async function reminderWorld(env: Environment = {}): Promise<ReminderWorld> {
  const database = await freshDatabase();
  const t = createTestApp({ databaseUrl: database.url, env });
  const services = createServices({ config: t.config, db: t.db, logger: pino({ level: 'silent' }) });
  return {
    t, services, databaseUrl: database.url,
    async close() {
      await t.close();
      await database.drop();
    },
  };
}

/** Weekly customers whose first delivery is `date`; returns their ids and addresses. */
export async function customersOn(t: TestApp, date: string, n: number, options: { language?: 'ru' | 'en'; prefix?: string } = {}) {
  const emails = Array.from({ length: n }, () => uniqueEmail(options.prefix ?? 'remind'));
  const ids = await insertCustomers(t.db, emails.map((email) => ({ email, deliveryDate: date, interval: 'weekly' as const, address: 'ул. Цветочная, 7, кв. 12' })));
  if (options.language) await t.db('users').whereIn('id', ids).update({ language: options.language });
  return ids.map((id, i) => ({ id, email: emails[i]! }));
}
