// The one-click links of a reminder mail (SECURITY S7, S23): a token sealed with AES-256-GCM (sealed.ts, a key of its
// own derived from SESSION_SECRET, so rotating the secret keeps sent links readable) that names the customer, the
// delivery date, the action and the moment it expires. Sealing makes it tamper-proof: a changed character fails
// the GCM tag. Nothing is stored when a link is made; when it is used, the SHA-256 of the token is stored
// (mail_action_uses), which makes each link single-use without keeping the token itself.
import { createSealer } from './sealed.js';

export const MAIL_ACTIONS = ['skip', 'move', 'unsubscribe'] as const;
export type MailAction = (typeof MAIL_ACTIONS)[number];

export type MailLink = { userId: number; date: string; action: MailAction; expiresAt: Date };

/** The shape of a sealed token ('v1.' + three base64url parts); anything else is not looked at. */
const TOKEN = /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{10,200}$/;

export function createMailLinks(secrets: readonly string[]) {
  const sealer = createSealer(secrets, { salt: 'flowers-mail-link', info: 'one-click mail action v1', unreadable: 'mail link not readable' });
  return {
    make(link: MailLink): string {
      return sealer.seal(JSON.stringify({ u: link.userId, d: link.date, a: link.action, e: Math.floor(link.expiresAt.getTime() / 1000) }));
    },
    /** The link a token stands for, or null for a token that was altered, forged or sealed with an unknown key. */
    read(token: string): MailLink | null {
      if (!TOKEN.test(token)) return null;
      try {
        const p = JSON.parse(sealer.open(token)) as { u?: unknown; d?: unknown; a?: unknown; e?: unknown };
        if (!Number.isSafeInteger(p.u) || typeof p.d !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(p.d)) return null;
        if (!(MAIL_ACTIONS as readonly unknown[]).includes(p.a) || !Number.isSafeInteger(p.e)) return null;
        return { userId: p.u as number, date: p.d, action: p.a as MailAction, expiresAt: new Date((p.e as number) * 1000) };
      } catch {
        return null;
      }
    },
  };
}
export type MailLinks = ReturnType<typeof createMailLinks>;
