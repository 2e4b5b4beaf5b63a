import type { Request } from 'express';
import type { RequestMeta } from '../models/auth-event-model.js';

/** Who made the request, for the audit trail: the client IP (behind nginx via trust proxy) and user agent. */
export function requestMeta(req: Request): RequestMeta {
  return { ip: req.ip ?? null, userAgent: req.get('user-agent') ?? null };
}
