import type { Knex } from 'knex';

/** A confirmation link's claim: this user asked to confirm this address while at this auth_version. */
export type ConfirmationGrant = { userId: number; email: string; authVersion: number };

export function createEmailConfirmationModel(db: Knex | Knex.Transaction) {
  return {
    /** Stores a new token hash for the user and the address; older tokens of the user are deleted. */
    async replaceForUser(userId: number, tokenHash: Buffer, email: string, authVersion: number, ttlMinutes: number): Promise<void> {
      await db('email_confirmations').where({ user_id: userId }).delete();
      await db('email_confirmations').insert({
        token_hash: tokenHash, user_id: userId, email, auth_version: authVersion,
        expires_at: db.raw('now() + make_interval(mins => ?)', [ttlMinutes]),
      });
    },

    /** The address a live token confirms, without using it up (a GET must not consume it). */
    async peek(tokenHash: Buffer): Promise<string | null> {
      const row = await db('email_confirmations as c').join('users as u', 'u.id', 'c.user_id')
        .where('c.token_hash', tokenHash).andWhere('c.expires_at', '>', db.fn.now())
        .andWhereRaw('c.auth_version = u.auth_version').first('c.email');
      return row ? String(row.email) : null;
    },

    /** Uses the token up in one statement: only one of several concurrent requests gets the grant. */
    async consume(tokenHash: Buffer): Promise<ConfirmationGrant | null> {
      const { rows } = await db.raw(
        'delete from email_confirmations where token_hash = ? and expires_at > now() returning user_id, email, auth_version',
        [tokenHash],
      );
      return rows[0] ? { userId: Number(rows[0].user_id), email: String(rows[0].email), authVersion: rows[0].auth_version } : null;
    },

    async deleteForUser(userId: number): Promise<void> {
      await db('email_confirmations').where({ user_id: userId }).delete();
    },

    async deleteExpired(): Promise<number> {
      return db('email_confirmations').where('expires_at', '<=', db.fn.now()).delete();
    },
  };
}
