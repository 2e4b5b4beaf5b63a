// The amoCRM API v4 simulator: one in-memory account behind an Express app that answers like amoCRM
// (OAuth 2.0, HAL, 204 on empty, problem+json errors, 7 rps, webhooks), plus test controls as a JS API
// and under /__simulator. Nothing starts until listen().
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { baseUrl, createApiController } from './api-controller.js';
import { apiRoutes } from './api-routes.js';
import { controlRoutes } from './control-routes.js';
import { createControls, type SimulatorConfig } from './controls.js';
import { createFaults } from './faults.js';
import { createOAuth } from './oauth.js';
import { oauthRoutes } from './oauth-routes.js';
import { problems, sendProblem } from './problems.js';
import { createRenderer } from './render.js';
import { createRequestLog } from './request-log.js';
import { API_USER_ID, createAmoState } from './state.js';
import { createWebhooks } from './webhooks.js';

export type AmoSimulatorOptions = {
  subdomain?: string;
  accountId?: number;
  clientId?: string;
  clientSecret?: string;
  /** The redirect URI registered on the integration; defaults to the app's development callback. */
  redirectUri?: string;
  accessTokenTtlSeconds?: number;
  /** Pre-create the shop's eight lead fields (and again on every reset). */
  seedLeadFields?: boolean;
  /** Pre-create amoCRM's tracking fields of leads (UTM_SOURCE … GCLID, type tracking_data), as every real account has. */
  seedTrackingFields?: boolean;
  rateLimitPerSecond?: number;
  /** The simulated clock in milliseconds (entity timestamps, token and code expiry); Date.now by default. */
  now?: () => number;
};

export const SIMULATOR_DEFAULTS = {
  subdomain: 'flowers',
  accountId: 31415926,
  clientId: '6f1c1e2a-7b3d-4c5e-9f00-5a1e5a1e0001',
  clientSecret: 'sim-secret-Jk3nV8qLw2Rz5Tx9Yb4Hc7Md1Pf6Gs0Ua2Ne5Wi8Ko3Qt7Vy',
  redirectUri: 'http://localhost:3000/staff/amocrm/callback',
  accessTokenTtlSeconds: 86400,
  rateLimitPerSecond: 7,
} as const;

export function createAmoSimulator(options: AmoSimulatorOptions = {}) {
  const now = options.now ?? Date.now;
  const config: SimulatorConfig = {
    subdomain: options.subdomain ?? SIMULATOR_DEFAULTS.subdomain,
    accountId: options.accountId ?? SIMULATOR_DEFAULTS.accountId,
    clientId: options.clientId ?? SIMULATOR_DEFAULTS.clientId,
    clientSecret: options.clientSecret ?? SIMULATOR_DEFAULTS.clientSecret,
    redirectUri: options.redirectUri ?? SIMULATOR_DEFAULTS.redirectUri,
  };
  let url = `https://${config.subdomain}.amocrm.ru`; // until listen() knows the real one
  let server: Server | undefined;

  const state = createAmoState({ accountId: config.accountId, seedLeadFields: options.seedLeadFields ?? false, seedTrackingFields: options.seedTrackingFields ?? false, now });
  const oauth = createOAuth({ ...config, accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? SIMULATOR_DEFAULTS.accessTokenTtlSeconds, now });
  const webhooks = createWebhooks({ accountId: config.accountId, subdomain: config.subdomain, fields: state.fields, accountUrl: () => url, now, userId: API_USER_ID });
  const faults = createFaults({ rateLimitPerSecond: options.rateLimitPerSecond ?? SIMULATOR_DEFAULTS.rateLimitPerSecond });
  const render = createRenderer({ accountId: config.accountId, fields: state.fields, leadsOfContact: state.leadsOfContact });
  const requestLog = createRequestLog(now);
  const controls = createControls({ config, state, oauth, faults, webhooks, render, requestLog, baseUrl: () => url });

  // Body parsing never ends the request: a body that cannot be parsed is noted, and the action answers
  // the way amoCRM does (after the request has been counted, delayed or failed like any other).
  const lenient = (parser: RequestHandler): RequestHandler => (req, res, next) => parser(req, res, (error?: unknown) => {
    if (error) {
      res.locals.bodyError = error;
      req.body = undefined;
    }
    next();
  });

  const authenticate: RequestHandler = (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('Authorization') ?? '');
    if (!match || !oauth.verifyAccessToken(match[1]!)) return sendProblem(res, problems.unauthorized());
    next();
  };

  const notFound: RequestHandler = (req, res) => sendProblem(res, problems.notFound(`Cannot ${req.method} ${baseUrl(req)}${req.originalUrl}`));
  const failed: ErrorRequestHandler = (error, _req, res, _next) => {
    process.stderr.write(`amoCRM simulator: ${error instanceof Error ? error.stack : String(error)}\n`);
    if (res.headersSent) return res.end();
    sendProblem(res, problems.internal());
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended'); // filter[updated_at][from]=…, filter[id][]=…
  app.use('/__simulator', controlRoutes(controls));
  app.use(requestLog.middleware);
  app.use(lenient(express.json({ type: ['application/json', 'application/*+json'], limit: '5mb' })));
  app.use(lenient(express.urlencoded({ extended: true, limit: '1mb' })));
  app.use(['/api/v4', '/oauth2'], faults.gate);
  app.use(oauthRoutes({ oauth, subdomain: config.subdomain, accountId: config.accountId }));
  app.use('/api/v4', authenticate, faults.accountGate);
  app.use(apiRoutes(createApiController({ state, webhooks, render, accountId: config.accountId, subdomain: config.subdomain })));
  app.use(notFound);
  app.use(failed);

  return {
    app,
    controls,
    /** The simulator's base URL (the account host); an amocrm.ru placeholder until listening. */
    get url(): string {
      return url;
    },
    listen(port = 0, host = '127.0.0.1'): Promise<{ url: string }> {
      return new Promise((resolve, reject) => {
        const s = app.listen(port, host, () => {
          server = s;
          const address = s.address() as AddressInfo;
          url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
          resolve({ url });
        });
        s.once('error', reject);
      });
    },
    async close(): Promise<void> {
      webhooks.abortAll();
      if (!server) return;
      const s = server;
      server = undefined;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
}
export type AmoSimulator = ReturnType<typeof createAmoSimulator>;
