// Structured JSON logs on stdout. Secrets never reach them: request bodies and cookies are not logged,
// and the parts of URLs that carry secrets are masked.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['password', '*.password', 'token', '*.token', 'accessToken', 'refreshToken', 'secret'], censor: '[redacted]' },
    },
    options.destination,
  );
}

const SECRET_QUERY = /([?&](?:token|code|state|secret|_csrf)=)[^&#]*/gi;

/** The URL as logged: the webhook path secret and secret-bearing query values are masked. */
export function redactUrl(url: string): string {
  return url
    .replace(/^(\/webhooks\/amocrm\/)[^/?#]+/, '$1[redacted]')
    .replace(SECRET_QUERY, '$1[redacted]');
}
