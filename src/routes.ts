// Every URL of the site on one screen: path → middleware → controller action.
import { Router, type RequestHandler } from 'express';
import type { Controllers } from './app.js';
import { noStore, requireStaff, requireUser } from './middleware/locals.js';

type Limits = {
  login: RequestHandler; signup: RequestHandler; forgot: RequestHandler; loginCode: RequestHandler; loginCodeVerify: RequestHandler;
  accountChange: RequestHandler[]; dataExport: RequestHandler; confirmationResend: RequestHandler;
};

export function routes(c: Controllers, limit: Limits): Router {
  const r = Router();

  r.get('/', c.home.show);
  r.get('/healthz', c.health.show);

  r.get('/signup', noStore, c.registrations.new);
  r.post('/signup', noStore, limit.signup, c.registrations.create);
  r.get('/login', noStore, c.sessions.new);
  r.post('/login', noStore, limit.login, c.sessions.create);
  r.post('/logout', c.sessions.destroy);
  r.get('/login/code', noStore, c.loginCodes.new);
  r.post('/login/code', noStore, limit.loginCode, c.loginCodes.create);
  r.get('/login/code/verify', noStore, c.loginCodes.edit);
  r.post('/login/code/verify', noStore, limit.loginCodeVerify, c.loginCodes.verify);

  r.get('/login/2fa', noStore, c.staffTotp.edit);
  r.post('/login/2fa', noStore, limit.login, c.staffTotp.verify);

  r.get('/forgot-password', noStore, c.passwordResets.new);
  r.post('/forgot-password', noStore, limit.forgot, c.passwordResets.create);
  r.get('/forgot-password/sent', noStore, c.passwordResets.sent);
  r.get('/reset-password', noStore, c.passwordResets.edit);
  r.post('/reset-password', noStore, c.passwordResets.update);
  r.get('/confirm-email', noStore, c.emailConfirmations.show);
  r.post('/confirm-email', noStore, c.emailConfirmations.confirm);

  r.get('/goodbye', c.accountDeletion.goodbye);
  r.get('/privacy', c.documents.privacy);
  r.get('/consent/personal-data', c.documents.personalData);
  r.get('/consent/marketing', c.documents.marketing);
  r.get('/consent/analytics', c.documents.analytics);

  // A required consent with a new version is asked for again before any other account page.
  r.get('/account/consent', requireUser, c.consents.edit);
  r.post('/account/consent', requireUser, c.consents.update);
  r.use('/account', c.consents.gate);

  r.get('/account', requireUser, c.accounts.show);
  r.get('/account/history', requireUser, c.accounts.history);
  r.get('/account/password', requireUser, c.accounts.editPassword);
  r.post('/account/password', requireUser, limit.accountChange, c.accounts.updatePassword);
  r.get('/account/email', requireUser, c.accounts.editEmail);
  r.post('/account/email', requireUser, limit.accountChange, c.accounts.updateEmail);
  r.post('/account/email/confirmation', requireUser, limit.confirmationResend, c.emailConfirmations.resend);
  r.post('/account/logout-everywhere', requireUser, c.sessions.destroyAll);
  r.get('/account/sessions', requireUser, c.devices.index);
  r.post('/account/sessions/:id/end', requireUser, c.devices.end);
  r.get('/account/privacy', requireUser, noStore, c.privacy.show);
  r.post('/account/privacy', requireUser, c.privacy.update);
  r.get('/account/delete', requireUser, noStore, c.accountDeletion.edit);
  r.post('/account/delete', requireUser, noStore, limit.accountChange, c.accountDeletion.destroy);
  r.get('/account/data.json', requireUser, limit.dataExport, c.privacy.download);
  r.post('/account/reminders', requireUser, c.reminders.update);
  r.get('/account/preferences', requireUser, c.preferences.edit);
  r.post('/account/preferences', requireUser, c.preferences.update);
  r.get('/account/deliveries', requireUser, c.subscriptions.deliveries);
  r.post('/account/deliveries/:date/skip', requireUser, c.subscriptions.skip);
  r.post('/account/deliveries/:date/unskip', requireUser, c.subscriptions.unskip);
  r.post('/account/deliveries/:date/move', requireUser, c.subscriptions.move);
  r.get('/account/pause', requireUser, c.subscriptions.editPause);
  r.post('/account/pause', requireUser, c.subscriptions.pause);
  r.post('/account/resume', requireUser, c.subscriptions.resume);
  r.get('/account/cancel', requireUser, c.subscriptions.editCancel);
  r.post('/account/cancel', requireUser, c.subscriptions.cancel);
  r.post('/account/reactivate', requireUser, c.subscriptions.reactivate);
  r.get('/account/orders/new', requireUser, c.orders.new);
  r.post('/account/orders', requireUser, c.orders.create);
  r.get('/account/orders/:id', requireUser, c.orders.show);
  r.post('/account/orders/:id/confirm', requireUser, c.orders.confirm);
  r.post('/account/orders/:id/cancel', requireUser, c.orders.cancel);

  // The one-click links of a reminder mail: GET shows what will happen, only POST does it; no login (the token is the credential).
  r.get('/m/:token', noStore, c.mailActions.show);
  r.post('/m/:token', noStore, c.mailActions.act);

  r.post('/webhooks/amocrm/:secret', c.webhooks.create);

  // In production a staff account without TOTP enrols before any other staff page.
  r.get('/staff/2fa', requireStaff, c.staffTotp.enrol);
  r.post('/staff/2fa', requireStaff, c.staffTotp.confirm);
  r.use('/staff', c.staffTotp.gate);
  r.get('/staff', requireStaff, c.staffOverview.show);
  r.get('/staff/deliveries', requireStaff, c.staffDeliveries.index);
  r.get('/staff/deliveries.csv', requireStaff, c.staffDeliveries.csv);
  r.get('/staff/conversions.csv', requireStaff, c.staffOverview.conversions);
  r.get('/staff/customers', requireStaff, c.staffCustomers.index);
  r.get('/staff/customers/:id', requireStaff, c.staffCustomers.show);
  r.post('/staff/customers/:id/resync', requireStaff, c.staffCustomers.resync);
  r.post('/staff/customers/:id/history', requireStaff, c.staffCustomers.refreshHistory);
  r.get('/staff/amocrm', requireStaff, c.staffAmocrm.show);
  r.get('/staff/amocrm/connect', requireStaff, c.staffAmocrm.connect);
  r.get('/staff/amocrm/callback', requireStaff, c.staffAmocrm.callback);
  r.post('/staff/amocrm/fields', requireStaff, c.staffAmocrm.createFields);
  r.post('/staff/amocrm/resume', requireStaff, c.staffAmocrm.resume);
  r.post('/staff/amocrm/jobs/:id/retry', requireStaff, c.staffAmocrm.retryJob);

  r.get('/:referralId', c.registrations.referral); // last: a referral link is a bare UUID

  return r;
}
