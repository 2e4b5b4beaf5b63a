// Password hashing (bcrypt, cost 12, async) and the password rules of SECURITY S1–S2.
import bcrypt from 'bcrypt';
import { dictionary } from '@zxcvbn-ts/language-common';

export const BCRYPT_COST = 12;
export const MIN_LENGTH = 8;
export const MAX_BYTES = 72;

// ~49,000 common passwords (zxcvbn's list) plus the Russian keyboard favourites; only those that pass the length
// rule matter.
const COMMON = new Set(
  [...dictionary['passwords-common'], 'йцукенгш', 'йцукенгшщз', 'пароль123', 'qwertyйцукен', '12345678а', 'любовь123', 'привет123']
    .filter((p) => [...p].length >= MIN_LENGTH).map((p) => p.toLowerCase()),
);

export type PasswordProblem = 'too_short' | 'too_long' | 'common' | 'like_email';

/** The first rule the password breaks, or null. The password is checked exactly as typed (never trimmed). */
export function passwordProblem(password: string, email?: string): PasswordProblem | null {
  if ([...password].length < MIN_LENGTH) return 'too_short';
  if (Buffer.byteLength(password, 'utf8') > MAX_BYTES) return 'too_long';
  const folded = password.toLowerCase();
  if (COMMON.has(folded)) return 'common';
  const local = email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 3 && (folded === local || folded.includes(local) && local.length >= folded.length - 3)) return 'like_email';
  return null;
}

export function commonPasswordCount(): number {
  return COMMON.size;
}

export function createPasswordHasher(cost = BCRYPT_COST) {
  // Unknown emails are compared against this hash so that they take as long as a wrong password (S3).
  const dummy = bcrypt.hash('not-a-real-password-just-for-timing', cost);
  return {
    cost,
    hash: (password: string) => bcrypt.hash(password, cost),
    verify: (password: string, hash: string) => bcrypt.compare(password, hash),
    async verifyNothing(password: string): Promise<false> {
      await bcrypt.compare(password, await dummy);
      return false;
    },
    needsRehash: (hash: string) => bcrypt.getRounds(hash) < cost,
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
