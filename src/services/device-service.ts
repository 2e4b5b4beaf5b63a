// The customer's signed-in devices (GET /account/sessions): each live session with its browser, system, last
// activity and masked address; a session is named by an opaque handle, never by its id (the cookie's value).
import { createHmac, timingSafeEqual } from 'node:crypto';
import Bowser from 'bowser';
import type { Knex } from 'knex';
import { ABSOLUTE_MS, IDLE_MS, REMEMBER_MS } from '../middleware/session.js';
import { createSessionModel } from '../models/session-model.js';

const ROUND_MS = 5 * 60_000; // lastSeenAt is kept at this resolution; the exact time of a request is not shown
const HANDLE = /^[A-Za-z0-9_-]{22}$/;

type Sess = {
  passport?: { user?: { id?: number; v?: number } };
  authAt?: number; lastSeenAt?: number; remember?: boolean; userAgent?: string; ip?: string;
};

export type Device = {
  handle: string; browser: string | null; system: string | null; lastSeenAt: Date | null; ip: string | null; current: boolean;
};

/** The address with its last part hidden: the last octet of IPv4, the interface half of IPv6. */
export function maskIp(ip: string | undefined): string | null {
  if (!ip) return null;
  const v4 = /^(?:::ffff:)?(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}$/i.exec(ip);
  if (v4) return `${v4[1]}.*`;
  if (!ip.includes(':')) return null;
  const [head = '', tail = ''] = ip.split('::');
  const front = head.split(':').filter(Boolean);
  const back = tail.split(':').filter(Boolean);
  const full = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${full.slice(0, 4).join(':')}:*`;
}

function describe(userAgent: string | undefined): { browser: string | null; system: string | null } {
  if (!userAgent) return { browser: null, system: null };
  const parsed = Bowser.parse(userAgent);
  const name = (n?: string, v?: string) => (n ? [n, v?.split('.')[0]].filter(Boolean).join(' ') : null);
  return { browser: name(parsed.browser.name, parsed.browser.version), system: name(parsed.os.name, parsed.os.versionName ?? parsed.os.version) };
}

export function createDeviceService({ db, secret }: { db: Knex; secret: string }) {
  const key = createHmac('sha256', secret).update('session handle').digest();
  const handleOf = (sid: string) => createHmac('sha256', key).update(sid).digest('base64url').slice(0, 22);
  const sessions = createSessionModel(db);

  /** The rows the session limits (src/middleware/session.ts) still let in, for this user at this auth_version. */
  async function live(userId: number, authVersion: number) {
    const now = Date.now();
    return (await sessions.liveForUser(userId)).map((row) => ({
      sid: row.sid, sess: (typeof row.sess === 'string' ? JSON.parse(row.sess) : row.sess) as Sess,
    })).filter(({ sess }) => {
      const authAt = sess.authAt ?? 0;
      const lastSeen = sess.lastSeenAt ?? authAt;
      return sess.passport?.user?.v === authVersion && now - authAt <= ABSOLUTE_MS && now - lastSeen <= (sess.remember ? REMEMBER_MS : IDLE_MS);
    });
  }

  return {
    async list(userId: number, authVersion: number, currentSid: string): Promise<Device[]> {
      const devices = (await live(userId, authVersion)).map(({ sid, sess }) => {
        const seen = sess.lastSeenAt ?? sess.authAt;
        return {
          handle: handleOf(sid), ...describe(sess.userAgent), ip: maskIp(sess.ip), current: sid === currentSid,
          lastSeenAt: seen ? new Date(Math.floor(seen / ROUND_MS) * ROUND_MS) : null,
        };
      });
      return devices.sort((a, b) => Number(b.current) - Number(a.current) || (b.lastSeenAt?.getTime() ?? 0) - (a.lastSeenAt?.getTime() ?? 0));
    },

    /** Ends the user's session named by the handle; 'current' for the requester's own, which is left alone. */
    async end(userId: number, authVersion: number, currentSid: string, handle: string): Promise<'ended' | 'current' | 'unknown'> {
      if (!HANDLE.test(handle)) return 'unknown';
      const wanted = Buffer.from(handle);
      const found = (await live(userId, authVersion)).find(({ sid }) => timingSafeEqual(Buffer.from(handleOf(sid)), wanted));
      if (!found) return 'unknown';
      if (found.sid === currentSid) return 'current';
      return (await sessions.deleteOne(userId, found.sid)) ? 'ended' : 'unknown';
    },
  };
}
export type DeviceService = ReturnType<typeof createDeviceService>;
