// Confirming an address by a mailed link: the address given at sign-up, and the new address of an email change,
// which becomes the account's address only once confirmed. The links follow the reset-token rules (SECURITY S7):
// the job makes the token and mails it at once, so the raw token is never stored; only its hash is kept, bound to
// the user, the address and the auth_version, for CONFIRM_TTL_HOURS, and one statement uses it up.
import type { Knex } from 'knex';
import { createAuthEventModel, type RequestMeta } from '../models/auth-event-model.js';
import { createEmailConfirmationModel } from '../models/email-confirmation-model.js';
import { createPasswordResetModel } from '../models/password-reset-model.js';
import { createSessionModel } from '../models/session-model.js';
import { createUserModel, isUniqueViolation, type User } from '../models/user-model.js';
import type { JobQueue } from './job-queue.js';
import { hashToken, isLinkToken, newLinkToken } from './link-tokens.js';
import type { Mailer } from './mailer.js';
import type { QueueCustomerSync } from './crm-sync/queue.js';

/** A confirmation link lives a day: unlike a reset link it signs nobody in, and mail is often read hours later. */
export const CONFIRM_TTL_HOURS = 24;
export const CONFIRMATION_TASK = 'auth:email-confirmation';

/** The address the account still waits to confirm: a pending new one, else the current one until confirmed. */
function addressToConfirm(user: User): string | null {
  return user.pendingEmail ?? (user.emailConfirmedAt ? null : user.email);
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Queues the confirmation mail inside the caller's transaction: a rolled-back sign-up or change sends nothing. */
export function queueEmailConfirmation(jobs: JobQueue, trx: Knex | Knex.Transaction, userId: number, email: string): Promise<void> {
  return jobs.add(trx, CONFIRMATION_TASK, { userId, email }, { maxAttempts: 10 });
}

export type ConfirmResult =
  | { status: 'confirmed'; user: User; changed: boolean }
  | { status: 'invalid' }
  | { status: 'taken' };

export function createEmailConfirmationService({ db, jobs, mailer, appUrl, queueCustomerSync }: {
  db: Knex; jobs: JobQueue; mailer: Mailer; appUrl: string; queueCustomerSync: QueueCustomerSync;
}) {
  const users = createUserModel(db);
  const links = createEmailConfirmationModel(db);

  return {
    /** Job: a new link for the address, when the account still waits for exactly that one; older links die. */
    async send(userId: number, email: string): Promise<void> {
      const user = await users.findById(userId);
      const target = user && addressToConfirm(user);
      if (!user || !target || !same(target, email)) return;
      const { token, hash } = newLinkToken();
      await links.replaceForUser(user.id, hash, target, user.authVersion, CONFIRM_TTL_HOURS * 60);
      await mailer.send({
        to: target, template: 'email-confirmation', language: user.language, userId: user.id,
        params: { confirmUrl: `${appUrl}/confirm-email?token=${token}`, hours: CONFIRM_TTL_HOURS, change: Boolean(user.pendingEmail) },
      });
    },

    /** Sends the link again, to the address still to be confirmed. */
    async resend(userId: number): Promise<'sent' | 'nothing_to_confirm'> {
      const user = await users.findById(userId);
      const target = user && addressToConfirm(user);
      if (!user || !target) return 'nothing_to_confirm';
      await queueEmailConfirmation(jobs, db, user.id, target);
      return 'sent';
    },

    /** The address a link would confirm, or null when it is malformed, used, expired or void. Uses nothing up. */
    async addressOf(token: unknown): Promise<string | null> {
      return isLinkToken(token) ? links.peek(hashToken(token)) : null;
    },

    /**
     * Confirms the address of the link. A new address replaces the old one only now: auth_version moves on, every
     * other session and reset link of the account ends (the session `current` names is kept when it is the
     * account's), and the old address is told. A taken address changes nothing, and the link keeps working.
     */
    async confirm(token: unknown, meta: RequestMeta, current?: { userId: number; sid: string }): Promise<ConfirmResult> {
      if (!isLinkToken(token)) return { status: 'invalid' };
      try {
        return await db.transaction(async (trx) => {
          const grant = await createEmailConfirmationModel(trx).consume(hashToken(token));
          if (!grant) return { status: 'invalid' } as const;
          const model = createUserModel(trx);
          const user = await model.findById(grant.userId);
          if (!user || user.authVersion !== grant.authVersion) return { status: 'invalid' } as const;
          if (user.pendingEmail && same(user.pendingEmail, grant.email)) {
            if (await model.emailTaken(grant.email, user.id)) throw new Taken();
            if ((await model.applyPendingEmail(user.id, grant.email)) === null) return { status: 'invalid' } as const;
            await createPasswordResetModel(trx).deleteForUser(user.id);
            await createEmailConfirmationModel(trx).deleteForUser(user.id);
            await createSessionModel(trx).deleteForUser(user.id, current?.userId === user.id ? current.sid : undefined);
            await createAuthEventModel(trx).record('email_changed', user.id, meta);
            await queueCustomerSync(trx, user.id);
            await jobs.add(trx, 'mail:send', {
              to: user.email, template: 'email-changed', language: user.language, userId: user.id,
              params: { newEmail: grant.email, at: new Date().toISOString(), forgotUrl: `${appUrl}/forgot-password` },
            }, { maxAttempts: 10 });
            return { status: 'confirmed', user: (await model.findById(user.id))!, changed: true } as const;
          }
          if (user.pendingEmail || !(await model.markEmailConfirmed(user.id, grant.email))) return { status: 'invalid' } as const;
          await createAuthEventModel(trx).record('email_confirmed', user.id, meta);
          return { status: 'confirmed', user: (await model.findById(user.id))!, changed: false } as const;
        });
      } catch (error) {
        // Rolled back: the link is still there, and nothing changed.
        if (error instanceof Taken || isUniqueViolation(error)) return { status: 'taken' };
        throw error;
      }
    },
  };
}

class Taken extends Error {}

export type EmailConfirmationService = ReturnType<typeof createEmailConfirmationService>;
