// Deleting an account (152-FZ), all in one transaction: every session ends, the personal data the shop holds is
// erased, orders stay only as anonymised accounting rows, amoCRM's copy is queued for erasure, and a confirmation
// mail is queued to the address before it is erased. The user row stays (the consent log and the orders point
// at it) with a placeholder address that no sign-up can take, so the real address can sign up again.
import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';
import { createAuthEventModel, type RequestMeta } from '../models/auth-event-model.js';
import { createJobModel } from '../models/job-model.js';
import { createSessionModel } from '../models/session-model.js';
import type { AuthService } from './auth-service.js';
import type { CrmEraseService } from './crm-erase-service.js';
import type { JobQueue } from './job-queue.js';

export const DELETED_MAIL = 'account:deleted-mail';
/** A few retries over about half an hour: the address must not wait in the queue for long. */
export const DELETED_MAIL_ATTEMPTS = 8;

/** No sign-up can take it: the form wants a dot in the domain, and `.invalid` is reserved (RFC 2606). */
export const deletedEmail = (id: number) => `deleted-${id}@invalid`;

export function createAccountDeletionService({ db, auth, jobs, crmErase }: { db: Knex; auth: AuthService; jobs: JobQueue; crmErase: CrmEraseService }) {
  return {
    async deleteAccount(userId: number, currentPassword: string, meta: RequestMeta): Promise<{ ok: true } | { error: 'wrong_password' | 'locked' }> {
      const proof = await auth.proveCurrentPassword(userId, currentPassword, meta);
      if ('error' in proof) return proof;
      await db.transaction(async (trx) => {
        const user = await trx('users').where({ id: userId }).whereNull('deleted_at').forUpdate()
          .first('email', 'language', 'amo_lead_id', 'amo_contact_id');
        if (!user) return;
        const email = user.email as string;
        const orderLeads = (await trx('orders').where({ user_id: userId }).whereNotNull('amo_lead_id').orderBy('id').select('id', 'amo_lead_id'))
          .map((o) => ({ orderId: Number(o.id), leadId: Number(o.amo_lead_id) }));
        const leadIds = [user.amo_lead_id, ...orderLeads.map((o) => o.leadId)].filter((id) => id !== null).map(Number);

        // The address is in the mail job only: that job is deleted once sent, or dropped after its last attempt.
        await createJobModel(trx).dropQueuedMailTo(email); // a reset link or a code waiting in the queue is not sent after the deletion
        await jobs.add(trx, DELETED_MAIL, { to: email, language: user.language as Language }, { maxAttempts: DELETED_MAIL_ATTEMPTS });

        await createSessionModel(trx).deleteForUser(userId);
        await trx('users').where({ id: userId }).update({
          email: deletedEmail(userId), password_hash: '!deleted', auth_version: trx.raw('auth_version + 1'),
          referral_id: trx.raw('gen_random_uuid()'), referred_by: null,
          bouquet: null, address: null, delivery_date: null, interval: null, wishes: '', account_sum_kopecks: null,
          failed_logins: 0, locked_until: null, last_login_at: null, last_login_ip: null,
          amo_lead_id: null, amo_contact_id: null, amo_snapshot: null, amo_synced_at: null, amo_status_id: null, amo_pipeline_id: null,
          paused_from: null, paused_until: null, cancelled_at: null, cancel_reason: null, cancel_comment: null,
          pending_email: null, email_confirmed_at: null,
          deleted_at: trx.fn.now(), updated_at: trx.fn.now(),
        });
        // Orders: only what accounting needs (bouquet, date, sum, status, times, amoCRM lead); nothing is delivered any more.
        await trx('orders').where({ user_id: userId }).update({ address: '', wishes: '', amo_snapshot: null, recipient_name: null, recipient_phone: null, card_message: null });
        await trx('orders').where({ user_id: userId }).whereIn('status', ['placed', 'confirmed']).where('delivery_date', '>=', trx.raw('current_date'))
          .update({ status: 'cancelled', cancelled_at: trx.fn.now(), updated_at: trx.fn.now() });
        await trx('delivery_exceptions').where({ user_id: userId }).delete();
        await trx('subscription_events').where({ user_id: userId }).delete();
        await trx('password_resets').where({ user_id: userId }).delete();
        await trx('login_codes').where({ user_id: userId }).delete();
        await trx('email_confirmations').where({ user_id: userId }).delete();
        await trx('reminders').where({ user_id: userId }).delete();
        await trx('mail_action_uses').where({ user_id: userId }).delete();
        // The account's timeline: the lead's stages and the notices mailed.
        await trx('lead_stage_changes').where({ user_id: userId }).delete();
        await trx('sent_mails').where({ user_id: userId }).delete();
        // Notes not yet written to amoCRM (old → new addresses and wishes), what brought the customer and the analytics events.
        await trx('amocrm_note_outbox').where({ user_id: userId }).delete();
        // The lead's history as staff last read it from amoCRM (managers' notes about the customer).
        await trx('amocrm_lead_history').where({ user_id: userId }).delete();
        await trx('user_attribution').where({ user_id: userId }).delete();
        await trx('analytics_events').where({ user_id: userId }).delete();
        await trx('auth_events').where({ user_id: userId }).update({ ip: null, user_agent: null });
        // The proof of consent (document, version, text hash, language, time) stays; where from does not (migration 20261205134000).
        await trx('consent_events').where({ user_id: userId }).where((q) => q.whereNotNull('ip').orWhereNotNull('user_agent')).update({ ip: null, user_agent: null });
        await trx('amocrm_sync_log').where({ user_id: userId }).update({ message: null, details: null });
        if (leadIds.length) await trx('amocrm_webhooks').whereRaw('lead_ids && ?::bigint[]', [leadIds]).whereNotNull('processed_at').delete();
        await createAuthEventModel(trx).record('account_deleted', userId, { ip: null, userAgent: null });
        await crmErase.queue(trx, {
          userId, leadId: user.amo_lead_id === null ? null : Number(user.amo_lead_id),
          contactId: user.amo_contact_id === null ? null : Number(user.amo_contact_id), orderLeads,
        });
      });
      return { ok: true };
    },
  };
}

export type AccountDeletionService = ReturnType<typeof createAccountDeletionService>;
