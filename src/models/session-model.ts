import type { Knex } from 'knex';

/**
 * The connect-pg-simple session rows, for ending a user's other sessions. The user id is compared as the text
 * passport stored, exactly the expression of session_user_id_idx, so that the index finds the rows.
 */
export function createSessionModel(db: Knex | Knex.Transaction) {
  const ofUser = (userId: number) => db('session').whereRaw("(sess #>> '{passport,user,id}') = ?", [String(userId)]);
  return {
    async deleteForUser(userId: number, exceptSid?: string): Promise<number> {
      const q = ofUser(userId);
      if (exceptSid) q.whereNot({ sid: exceptSid });
      return q.delete();
    },
    /** The user's unexpired sessions, for the list of signed-in devices. */
    async liveForUser(userId: number): Promise<{ sid: string; sess: unknown }[]> {
      return ofUser(userId).where('expire', '>=', db.fn.now()).select('sid', 'sess');
    },
    async deleteOne(userId: number, sid: string): Promise<number> {
      return ofUser(userId).where({ sid }).delete();
    },
    async deleteExpired(): Promise<number> {
      return db('session').where('expire', '<', db.fn.now()).delete();
    },
  };
}
