import type { Knex } from 'knex';

export type AuthEventName = 'signup' | 'login_ok' | 'login_fail' | 'locked' | 'reset_requested' | 'reset_done'
  | 'password_changed' | 'email_changed' | 'logout' | 'logout_all' | 'login_code_sent'
  | 'account_deleted' | 'email_change_requested' | 'email_confirmed';

export type RequestMeta = { ip: string | null; userAgent: string | null };

export function createAuthEventModel(db: Knex | Knex.Transaction) {
  return {
    async record(event: AuthEventName, userId: number | null, meta: RequestMeta): Promise<void> {
      await db('auth_events').insert({ event, user_id: userId, ip: meta.ip, user_agent: meta.userAgent?.slice(0, 400) ?? null });
    },
  };
}
