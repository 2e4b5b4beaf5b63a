// Secrets kept in the database (SECURITY S23): AES-256-GCM with keys derived by HKDF from the session secrets, one
// key per purpose (salt and info), sealed with the first secret and opened with any, so that rotating
// SESSION_SECRET (new first, old second) keeps what is stored readable.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export function createSealer(secrets: readonly string[], purpose: { salt: string; info: string; unreadable: string }) {
  const keys = secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, purpose.salt, purpose.info, 32)));
  const key = keys[0]!;
  return {
    seal(plain: string): string {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
    },
    open(sealed: string): string {
      const [version, iv, tag, body] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || !body) throw new Error('unknown sealed format');
      for (const k of keys) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', k, Buffer.from(iv, 'base64url'));
          decipher.setAuthTag(Buffer.from(tag, 'base64url'));
          return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
        } catch {
          // try the next secret
        }
      }
      throw new Error(purpose.unreadable);
    },
  };
}
