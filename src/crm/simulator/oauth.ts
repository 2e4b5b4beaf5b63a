// OAuth 2.0 of the simulated account: authorization codes (20 min, single use), JWT-shaped access tokens,
// opaque rotating refresh tokens (single use, 3 months), long-lived tokens, and the token-endpoint errors
// amoCRM answers with. Returns domain results; oauth-routes.ts turns them into HTTP.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { oauthProblems, type Problem } from './problems.js';
import { API_USER_ID } from './state.js';

const CODE_TTL_MS = 20 * 60 * 1000;
const REFRESH_TTL_MS = 90 * 24 * 3600 * 1000;

export type OAuthOptions = {
  accountId: number;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  accessTokenTtlSeconds: number;
  now: () => number;
};
export type TokenPair = { token_type: 'Bearer'; expires_in: number; access_token: string; refresh_token: string; server_time: number };
type AccessToken = { expiresAt: number; longLived: boolean };
type Code = { clientId: string; redirectUri: string; expiresAt: number; used: boolean };
type RefreshToken = { clientId: string; expiresAt: number; spent: boolean; revoked: boolean };

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');
/** Opaque strings in the shape of amoCRM's encrypted codes and refresh tokens (defuse/php-encryption). */
const opaque = (bytes: number) => `def50200${randomBytes(bytes).toString('hex')}`;

export function createOAuth(options: OAuthOptions) {
  const signingKey = randomBytes(32);
  let codes = new Map<string, Code>();
  let accessTokens = new Map<string, AccessToken>();
  let refreshTokens = new Map<string, RefreshToken>();

  function reset(): void {
    codes = new Map();
    accessTokens = new Map();
    refreshTokens = new Map();
  }

  function jwt(ttlSeconds: number, apiDomain: string): string {
    const iat = Math.floor(options.now() / 1000);
    const jti = randomBytes(20).toString('hex');
    const header = { typ: 'JWT', alg: 'RS256', jti };
    const payload = {
      aud: options.clientId, jti, iat, nbf: iat, exp: iat + ttlSeconds, sub: String(API_USER_ID), grant_type: '',
      account_id: options.accountId, base_domain: 'amocrm.ru', version: 2, scopes: ['crm', 'notifications'],
      hash_uuid: randomUUID(), api_domain: apiDomain,
    };
    const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    return `${unsigned}.${createHmac('sha256', signingKey).update(unsigned).digest('base64url')}`;
  }

  function issuePair(clientId: string, apiDomain: string): TokenPair {
    const access = jwt(options.accessTokenTtlSeconds, apiDomain);
    accessTokens.set(access, { expiresAt: options.now() + options.accessTokenTtlSeconds * 1000, longLived: false });
    const refresh = opaque(320);
    refreshTokens.set(refresh, { clientId, expiresAt: options.now() + REFRESH_TTL_MS, spent: false, revoked: false });
    return {
      token_type: 'Bearer', expires_in: options.accessTokenTtlSeconds, access_token: access, refresh_token: refresh,
      server_time: Math.floor(options.now() / 1000),
    };
  }

  function issueCode(clientId = options.clientId, redirectUri = options.redirectUri): string {
    const code = opaque(160);
    codes.set(code, { clientId, redirectUri, expiresAt: options.now() + CODE_TTL_MS, used: false });
    return code;
  }

  function checkClient(body: Record<string, unknown>): Problem | null {
    if (typeof body.client_id !== 'string' || !body.client_id) return oauthProblems.invalidRequest('Check the `client_id` parameter');
    if (body.client_id !== options.clientId || body.client_secret !== options.clientSecret) return oauthProblems.invalidClient();
    return null;
  }

  /** POST /oauth2/access_token with any grant: a token pair or the problem amoCRM answers with. */
  function token(body: Record<string, unknown>, apiDomain: string): { ok: true; pair: TokenPair } | { ok: false; problem: Problem } {
    const fail = (problem: Problem) => ({ ok: false as const, problem });
    const grant = body.grant_type;
    if (grant !== 'authorization_code' && grant !== 'refresh_token') {
      return fail(typeof grant === 'string' && grant ? oauthProblems.unsupportedGrant() : oauthProblems.invalidRequest('Check the `grant_type` parameter'));
    }
    const clientProblem = checkClient(body);
    if (clientProblem) return fail(clientProblem);

    if (grant === 'authorization_code') {
      if (typeof body.code !== 'string' || !body.code) return fail(oauthProblems.invalidRequest('Check the `code` parameter'));
      if (typeof body.redirect_uri !== 'string' || !body.redirect_uri) return fail(oauthProblems.invalidRequest('Check the `redirect_uri` parameter'));
      const code = codes.get(body.code);
      if (!code) return fail(oauthProblems.invalidRequest('Cannot decrypt the authorization code'));
      if (code.expiresAt <= options.now()) return fail(oauthProblems.invalidRequest('Authorization code has expired'));
      if (code.used) return fail(oauthProblems.invalidRequest('Authorization code has been revoked'));
      if (code.clientId !== body.client_id) return fail(oauthProblems.invalidRequest('Authorization code was not issued to this client'));
      if (code.redirectUri !== body.redirect_uri) return fail(oauthProblems.invalidClient());
      code.used = true;
      return { ok: true, pair: issuePair(code.clientId, apiDomain) };
    }

    if (typeof body.refresh_token !== 'string' || !body.refresh_token) return fail(oauthProblems.invalidRequest('Check the `refresh_token` parameter'));
    if (typeof body.redirect_uri === 'string' && body.redirect_uri && body.redirect_uri !== options.redirectUri) return fail(oauthProblems.invalidClient());
    const refresh = refreshTokens.get(body.refresh_token);
    if (!refresh) return fail(oauthProblems.invalidRequest('Cannot decrypt the refresh token', 401));
    if (refresh.clientId !== body.client_id) return fail(oauthProblems.invalidRequest('Token is not linked to client', 401));
    if (refresh.spent || refresh.revoked) return fail(oauthProblems.invalidRequest('Token has been revoked', 401));
    if (refresh.expiresAt <= options.now()) return fail(oauthProblems.invalidRequest('Token has expired', 401));
    refresh.spent = true;
    return { ok: true, pair: issuePair(refresh.clientId, apiDomain) };
  }

  return {
    reset,
    issueCode,
    token,
    /** A private integration's long-lived token: no refresh token, default one year. */
    issueLongLivedToken(ttlSeconds = 365 * 24 * 3600, apiDomain = 'api-b.amocrm.ru'): string {
      const access = jwt(ttlSeconds, apiDomain);
      accessTokens.set(access, { expiresAt: options.now() + ttlSeconds * 1000, longLived: true });
      return access;
    },
    /** True when the bearer token was issued here and is neither expired nor revoked. */
    verifyAccessToken(token: string): boolean {
      const record = accessTokens.get(token);
      return Boolean(record && record.expiresAt > options.now());
    },
    /** True when the refresh token is one of ours and still usable (the subdomain lookup accepts it). */
    knowsRefreshToken(token: string): boolean {
      const record = refreshTokens.get(token);
      return Boolean(record && !record.revoked && record.expiresAt > options.now());
    },
    expireAccessTokens(): void {
      const past = options.now() - 1000;
      for (const record of accessTokens.values()) record.expiresAt = past;
    },
    revokeRefreshTokens(): void {
      for (const record of refreshTokens.values()) record.revoked = true;
    },
    knowsClient: (clientId: unknown) => clientId === options.clientId,
    redirectUri: options.redirectUri,
  };
}
export type OAuth = ReturnType<typeof createOAuth>;
