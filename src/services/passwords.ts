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

/**
 * bcrypt runs in libuv's thread pool (4 threads), which random bytes for session ids and file access share: at
 * most two hashes run at once per process, and the rest wait here, so that a burst of logins never holds a page
 * request up behind them (docs/PERFORMANCE.md). Logins are CPU-bound either way.
 */
export const BCRYPT_CONCURRENCY = 2;

/**
 * The queue is bounded: past 32 operations waiting or running in one process a new one is refused at once with
 * HasherBusyError (a 503 with Retry-After) instead of waiting minutes. Proofs of the current password on the
 * account pages may fill only half of it, so that a flood of those never leaves logins without room.
 */
export const BCRYPT_QUEUE_BOUND = 32;
export const BCRYPT_SECONDARY_BOUND = 16;

export class HasherBusyError extends Error {
  readonly retryAfterSeconds = 5;
  constructor() {
    super('password hashing queue full');
    this.name = 'HasherBusyError';
  }
}

function concurrencyLimit(max: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  const run = async <T>(work: () => Promise<T>, bound: number): Promise<T> => {
    if (active + waiting.length >= bound) throw new HasherBusyError();
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next(); // the slot passes straight to the next in line
      else active--;
    }
  };
  return Object.assign(run, { pending: () => active + waiting.length });
}

export function createPasswordHasher(cost = BCRYPT_COST) {
  const limited = concurrencyLimit(BCRYPT_CONCURRENCY);
  // Unknown emails are compared against this hash so that they take as long as a wrong password (S3).
  const dummy = bcrypt.hash('not-a-real-password-just-for-timing', cost);
  return {
    cost,
    hash: (password: string) => limited(() => bcrypt.hash(password, cost), BCRYPT_QUEUE_BOUND),
    verify: (password: string, hash: string) => limited(() => bcrypt.compare(password, hash), BCRYPT_QUEUE_BOUND),
    /** The current password asked for by the account pages: refused earlier than a login when the queue is long. */
    verifyCurrent: (password: string, hash: string) => limited(() => bcrypt.compare(password, hash), BCRYPT_SECONDARY_BOUND),
    async verifyNothing(password: string): Promise<false> {
      const target = await dummy;
      await limited(() => bcrypt.compare(password, target), BCRYPT_QUEUE_BOUND);
      return false;
    },
    needsRehash: (hash: string) => bcrypt.getRounds(hash) < cost,
    /** Operations waiting or running now. */
    pending: () => limited.pending(),
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
