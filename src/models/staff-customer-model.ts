// Customers as staff see them: search by a fragment of the email or address (trigram indexes of migration
// 20261126180200), newest first with keyset pages, and everything about one customer, each part read
// through an index (users pkey, orders (user_id, id), auth_events (user_id, at), amocrm_sync_log (user_id, at),
// subscription_events (user_id, created_at), graphile-worker's unique job key, users (referred_by), users (created_at)).
import type { Knex } from 'knex';
import type { ChangeSource, SubscriptionEventDetails, SubscriptionEventKind } from './subscription-event-model.js';
import type { Statement } from './staff-delivery-model.js';

export type CustomerListItem = {
  id: number; email: string; address: string | null; bouquet: string | null; interval: string | null; createdAt: Date; deletedAt: Date | null; emailConfirmed: boolean;
};

export type CustomerSearch = {
  /** A LIKE pattern (already escaped), or null for every customer. */
  pattern: string | null;
  /** A number typed in the search box: the customer with that id, or the customer of that order. */
  number: number | null;
  after?: number;
  before?: number;
  limit: number;
};

/** A search that matches more customers than this is "broad": it is read newest first through the primary key. */
export const MATCH_CAP = 1000;

/**
 * The planner's choice between "every match through the trigram indexes, then sort" and "newest first through
 * the primary key until the page is full" depends on a guess of how many customers match, and a wrong guess is
 * costly either way (a rare fragment read through the primary key means ILIKE on every customer). So the choice
 * is made from the real count instead: first the trigram indexes alone, stopping after MATCH_CAP + 1 matches;
 * only when there are more (a broad fragment, where the page fills after a few thousand rows at most) the
 * primary key alone. JIT is off: compiling costs more than these queries take.
 */
const planSettings = (settings: Record<string, 'on' | 'off'>) =>
  `select ${Object.entries(settings).map(([name, value]) => `set_config('${name}', '${value}', true)`).join(', ')}`;
export const BY_TRIGRAMS = planSettings({ enable_seqscan: 'off', enable_indexscan: 'off', enable_bitmapscan: 'on', jit: 'off' });
export const BY_PRIMARY_KEY = planSettings({ enable_seqscan: 'off', enable_indexscan: 'on', enable_bitmapscan: 'off', jit: 'off' });

export type CustomerRecord = {
  id: number; email: string; role: 'customer' | 'staff'; language: string; createdAt: Date;
  bouquet: string | null; address: string | null; deliveryDate: string | null; interval: 'weekly' | 'biweekly' | 'monthly' | null; wishes: string;
  accountSumKopecks: number | null; referralId: string; referredBy: number | null;
  amoLeadId: number | null; amoContactId: number | null; amoSyncedAt: Date | null; amoStatusId: number | null;
  lastLoginAt: Date | null; lockedUntil: Date | null; deletedAt: Date | null; emailConfirmedAt: Date | null; pendingEmail: string | null;
};

export type CustomerOrder = {
  id: number; deliveryDate: string; bouquet: string; priceKopecks: number; status: 'placed' | 'confirmed' | 'cancelled'; amoLeadId: number | null; createdAt: Date;
  /** A gift order's recipient; null when the order is for the customer. */
  recipientName: string | null;
};
export type CustomerJob = { id: string; key: string; task: string; attempts: number; maxAttempts: number; runAt: Date; lastError: string | null; locked: boolean; createdAt: Date };
export type CustomerSyncEntry = { at: Date; task: string; attempt: number | null; outcome: string; httpStatus: number | null; message: string | null };
export type CustomerAuthEvent = { at: Date; event: string; ip: string | null };
/** One change to the subscription; staffEmail is the staff member's (null when not made by staff, or the account is gone). */
export type CustomerHistoryEntry = {
  at: Date; kind: SubscriptionEventKind; details: SubscriptionEventDetails; source: ChangeSource; staffEmail: string | null;
};

