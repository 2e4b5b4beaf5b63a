import type { Knex } from 'knex';
import type { Language } from '../i18n/i18n.js';

export type Role = 'customer' | 'staff';

export type Preferences = {
  bouquet: string;
  address: string;
  deliveryDate: string; // YYYY-MM-DD
  interval: 'weekly' | 'biweekly' | 'monthly';
  wishes: string;
};

/** A customer always has preferences and an account sum; a staff account may have none. */
export type User = Nullable<Preferences, 'bouquet' | 'address' | 'deliveryDate' | 'interval'> & {
  id: number;
  email: string;
  role: Role;
  language: Language;
  referralId: string;
  referredBy: number | null;
  accountSumKopecks: number | null;
  authVersion: number;
  createdAt: Date;
  /** When the current address was confirmed by a mailed link; null until then. */
  emailConfirmedAt: Date | null;
  /** The new address of a change that waits for its confirmation; the current one stays until then. */
  pendingEmail: string | null;
  /** Whether the customer gets reminder mails before deliveries (users.reminders_opt_out_at is null). */
  remindersWanted: boolean;
};

type Nullable<T, K extends keyof T> = Omit<T, K> & { [P in K]: T[P] | null };

/** What authentication needs beyond the public fields; never handed to views. */
export type UserCredentials = {
  id: number;
  passwordHash: string;
  authVersion: number;
  failedLogins: number;
  lockedUntil: Date | null;
};

type UserRow = {
  id: number; email: string; role: Role; language: Language; referral_id: string; referred_by: number | null;
  bouquet: string | null; address: string | null; delivery_date: string | null; interval: Preferences['interval'] | null; wishes: string;
  account_sum_kopecks: number | null; auth_version: number; created_at: Date; email_confirmed_at: Date | null; pending_email: string | null;
  reminders_opt_out_at: Date | null;
};

const COLUMNS = ['id', 'email', 'role', 'language', 'referral_id', 'referred_by', 'bouquet', 'address', 'delivery_date',
  'interval', 'wishes', 'account_sum_kopecks', 'auth_version', 'created_at', 'email_confirmed_at', 'pending_email', 'reminders_opt_out_at'];

function toUser(row: UserRow): User {
  return {
    id: row.id, email: row.email, role: row.role, language: row.language, referralId: row.referral_id,
    referredBy: row.referred_by, bouquet: row.bouquet, address: row.address, deliveryDate: row.delivery_date,
    interval: row.interval, wishes: row.wishes, accountSumKopecks: row.account_sum_kopecks,
    authVersion: row.auth_version, createdAt: row.created_at, emailConfirmedAt: row.email_confirmed_at ?? null, pendingEmail: row.pending_email ?? null,
    remindersWanted: row.reminders_opt_out_at === null,
  };
}

/** The columns and mapping of a user row, for a query that joins `users` (the session store's read). */
export { COLUMNS as USER_COLUMNS, toUser as userFromRow, type UserRow };

export type NewUser = Preferences & {
  email: string;
  passwordHash: string;
  role?: Role;
  language: Language;
  referralId: string;
  referredBy: number | null;
  accountSumKopecks: number;
};

export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === '23505';
}

