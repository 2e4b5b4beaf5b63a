import type { Knex } from 'knex';

export type CodeTry = { userId: number; authVersion: number; codeHash: Buffer };

export function createLoginCodeModel(db: Knex | Knex.Transaction) {
  return {
    /** Stores a new code hash for the user; an older code of the user is replaced. */
    async replaceForUser(userId: number, codeHash: Buffer, authVersion: number, ttlMinutes: number): Promise<void> {
      await db.raw(
        `insert into login_codes (user_id, code_hash, auth_version, attempts, expires_at, created_at)
         values (?, ?, ?, 0, now() + make_interval(mins => ?), now())
         on conflict (user_id) do update set code_hash = excluded.code_hash, auth_version = excluded.auth_version,
           attempts = 0, expires_at = excluded.expires_at, created_at = excluded.created_at`,
        [userId, codeHash, authVersion, ttlMinutes],
      );
    },

    /**
     * Spends one try on the live code of the address, in one statement: concurrent tries are all counted and none
     * gets past the limit. The same statement runs whether or not the address has an account or a code.
     */
    async spendTry(email: string, maxTries: number): Promise<CodeTry | null> {
      const { rows } = await db.raw(
        `update login_codes c set attempts = c.attempts + 1
         from users u
         where u.id = c.user_id and lower(u.email) = lower(?) and c.expires_at > now() and c.attempts < ?
         returning c.user_id, c.auth_version, c.code_hash`,
        [email, maxTries],
      );
      const row = rows[0];
      return row ? { userId: Number(row.user_id), authVersion: row.auth_version, codeHash: Buffer.from(row.code_hash) } : null;
    },

    /** Uses the code up: only one of several concurrent right answers gets it. */
    async consume(userId: number, codeHash: Buffer): Promise<boolean> {
      const deleted = await db('login_codes').where({ user_id: userId, code_hash: codeHash }).andWhere('expires_at', '>', db.fn.now()).delete();
      return deleted === 1;
    },

    async deleteForUser(userId: number): Promise<void> {
      await db('login_codes').where({ user_id: userId }).delete();
    },

    async deleteExpired(): Promise<number> {
      return db('login_codes').where('expires_at', '<=', db.fn.now()).delete();
    },
  };
}
