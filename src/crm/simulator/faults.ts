// What stands in front of amoCRM's API: the 7 requests/second limit (sliding one-second window over every
// request received, rejected ones included), the account's state (402 unpaid, 403 nginx block page), and
// the test knobs — answer the next N requests with a chosen status, delay every response, or carry out a
// request and lose its answer (the connection is dropped after the work is done, as a timeout would look).
import type { RequestHandler } from 'express';
import { oauthProblems, problems, sendNginxPage, sendProblem, type Problem } from './problems.js';

export type AccountState = 'ok' | 'payment_required' | 'blocked';
/** `path`: only a request to exactly that path (e.g. `/api/v4/users`) fails; others pass it by. */
type Failure = { status: number; body?: unknown; path?: string };
/** Which requests lose their answer: by method and a pattern of the path (both optional). */
export type LostAnswer = { method?: string; path?: RegExp };

export function createFaults(options: { rateLimitPerSecond: number; retryAfterSeconds?: number }) {
  const defaults = { perSecond: options.rateLimitPerSecond, retryAfter: options.retryAfterSeconds ?? 1 };
  let perSecond = defaults.perSecond;
  let retryAfter = defaults.retryAfter;
  let arrivals: number[] = [];
  let failures: Failure[] = [];
  let lost: LostAnswer[] = [];
  let delayMs = 0;
  let accountState: AccountState = 'ok';

  function reset(): void {
    perSecond = defaults.perSecond;
    retryAfter = defaults.retryAfter;
    arrivals = [];
    failures = [];
    lost = [];
    delayMs = 0;
    accountState = 'ok';
  }

  /** Counts the request; true when it is over the limit. Uses the real clock, never the simulated one. */
  function overLimit(): boolean {
    const at = performance.now();
    arrivals = arrivals.filter((t) => t > at - 1000);
    arrivals.push(at);
    return arrivals.length > perSecond;
  }

  function defaultProblem(status: number, oauth: boolean): Problem | null {
    if (oauth && status === 400) return oauthProblems.invalidRequest('Check the `code` parameter');
    if (oauth && status === 401) return oauthProblems.invalidClient();
    switch (status) {
      case 400: return problems.badRequest('Request validation failed');
      case 401: return problems.unauthorized();
      case 402: return problems.paymentRequired();
      case 404: return problems.notFound('Not found');
      case 429: return problems.tooManyRequests(retryAfter);
      case 500: return problems.internal();
      case 403: case 502: case 503: case 504: return null; // nginx answers these with HTML
      default: return problems.generic(status, 'Error');
    }
  }

  /** Rate limit → delay → 429 → injected failure → IP/account block, for /api/v4 and /oauth2. */
  const gate: RequestHandler = async (req, res, next) => {
    const limited = overLimit();
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (limited) return sendProblem(res, problems.tooManyRequests(retryAfter));
    const at = failures.findIndex((f) => !f.path || f.path === req.originalUrl.split('?')[0]);
    const failure = at >= 0 ? failures.splice(at, 1)[0] : undefined;
    if (failure) {
      const { status, body } = failure;
      if (typeof body === 'string') return void res.status(status).type(body.trimStart().startsWith('<') ? 'text/html' : 'text/plain').send(body);
      if (body !== undefined) return void res.status(status).type('application/problem+json').send(JSON.stringify(body));
      const problem = defaultProblem(status, req.originalUrl.startsWith('/oauth2'));
      return problem ? sendProblem(res, problem) : sendNginxPage(res, status);
    }
    if (accountState === 'blocked') return sendNginxPage(res, 403);
    const lostAt = lost.findIndex((l) => (!l.method || l.method.toUpperCase() === req.method) && (!l.path || l.path.test(req.originalUrl.split('?')[0]!)));
    if (lostAt >= 0) {
      lost.splice(lostAt, 1);
      // The request is carried out; its answer never leaves: the socket is dropped instead.
      res.end = (() => {
        req.socket.destroy();
        return res;
      }) as typeof res.end;
    }
    next();
  };

  /** After authentication: an unpaid account answers 402 to every API call. */
  const accountGate: RequestHandler = (_req, res, next) => {
    if (accountState === 'payment_required') return sendProblem(res, problems.paymentRequired());
    next();
  };

  return {
    reset,
    gate,
    accountGate,
    failNext(count: number, status: number, body?: unknown, path?: string): void {
      for (let i = 0; i < count; i++) failures.push({ status, body, path });
    },
    loseAnswer(match: LostAnswer = {}): void {
      lost.push(match);
    },
    delay(ms: number): void {
      delayMs = Math.max(0, ms);
    },
    setAccountState(state: AccountState): void {
      accountState = state;
    },
    setRateLimit(limit: { perSecond?: number; retryAfterSeconds?: number }): void {
      if (limit.perSecond !== undefined) perSecond = limit.perSecond;
      if (limit.retryAfterSeconds !== undefined) retryAfter = limit.retryAfterSeconds;
      arrivals = [];
    },
  };
}
export type Faults = ReturnType<typeof createFaults>;
