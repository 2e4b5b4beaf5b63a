// POST /account/reminders: the reminder mails on or off (the box on the account page).
import type { Request, Response } from 'express';
import type { ReminderService } from '../services/reminder-service.js';
import { parseForm, remindersSchema } from './forms.js';

export function createRemindersController({ reminders }: { reminders: ReminderService }) {
  return {
    async update(req: Request, res: Response) {
      const form = parseForm(remindersSchema, req.body);
      if (!form.ok) return res.status(400).render('errors/400');
      const wanted = form.data.reminders === 'yes';
      const result = await reminders.setWanted(req.user!.id, wanted, 'account');
      req.session.flash = result === 'unchanged' ? 'flash.preferences_unchanged' : wanted ? 'flash.reminders_on' : 'flash.reminders_off';
      res.redirect(303, '/account#reminders-title');
    },
  };
}
