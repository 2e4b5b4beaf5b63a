import type { Knex } from 'knex';

export type ConnectionState = 'disconnected' | 'connected' | 'needs_reauth' | 'paused';

/** The one amoCRM connection of the installation: account host, sealed tokens, state. */
export type ConnectionRecord = {
  baseUrl: string | null; accessTokenEnc: string | null; refreshTokenEnc: string | null; expiresAt: Date | null;
  state: ConnectionState; stateReason: string | null; updatedAt: Date;
};

/** The row `amocrm_connection` (id 1) and the installation-wide request throttle `amocrm_throttle`. */
export function createAmocrmConnectionModel(db: Knex | Knex.Transaction) {
  const row = () => db('amocrm_connection').where({ id: 1 });
  return {
    /** The connection; `forUpdate` locks the row until the transaction ends. */
    async get({ forUpdate = false } = {}): Promise<ConnectionRecord> {
      const q = row().first('base_url', 'access_token_enc', 'refresh_token_enc', 'expires_at', 'state', 'state_reason', 'updated_at');
      const r = forUpdate ? await q.forUpdate() : await q;
      return {
        baseUrl: r.base_url, accessTokenEnc: r.access_token_enc, refreshTokenEnc: r.refresh_token_enc, expiresAt: r.expires_at,
        state: r.state, stateReason: r.state_reason, updatedAt: r.updated_at,
      };
    },

    async setState(state: ConnectionState, reason: string | null): Promise<void> {
      await row().update({ state, state_reason: reason, updated_at: db.fn.now() });
    },

    /** New tokens (sealed): the connection is usable again. */
    async storeTokens(tokens: { baseUrl: string; accessTokenEnc: string; refreshTokenEnc: string; expiresAt: Date }): Promise<void> {
      await row().update({
        base_url: tokens.baseUrl, access_token_enc: tokens.accessTokenEnc, refresh_token_enc: tokens.refreshTokenEnc, expires_at: tokens.expiresAt,
        state: 'connected', state_reason: null, updated_at: db.fn.now(),
      });
    },

    /** The refresh token was refused: it is dropped, and only a new authorization helps. */
    async refreshRefused(reason: string): Promise<void> {
      await row().update({ state: 'needs_reauth', state_reason: reason, refresh_token_enc: null, updated_at: db.fn.now() });
    },

    /** Up to when amoCRM's lead changes have been read back (null: never). */
    async reconciledUntil(): Promise<Date | null> {
      return ((await row().first('reconciled_until'))?.reconciled_until as Date | null | undefined) ?? null;
    },

    async setReconciledUntil(at: Date): Promise<void> {
      await row().update({ reconciled_until: at });
    },

    /** Takes the next request slot (each `spacingMs` apart, atomically); returns how long to wait for it, in ms. */
    async takeRequestSlot(spacingMs: number): Promise<number> {
      const { rows } = await db.raw(
        `update amocrm_throttle set next_request_at = greatest(next_request_at, clock_timestamp()) + make_interval(secs => ?) where id = 1
         returning extract(epoch from (next_request_at - make_interval(secs => ?) - clock_timestamp())) * 1000 as wait_ms`,
        [spacingMs / 1000, spacingMs / 1000],
      );
      return Number(rows[0]?.wait_ms ?? 0);
    },

    /** No request of any process before that many seconds from now. */
    async delayRequests(seconds: number): Promise<void> {
      await db.raw('update amocrm_throttle set next_request_at = greatest(next_request_at, clock_timestamp() + make_interval(secs => ?)) where id = 1', [seconds]);
    },
  };
}
