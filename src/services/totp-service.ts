// The second factor of staff accounts (SECURITY S22): enrolment with a secret sealed like the amoCRM tokens (S23),
// confirmed by its first valid code; codes taken ±1 step and never twice; ten single-use recovery codes kept as
// hashes; wrong codes counted towards the account's lock; a reset for a lost phone.
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { createAuthEventModel, type RequestMeta } from '../models/auth-event-model.js';
import { createSessionModel } from '../models/session-model.js';
import { createStaffActionModel } from '../models/staff-action-model.js';
import { createUserModel, type User } from '../models/user-model.js';
import { LOCK_AFTER_FAILURES, LOCK_MINUTES } from './auth-service.js';
import { createSealer } from './sealed.js';
import { base32Encode, matchingStep } from './totp.js';

export const RECOVERY_CODES = 10;

function recoveryHash(code: string): Buffer {
  return createHash('sha256').update(code.replace(/[^0-9a-z]/gi, '').toUpperCase()).digest();
}

function newRecoveryCode(): string {
  const raw = base32Encode(randomBytes(7)).slice(0, 10);
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
}

export type SecondFactor = { code?: string; recoveryCode?: string };
export type SecondFactorResult = { status: 'ok'; user: User } | { status: 'invalid' } | { status: 'locked' };

export function createTotpService({ db, secrets, now = () => Date.now() }: { db: Knex; secrets: readonly string[]; now?: () => number }) {
  const cipher = createSealer(secrets, {
    salt: 'flowers-staff-totp', info: 'staff totp secret v1',
    unreadable: 'a stored TOTP secret cannot be read with the current SESSION_SECRET list: reset it with staff:reset-2fa',
  });
  const row = (userId: number) => db('staff_totp').where({ user_id: userId }).first<{ secret_enc: string; enabled_at: Date | null; last_step: string | null } | undefined>();

  return {
    async enabled(userId: number): Promise<boolean> {
      return Boolean((await row(userId))?.enabled_at);
    },

    /** The secret being enrolled (made on first call, kept until confirmed), or null when TOTP is already on. */
    async pendingSecret(userId: number): Promise<string | null> {
      const found = await row(userId);
      if (found?.enabled_at) return null;
      if (found) return cipher.open(found.secret_enc);
      const secret = base32Encode(randomBytes(20));
      await db('staff_totp').insert({ user_id: userId, secret_enc: cipher.seal(secret) }).onConflict('user_id').ignore();
      return cipher.open((await row(userId))!.secret_enc);
    },

    /**
     * Turns TOTP on with the first valid code; returns the recovery codes (shown once) and the user with a new
     * auth_version, so every other session, logged in without the second factor, ends.
     */
    async confirm(userId: number, code: string, keepSid: string): Promise<{ user: User; recoveryCodes: string[] } | null> {
      return db.transaction(async (trx) => {
        const found = await trx('staff_totp').where({ user_id: userId }).forUpdate().first();
        if (!found || found.enabled_at) return null;
        const step = matchingStep(cipher.open(found.secret_enc), code.trim(), now(), null);
        if (step === null) return null;
        await trx('staff_totp').where({ user_id: userId }).update({ enabled_at: trx.fn.now(), last_step: step });
        const recoveryCodes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
        await trx('staff_recovery_codes').where({ user_id: userId }).delete();
        await trx('staff_recovery_codes').insert(recoveryCodes.map((c) => ({ user_id: userId, code_hash: recoveryHash(c) })));
        const users = createUserModel(trx);
        await users.bumpAuthVersion(userId);
        await createSessionModel(trx).deleteForUser(userId, keepSid);
        return { user: (await users.findById(userId))!, recoveryCodes };
      });
    },

    /** The second step of a staff login. A wrong code counts towards the lock like a wrong password. */
    async verify(userId: number, input: SecondFactor, meta: RequestMeta): Promise<SecondFactorResult> {
      const users = createUserModel(db);
      const events = createAuthEventModel(db);
      const found = await users.credentialsById(userId);
      const totp = await row(userId);
      if (!found || !totp?.enabled_at) return { status: 'invalid' };
      if (found.lockedUntil !== null && found.lockedUntil > new Date()) return { status: 'locked' };
      let ok = false;
      if (input.code) {
        const step = matchingStep(cipher.open(totp.secret_enc), input.code.trim(), now(), totp.last_step === null ? null : Number(totp.last_step));
        // Conditional on the last step, so two requests racing with the same code cannot both pass.
        ok = step !== null && (await db('staff_totp').where({ user_id: userId }).andWhere((q) => q.whereNull('last_step').orWhere('last_step', '<', step))
          .update({ last_step: step })) === 1;
      } else if (input.recoveryCode) {
        ok = (await db('staff_recovery_codes').where({ user_id: userId, code_hash: recoveryHash(input.recoveryCode) }).whereNull('used_at')
          .update({ used_at: db.fn.now() })) === 1;
      }
      if (!ok) {
        const lockedNow = await users.recordFailedLogin(userId, LOCK_AFTER_FAILURES, LOCK_MINUTES);
        await events.record('login_fail', userId, meta);
        if (lockedNow) await events.record('locked', userId, meta);
        return { status: lockedNow ? 'locked' : 'invalid' };
      }
      await users.recordLogin(userId, meta.ip);
      await events.record('login_ok', userId, meta);
      return { status: 'ok', user: found.user };
    },

    /**
     * For a lost phone (the operator's CLI): TOTP and its recovery codes go, every session ends, the next login
     * enrols again; recorded in staff_actions under the account itself, from the console (no IP).
     */
    async reset(email: string): Promise<'reset' | 'not_enrolled' | 'not_staff'> {
      return db.transaction(async (trx) => {
        const users = createUserModel(trx);
        const user = await users.findByEmail(email);
        if (!user || user.role !== 'staff') return 'not_staff';
        const removed = await trx('staff_totp').where({ user_id: user.id }).delete();
        await trx('staff_recovery_codes').where({ user_id: user.id }).delete();
        await users.bumpAuthVersion(user.id);
        await createSessionModel(trx).deleteForUser(user.id);
        const outcome = removed > 0 ? 'reset' : 'not_enrolled';
        await createStaffActionModel(trx).record({ id: user.id, email: user.email, ip: null }, { action: 'staff.reset_2fa', subject: 'cli', outcome });
        return outcome;
      });
    },
  };
}

export type TotpService = ReturnType<typeof createTotpService>;
