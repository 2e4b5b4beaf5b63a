// Which errors mean "the database cannot be reached right now" (it is down, restarting, refusing connections,
// or ended ours), as opposed to "the query is wrong". Pages answer those with 503 and the job worker waits them out.

/** Connection errors of the socket, and SQLSTATEs that are about the connection rather than the statement. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  '53300', // too_many_connections
  '55000', // object_not_in_prerequisite_state: "database … is not currently accepting connections" (ALLOW_CONNECTIONS false)
  '57P01', '57P02', '57P03', // admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down, recovery)
]);

const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Timeout acquiring a connection|Client has encountered a connection error|Connection ended unexpectedly|is not currently accepting connections|the database system is (starting up|shutting down|in recovery mode)/i;

/** True when the error (or one it wraps) means "the database cannot be reached", not "the query is wrong". */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && (UNAVAILABLE_CODES.has(e.code) || e.code.startsWith('08'))) return true; // class 08: connection exception
    if (e.name === 'KnexTimeoutError') return true;
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
    if (Array.isArray(e.errors) && e.errors.some((inner) => isDatabaseUnavailable(inner))) return true; // AggregateError
    e = e.cause as typeof e;
  }
  return false;
}
