// Every request the simulator received (controls excepted), with the status it answered, for assertions
// such as "the client never sent field_name" or "it backed off after the 429".
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';

export type RecordedRequest = {
  /** Simulated clock, milliseconds. */
  at: number;
  method: string;
  path: string;
  query: Record<string, unknown>;
  /** The parsed JSON or form body; null when there was none or it could not be parsed. */
  body: unknown;
  authorization: string | null;
  /** null while the response is still on its way. */
  status: number | null;
};

export function createRequestLog(now: () => number) {
  let entries: RecordedRequest[] = [];

  /** Records the request, gives it an X-Request-Id, and fills in body and status when the answer is sent. */
  const middleware: RequestHandler = (req, res, next) => {
    const entry: RecordedRequest = {
      at: now(), method: req.method, path: req.path, query: structuredClone(req.query as Record<string, unknown>),
      body: null, authorization: req.get('Authorization') ?? null, status: null,
    };
    entries.push(entry);
    res.set('X-Request-Id', randomUUID().replaceAll('-', ''));
    res.once('finish', () => {
      entry.status = res.statusCode;
      entry.body = res.locals.bodyError || req.body === undefined ? null : structuredClone(req.body as unknown);
    });
    res.once('close', () => {
      if (entry.status === null) entry.status = res.writableFinished ? res.statusCode : null;
    });
    next();
  };

  return {
    middleware,
    entries: () => entries.map((e) => structuredClone(e)),
    clear: () => { entries = []; },
  };
}
export type RequestLog = ReturnType<typeof createRequestLog>;
