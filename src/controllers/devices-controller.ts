// GET /account/sessions, POST /account/sessions/:id/end: the customer's signed-in devices.
import type { Request, Response } from 'express';
import { NotFoundError } from '../middleware/errors.js';
import type { DeviceService } from '../services/device-service.js';
import { requireButtonForm } from './forms.js';

export function createDevicesController({ devices }: { devices: DeviceService }) {
  return {
    async index(req: Request, res: Response) {
      const user = req.user!;
      res.render('account/sessions', { devices: await devices.list(user.id, user.authVersion, req.sessionID) });
    },

    async end(req: Request, res: Response) {
      const user = req.user!;
      const handle = typeof req.params.id === 'string' ? req.params.id : '';
      requireButtonForm(req.body);
      const result = await devices.end(user.id, user.authVersion, req.sessionID, handle);
      if (result === 'unknown') throw new NotFoundError();
      req.session.flash = result === 'ended' ? 'flash.device_ended' : 'flash.device_current';
      res.redirect(303, '/account/sessions');
    },
  };
}
