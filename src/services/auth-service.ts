// Accounts and their security: sign-up, log-in with lockout, password reset, password and email change,
// ending sessions. Speaks the domain only; expected failures are return values.
import { createHash, createHmac, hkdfSync, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';
import { createAuthEventModel, type RequestMeta } from '../models/auth-event-model.js';
import { createBouquetCategoryModel } from '../models/bouquet-category-model.js';
import { createLoginCodeModel } from '../models/login-code-model.js';
import { createConsentEventModel, type ConsentRecord } from '../models/consent-event-model.js';
import { createEmailConfirmationModel } from '../models/email-confirmation-model.js';
import { createPasswordResetModel } from '../models/password-reset-model.js';
import { createRateCounterModel } from '../models/rate-counter-model.js';
import { createSessionModel } from '../models/session-model.js';
import { createUserModel, type Preferences, type User } from '../models/user-model.js';
import type { Attribution } from '../middleware/attribution.js';
import type { JobQueue } from './job-queue.js';
import type { Mail, Mailer } from './mailer.js';
import { queueEmailConfirmation } from './email-confirmation-service.js';
import { hashToken, newLinkToken } from './link-tokens.js';
import { passwordProblem, type PasswordHasher, type PasswordProblem } from './passwords.js';
import type { QueueCustomerSync } from './crm-sync/queue.js';

export const LOCK_AFTER_FAILURES = 10;
export const LOCK_MINUTES = 15;
export const RESET_TTL_MINUTES = 60;
export const RESETS_PER_ADDRESS_PER_HOUR = 3;
export const SIGNUP_NOTICES_PER_ADDRESS_PER_HOUR = 3;
export const LOGIN_CODE_TTL_MINUTES = 10;
export const LOGIN_CODE_TRIES = 5;
export const LOGIN_CODES_PER_ADDRESS_PER_HOUR = 3;

/** `consents`: the consents ticked on the form, each with the version and hash of the text the visitor was shown. */
/** `attribution`: the visitor's first touch from the attribution cookie, when there is a valid one. */
export type SignupInput = Preferences & { email: string; password: string; language: Language; referrerId?: string; consents: ConsentRecord[]; attribution?: Attribution | null };

export type AuthResult = { status: 'ok'; user: User; secondFactor?: boolean } | { status: 'invalid' } | { status: 'locked' };

/** A code sign-in: `password_required` when the account may not sign in by a mailed code (see codeLoginAllowed). */
export type CodeResult = { status: 'ok'; user: User } | { status: 'invalid' } | { status: 'password_required' };

/**
 * Whether a code from a mail is enough to sign this account in. Staff accounts log in with their password and
 * then a TOTP code (POST /login/2fa); a mailed code must skip neither, so staff are refused here: they get no
 * code, and a code they somehow hold sends them to the password login, which leads on to the TOTP step.
 */
export function codeLoginAllowed(user: Pick<User, 'role'>): boolean {
  return user.role !== 'staff';
}

/** Work of a sign-up's transaction, after the consents are recorded (analytics keeps the attribution here). */
export type SignupHook = (trx: Knex.Transaction, userId: number, signup: { attribution: Attribution | null; subscriptionKopecks: number }) => Promise<void>;

export function hashEmail(email: string): string {
  return createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 16);
}