/** `%fragment%` for ILIKE, with the fragment's own %, _ and \ taken literally. */
export function containsPattern(fragment: string): string {
  return `%${fragment.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

const LIST_COLUMNS = 'id, email, address, bouquet, interval, created_at, deleted_at, email_confirmed_at is not null as email_confirmed';

function filterOf(s: CustomerSearch) {
  const where: string[] = ["role = 'customer'"];
  const bindings: (string | number)[] = [];
  const matches: string[] = [];
  if (s.pattern !== null) {
    matches.push('email ilike ?', 'address ilike ?');
    bindings.push(s.pattern, s.pattern);
  }
  if (s.number !== null) {
    matches.push('id = ?', 'id = (select user_id from orders where id = ?)');
    bindings.push(s.number, s.number);
  }
  if (matches.length) where.push(`(${matches.join(' or ')})`);
  return { where, bindings };
}

/** The keyset page: older than `after` (newest first), or newer than `before` (read upwards, shown reversed). */
function cursorOf(s: CustomerSearch) {
  if (s.after !== undefined) return { sql: 'id < ?', bindings: [s.after], direction: 'desc' };
  if (s.before !== undefined) return { sql: 'id > ?', bindings: [s.before], direction: 'asc' };
  return { sql: 'true', bindings: [] as number[], direction: 'desc' };
}

/** Every match up to MATCH_CAP + 1 (run with BY_TRIGRAMS), the number of them, and one page of them. */
export function customerMatchesSql(s: CustomerSearch): Statement {
  const f = filterOf(s);
  const c = cursorOf(s);
  return {
    sql: `with m as materialized (select ${LIST_COLUMNS} from users where ${f.where.join(' and ')} limit ${MATCH_CAP + 1})
      select n.matches, p.* from (select count(*)::int as matches from m) n
      left join lateral (select * from m where ${c.sql} order by id ${c.direction} limit ?) p on true`,
    bindings: [...f.bindings, ...c.bindings, s.limit],
  };
}

/** One page, newest first through the primary key (run with BY_PRIMARY_KEY): for broad searches and for no search. */
export function customerPageSql(s: CustomerSearch): Statement {
  const f = filterOf(s);
  const c = cursorOf(s);
  return {
    sql: `select ${LIST_COLUMNS} from users where ${[...f.where, c.sql].join(' and ')} order by id ${c.direction} limit ?`,
    bindings: [...f.bindings, ...c.bindings, s.limit],
  };
}

const RECORD_COLUMNS = ['id', 'email', 'role', 'language', 'created_at', 'bouquet', 'address', 'delivery_date', 'interval', 'wishes',
  'account_sum_kopecks', 'referral_id', 'referred_by', 'amo_lead_id', 'amo_contact_id', 'amo_synced_at', 'amo_status_id', 'last_login_at', 'locked_until',
  'deleted_at', 'email_confirmed_at', 'pending_email'];

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toRecord(r: Record<string, unknown>): CustomerRecord {
  return {
    id: Number(r.id), email: r.email as string, role: r.role as CustomerRecord['role'], language: r.language as string, createdAt: r.created_at as Date,
    bouquet: r.bouquet as string | null, address: r.address as string | null, deliveryDate: r.delivery_date as string | null,
    interval: r.interval as CustomerRecord['interval'], wishes: r.wishes as string, accountSumKopecks: num(r.account_sum_kopecks),
    referralId: r.referral_id as string, referredBy: num(r.referred_by), amoLeadId: num(r.amo_lead_id), amoContactId: num(r.amo_contact_id),
    amoSyncedAt: r.amo_synced_at as Date | null, amoStatusId: num(r.amo_status_id), lastLoginAt: r.last_login_at as Date | null,
    lockedUntil: r.locked_until as Date | null, deletedAt: r.deleted_at as Date | null,
    emailConfirmedAt: r.email_confirmed_at as Date | null, pendingEmail: r.pending_email as string | null,
  };
}

export function historySql(userId: number, limit: number): Statement {
  return {
    sql: `select e.created_at, e.kind, e.details, e.source, s.email as staff_email
            from subscription_events e left join users s on s.id = e.staff_user_id
           where e.user_id = ? order by e.created_at desc, e.id desc limit ?`,
    bindings: [userId, limit],
  };
}

export function createStaffCustomerModel(db: Knex | Knex.Transaction) {
  return {
    /** One page of customers, and how many match (null: more than MATCH_CAP, or no search at all). */
    async search(s: CustomerSearch): Promise<{ customers: CustomerListItem[]; matches: number | null }> {
      const toItem = (r: Record<string, unknown>): CustomerListItem => ({
        id: Number(r.id), email: r.email as string, address: r.address as string | null, bouquet: r.bouquet as string | null,
        interval: r.interval as string | null, createdAt: r.created_at as Date, deletedAt: r.deleted_at as Date | null, emailConfirmed: r.email_confirmed === true,
      });
      const within = (settings: string, statement: Statement) => db.transaction(async (trx) => {
        await trx.raw(settings); // for this transaction only
        return (await trx.raw(statement.sql, statement.bindings)).rows as Record<string, unknown>[];
      });
      if (s.pattern !== null || s.number !== null) {
        const rows = await within(BY_TRIGRAMS, customerMatchesSql(s));
        const matches = Number(rows[0]!.matches);
        if (matches <= MATCH_CAP) return { customers: rows.filter((r) => r.id !== null).map(toItem), matches };
      }
      return { customers: (await within(BY_PRIMARY_KEY, customerPageSql(s))).map(toItem), matches: null };
    },

    async findById(id: number): Promise<CustomerRecord | null> {
      const row = await db('users').select(RECORD_COLUMNS).where({ id }).first();
      return row ? toRecord(row) : null;
    },

    async emailOf(id: number): Promise<string | null> {
      const row = await db('users').select('email').where({ id }).first();
      return row?.email ?? null;
    },

    async countReferred(id: number): Promise<number> {
      const row = await db('users').where({ referred_by: id }).count<{ n: string }[]>({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },

    async orders(userId: number, limit: number): Promise<CustomerOrder[]> {
      const rows = await db('orders').select('id', 'delivery_date', 'bouquet', 'price_kopecks', 'status', 'amo_lead_id', 'created_at', 'recipient_name')
        .where({ user_id: userId }).orderBy('id', 'desc').limit(limit);
      return rows.map((r) => ({ id: Number(r.id), deliveryDate: r.delivery_date, bouquet: r.bouquet, priceKopecks: r.price_kopecks, status: r.status, amoLeadId: num(r.amo_lead_id), createdAt: r.created_at, recipientName: r.recipient_name }));
    },

    async countOrders(userId: number): Promise<number> {
      const row = await db('orders').where({ user_id: userId }).count<{ n: string }[]>({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },

    async authEvents(userId: number, limit: number): Promise<CustomerAuthEvent[]> {
      return db('auth_events').select('at', 'event', 'ip').where({ user_id: userId }).orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit);
    },

    /** The subscription's history, newest first, with the staff member's email: one index scan and look-ups by primary key. */
    async history(userId: number, limit: number): Promise<CustomerHistoryEntry[]> {
      const { sql, bindings } = historySql(userId, limit);
      const { rows } = await db.raw(sql, bindings);
      return rows.map((r: { created_at: Date; kind: SubscriptionEventKind; details: SubscriptionEventDetails; source: ChangeSource; staff_email: string | null }) => ({
        at: r.created_at, kind: r.kind, details: r.details, source: r.source, staffEmail: r.staff_email,
      }));
    },

    async syncLog(userId: number, limit: number): Promise<CustomerSyncEntry[]> {
      const rows = await db('amocrm_sync_log').select('at', 'task', 'attempt', 'outcome', 'http_status', 'message')
        .where({ user_id: userId }).orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit);
      return rows.map((r) => ({ at: r.at, task: r.task, attempt: r.attempt, outcome: r.outcome, httpStatus: r.http_status, message: r.message }));
    },

    /** Jobs still in the queue (waiting, running or out of attempts), found by their unique job keys. */
    async jobsByKeys(keys: string[]): Promise<CustomerJob[]> {
      if (!keys.length) return [];
      const { rows } = await db.raw(`
        select j.id::text, j.key, t.identifier as task, j.attempts, j.max_attempts, j.run_at, j.last_error, j.locked_at is not null as locked, j.created_at
          from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
         where j.key = any(?::text[]) order by j.id`, [keys]);
      return rows.map((r: Record<string, unknown>) => ({
        id: r.id as string, key: r.key as string, task: r.task as string, attempts: r.attempts as number, maxAttempts: r.max_attempts as number,
        runAt: r.run_at as Date, lastError: r.last_error as string | null, locked: r.locked as boolean, createdAt: r.created_at as Date,
      }));
    },

    /** Customers who signed up at or after the moment. */
    async countSignupsSince(moment: string, timeZone: string): Promise<number> {
      const { rows } = await db.raw(`select count(*)::int as n from users where role = 'customer' and created_at >= (?::timestamp at time zone ?)`, [moment, timeZone]);
      return rows[0].n;
    },
  };
}
