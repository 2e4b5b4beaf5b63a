// The staff audit trail: who did what, when, from where, to which customer or job, and how it ended.
import type { Knex } from 'knex';

export type StaffActionName = 'customer.resync' | 'customer.history_refresh' | 'amocrm.connect' | 'amocrm.callback' | 'amocrm.fields' | 'amocrm.resume' | 'amocrm.job_retry' | 'staff.reset_2fa';
export type StaffActor = { id: number; email: string; ip: string | null };
export type StaffAction = {
  id: number; at: Date; staffId: number | null; staffEmail: string; action: StaffActionName;
  customerId: number | null; subject: string | null; outcome: string | null; ip: string | null;
};
export type NewStaffAction = { action: StaffActionName; customerId?: number | null; subject?: string | null; outcome?: string | null };

const COLUMNS = ['id', 'at', 'staff_id', 'staff_email', 'action', 'customer_id', 'subject', 'outcome', 'ip'];

function toAction(r: Record<string, unknown>): StaffAction {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: Number(r.id), at: r.at as Date, staffId: num(r.staff_id), staffEmail: r.staff_email as string, action: r.action as StaffActionName,
    customerId: num(r.customer_id), subject: r.subject as string | null, outcome: r.outcome as string | null, ip: r.ip as string | null,
  };
}

export function createStaffActionModel(db: Knex | Knex.Transaction) {
  return {
    async record(actor: StaffActor, a: NewStaffAction): Promise<void> {
      await db('staff_actions').insert({
        staff_id: actor.id, staff_email: actor.email, ip: actor.ip, action: a.action,
        // A customer id that names no account (a crafted URL) is kept as the subject, not as a broken reference.
        customer_id: a.customerId ? db.raw('(select id from users where id = ?)', [a.customerId]) : null,
        subject: (a.subject ?? (a.customerId ? String(a.customerId) : null))?.slice(0, 200) ?? null, outcome: a.outcome?.slice(0, 200) ?? null,
      });
    },
    async recent(limit: number): Promise<StaffAction[]> {
      return (await db('staff_actions').select(COLUMNS).orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit)).map(toAction);
    },
    async forCustomer(customerId: number, limit: number): Promise<StaffAction[]> {
      return (await db('staff_actions').select(COLUMNS).where({ customer_id: customerId })
        .orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit)).map(toAction);
    },
  };
}
