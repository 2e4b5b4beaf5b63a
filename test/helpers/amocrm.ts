// The amoCRM simulator for tests: one shared instance for the run (the default amoCRM of every test app),
// and fresh ones for tests that break things on purpose.
import { expect } from 'chai';
import pino from 'pino';
import { createServices } from '../../src/app.js';
import { createAmoSimulator, type AmoSimulator, type AmoSimulatorOptions } from '../../src/crm/simulator/simulator.js';
import { freePort } from '../../src/embedded-postgres.js';
import { createTestApp, testConfig } from './app.js';
import { serve } from './browser.js';
import { freshDatabase } from './db.js';

let shared: { simulator: AmoSimulator; url: string; token: string } | undefined;

export async function startSharedSimulator(): Promise<void> {
  const simulator = createAmoSimulator({ seedLeadFields: true });
  const { url } = await simulator.listen(0);
  shared = { simulator, url, token: simulator.controls.issueLongLivedToken() };
}

export async function stopSharedSimulator(): Promise<void> {
  await shared?.simulator.close();
}

export function sharedSimulator() {
  if (!shared) throw new Error('the shared amoCRM simulator is not started (test/helpers/hooks.ts)');
  return shared;
}

export async function startSimulator(options: AmoSimulatorOptions = {}) {
  const simulator = createAmoSimulator({ seedLeadFields: true, ...options });
  const { url } = await simulator.listen(0);
  return { simulator, url };
}

/** A world of its own for amoCRM tests: a fresh database, a fresh simulator, an app and (unless told) a worker. */
export async function crmWorld(options: { env?: Record<string, string>; seedLeadFields?: boolean; seedTrackingFields?: boolean; worker?: boolean } = {}) {
  const database = await freshDatabase();
  const redirectUri = testConfig().amocrm.redirectUri;
  const { simulator, url } = await startSimulator({ seedLeadFields: options.seedLeadFields ?? true, seedTrackingFields: options.seedTrackingFields ?? false, redirectUri });
  const token = simulator.controls.issueLongLivedToken();
  const t = createTestApp({ databaseUrl: database.url, env: { AMOCRM_BASE_URL: url, AMOCRM_LONG_LIVED_TOKEN: token, AMOCRM_AUTH_URL: `${url}/oauth`, ...options.env } });
  if (options.worker !== false) await t.startWorker();
  const world = {
    t, simulator, url, database,
    async close() {
      await world.t.close();
      await simulator.close();
      await database.drop();
    },
  };
  return world;
}

/**
 * A CRM world whose app listens on its APP_URL, with the webhook registered in the simulator: amoCRM's
 * notifications (the echoes of the site's own writes included) reach the app as they would in production.
 */
export async function servedCrmWorld() {
  const port = await freePort();
  const w = await crmWorld({ env: { APP_URL: `http://127.0.0.1:${port}` } });
  const site = await serve(w.t.app, port);
  const services = createServices({ config: w.t.config, db: w.t.db, logger: pino({ level: 'silent' }) });
  expect(await services.crmAdmin.registerWebhook(`${w.t.config.appUrl}/webhooks/amocrm/${w.t.config.amocrm.webhookSecret}`)).to.equal('registered');
  return { w, site, services };
}
