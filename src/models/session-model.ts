import type { Knex } from 'knex';

/** The connect-pg-simple session rows, for ending a user's other sessions. */
export function createSessionModel(db: Knex | Knex.Transaction) {
  const ofUser = (userId: number) => db('session').whereRaw("(sess::jsonb #>> '{passport,user,id}')::bigint = ?", [userId]);
  return {
    async deleteForUser(userId: number, exceptSid?: string): Promise<number> {
      const q = ofUser(userId);
      if (exceptSid) q.whereNot({ sid: exceptSid });
      return q.delete();
    },
    async deleteExpired(): Promise<number> {
      return db('session').where('expire', '<', db.fn.now()).delete();
    },
  };
}
