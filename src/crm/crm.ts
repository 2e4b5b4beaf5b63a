// The amoCRM integration assembled: connection (tokens, throttle), HTTP client, field map, and the leads, contacts
// and notes in the shop's terms (leads.ts) — what the services use.
import type { Knex } from 'knex';
import { createAmoClient } from './amocrm-client.js';
import { createAmoConnection, type AmoSettings } from './connection.js';
import { createFieldMap, type FieldNames } from './field-map.js';
import { createLeads } from './leads.js';

export function createCrm({ db, settings, secrets, names, timeZone }: { db: Knex; settings: AmoSettings; secrets: readonly string[]; names: FieldNames; timeZone: string }) {
  const connection = createAmoConnection({ db, settings, secrets });
  const client = createAmoClient({
    baseUrl: connection.baseUrl,
    accessToken: connection.accessToken,
    slot: connection.slot,
    onUnauthorized: connection.handleUnauthorized,
  });
  const fields = createFieldMap({ db, client, names, timeZone });
  const leads = createLeads({ db, client, fields });

  /** The consent page of an OAuth integration, with the state to check when the browser comes back. */
  function consentPageUrl(state: string): string {
    const url = new URL(settings.authUrl);
    url.searchParams.set('client_id', settings.clientId ?? '');
    url.searchParams.set('state', state);
    url.searchParams.set('mode', 'post_message');
    return url.toString();
  }

  return { settings, connection, client, fields, leads, consentPageUrl };
}

export type Crm = ReturnType<typeof createCrm>;
