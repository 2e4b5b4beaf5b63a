// The amoCRM integration assembled: connection (tokens, throttle), HTTP client, field map.
import type { Knex } from 'knex';
import { createAmoClient } from './amocrm-client.js';
import { createAmoConnection, type AmoSettings } from './connection.js';
import { createFieldMap, type FieldNames } from './field-map.js';

export function createCrm({ db, settings, secrets, names, timeZone }: { db: Knex; settings: AmoSettings; secrets: readonly string[]; names: FieldNames; timeZone: string }) {
  const connection = createAmoConnection({ db, settings, secrets });
  const client = createAmoClient({
    baseUrl: connection.baseUrl,
    accessToken: connection.accessToken,
    slot: connection.slot,
    onUnauthorized: connection.handleUnauthorized,
  });
  const fields = createFieldMap({ db, client, names, timeZone });
  return { settings, connection, client, fields };
}

export type Crm = ReturnType<typeof createCrm>;
