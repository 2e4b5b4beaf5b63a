// The customer's own view of their personal data (152-FZ): the consents they gave, giving or withdrawing the
// optional ones (each step appended to the consent log like sign-up does), and the export of everything the shop
// holds about them. The export never carries a secret: no password hash, token, code hash or session id.
import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';
import type { RequestMeta } from '../models/auth-event-model.js';
import { createConsentEventModel } from '../models/consent-event-model.js';
import type { DeviceService } from './device-service.js';
import { DOCUMENT_KINDS, type ConsentKind, type Documents } from './documents.js';
import type { QueueCustomerSync } from './crm-sync/queue.js';

export const OPTIONAL_CONSENTS = ['marketing', 'analytics'] as const;
export type OptionalConsent = (typeof OPTIONAL_CONSENTS)[number];

export type ConsentState = { document: ConsentKind; granted: boolean; version: string; at: Date };

const SIGN_IN_DAYS = 90;

export function createPrivacyService({ db, documents, devices, queueCustomerSync }: {
  db: Knex; documents: Documents; devices: DeviceService;
  /** The lead shows the marketing consent: a grant or withdrawal queues the customer's sync. */
  queueCustomerSync: QueueCustomerSync;
}) {
  const consentKinds = DOCUMENT_KINDS.filter((k): k is ConsentKind => k !== 'privacy');

  return {
    /** The latest event of each consent document the customer ever answered: given (in which version, when) or withdrawn. */
    async consents(userId: number): Promise<ConsentState[]> {
      const rows: { document: ConsentKind; action: string; version: string; at: Date }[] = await db('consent_events')
        .distinctOn('document').where({ user_id: userId }).whereIn('document', consentKinds)
        .orderBy([{ column: 'document' }, { column: 'id', order: 'desc' }]).select('document', 'action', 'version', 'at');
      return consentKinds.flatMap((kind) => rows.filter((r) => r.document === kind)
        .map((r) => ({ document: kind, granted: r.action === 'grant', version: r.version, at: r.at })));
    },

    /** Gives or withdraws an optional consent: the current text's version and hash as shown in `language`. */
    async setOptional(userId: number, kind: OptionalConsent, give: boolean, language: Language, meta: RequestMeta): Promise<void> {
      const shown = documents.render(kind, language);
      await db.transaction(async (trx) => {
        await createConsentEventModel(trx).record(userId, give ? 'grant' : 'withdraw', { document: kind, version: shown.version, textSha256: shown.sha256, language }, meta);
        if (kind === 'marketing') await queueCustomerSync(trx, userId);
      });
    },

    /** Everything the shop holds about the customer, secrets left out (see test/personal-data/privacy.test.ts for the table list). */
    async export(userId: number, authVersion: number, currentSid: string) {
      const user = await db('users').where({ id: userId }).first(
        'id', 'email', 'role', 'language', 'referral_id', 'referred_by', 'bouquet', 'address', 'delivery_date', 'interval', 'wishes',
        'account_sum_kopecks', 'last_login_at', 'last_login_ip', 'created_at', 'updated_at', 'amo_lead_id', 'amo_contact_id',
        'amo_status_id', 'amo_pipeline_id', 'amo_synced_at', 'paused_from', 'paused_until', 'cancelled_at', 'cancel_reason', 'cancel_comment',
        'email_confirmed_at', 'pending_email', 'reminders_opt_out_at',
      );
      const [orders, consents, signIns, deliveryExceptions, history, crmNotes, sessions, attribution, analyticsEvents, reminders, stageChanges, sentMails] = await Promise.all([
        db('orders').where({ user_id: userId }).orderBy('id').select('id', 'bouquet', 'delivery_date', 'address', 'wishes', 'price_kopecks', 'status',
          'amo_lead_id', 'confirmed_at', 'cancelled_at', 'created_at', 'updated_at', 'recipient_name', 'recipient_phone', 'card_message'),
        db('consent_events').where({ user_id: userId }).orderBy('id').select('document', 'action', 'version', 'text_sha256', 'language', 'ip', 'user_agent', 'at'),
        db('auth_events').where({ user_id: userId }).where('at', '>', db.raw(`now() - interval '${SIGN_IN_DAYS} days'`)).orderBy('id')
          .select('event', 'ip', 'user_agent', 'at'),
        db('delivery_exceptions').where({ user_id: userId }).orderBy('scheduled_date').select('scheduled_date', 'kind', 'new_date', 'source', 'created_at'),
        db('subscription_events').where({ user_id: userId }).orderBy('id').select('kind', 'details', 'source', 'created_at'),
        db('amocrm_note_outbox').where({ user_id: userId }).orderBy('id').select('text', 'created_at', 'amo_note_id'),
        devices.list(userId, authVersion, currentSid),
        db('user_attribution').where({ user_id: userId }).first('client_id', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term',
          'yclid', 'gclid', 'referrer_host', 'landing_path', 'first_seen_at', 'created_at'),
        db('analytics_events').where({ user_id: userId }).orderBy('id').select('event', 'entity', 'value_kopecks', 'occurred_at', 'metrica_done_at', 'ga4_done_at'),
        db('reminders').where({ user_id: userId }).orderBy('delivery_date').select('delivery_date', 'planned_at', 'sent_at'),
        db('lead_stage_changes').where({ user_id: userId }).orderBy('id').select('status_id', 'pipeline_id', 'stage_name', 'changed_at', 'source', 'recorded_at'),
        db('sent_mails').where({ user_id: userId }).orderBy('id').select('kind', 'sent_at'),
      ]);
      return {
        exportedAt: new Date().toISOString(),
        profile: user && {
          id: Number(user.id), email: user.email, role: user.role, language: user.language, referralId: user.referral_id,
          referredBy: user.referred_by === null ? null : Number(user.referred_by), createdAt: user.created_at, updatedAt: user.updated_at,
          lastLoginAt: user.last_login_at, lastLoginIp: user.last_login_ip, accountSumKopecks: user.account_sum_kopecks,
          emailConfirmedAt: user.email_confirmed_at, pendingEmail: user.pending_email,
        },
        preferences: user && { bouquet: user.bouquet, address: user.address, deliveryDate: user.delivery_date, interval: user.interval, wishes: user.wishes },
        subscription: user && {
          pausedFrom: user.paused_from, pausedUntil: user.paused_until, cancelledAt: user.cancelled_at, cancelReason: user.cancel_reason,
          cancelComment: user.cancel_comment, deliveryExceptions, history,
          remindersOptOutAt: user.reminders_opt_out_at, reminders,
        },
        amocrm: user && {
          leadId: user.amo_lead_id, contactId: user.amo_contact_id, statusId: user.amo_status_id, pipelineId: user.amo_pipeline_id, syncedAt: user.amo_synced_at,
          stageChanges: stageChanges.map((c: { status_id: string; pipeline_id: string | null; stage_name: string | null; changed_at: Date; source: string; recorded_at: Date }) => ({
            statusId: Number(c.status_id), pipelineId: c.pipeline_id === null ? null : Number(c.pipeline_id), stageName: c.stage_name,
            changedAt: c.changed_at, source: c.source, recordedAt: c.recorded_at,
          })),
          notes: crmNotes.map((n: { text: string; created_at: Date; amo_note_id: string | null }) => ({ text: n.text, createdAt: n.created_at, sent: n.amo_note_id !== null })),
        },
        orders,
        // The notices mailed to the customer: which kind and when (the content is not kept).
        mailsSent: sentMails.map((m: { kind: string; sent_at: Date }) => ({ kind: m.kind, sentAt: m.sent_at })),
        // What brought the customer (kept at sign-up) and the analytics events recorded while the consent stood.
        marketing: { attribution: attribution ?? null, analyticsEvents },
        consents,
        signInsLast90Days: signIns,
        devices: sessions.map(({ browser, system, lastSeenAt, ip, current }) => ({ browser, system, lastSeenAt, ip, current })),
      };
    },
  };
}
export type PrivacyService = ReturnType<typeof createPrivacyService>;
