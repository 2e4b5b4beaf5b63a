// Per-IP limits (SECURITY S6), and per-user ones for logged-in forms, with counters in PostgreSQL, so that several
// app processes share them.
import type { Request, RequestHandler, Response } from 'express';
import { rateLimit, type Options, type Store } from 'express-rate-limit';
import type { RateCounterModel } from '../models/rate-counter-model.js';

function pgStore(counters: RateCounterModel, prefix: string): Store {
  let windowMs = 60_000;
  return {
    prefix,
    localKeys: false,
    init(options: Options) {
      windowMs = options.windowMs;
    },
    async increment(key: string) {
      const { hits, resetAt } = await counters.hit(`${prefix}${key}`, windowMs);
      return { totalHits: hits, resetTime: resetAt };
    },
    async decrement(key: string) {
      await counters.decrement(`${prefix}${key}`);
    },
    async resetKey(key: string) {
      await counters.reset(`${prefix}${key}`);
    },
  };
}

type LimitOptions = {
  name: string; limit: number; windowMs: number; skipSuccessfulRequests?: boolean; onLimit: (req: Request, res: Response) => void;
  /** Counts per logged-in user instead of per IP (the route must require a user). */
  perUser?: boolean;
  /** Counts these methods (default POST only: forms); a download that costs work counts its GETs. */
  methods?: readonly string[];
};

export function createRateLimits(counters: RateCounterModel) {
  const limiter = (o: LimitOptions): RequestHandler => rateLimit({
    windowMs: o.windowMs,
    limit: o.limit,
    store: pgStore(counters, `${o.perUser ? 'user' : 'ip'}:${o.name}:`),
    ...(o.perUser ? { keyGenerator: (req: Request) => String(req.user!.id) } : {}),
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    skipSuccessfulRequests: o.skipSuccessfulRequests ?? false,
    requestWasSuccessful: (_req, res) => res.statusCode < 400,
    skip: (req) => !(o.methods ?? ['POST']).includes(req.method),
    handler: (req, res) => o.onLimit(req, res),
    validate: { trustProxy: false },
  });
  return { limiter };
}
