// Who is acting in the staff area, for the staff audit trail (staff_actions).
import type { Request } from 'express';
import type { StaffActor } from '../models/staff-action-model.js';

/** The signed-in staff member of a request behind requireStaff. */
export function staffActor(req: Request): StaffActor {
  return { id: req.user!.id, email: req.user!.email, ip: req.ip ?? null };
}