export function createUserModel(db: Knex | Knex.Transaction) {
  const users = () => db('users');
  const byEmail = (email: string) => users().whereRaw('lower(email) = lower(?)', [email]);

  return {
    /** The new user, or null when the email is taken. */
    async insert(input: NewUser): Promise<User | null> {
      try {
        const [row] = await users().insert({
          email: input.email, password_hash: input.passwordHash, role: input.role ?? 'customer', language: input.language,
          referral_id: input.referralId, referred_by: input.referredBy, bouquet: input.bouquet, address: input.address,
          delivery_date: input.deliveryDate, interval: input.interval, wishes: input.wishes,
          account_sum_kopecks: input.accountSumKopecks,
        }).returning(COLUMNS);
        return toUser(row as UserRow);
      } catch (error) {
        if (isUniqueViolation(error)) return null;
        throw error;
      }
    },

    /** A staff account: no subscription, so no preferences. Null when the email is taken. */
    async insertStaff(email: string, passwordHash: string, referralId: string): Promise<User | null> {
      try {
        const [row] = await users().insert({ email, password_hash: passwordHash, role: 'staff', referral_id: referralId }).returning(COLUMNS);
        return toUser(row as UserRow);
      } catch (error) {
        if (isUniqueViolation(error)) return null;
        throw error;
      }
    },

    async findById(id: number): Promise<User | null> {
      const row = await users().select(COLUMNS).where({ id }).first();
      return row ? toUser(row) : null;
    },

    async findByEmail(email: string): Promise<User | null> {
      const row = await byEmail(email).select(COLUMNS).first();
      return row ? toUser(row) : null;
    },

    async findByReferralId(referralId: string): Promise<User | null> {
      const row = await users().select(COLUMNS).where({ referral_id: referralId }).first();
      return row ? toUser(row) : null;
    },

    async credentialsByEmail(email: string): Promise<(UserCredentials & { user: User }) | null> {
      const row = await byEmail(email).select([...COLUMNS, 'password_hash', 'failed_logins', 'locked_until']).first();
      return row ? { id: row.id, passwordHash: row.password_hash, authVersion: row.auth_version, failedLogins: row.failed_logins, lockedUntil: row.locked_until, user: toUser(row) } : null;
    },

    async credentialsById(id: number): Promise<(UserCredentials & { user: User }) | null> {
      const row = await users().where({ id }).select([...COLUMNS, 'password_hash', 'failed_logins', 'locked_until']).first();
      return row ? { id: row.id, passwordHash: row.password_hash, authVersion: row.auth_version, failedLogins: row.failed_logins, lockedUntil: row.locked_until, user: toUser(row) } : null;
    },

    async passwordHash(id: number): Promise<string | null> {
      const row = await users().select('password_hash').where({ id }).first();
      return row?.password_hash ?? null;
    },

    /** Counts a failed login; the 10th consecutive failure locks the account for 15 minutes. Returns true when this failure locked it. */
    async recordFailedLogin(id: number, limit: number, lockMinutes: number): Promise<boolean> {
      // Evaluated on the locked row, so concurrent failures from several processes are all counted. An expired
      // lock starts the count again.
      const { rows } = await db.raw(
        `update users set
           failed_logins = case when locked_until <= now() then 1 else failed_logins + 1 end,
           locked_until = case
             when (case when locked_until <= now() then 1 else failed_logins + 1 end) >= ? then now() + make_interval(mins => ?)
             when locked_until <= now() then null
             else locked_until end
         where id = ? returning failed_logins = ? as locked`,
        [limit, lockMinutes, id, limit],
      );
      return Boolean(rows[0]?.locked);
    },

    /** keepFailures: a password right but a second factor still to come, so failed tries keep counting. */
    async recordLogin(id: number, ip: string | null, newPasswordHash?: string, keepFailures = false): Promise<void> {
      await users().where({ id }).update({
        ...(keepFailures ? {} : { failed_logins: 0, locked_until: null }), last_login_at: db.fn.now(), last_login_ip: ip, updated_at: db.fn.now(),
        ...(newPasswordHash ? { password_hash: newPasswordHash } : {}),
      });
    },

    /** Sets the password, clears the lock and bumps auth_version (other sessions and reset tokens die). */
    async updatePassword(id: number, passwordHash: string): Promise<number> {
      const [row] = await users().where({ id }).update({
        password_hash: passwordHash, failed_logins: 0, locked_until: null,
        auth_version: db.raw('auth_version + 1'), updated_at: db.fn.now(),
      }).returning('auth_version');
      return row.auth_version;
    },

    /** Records the new address of a change (null: none pending); the current address stays until it is confirmed. */
    async setPendingEmail(id: number, email: string | null): Promise<void> {
      await users().where({ id }).update({ pending_email: email, updated_at: db.fn.now() });
    },

    /** Marks the current address confirmed, when it is still `email`. False when the account or address moved on. */
    async markEmailConfirmed(id: number, email: string): Promise<boolean> {
      const updated = await users().where({ id }).andWhereRaw('lower(email) = lower(?)', [email])
        .update({ email_confirmed_at: db.fn.now(), updated_at: db.fn.now() });
      return updated === 1;
    },

    /**
     * Makes the pending address the account's address, confirmed, and bumps auth_version (other sessions and
     * links die). Null when `email` is no longer the pending one; a taken address throws a unique violation.
     */
    async applyPendingEmail(id: number, email: string): Promise<number | null> {
      const [row] = await users().where({ id }).andWhereRaw('lower(pending_email) = lower(?)', [email]).update({
        email: db.raw('pending_email'), pending_email: null, email_confirmed_at: db.fn.now(),
        auth_version: db.raw('auth_version + 1'), updated_at: db.fn.now(),
      }).returning('auth_version');
      return row ? row.auth_version : null;
    },

    /** Whether another account has this address. */
    async emailTaken(email: string, exceptId: number): Promise<boolean> {
      return Boolean(await byEmail(email).whereNot({ id: exceptId }).first('id'));
    },

    async bumpAuthVersion(id: number): Promise<number> {
      const [row] = await users().where({ id }).update({ auth_version: db.raw('auth_version + 1'), updated_at: db.fn.now() }).returning('auth_version');
      return row.auth_version;
    },

    /** Saves changed preferences (false when nothing differs); a changed category sets the account sum to its price. */
    async updatePreferences(id: number, prefs: Preferences, categoryPriceKopecks: number): Promise<boolean> {
      const { rowCount } = await db.raw(
        `update users set bouquet = ?, address = ?, delivery_date = ?, interval = ?, wishes = ?,
           account_sum_kopecks = case when bouquet is distinct from ? then ? else account_sum_kopecks end, updated_at = now()
         where id = ? and (bouquet, address, delivery_date, interval, wishes) is distinct from (?, ?, ?::date, ?, ?)`,
        [prefs.bouquet, prefs.address, prefs.deliveryDate, prefs.interval, prefs.wishes, prefs.bouquet, categoryPriceKopecks, id,
          prefs.bouquet, prefs.address, prefs.deliveryDate, prefs.interval, prefs.wishes],
      );
      return rowCount > 0;
    },

    /** Values changed by staff in amoCRM, applied here. */
    async applyCrmValues(id: number, values: Partial<Preferences> & { accountSumKopecks?: number; amoStatusId?: number | null; amoPipelineId?: number | null }): Promise<void> {
      const row: Record<string, unknown> = {};
      if (values.bouquet !== undefined) row.bouquet = values.bouquet;
      if (values.address !== undefined) row.address = values.address;
      if (values.deliveryDate !== undefined) row.delivery_date = values.deliveryDate;
      if (values.interval !== undefined) row.interval = values.interval;
      if (values.wishes !== undefined) row.wishes = values.wishes;
      if (values.accountSumKopecks !== undefined) row.account_sum_kopecks = values.accountSumKopecks;
      if (values.amoStatusId !== undefined) row.amo_status_id = values.amoStatusId;
      if (values.amoPipelineId !== undefined) row.amo_pipeline_id = values.amoPipelineId;
      if (Object.keys(row).length) await users().where({ id }).update({ ...row, updated_at: db.fn.now() });
    },

    async setRole(id: number, role: Role): Promise<void> {
      await users().where({ id }).update({ role, updated_at: db.fn.now() });
    },

    /** Whether the account was deleted (its row stays, anonymised, for the consent log and the orders). */
    async isDeleted(id: number): Promise<boolean> {
      return Boolean(await users().where({ id }).whereNotNull('deleted_at').first('id'));
    },

    async countReferred(id: number): Promise<number> {
      const row = await users().where({ referred_by: id }).count<{ count: number }[]>({ count: '*' }).first();
      return Number(row?.count ?? 0);
    },
  };
}
