import type { Knex } from 'knex';

export type ResetGrant = { userId: number; authVersion: number };

export function createPasswordResetModel(db: Knex | Knex.Transaction) {
  return {
    /** Stores a new token hash for the user; older tokens of the user are deleted. */
    async replaceForUser(userId: number, tokenHash: Buffer, authVersion: number, ttlMinutes: number): Promise<void> {
      await db('password_resets').where({ user_id: userId }).delete();
      await db('password_resets').insert({
        token_hash: tokenHash, user_id: userId, auth_version: authVersion,
        expires_at: db.raw('now() + make_interval(mins => ?)', [ttlMinutes]),
      });
    },

    /** Whether the token is valid now, without using it up (a GET must not consume it). */
    async isValid(tokenHash: Buffer): Promise<boolean> {
      const row = await db('password_resets as r').join('users as u', 'u.id', 'r.user_id')
        .where('r.token_hash', tokenHash).andWhere('r.expires_at', '>', db.fn.now())
        .andWhereRaw('r.auth_version = u.auth_version').first('r.user_id');
      return Boolean(row);
    },

    /** Uses the token up in one statement: only one of several concurrent requests gets the grant. */
    async consume(tokenHash: Buffer): Promise<ResetGrant | null> {
      const { rows } = await db.raw(
        'delete from password_resets where token_hash = ? and expires_at > now() returning user_id, auth_version',
        [tokenHash],
      );
      return rows[0] ? { userId: Number(rows[0].user_id), authVersion: rows[0].auth_version } : null;
    },

    async deleteForUser(userId: number): Promise<void> {
      await db('password_resets').where({ user_id: userId }).delete();
    },

    async deleteExpired(): Promise<number> {
      return db('password_resets').where('expires_at', '<=', db.fn.now()).delete();
    },
  };
}
