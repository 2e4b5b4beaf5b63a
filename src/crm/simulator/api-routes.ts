// Every /api/v4 URL of the simulator on one screen. A known path with another method answers 405; specific
// paths come before /leads/:id so that "pipelines" or "notes" is never taken for an id.
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { baseUrl, type ApiController } from './api-controller.js';
import { problems, sendProblem } from './problems.js';

type Methods = Partial<Record<'get' | 'post' | 'patch' | 'delete', RequestHandler>>;

function methodNotAllowed(allowed: string[]): RequestHandler {
  return (req: Request, res: Response) => {
    res.set('Allow', allowed.join(', '));
    sendProblem(res, problems.methodNotAllowed(`Method ${req.method} is not allowed for ${baseUrl(req)}${req.path}`));
  };
}

export function apiRoutes(c: ApiController): Router {
  const r = Router();
  const leadFields = c.fields('leads');
  const contactFields = c.fields('contacts');
  const resource = (path: string, methods: Methods) => {
    const route = r.route(`/api/v4${path}`);
    for (const [method, handler] of Object.entries(methods) as [keyof Methods, RequestHandler][]) route[method](handler);
    route.all(methodNotAllowed(Object.keys(methods).map((m) => m.toUpperCase())));
  };

  resource('/account', { get: c.account.show });
  resource('/users', { get: c.users.index });

  resource('/leads', { get: c.leads.index, post: c.leads.create, patch: c.leads.updateMany });
  resource('/leads/complex', { post: c.leads.complex });
  resource('/leads/custom_fields', { get: leadFields.index, post: leadFields.create });
  resource('/leads/custom_fields/:id', { get: leadFields.show });
  resource('/leads/pipelines', { get: c.pipelines.index });
  resource('/leads/pipelines/:id', { get: c.pipelines.show });
  resource('/leads/pipelines/:id/statuses', { get: c.pipelines.statuses });
  resource('/leads/notes', { get: c.notes.index, post: c.notes.create });
  resource('/leads/:id', { get: c.leads.show, patch: c.leads.update });
  resource('/leads/:id/notes', { get: c.notes.indexOfLead, post: c.notes.createForLead });
  resource('/leads/:id/link', { post: c.leads.link });
  resource('/leads/:id/unlink', { post: c.leads.unlink });
  resource('/leads/:id/links', { get: c.leads.links });

  resource('/contacts', { get: c.contacts.index, post: c.contacts.create, patch: c.contacts.updateMany });
  resource('/contacts/custom_fields', { get: contactFields.index, post: contactFields.create });
  resource('/contacts/custom_fields/:id', { get: contactFields.show });
  resource('/contacts/:id', { get: c.contacts.show, patch: c.contacts.update });

  resource('/events', { get: c.events.index });
  resource('/webhooks', { get: c.webhooks.index, post: c.webhooks.create, delete: c.webhooks.destroy });

  return r;
}
