// The notes a customer's lead gets from the site (subscription changes, preference changes, confirmed orders),
// each posted exactly once.
import type { Knex } from 'knex';
import { AmoError } from '../../crm/amocrm-client.js';
import type { Crm } from '../../crm/crm.js';
import { createCrmNoteModel, type PendingNote } from '../../models/crm-note-model.js';
import { subscriptionEventNote } from '../crm-text.js';

/** Notes posted in one request (amoCRM recommends ≤ 50 entities per write). */
const NOTE_BATCH = 50;
/** How far amoCRM's clock may be behind ours when looking for a note whose answer was lost. */
const CLOCK_SKEW_S = 600;

const noteText = (n: PendingNote) => (n.from === 'subscription_events' ? subscriptionEventNote(n) : n.text);
const requestIdOf = (n: PendingNote) => `${n.from === 'subscription_events' ? 'event' : 'note'}-${n.id}`;

export function createLeadNotes({ db, crm }: { db: Knex; crm: Crm }) {
  const noteState = createCrmNoteModel(db);

  /**
   * Every subscription change of the customer not yet on the lead (and every other note waiting for it:
   * preference changes, confirmed orders) becomes one note, in order. Exactly once:
   * each row is marked as attempted (committed) before its post; a row attempted earlier whose answer never came
   * is looked for among the lead's notes first — the same text, created no earlier than the attempt (less clock
   * skew), and not already the note of another row — and re-posted only when it is not there. Jobs of the
   * amoCRM queue run one at a time, so no other post of the same row can be under way. Returns how many were posted.
   */
  async function send(userId: number, leadId: number): Promise<number> {
    let posted = 0;
    for (let round = 0; round < 20; round++) {
      const pending = await noteState.pending(userId, NOTE_BATCH);
      if (!pending.length) break;
      const toPost: PendingNote[] = [];
      const uncertain = pending.filter((e) => e.attemptedAt !== null);
      const onLead = uncertain.length ? await crm.leads.notes(leadId) : [];
      const claimed = uncertain.length ? await noteState.claimedNoteIds(userId) : new Set<number>();
      for (const event of pending) {
        if (event.attemptedAt) {
          const text = noteText(event);
          const since = Math.floor(event.attemptedAt.getTime() / 1000) - CLOCK_SKEW_S;
          const found = onLead.find((n) => n.text === text && n.createdAt >= since && !claimed.has(n.id));
          if (found) {
            await noteState.setNoteId(event, found.id);
            claimed.add(found.id);
            continue;
          }
        }
        toPost.push(event);
      }
      if (!toPost.length) continue;
      await noteState.markAttempted(toPost);
      let created: Map<string, number>;
      try {
        created = await crm.leads.addNotes(leadId, toPost.map((e) => ({ text: noteText(e), requestId: requestIdOf(e) })));
      } catch (error) {
        // A refusal (400, 401, 402, 403, 429) created nothing; a timeout or 5xx may have: those stay uncertain.
        const status = error instanceof AmoError ? error.details.status : undefined;
        if (status !== undefined && status >= 400 && status < 500) await noteState.clearAttempt(toPost);
        throw error;
      }
      for (const event of toPost) {
        const noteId = created.get(requestIdOf(event));
        if (noteId !== undefined) await noteState.setNoteId(event, noteId);
      }
      posted += created.size;
      if (created.size < toPost.length) break; // an answer without some ids: looked for on the next run
    }
    return posted;
  }

  return { send };
}
