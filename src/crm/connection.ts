// The amoCRM connection shared by every process: where the account is, the token to send (long-lived, or
// OAuth tokens kept encrypted in PostgreSQL and refreshed by one process at a time), whether sending is
// possible right now, and the installation-wide request throttle.
import { createSealer } from '../services/sealed.js';
import type { Knex } from 'knex';
import { AmoError, requestTokens, type TokenPair } from './amocrm-client.js';

export type ConnectionState = 'disconnected' | 'connected' | 'needs_reauth' | 'paused';

export type AmoSettings = {
  /** AMOCRM_BASE_URL: wins over the OAuth referer. */
  baseUrl: string | null;
  longLivedToken: string | null;
  clientId: string | null;
  clientSecret: string | null;
  redirectUri: string;
  authUrl: string;
};

/** At most 7 requests a second for the whole installation: each request takes the next 150 ms slot. */
export const REQUEST_SPACING_MS = 150;
const REFRESH_MARGIN_S = 300;

type Row = {
  base_url: string | null; access_token_enc: string | null; refresh_token_enc: string | null; expires_at: Date | null;
  state: ConnectionState; state_reason: string | null; updated_at: Date;
};

/** The amoCRM tokens, sealed as SECURITY S23 says (src/services/sealed.ts); salt and info as they always were. */
export function createTokenCipher(secrets: readonly string[]) {
  return createSealer(secrets, {
    salt: 'flowers-amocrm', info: 'amocrm token encryption v1',
    unreadable: 'stored amoCRM tokens cannot be read with the current SESSION_SECRET list: connect amoCRM again',
  });
}

