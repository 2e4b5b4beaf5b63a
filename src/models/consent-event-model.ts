import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';
import type { RequestMeta } from './auth-event-model.js';
import type { ConsentKind } from '../services/documents.js';

/** One consent given or withdrawn: which document, its version and the SHA-256 (hex) of the exact text shown. */
export type ConsentRecord = { document: ConsentKind; version: string; textSha256: string; language: Language };

export function createConsentEventModel(db: Knex | Knex.Transaction) {
  return {
    async record(userId: number, action: 'grant' | 'withdraw', consent: ConsentRecord, meta: RequestMeta): Promise<void> {
      await db('consent_events').insert({
        user_id: userId, document: consent.document, action, version: consent.version, text_sha256: consent.textSha256,
        language: consent.language, ip: meta.ip, user_agent: meta.userAgent?.slice(0, 400) ?? null,
      });
    },

    /** Whether the user's latest answer about the document is a grant. */
    async isGranted(userId: number, document: ConsentKind): Promise<boolean> {
      const latest = await db('consent_events').where({ user_id: userId, document }).orderBy('id', 'desc').first('action');
      return latest?.action === 'grant';
    },

    /** The versions the user's latest event for each document granted (a document last withdrawn is left out). */
    async grantedVersions(userId: number, documents: readonly ConsentKind[]): Promise<Map<ConsentKind, string>> {
      const rows: { document: ConsentKind; action: string; version: string }[] = await db('consent_events')
        .distinctOn('document').where({ user_id: userId }).whereIn('document', documents)
        .orderBy([{ column: 'document' }, { column: 'id', order: 'desc' }]).select('document', 'action', 'version');
      return new Map(rows.filter((r) => r.action === 'grant').map((r) => [r.document, r.version]));
    },
  };
}
