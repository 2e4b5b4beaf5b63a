// Tokens that travel in mailed links (password reset, address confirmation), per SECURITY S7: 32 random bytes in
// base64url; only SHA-256 of the token is stored, so the table never holds a usable link. A token is looked up by
// its hash, never compared as text, so no early-exit string comparison can leak how much of it was right.
import { createHash, randomBytes } from 'node:crypto';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{20,100}$/;

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A new token for a link and the hash to store in its place. */
export function newLinkToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

/** Whether a value from a link or a form can be a token at all (anything else is refused before any lookup). */
export function isLinkToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_SHAPE.test(value);
}
