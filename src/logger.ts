// Structured JSON logs on stdout. Secrets never reach them: request bodies and cookies are not logged,
// the parts of URLs that carry secrets are masked, and email addresses appear only as a hash (SECURITY S18).
import { createHash } from 'node:crypto';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'token', '*.token', 'accessToken', 'refreshToken', 'secret'], censor: '[redacted]' },
      hooks: { streamWrite: hideEmails },
    },
    options.destination,
  );
}

const SECRET_QUERY = /([?&](?:token|code|state|secret|_csrf|email)=)[^&#]*/gi;

/** The URL as logged: the webhook path secret, secret-bearing query values and an address given as `email=` are masked. */
export function redactUrl(url: string): string {
  return url
    .replace(/^(\/webhooks\/amocrm\/)[^/?#]+/, '$1[redacted]')
    .replace(SECRET_QUERY, '$1[redacted]');
}

/** The short hash by which logs name an email address (lower-cased SHA-256, 16 hex digits). */
export function emailHash(email: string): string {
  return createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 16);
}

/** Bounded (an address has at most 254 characters, a domain label 63), so that no long line costs more than linear time. */
const EMAIL = /(?<![\p{L}\p{N}._%+-])[\p{L}\p{N}._%+-]{1,254}@[\p{L}\p{N}-]{1,63}(?:\.[\p{L}\p{N}-]{1,63}){0,8}\.\p{L}{2,63}/gu;

/**
 * The written log line with every email address replaced by its hash: whatever carries one (an SMTP server's
 * answer inside a nodemailer error, a failed job's message and stack, an amoCRM error text) never logs it plainly.
 */
export function hideEmails(line: string): string {
  return line.includes('@') ? line.replace(EMAIL, (email) => `[email ${emailHash(email)}]`) : line;
}
