// One Passport instance per app (never the global one) with the local strategy over the auth service.
import type { Request, Response, NextFunction } from 'express';
import { Passport } from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { User as AppUser } from '../models/user-model.js';
import type { AuthResult, AuthService } from '../services/auth-service.js';
import { requestMeta } from './request-meta.js';
import type { SessionUsers } from './session.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface User extends AppUser {}
  }
}

type SessionRef = { id: number; v: number };

export function createPassport(auth: AuthService, sessionUsers?: SessionUsers) {
  const passport = new Passport();
  passport.use(new LocalStrategy({ usernameField: 'email', passwordField: 'password', passReqToCallback: true, session: true },
    (req, email, password, done) => {
      auth.authenticate(email, password, requestMeta(req)).then(
        (result) => (result.status === 'ok' ? done(null, result.user, { message: result.secondFactor ? 'second_factor' : 'ok' }) : done(null, false, { message: result.status })),
        done,
      );
    }));
  passport.serializeUser<SessionRef>((user, done) => done(null, { id: user.id, v: user.authVersion }));
  passport.deserializeUser<SessionRef, Request>((req, ref, done) => {
    if (!ref || typeof ref.id !== 'number') return done(null, false);
    // The row read with the session (src/middleware/session.ts) when there is one; the same auth_version check (S10).
    const read = sessionUsers?.take(req.sessionID);
    if (read && read.id === ref.id) return done(null, read.authVersion === ref.v ? read : false);
    auth.sessionUser(ref.id, ref.v).then((user) => done(null, user ?? false), done);
  });
  return passport;
}
export type AppPassport = ReturnType<typeof createPassport>;

/** Runs the local strategy for an already-validated form; resolves to the user or the failure. */
export function authenticateLocal(passport: AppPassport, req: Request, res: Response): Promise<AuthResult> {
  return new Promise((resolve, reject) => {
    passport.authenticate('local', { session: false }, (error: unknown, user: AppUser | false, info?: { message?: string }) => {
      if (error) return reject(error);
      resolve(user ? { status: 'ok', user, secondFactor: info?.message === 'second_factor' } : { status: info?.message === 'locked' ? 'locked' : 'invalid' });
    })(req, res, ((e?: unknown) => e && reject(e)) as NextFunction);
  });
}

/** Logs the user in on a new session id (passport regenerates it), keeping only what the next page needs. */
export function logIn(req: Request, user: AppUser, options: { remember?: boolean } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    req.login(user, (error) => {
      if (error) return reject(error);
      const now = Date.now();
      req.session.authAt = now;
      req.session.lastSeenAt = now;
      req.session.remember = Boolean(options.remember);
      seenFrom(req);
      req.session.cookie.maxAge = options.remember ? 7 * 24 * 3600_000 : 24 * 3600_000;
      resolve();
    });
  });
}

/** The device shown in the list of signed-in devices: written only with a login or a lastSeenAt refresh. */
function seenFrom(req: Request): void {
  req.session.userAgent = (req.get('user-agent') ?? '').slice(0, 400);
  req.session.ip = req.ip ?? '';
}

/** Keeps the current session after a password or email change, on a new id, with the new auth_version. */
export function renewLogin(req: Request, user: AppUser): Promise<void> {
  return logIn(req, user, { remember: req.session.remember });
}
