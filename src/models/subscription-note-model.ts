// Where each subscription change's amoCRM note stands (columns amo_note_attempted_at, amo_note_id of
// subscription_events): not yet sent, attempted with the answer unknown, or sent with amoCRM's note id.
import type { Knex } from 'knex';
import type { ChangeSource, SubscriptionEventDetails, SubscriptionEventKind } from './subscription-event-model.js';

export type PendingNote = {
  id: number; kind: SubscriptionEventKind; details: SubscriptionEventDetails; source: ChangeSource;
  /** Set when a post was started whose answer never came: the note may exist already. */
  attemptedAt: Date | null;
};

export function createSubscriptionNoteModel(db: Knex | Knex.Transaction) {
  return {
    /** The customer's changes without a note id yet, oldest first. */
    async pending(userId: number, limit: number): Promise<PendingNote[]> {
      const rows: { id: string; kind: SubscriptionEventKind; details: SubscriptionEventDetails; source: ChangeSource; amo_note_attempted_at: Date | null }[] =
        await db('subscription_events').where({ user_id: userId }).whereNull('amo_note_id').orderBy('id').limit(limit)
          .select('id', 'kind', 'details', 'source', 'amo_note_attempted_at');
      return rows.map((r) => ({ id: Number(r.id), kind: r.kind, details: r.details, source: r.source, attemptedAt: r.amo_note_attempted_at }));
    },

    /** Recorded (and committed) before the post, so that a lost answer is known to be uncertain. */
    async markAttempted(ids: number[]): Promise<Date> {
      const [row] = await db('subscription_events').whereIn('id', ids).update({ amo_note_attempted_at: db.fn.now() }).returning('amo_note_attempted_at');
      return (row as { amo_note_attempted_at: Date }).amo_note_attempted_at;
    },

    /** amoCRM refused the post outright (nothing was created): the notes are simply not sent yet. */
    async clearAttempt(ids: number[]): Promise<void> {
      await db('subscription_events').whereIn('id', ids).whereNull('amo_note_id').update({ amo_note_attempted_at: null });
    },

    async setNoteId(eventId: number, noteId: number): Promise<void> {
      await db('subscription_events').where({ id: eventId }).update({ amo_note_id: noteId });
    },

    /** The amoCRM notes already known to belong to one of the customer's changes. */
    async claimedNoteIds(userId: number): Promise<Set<number>> {
      const rows: { amo_note_id: string }[] = await db('subscription_events').where({ user_id: userId }).whereNotNull('amo_note_id').select('amo_note_id');
      return new Set(rows.map((r) => Number(r.amo_note_id)));
    },
  };
}
