// The staff audit trail as a service: every staff action (re-sync, job retry, connecting amoCRM …) is recorded
// with who did it, when and from where.
import type { Knex } from 'knex';
import { createStaffActionModel, type NewStaffAction, type StaffActor } from '../models/staff-action-model.js';

export function createStaffAuditService({ db }: { db: Knex }) {
  const actions = createStaffActionModel(db);
  return {
    async record(actor: StaffActor, action: NewStaffAction): Promise<void> {
      await actions.record(actor, action);
    },
  };
}

export type StaffAuditService = ReturnType<typeof createStaffAuditService>;
