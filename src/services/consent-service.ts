// Consents (152-FZ): which required consents a customer has not given in their current version, and giving them.
// Every grant goes to the append-only consent log with the version and hash of the text shown.
import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';
import type { RequestMeta } from '../models/auth-event-model.js';
import { createConsentEventModel } from '../models/consent-event-model.js';
import { REQUIRED_CONSENTS, type ConsentKind, type Documents } from './documents.js';

export function createConsentService({ db, documents }: { db: Knex; documents: Documents }) {

  async function outdated(userId: number, trx: Knex | Knex.Transaction = db): Promise<ConsentKind[]> {
    const granted = await createConsentEventModel(trx).grantedVersions(userId, REQUIRED_CONSENTS);
    return REQUIRED_CONSENTS.filter((kind) => granted.get(kind) !== documents.currentVersion(kind));
  }

  return {
    /** Changes whenever a required document gets a new version: a session that saw this key need not ask again. */
    requiredKey: documents.requiredKey,

    /** The required consents the user has not given in their current version (withdrawn ones included). */
    outdated: (userId: number) => outdated(userId),

    /** Records a grant of each required consent not given in its current version, as shown in `language`. */
    async renewRequired(userId: number, language: Language, meta: RequestMeta): Promise<void> {
      await db.transaction(async (trx) => {
        await trx.raw('select pg_advisory_xact_lock(?, ?)', [0x636f6e73, userId]); // one renewal at a time per user
        for (const kind of await outdated(userId, trx)) {
          const shown = documents.render(kind, language);
          await createConsentEventModel(trx).record(userId, 'grant', { document: kind, version: shown.version, textSha256: shown.sha256, language }, meta);
        }
      });
    },

  };
}
export type ConsentService = ReturnType<typeof createConsentService>;
