// Sessions in PostgreSQL (connect-pg-simple over the app's Knex pool) and their time limits (SECURITY S12–S13).
import type { Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import type { Knex } from 'knex';
import { USER_COLUMNS, userFromRow, type User, type UserRow } from '../models/user-model.js';

export const VISITOR_TTL_MS = 2 * 3600_000;
export const IDLE_MS = 24 * 3600_000;
export const REMEMBER_MS = 7 * 24 * 3600_000;
export const ABSOLUTE_MS = 7 * 24 * 3600_000;
const LAST_SEEN_RESOLUTION_MS = 5 * 60_000;

declare module 'express-session' {
  interface SessionData {
    authAt?: number;
    lastSeenAt?: number;
    remember?: boolean;
    referrerId?: string;
    resetToken?: string;
    flash?: string;
    /** A staff password proved, the TOTP code still to come (/login/2fa): no user is logged in yet. */
    pendingLogin?: { id: number; v: number; remember: boolean; next: string; at: number };
    userAgent?: string;
    ip?: string;
  }
}

/** connect-pg-simple speaks pg's `query(text, values)` with $n placeholders; Knex takes `?`. */
function knexAsPgPool(db: Knex) {
  return {
    async query(text: string, values: unknown[] = []) {
      const bindings: unknown[] = [];
      const sql = text.replace(/\$(\d+)/g, (_m, n: string) => {
        bindings.push(values[Number(n) - 1]);
        return '?';
      });
      return db.raw(sql, bindings as Knex.RawBinding[]);
    },
  };
}

/**
 * The user rows read together with their sessions, by session id, until passport's deserializeUser takes them:
 * a logged-in request then needs one round trip for both instead of two.
 */
export class SessionUsers {
  private readonly rows = new Map<string, User>();
  keep(sid: string, user: User): void {
    if (this.rows.size > 10_000) this.rows.clear(); // only ever left behind by a request that failed in between
    this.rows.set(sid, user);
  }
  take(sid: string): User | undefined {
    const user = this.rows.get(sid);
    if (user) this.rows.delete(sid);
    return user;
  }
}

const SESSION_USER_ID = "(s.sess->'passport'->'user'->>'id')";

export function sessions({ db, secrets, production, users }: {
  db: Knex; secrets: readonly string[]; production: boolean; users?: SessionUsers;
}): RequestHandler {
  const PgStore = connectPgSimple(session);
  const store = new PgStore({
    pool: knexAsPgPool(db) as never,
    tableName: 'session',
    pruneSessionInterval: false, // pruned by the hourly auth:prune job, once for all processes
    disableTouch: true, // lastSeenAt below refreshes the row at most every five minutes instead of every request
  });
  if (users) {
    // The session and its user in one query (connect-pg-simple's read, joined with the user it names).
    const columns = USER_COLUMNS.map((c) => `u.${c}`).join(', ');
    store.get = (sid: string, done: (error: unknown, sess?: session.SessionData | null) => void) => {
      db.raw(`select s.sess, ${columns} from session s
        left join users u on u.id = case when ${SESSION_USER_ID} ~ '^[0-9]{1,9}$' then ${SESSION_USER_ID}::int end
        where s.sid = ? and s.expire >= now()`, [sid]).then(({ rows }: { rows: (UserRow & { sess: unknown })[] }) => {
        const row = rows[0];
        if (!row) return done(null, null);
        const sess = (typeof row.sess === 'string' ? JSON.parse(row.sess) : row.sess) as session.SessionData;
        if (row.id !== null) users.keep(sid, userFromRow(row));
        done(null, sess);
      }, (error: unknown) => done(error));
    };
  }
  return session({
    store,
    name: production ? '__Host-sid' : 'sid',
    secret: [...secrets],
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: production, path: '/', maxAge: VISITOR_TTL_MS },
  });
}

/** Replaces the request's session by an empty visitor session on a new id; the old row is deleted. */
export function freshSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((e) => (e ? reject(e) : resolve())));
}

/**
 * Ends the browser's session: the row goes from the store, the cookie is cleared, and Clear-Site-Data asks the
 * browser to drop its cache of the account's pages (logout, account deletion).
 */
export function endSession(req: Request, res: Response, cookieName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    req.session.destroy((error) => {
      if (error) return reject(error);
      res.clearCookie(cookieName, { path: '/', httpOnly: true, sameSite: 'lax', secure: cookieName.startsWith('__Host-') });
      res.set('Clear-Site-Data', '"cache", "cookies"');
      resolve();
    });
  });
}

/**
 * Server-side limits on a logged-in session: 7 days from login at most; idle for 24 h (7 days with
 * "remember me") ends it. A session past a limit is replaced by a fresh visitor session.
 */
export const sessionLimits: RequestHandler = async (req, res, next) => {
  if (!req.user || !req.session.authAt) return next();
  const now = Date.now();
  const idleLimit = req.session.remember ? REMEMBER_MS : IDLE_MS;
  const lastSeen = req.session.lastSeenAt ?? req.session.authAt;
  if (now - req.session.authAt > ABSOLUTE_MS || now - lastSeen > idleLimit) {
    await freshSession(req);
    req.user = undefined;
    return next();
  }
  if (now - lastSeen > LAST_SEEN_RESOLUTION_MS) {
    req.session.lastSeenAt = now;
    req.session.ip = req.ip ?? ''; // with the refresh that writes the row anyway, never on its own
    req.session.cookie.maxAge = Math.min(idleLimit, req.session.authAt + ABSOLUTE_MS - now);
  }
  next();
};

/**
 * express-session saves a changed session only as the response ends, after the redirect's headers have gone out,
 * so a browser may load the next page before the row is written: a fresh login would look logged out and a
 * notice would be missing. A redirect therefore waits for the save of any session that holds data.
 */
export const saveBeforeRedirect: RequestHandler = (req, res, next) => {
  const redirect = res.redirect.bind(res) as (...args: unknown[]) => void;
  res.redirect = ((...args: unknown[]) => {
    const held = req.session && Object.keys(req.session).some((key) => key !== 'cookie');
    if (!held) return redirect(...args);
    req.session.save((error) => (error ? next(error) : redirect(...args)));
  }) as typeof res.redirect;
  next();
};
