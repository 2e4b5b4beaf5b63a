// The test controls over HTTP (JSON), for a simulator running in another process. Not part of amoCRM:
// no auth, no rate limit, not recorded in requests().
import express, { Router, type Request, type Response } from 'express';
import { isObject } from './custom-fields.js';
import type { AccountState } from './faults.js';
import { SimulatorControlError, type SimulatorControls } from './controls.js';

const ACCOUNT_STATES: AccountState[] = ['ok', 'payment_required', 'blocked'];

export function controlRoutes(controls: SimulatorControls): Router {
  const r = Router();
  r.use(express.json({ limit: '1mb' }));
  const body = (req: Request): Record<string, unknown> => (isObject(req.body) ? req.body : {});
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : undefined);
  const bad = (res: Response, message: string) => res.status(400).json({ error: message });
  const done = (res: Response) => res.status(204).end();

  r.get('/config', (_req, res) => res.json(controls.config()));
  r.post('/reset', (req, res) => { controls.reset({ tokens: body(req).tokens === true }); done(res); });

  r.post('/oauth/code', (_req, res) => res.json({ code: controls.issueAuthorizationCode() }));
  r.post('/oauth/long-lived-token', (req, res) => res.json({ access_token: controls.issueLongLivedToken(num(body(req).ttlSeconds)) }));
  r.post('/oauth/expire-access-tokens', (_req, res) => { controls.expireAccessTokens(); done(res); });
  r.post('/oauth/revoke-refresh-tokens', (_req, res) => { controls.revokeRefreshTokens(); done(res); });

  r.post('/account-state', (req, res) => {
    const state = body(req).state as AccountState;
    if (!ACCOUNT_STATES.includes(state)) return bad(res, `state must be one of ${ACCOUNT_STATES.join(', ')}`);
    controls.setAccountState(state);
    done(res);
  });
  r.post('/fail-next', (req, res) => {
    const { count, status, body: failBody } = body(req);
    const n = num(count) ?? 1;
    const code = num(status);
    if (!Number.isInteger(n) || n < 1 || !code || !Number.isInteger(code) || code < 100 || code > 599) return bad(res, 'count ≥ 1 and an HTTP status are required');
    controls.failNext(n, code, failBody);
    done(res);
  });
  r.post('/delay', (req, res) => {
    const ms = num(body(req).ms);
    if (ms === undefined || !Number.isFinite(ms) || ms < 0) return bad(res, 'ms ≥ 0 is required');
    controls.delay(ms);
    done(res);
  });
  r.post('/lose-answer', (req, res) => {
    const { method, path } = body(req);
    if (typeof method !== 'string' || typeof path !== 'string' || !path) return bad(res, 'method and path are required');
    // The path is matched exactly, as text.
    controls.loseAnswer({ method, path: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) });
    done(res);
  });
  r.post('/rate-limit', (req, res) => {
    controls.setRateLimit({ perSecond: num(body(req).perSecond), retryAfterSeconds: num(body(req).retryAfterSeconds) });
    done(res);
  });

  r.get('/requests', (_req, res) => res.json(controls.requests()));
  r.get('/leads', (_req, res) => res.json(controls.leads()));
  r.get('/contacts', (_req, res) => res.json(controls.contacts()));
  r.get('/custom-fields', (req, res) => res.json(controls.customFields(req.query.entity === 'contacts' ? 'contacts' : 'leads')));
  r.get('/notes', (_req, res) => res.json(controls.notes()));
  r.get('/events', (_req, res) => res.json(controls.events()));
  r.get('/webhooks', (_req, res) => res.json(controls.webhooks()));
  r.get('/webhook-deliveries', async (req, res) => {
    if (req.query.settled === '1' || req.query.settled === 'true') await controls.webhooksSettled();
    res.json(controls.webhookDeliveries());
  });

  r.post('/leads/:id/staff-change', async (req, res) => {
    try {
      res.json(await controls.staffChangeLead(Number(req.params.id), body(req)));
    } catch (error) {
      if (!(error instanceof SimulatorControlError)) throw error;
      res.status(400).json({ error: error.message, details: error.details });
    }
  });
  r.post('/leads/:id/staff-note', (req, res) => {
    const { note_type: type, params } = body(req);
    if (typeof type !== 'string' || !isObject(params)) return bad(res, 'note_type and params are required');
    try {
      res.json(controls.staffAddNote(Number(req.params.id), { note_type: type, params }));
    } catch (error) {
      if (!(error instanceof SimulatorControlError)) throw error;
      res.status(400).json({ error: error.message, details: error.details });
    }
  });
  r.post('/webhook-deliveries/:index/replay', async (req, res) => {
    const index = Number(req.params.index);
    if (!controls.webhookDeliveries()[index]) return res.status(404).json({ error: `no webhook delivery #${req.params.index}` });
    res.json(await controls.replayWebhook(index));
  });

  r.use((_req, res) => res.status(404).json({ error: 'unknown simulator control' }));
  return r;
}
