// POST /webhooks/amocrm/:secret — amoCRM's webhooks. Answered at once (amoCRM waits 2 s); the work is a job.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { NotFoundError } from '../middleware/errors.js';
import type { LeadUpdates } from '../services/crm-sync/lead-updates.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function createWebhooksController({ leadUpdates, secret }: { leadUpdates: LeadUpdates; secret: string }) {
  const expected = digest(secret);
  return {
    async create(req: Request, res: Response) {
      // Compared as fixed-length digests in constant time: the path secret is the webhook's only credential.
      if (!timingSafeEqual(digest(String(req.params.secret)), expected)) throw new NotFoundError();
      const raw = (req as Request & { rawBody?: Buffer }).rawBody?.toString('utf8') ?? '';
      const requestId = req.get('x-amocrm-requestid')?.slice(0, 100) ?? null;
      const result = await leadUpdates.receiveWebhook(requestId, raw, req.body);
      if (!result) {
        req.log?.warn({ requestId, bytes: raw.length }, 'malformed amoCRM webhook');
        return res.status(400).type('text/plain').send('bad request');
      }
      res.status(200).type('text/plain').send(result === 'duplicate' ? 'duplicate' : 'ok');
    },
  };
}
