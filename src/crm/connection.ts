// The amoCRM connection shared by every process: where the account is, the token to send (long-lived, or
// OAuth tokens kept encrypted in PostgreSQL and refreshed by one process at a time), whether sending is
// possible right now, and the installation-wide request throttle.
import { createSealer } from '../services/sealed.js';
import type { Knex } from 'knex';
import { createAmocrmConnectionModel, type ConnectionState } from '../models/amocrm-connection-model.js';
import { AmoError, requestTokens, type TokenPair } from './amocrm-client.js';

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

/** The amoCRM tokens, sealed as SECURITY S23 says (src/services/sealed.ts); salt and info as they always were. */
export function createTokenCipher(secrets: readonly string[]) {
  return createSealer(secrets, {
    salt: 'flowers-amocrm', info: 'amocrm token encryption v1',
    unreadable: 'stored amoCRM tokens cannot be read with the current SESSION_SECRET list: connect amoCRM again',
  });
}

export function createAmoConnection({ db, settings, secrets }: { db: Knex; settings: AmoSettings; secrets: readonly string[] }) {
  const cipher = createTokenCipher(secrets);
  const stored = createAmocrmConnectionModel(db);
  const row = () => stored.get();
  const mode = settings.longLivedToken ? 'long_lived' as const : settings.clientId && settings.clientSecret ? 'oauth' as const : 'none' as const;

  const setState = (state: ConnectionState, reason: string | null) => stored.setState(state, reason);

  /** Waits for this process's turn to send a request. The slot is taken atomically in PostgreSQL. */
  async function slot(): Promise<void> {
    const wait = await stored.takeRequestSlot(REQUEST_SPACING_MS);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  async function tokenBaseUrl(): Promise<string> {
    const url = settings.baseUrl ?? (await row()).baseUrl;
    if (!url) throw new AmoError('unauthorized', 'amoCRM is not connected yet');
    return url;
  }

  /** Trades tokens and stores the new pair before anyone uses it. */
  async function storeTokens(trx: Knex | Knex.Transaction, pair: TokenPair, baseUrl: string) {
    await createAmocrmConnectionModel(trx).storeTokens({
      baseUrl,
      accessTokenEnc: cipher.seal(pair.accessToken),
      refreshTokenEnc: cipher.seal(pair.refreshToken),
      expiresAt: new Date(Date.now() + pair.expiresIn * 1000),
    });
  }

  /**
   * Refreshes the OAuth tokens under a row lock, so that of several processes only the first refreshes and the
   * others read its result; a spent refresh token is never sent twice. `stale` is the access token that failed
   * (after a 401): if another process has already replaced it, that newer token is used.
   */
  async function refresh(stale?: string): Promise<string> {
    const result = await db.transaction(async (trx): Promise<{ token: string } | { refused: AmoError }> => {
      const current = await createAmocrmConnectionModel(trx).get({ forUpdate: true });
      if (current.state === 'needs_reauth') throw new AmoError('unauthorized', 'amoCRM needs to be re-authorized');
      if (!current.refreshTokenEnc || !current.accessTokenEnc) throw new AmoError('unauthorized', 'amoCRM is not connected yet');
      const access = cipher.open(current.accessTokenEnc);
      const fresh = current.expiresAt && current.expiresAt.getTime() - Date.now() > REFRESH_MARGIN_S * 1000;
      if (fresh && access !== stale) return { token: access }; // someone refreshed while we waited for the lock
      const baseUrl = settings.baseUrl ?? current.baseUrl!;
      try {
        const pair = await requestTokens(baseUrl, {
          client_id: settings.clientId!, client_secret: settings.clientSecret!, grant_type: 'refresh_token',
          refresh_token: cipher.open(current.refreshTokenEnc), redirect_uri: settings.redirectUri,
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
    await stored.refreshRefused(hint);
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
      if (mode === 'none' || !current.accessTokenEnc) throw new AmoError('unauthorized', 'amoCRM is not connected yet');
      if (!current.expiresAt || current.expiresAt.getTime() - Date.now() < REFRESH_MARGIN_S * 1000) return refresh();
      return cipher.open(current.accessTokenEnc);
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
      const usable = mode === 'long_lived' || (mode === 'oauth' && current.accessTokenEnc);
      await setState(usable ? 'connected' : 'disconnected', null);
    },

    /** Delays every process's next request (after a 429 with retry_after). */
    async backOff(seconds: number): Promise<void> {
      await stored.delayRequests(seconds);
    },

    async status() {
      const current = await row();
      const state: ConnectionState = current.state === 'disconnected' && mode === 'long_lived' ? 'connected' : current.state;
      return { mode, state, reason: current.stateReason, baseUrl: settings.baseUrl ?? current.baseUrl, expiresAt: current.expiresAt, updatedAt: current.updatedAt };
    },

    /** Whether jobs may send now: connected (or long-lived and not stopped). */
    async canSend(): Promise<{ ok: true } | { ok: false; why: string }> {
      const current = await row();
      if (current.state === 'needs_reauth') return { ok: false, why: 'needs re-authorization' };
      if (current.state === 'paused') return { ok: false, why: current.stateReason ?? 'paused' };
      if (mode === 'none') return { ok: false, why: 'no amoCRM credentials configured' };
      if (mode === 'oauth' && !current.accessTokenEnc) return { ok: false, why: 'not connected yet' };
      return { ok: true };
    },
  };
}
