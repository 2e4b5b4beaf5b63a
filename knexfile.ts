// For the knex command line (`npx knex --knexfile knexfile.ts ...` under tsx). The app itself migrates
// through src/db.ts at start-up and with `npm run migrate`.
import { loadConfig, readEnvironment } from './src/config.js';
import { migrationOptions } from './src/db.js';

const config = loadConfig(readEnvironment());
if (!config.databaseUrl) throw new Error('knexfile.ts needs DATABASE_URL; without it, use "npm run migrate" (embedded PostgreSQL)');

export default {
  client: 'pg',
  connection: config.databaseUrl,
  migrations: migrationOptions(),
};
