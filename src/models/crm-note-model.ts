// The notes waiting for a customer's amoCRM lead and where each stands: the subscription changes
// (subscription_events) and the other notes (amocrm_note_outbox: preference changes, confirmed orders). Both
// tables carry amo_note_attempted_at (set and committed before a post) and amo_note_id (amoCRM's answer).
import type { Knex } from 'knex';
import type { ChangeSource, SubscriptionEventDetails, SubscriptionEventKind } from './subscription-event-model.js';

export type PendingNote = { id: number; createdAt: Date; attemptedAt: Date | null } & (
  | { from: 'subscription_events'; kind: SubscriptionEventKind; details: SubscriptionEventDetails; source: ChangeSource }
  | { from: 'amocrm_note_outbox'; text: string });

type Table = PendingNote['from'];
const TABLES: Table[] = ['subscription_events', 'amocrm_note_outbox'];

export function createCrmNoteModel(db: Knex | Knex.Transaction) {
  const byTable = (items: PendingNote[]) => TABLES.map((table) => [table, items.filter((i) => i.from === table).map((i) => i.id)] as const).filter(([, ids]) => ids.length);

  return {
    /** The customer's notes without an amoCRM id yet, oldest first (at most `limit`). */
    async pending(userId: number, limit: number): Promise<PendingNote[]> {
      const events: { id: string; kind: SubscriptionEventKind; details: SubscriptionEventDetails; source: ChangeSource; created_at: Date; amo_note_attempted_at: Date | null }[] =
        await db('subscription_events').where({ user_id: userId }).whereNull('amo_note_id').orderBy('id').limit(limit)
          .select('id', 'kind', 'details', 'source', 'created_at', 'amo_note_attempted_at');
      const others: { id: string; text: string; created_at: Date; amo_note_attempted_at: Date | null }[] =
        await db('amocrm_note_outbox').where({ user_id: userId }).whereNull('amo_note_id').orderBy('id').limit(limit)
          .select('id', 'text', 'created_at', 'amo_note_attempted_at');
      const all: PendingNote[] = [
        ...events.map((r) => ({ from: 'subscription_events' as const, id: Number(r.id), kind: r.kind, details: r.details, source: r.source, createdAt: r.created_at, attemptedAt: r.amo_note_attempted_at })),
        ...others.map((r) => ({ from: 'amocrm_note_outbox' as const, id: Number(r.id), text: r.text, createdAt: r.created_at, attemptedAt: r.amo_note_attempted_at })),
      ];
      return all.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.from === b.from ? a.id - b.id : a.from === 'subscription_events' ? -1 : 1)).slice(0, limit);
    },

    /** Notes to send later (in the caller's transaction). */
    async add(userId: number, texts: string[]): Promise<void> {
      if (texts.length) await db('amocrm_note_outbox').insert(texts.map((text) => ({ user_id: userId, text: text.slice(0, 4000) })));
    },

    /** Recorded (and committed) before the post, so that a lost answer is known to be uncertain. */
    async markAttempted(items: PendingNote[]): Promise<void> {
      for (const [table, ids] of byTable(items)) await db(table).whereIn('id', ids).update({ amo_note_attempted_at: db.fn.now() });
    },

    /** amoCRM refused the post outright (nothing was created): the notes are simply not sent yet. */
    async clearAttempt(items: PendingNote[]): Promise<void> {
      for (const [table, ids] of byTable(items)) await db(table).whereIn('id', ids).whereNull('amo_note_id').update({ amo_note_attempted_at: null });
    },

    async setNoteId(item: PendingNote, noteId: number): Promise<void> {
      await db(item.from).where({ id: item.id }).update({ amo_note_id: noteId });
    },

    /** The amoCRM notes already known to be one of the customer's. */
    async claimedNoteIds(userId: number): Promise<Set<number>> {
      const ids = new Set<number>();
      for (const table of TABLES) {
        const rows: { amo_note_id: string }[] = await db(table).where({ user_id: userId }).whereNotNull('amo_note_id').select('amo_note_id');
        for (const r of rows) ids.add(Number(r.amo_note_id));
      }
      return ids;
    },
  };
}