export function createAmoConnection({ db, settings, secrets }: { db: Knex; settings: AmoSettings; secrets: readonly string[] }) {
  const cipher = createTokenCipher(secrets);
  const row = async (trx: Knex | Knex.Transaction = db, lock = false): Promise<Row> => {
    const q = trx('amocrm_connection').where({ id: 1 }).first();
    return (lock ? await q.forUpdate() : await q) as Row;
  };
  const mode = settings.longLivedToken ? 'long_lived' as const : settings.clientId && settings.clientSecret ? 'oauth' as const : 'none' as const;

  async function setState(state: ConnectionState, reason: string | null, extra: Record<string, unknown> = {}) {
    await db('amocrm_connection').where({ id: 1 }).update({ state, state_reason: reason, updated_at: db.fn.now(), ...extra });
  }

  /** Waits for this process's turn to send a request. The slot is taken atomically in PostgreSQL. */
  async function slot(): Promise<void> {
    const { rows } = await db.raw(
      `update amocrm_throttle set next_request_at = greatest(next_request_at, clock_timestamp()) + make_interval(secs => ?) where id = 1
       returning extract(epoch from (next_request_at - make_interval(secs => ?) - clock_timestamp())) * 1000 as wait_ms`,
      [REQUEST_SPACING_MS / 1000, REQUEST_SPACING_MS / 1000],
    );
    const wait = Number(rows[0]?.wait_ms ?? 0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  async function tokenBaseUrl(): Promise<string> {
    const url = settings.baseUrl ?? (await row()).base_url;
    if (!url) throw new AmoError('unauthorized', 'amoCRM is not connected yet');
    return url;
  }

  /** Trades tokens and stores the new pair before anyone uses it. */
  async function storeTokens(trx: Knex | Knex.Transaction, pair: TokenPair, baseUrl: string) {
    await trx('amocrm_connection').where({ id: 1 }).update({
      base_url: baseUrl,
      access_token_enc: cipher.seal(pair.accessToken),
      refresh_token_enc: cipher.seal(pair.refreshToken),
      expires_at: new Date(Date.now() + pair.expiresIn * 1000),
      state: 'connected', state_reason: null, updated_at: trx.fn.now(),
    });
  }

  /**
   * Refreshes the OAuth tokens under a row lock, so that of several processes only the first refreshes and the
   * others read its result; a spent refresh token is never sent twice. `stale` is the access token that failed
   * (after a 401): if another process has already replaced it, that newer token is used.
   */
  async function refresh(stale?: string): Promise<string> {
    const result = await db.transaction(async (trx): Promise<{ token: string } | { refused: AmoError }> => {
      const current = await row(trx, true);
      if (current.state === 'needs_reauth') throw new AmoError('unauthorized', 'amoCRM needs to be re-authorized');
      if (!current.refresh_token_enc || !current.access_token_enc) throw new AmoError('unauthorized', 'amoCRM is not connected yet');
      const access = cipher.open(current.access_token_enc);
      const fresh = current.expires_at && current.expires_at.getTime() - Date.now() > REFRESH_MARGIN_S * 1000;
      if (fresh && access !== stale) return { token: access }; // someone refreshed while we waited for the lock
      const baseUrl = settings.baseUrl ?? current.base_url!;
      try {
        const pair = await requestTokens(baseUrl, {
          client_id: settings.clientId!, client_secret: settings.clientSecret!, grant_type: 'refresh_token',
          refresh_token: cipher.open(current.refresh_token_enc), redirect_uri: settings.redirectUri,
        }, slot);
        await storeTokens(trx, pair, baseUrl);
        return { token: pair.accessToken };
      } catch (error) {
        if (error instanceof AmoError && (error.kind === 'unauthorized' || error.kind === 'invalid')) return { refused: error };
        throw error; // a network error: the refresh token is still good, try again later
      }
    });
    if ('token' in result) return result.token;
    // The refresh token was refused: only a person can fix that by connecting again. It is never sent again.
    const hint = result.refused.details.hint ?? result.refused.message;
    await db('amocrm_connection').where({ id: 1 }).update({ state: 'needs_reauth', state_reason: hint, refresh_token_enc: null, updated_at: db.fn.now() });
    throw new AmoError('unauthorized', `token refresh refused: ${hint}`, result.refused.details);
  }

  return {
    mode,
    slot,
    baseUrl: tokenBaseUrl,

    /** The token to send now; OAuth tokens close to expiry are refreshed first. */
    async accessToken(): Promise<string> {
      const current = await row();
      if (current.state === 'needs_reauth') throw new AmoError('unauthorized', 'amoCRM needs to be re-authorized');
      if (mode === 'long_lived') return settings.longLivedToken!;
      if (mode === 'none' || !current.access_token_enc) throw new AmoError('unauthorized', 'amoCRM is not connected yet');
      if (!current.expires_at || current.expires_at.getTime() - Date.now() < REFRESH_MARGIN_S * 1000) return refresh();
      return cipher.open(current.access_token_enc);
    },

    /** After a 401: one refresh (OAuth), or — for a long-lived token, which cannot be refreshed — re-authorization. */
    async handleUnauthorized(failedToken: string): Promise<boolean> {
      if (mode !== 'oauth') {
        await setState('needs_reauth', 'the long-lived token was refused (expired or revoked)');
        return false;
      }
      await refresh(failedToken);
      return true;
    },

    /** The authorization-code exchange after the consent page. */
    async connect(code: string, referer: string | null): Promise<void> {
      const baseUrl = settings.baseUrl ?? (referer ? `https://${referer}` : null);
      if (!baseUrl) throw new AmoError('invalid', 'no account host: set AMOCRM_BASE_URL');
      const pair = await requestTokens(baseUrl, {
        client_id: settings.clientId!, client_secret: settings.clientSecret!, grant_type: 'authorization_code',
        code, redirect_uri: settings.redirectUri,
      }, slot);
      await storeTokens(db, pair, baseUrl);
    },

    async pause(reason: string): Promise<void> {
      await setState('paused', reason);
    },

    /** Marks the connection usable again (after a long-lived token is configured, or staff resumes after a 402/403). */
    async resume(): Promise<void> {
      const current = await row();
      const usable = mode === 'long_lived' || (mode === 'oauth' && current.access_token_enc);
      await setState(usable ? 'connected' : 'disconnected', null);
    },

    /** Delays every process's next request (after a 429 with retry_after). */
    async backOff(seconds: number): Promise<void> {
      await db.raw('update amocrm_throttle set next_request_at = greatest(next_request_at, clock_timestamp() + make_interval(secs => ?)) where id = 1', [seconds]);
    },

    async status() {
      const current = await row();
      const state: ConnectionState = current.state === 'disconnected' && mode === 'long_lived' ? 'connected' : current.state;
      return { mode, state, reason: current.state_reason, baseUrl: settings.baseUrl ?? current.base_url, expiresAt: current.expires_at, updatedAt: current.updated_at };
    },

    /** Whether jobs may send now: connected (or long-lived and not stopped). */
    async canSend(): Promise<{ ok: true } | { ok: false; why: string }> {
      const current = await row();
      if (current.state === 'needs_reauth') return { ok: false, why: 'needs re-authorization' };
      if (current.state === 'paused') return { ok: false, why: current.state_reason ?? 'paused' };
      if (mode === 'none') return { ok: false, why: 'no amoCRM credentials configured' };
      if (mode === 'oauth' && !current.access_token_enc) return { ok: false, why: 'not connected yet' };
      return { ok: true };
    },
  };
}
