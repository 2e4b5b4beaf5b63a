// `npm run amocrm:simulator [-- --port 4010 --host 127.0.0.1]`: the simulator alone, with the shop's lead
// fields, a long-lived token and the OAuth client printed for the app's configuration.
import { parseArgs } from 'node:util';
import { createAmoSimulator, SIMULATOR_DEFAULTS } from './simulator.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4010' },
      host: { type: 'string', default: '127.0.0.1' },
      subdomain: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string' },
      'rate-limit': { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number (got "${values.port}")`);
  const rateLimit = values['rate-limit'] === undefined ? undefined : Number(values['rate-limit']);
  if (rateLimit !== undefined && !(rateLimit > 0)) throw new Error(`--rate-limit must be a positive number (got "${values['rate-limit']}")`);

  const simulator = createAmoSimulator({
    seedLeadFields: true,
    seedTrackingFields: true,
    subdomain: values.subdomain,
    clientId: values['client-id'],
    clientSecret: values['client-secret'],
    redirectUri: values['redirect-uri'],
    rateLimitPerSecond: rateLimit,
  });
  const { url } = await simulator.listen(port, values.host);
  const config = simulator.controls.config();
  const token = simulator.controls.issueLongLivedToken(5 * 365 * 24 * 3600);
  process.stdout.write([
    `amoCRM simulator listening on ${url} (account ${config.subdomain}, id ${config.accountId}, ${rateLimit ?? SIMULATOR_DEFAULTS.rateLimitPerSecond} requests/s)`,
    `long-lived token: ${token}`,
    `OAuth client_id: ${config.clientId}  client_secret: ${config.clientSecret}  redirect_uri: ${config.redirectUri}`,
    `consent page: ${url}/oauth?client_id=${config.clientId}   test controls: ${url}/__simulator/…`,
    '',
  ].join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping the amoCRM simulator\n`);
    await simulator.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`amoCRM simulator failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