export function createAuthService({ db, jobs, mailer, hasher, appUrl, codeSecret, queueCustomerSync, onSignup = [] }: {
  db: Knex; jobs: JobQueue; mailer: Mailer; hasher: PasswordHasher; appUrl: string; codeSecret: string; queueCustomerSync: QueueCustomerSync; onSignup?: SignupHook[];
}) {
  const users = createUserModel(db);
  const events = createAuthEventModel(db);
  const resets = createPasswordResetModel(db);
  const counters = createRateCounterModel(db);
  const sessions = createSessionModel(db);
  const loginCodes = createLoginCodeModel(db);

  // A 6-digit code has only a million values, so a plain hash would give it away to whoever reads the table: it is
  // kept as an HMAC under a key derived from SESSION_SECRET (a rotated secret voids the codes of the last 10 minutes).
  const codeKey = Buffer.from(hkdfSync('sha256', codeSecret, 'flowers-login-code', 'login code hash v1', 32));
  const hashCode = (userId: number, code: string) => createHmac('sha256', codeKey).update(`${userId}:${code}`).digest();

  /**
   * The user, when the password given is their current one (S16). A wrong one counts towards the account's lock
   * like a failed login, and a locked account is refused without running bcrypt at all.
   */
  async function proveCurrentPassword(userId: number, password: string, meta: RequestMeta): Promise<{ user: User } | { error: 'wrong_password' | 'locked' }> {
    const found = await users.credentialsById(userId);
    if (!found) return { error: 'wrong_password' };
    if (found.lockedUntil !== null && found.lockedUntil > new Date()) return { error: 'locked' };
    if (await hasher.verifyCurrent(password, found.passwordHash)) return { user: found.user };
    const lockedNow = await users.recordFailedLogin(found.id, LOCK_AFTER_FAILURES, LOCK_MINUTES);
    await events.record('login_fail', found.id, meta);
    if (lockedNow) await events.record('locked', found.id, meta);
    return { error: lockedNow ? 'locked' : 'wrong_password' };
  }

  const mail = (trx: Knex | Knex.Transaction, message: Mail) => jobs.add(trx, 'mail:send', message, { maxAttempts: 10 });

  return {
    passwordProblem,
    proveCurrentPassword,

    async register(input: SignupInput, meta: RequestMeta): Promise<{ user: User } | { error: 'email_taken' | 'unknown_bouquet' }> {
      const problem = passwordProblem(input.password, input.email);
      if (problem) throw new Error(`register called with a password that breaks a rule: ${problem}`);
      const passwordHash = await hasher.hash(input.password);
      const result = await db.transaction(async (trx) => {
        const category = await createBouquetCategoryModel(trx).findByCode(input.bouquet);
        if (!category) return { error: 'unknown_bouquet' } as const;
        const referrer = input.referrerId ? await createUserModel(trx).findByReferralId(input.referrerId) : null;
        const user = await createUserModel(trx).insert({
          email: input.email, passwordHash, language: input.language, referralId: randomUUID(), referredBy: referrer?.id ?? null,
          bouquet: category.code, address: input.address, deliveryDate: input.deliveryDate, interval: input.interval,
          wishes: input.wishes, accountSumKopecks: category.priceKopecks,
        });
        if (!user) return { error: 'email_taken' } as const;
        await createAuthEventModel(trx).record('signup', user.id, meta);
        for (const consent of input.consents) await createConsentEventModel(trx).record(user.id, 'grant', consent, meta);
        for (const hook of onSignup) await hook(trx, user.id, { attribution: input.attribution ?? null, subscriptionKopecks: category.priceKopecks });
        await queueCustomerSync(trx, user.id);
        await queueEmailConfirmation(jobs, trx, user.id, user.email);
        return { user };
      });
      if ('error' in result && result.error === 'email_taken') {
        // The form says the address is taken (the design logs the customer in after sign-up); its owner hears of it,
        // at most 3 times an hour, so that repeated attempts cannot flood their inbox.
        const owner = await users.findByEmail(input.email);
        const { hits } = await counters.hit(`signup-attempt:address:${hashEmail(input.email)}`, 3600_000);
        if (owner && hits <= SIGNUP_NOTICES_PER_ADDRESS_PER_HOUR) await mail(db, { to: owner.email, template: 'signup-attempt', language: owner.language, ...(owner.role === 'customer' ? { userId: owner.id } : {}), params: { forgotUrl: `${appUrl}/forgot-password` } });
      }
      return result;
    },

    /** Checks email and password. Unknown emails cost one bcrypt comparison too; a lock is told only to whoever knows the password. */
    async authenticate(email: string, password: string, meta: RequestMeta): Promise<AuthResult> {
      const found = await users.credentialsByEmail(email);
      if (!found) {
        await hasher.verifyNothing(password);
        await events.record('login_fail', null, meta);
        return { status: 'invalid' };
      }
      const ok = await hasher.verify(password, found.passwordHash);
      const locked = found.lockedUntil !== null && found.lockedUntil > new Date();
      if (locked) {
        await events.record('login_fail', found.id, meta);
        return ok ? { status: 'locked' } : { status: 'invalid' };
      }
      if (!ok) {
        const lockedNow = await users.recordFailedLogin(found.id, LOCK_AFTER_FAILURES, LOCK_MINUTES);
        await events.record('login_fail', found.id, meta);
        if (lockedNow) await events.record('locked', found.id, meta);
        return { status: 'invalid' };
      }
      const rehash = hasher.needsRehash(found.passwordHash) ? await hasher.hash(password) : undefined;
      // With a second factor to come, the count of failures is cleared only by the right code.
      const secondFactor = found.user.role === 'staff' && Boolean(await db('staff_totp').where({ user_id: found.id }).whereNotNull('enabled_at').first('user_id'));
      await users.recordLogin(found.id, meta.ip, rehash, secondFactor);
      await events.record('login_ok', found.id, meta);
      return { status: 'ok', user: found.user, secondFactor };
    },

    /** The user a session belongs to, or null when the account is gone or its auth_version moved on (S10). */
    async sessionUser(id: number, authVersion: number): Promise<User | null> {
      const user = await users.findById(id);
      return user && user.authVersion === authVersion ? user : null;
    },

    /**
     * Queues the reset mail. Always the same work on the request path whether or not the address has an
     * account; past 3 requests an hour for one address the mail is silently dropped.
     */
    async requestPasswordReset(email: string, language: Language, meta: RequestMeta): Promise<void> {
      const { hits } = await counters.hit(`forgot:address:${hashEmail(email)}`, 3600_000);
      if (hits > RESETS_PER_ADDRESS_PER_HOUR) return;
      await jobs.add(db, 'auth:password-reset', { email, language, ip: meta.ip, userAgent: meta.userAgent }, { maxAttempts: 10 });
    },

    /** Job: makes the token (only its hash is stored) and mails the link; nothing for an unknown address. */
    async sendPasswordReset(email: string, language: Language, meta: RequestMeta): Promise<void> {
      const user = await users.findByEmail(email);
      if (!user) return;
      const { token, hash } = newLinkToken();
      await db.transaction(async (trx) => {
        await createPasswordResetModel(trx).replaceForUser(user.id, hash, user.authVersion, RESET_TTL_MINUTES);
        await createAuthEventModel(trx).record('reset_requested', user.id, meta);
      });
      // The mail is sent here rather than queued again so that the raw token is never stored anywhere.
      await mailer.send({ to: user.email, template: 'password-reset', language, params: { resetUrl: `${appUrl}/reset-password?token=${token}`, minutes: RESET_TTL_MINUTES } });
    },

    /**
     * Queues the sign-in code mail: the same work on the request path whether or not the address has an account;
     * past 3 requests an hour for one address the mail is silently dropped.
     */
    async requestLoginCode(email: string, language: Language, meta: RequestMeta): Promise<void> {
      const { hits } = await counters.hit(`login-code:address:${hashEmail(email)}`, 3600_000);
      if (hits > LOGIN_CODES_PER_ADDRESS_PER_HOUR) return;
      await jobs.add(db, 'auth:login-code', { email, language, ip: meta.ip, userAgent: meta.userAgent }, { maxAttempts: 10 });
    },

    /** Job: makes a 6-digit code (only its keyed hash is stored, replacing any older one) and mails it with a link. */
    async sendLoginCode(email: string, language: Language, meta: RequestMeta): Promise<void> {
      const user = await users.findByEmail(email);
      if (!user || !codeLoginAllowed(user)) return;
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      await db.transaction(async (trx) => {
        await createLoginCodeModel(trx).replaceForUser(user.id, hashCode(user.id, code), user.authVersion, LOGIN_CODE_TTL_MINUTES);
        await createAuthEventModel(trx).record('login_code_sent', user.id, meta);
      });
      // Sent here rather than queued again, so that the code is never stored anywhere in the clear.
      const loginUrl = `${appUrl}/login/code/verify?${new URLSearchParams({ email: user.email, code })}`;
      await mailer.send({ to: user.email, template: 'login-code', language, params: { code, loginUrl, minutes: LOGIN_CODE_TTL_MINUTES } });
    },

    /**
     * Signs in with a mailed code. Every try, right or wrong, spends one of the code's 5; the fifth wrong one
     * leaves it dead. An unknown address, a wrong, used, expired or dead code all give the same answer.
     */
    async signInWithCode(email: string, code: string, meta: RequestMeta): Promise<CodeResult> {
      const attempt = await loginCodes.spendTry(email, LOGIN_CODE_TRIES);
      const given = hashCode(attempt?.userId ?? 0, code);
      if (!attempt || !timingSafeEqual(given, attempt.codeHash)) {
        await events.record('login_fail', attempt?.userId ?? null, meta);
        return { status: 'invalid' };
      }
      if (!(await loginCodes.consume(attempt.userId, attempt.codeHash))) return { status: 'invalid' };
      const user = await users.findById(attempt.userId);
      if (!user || user.authVersion !== attempt.authVersion) return { status: 'invalid' };
      if (!codeLoginAllowed(user)) return { status: 'password_required' };
      await users.recordLogin(user.id, meta.ip);
      await events.record('login_ok', user.id, meta);
      return { status: 'ok', user };
    },

    async resetTokenValid(token: string): Promise<boolean> {
      return resets.isValid(hashToken(token));
    },

    /** Sets a new password from a valid token; ends every session of the user and clears the lock. */
    async resetPassword(token: string, password: string, meta: RequestMeta): Promise<{ ok: true } | { error: 'invalid_token' | PasswordProblem }> {
      if (!(await resets.isValid(hashToken(token)))) return { error: 'invalid_token' };
      const result = await db.transaction(async (trx) => {
        const grant = await createPasswordResetModel(trx).consume(hashToken(token));
        if (!grant) return { error: 'invalid_token' } as const;
        const user = await createUserModel(trx).findById(grant.userId);
        if (!user || user.authVersion !== grant.authVersion) return { error: 'invalid_token' } as const;
        const problem = passwordProblem(password, user.email);
        if (problem) throw new KeepToken(problem);
        await createUserModel(trx).updatePassword(user.id, await hasher.hash(password));
        await createPasswordResetModel(trx).deleteForUser(user.id);
        await createSessionModel(trx).deleteForUser(user.id);
        await createAuthEventModel(trx).record('reset_done', user.id, meta);
        await mail(trx, { to: user.email, template: 'password-changed', language: user.language, userId: user.id, params: { at: new Date().toISOString(), forgotUrl: `${appUrl}/forgot-password` } });
        return { ok: true } as const;
      }).catch((error: unknown) => {
        if (error instanceof KeepToken) return { error: error.problem }; // rolled back: the token still works
        throw error;
      });
      return result;
    },

    async changePassword(userId: number, currentPassword: string, password: string, keepSid: string, meta: RequestMeta): Promise<{ user: User } | { error: 'wrong_password' | 'locked' | PasswordProblem }> {
      const proof = await proveCurrentPassword(userId, currentPassword, meta);
      if ('error' in proof) return proof;
      const { user } = proof;
      const problem = passwordProblem(password, user.email);
      if (problem) return { error: problem };
      const newHash = await hasher.hash(password);
      await db.transaction(async (trx) => {
        await createUserModel(trx).updatePassword(userId, newHash);
        await createPasswordResetModel(trx).deleteForUser(userId);
        await createSessionModel(trx).deleteForUser(userId, keepSid);
        await createAuthEventModel(trx).record('password_changed', userId, meta);
        await mail(trx, { to: user.email, template: 'password-changed', language: user.language, userId: user.id, params: { at: new Date().toISOString(), forgotUrl: `${appUrl}/forgot-password` } });
      });
      return { user: (await users.findById(userId))! };
    },

    /**
     * Asks for a change of address (S16: the current password first). The new address becomes the account's only
     * once it is confirmed by the link mailed to it (email-confirmation-service); until then the old one stays, for
     * login too, and hears that a change was asked for (S17).
     */
    async changeEmail(userId: number, currentPassword: string, email: string, meta: RequestMeta): Promise<{ pendingEmail: string } | { error: 'wrong_password' | 'locked' | 'email_taken' | 'same_email' }> {
      const proof = await proveCurrentPassword(userId, currentPassword, meta);
      if ('error' in proof) return proof;
      const { user } = proof;
      if (user.email.toLowerCase() === email.toLowerCase()) return { error: 'same_email' };
      if (await users.emailTaken(email, userId)) return { error: 'email_taken' };
      await db.transaction(async (trx) => {
        await createUserModel(trx).setPendingEmail(userId, email);
        await createEmailConfirmationModel(trx).deleteForUser(userId);
        await createAuthEventModel(trx).record('email_change_requested', userId, meta);
        await queueEmailConfirmation(jobs, trx, userId, email);
        await mail(trx, { to: user.email, template: 'email-change-requested', language: user.language, userId, params: { newEmail: email, at: new Date().toISOString(), forgotUrl: `${appUrl}/forgot-password` } });
      });
      return { pendingEmail: email };
    },

    /**
     * Creates a staff account. An address that already has an account is refused unless `promote` is given:
     * whoever registered it chose its password and may be logged in right now, so promoting it sets the
     * operator's password, bumps auth_version and ends every session of the account and its reset links.
     */
    async addStaff(email: string, password: string, { promote = false } = {}): Promise<{ created: true } | { promoted: true } | { error: 'exists' | PasswordProblem }> {
      const problem = passwordProblem(password, email);
      if (problem) return { error: problem };
      const existing = await users.findByEmail(email);
      if (existing && !promote) return { error: 'exists' };
      const passwordHash = await hasher.hash(password);
      if (!existing) {
        const user = await users.insertStaff(email, passwordHash, randomUUID());
        return user ? { created: true } : { error: 'exists' };
      }
      await db.transaction(async (trx) => {
        await createUserModel(trx).setRole(existing.id, 'staff');
        await createUserModel(trx).updatePassword(existing.id, passwordHash);
        await createPasswordResetModel(trx).deleteForUser(existing.id);
        await createSessionModel(trx).deleteForUser(existing.id);
      });
      return { promoted: true };
    },

    async recordLogout(userId: number, meta: RequestMeta): Promise<void> {
      await events.record('logout', userId, meta);
    },

    /** Ends every session of the user, this one included. */
    async logoutEverywhere(userId: number, meta: RequestMeta): Promise<void> {
      await db.transaction(async (trx) => {
        await createUserModel(trx).bumpAuthVersion(userId);
        await createSessionModel(trx).deleteForUser(userId);
        await createAuthEventModel(trx).record('logout_all', userId, meta);
      });
    },

    async referrerExists(referralId: string): Promise<boolean> {
      return Boolean(await users.findByReferralId(referralId));
    },

    /** Periodic clean-up of expired rows. */
    async pruneExpired(): Promise<{ sessions: number; resets: number; loginCodes: number; emailConfirmations: number; counters: number }> {
      return {
        sessions: await sessions.deleteExpired(), resets: await resets.deleteExpired(), loginCodes: await loginCodes.deleteExpired(),
        emailConfirmations: await createEmailConfirmationModel(db).deleteExpired(), counters: await counters.deleteExpired(),
      };
    },
  };
}

class KeepToken extends Error {
  constructor(readonly problem: PasswordProblem) {
    super(problem);
  }
}

export type AuthService = ReturnType<typeof createAuthService>;
