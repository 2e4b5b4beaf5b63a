// The customer's own subscription: GET /account/deliveries with skip, unskip and move per delivery; GET/POST
// /account/pause and POST /account/resume; GET/POST /account/cancel (the reason, then at most one offer) and POST
// /account/reactivate. Every refusal re-renders the page with the reason next to the field: 422 for a wrong date,
// 409 once the delivery is past its cut-off. A malformed date in the path is a 404.
import type { Request, Response } from 'express';
import type { MessageKey } from '../i18n/i18n.js';
import { NotFoundError } from '../middleware/errors.js';
import type { AccountService } from '../services/account-service.js';
import type { CatalogService } from '../services/catalog-service.js';
import { dateIn } from '../services/deliveries.js';
import { nthDelivery } from '../services/schedule.js';
import { isDate, type ChangeRefusal, type ChangeResult, type SubscriptionService } from '../services/subscription-service.js';
import { cancelSchema, moveSchema, parseForm, pauseSchema, reactivateSchema, requireButtonForm, type FormErrors } from './forms.js';

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** The message for a refusal, in the words of the field it concerns. */
function messageOf(reason: ChangeRefusal, field: 'move' | 'pause' | 'reactivate' | 'delivery'): MessageKey {
  if (reason === 'locked') return 'subscription.locked';
  if (reason === 'cancelled') return 'subscription.cancelled';
  if (reason === 'not_a_delivery') return 'subscription.not_a_delivery';
  if (field === 'move' && (reason === 'same_day' || reason === 'past' || reason === 'taken' || reason === 'too_late' || reason === 'paused')) return `move.${reason}`;
  if (field === 'pause' && (reason === 'past' || reason === 'too_far')) return `pause.${reason}`;
  if (field === 'reactivate' && (reason === 'past' || reason === 'too_far')) return `reactivate.${reason}`;
  if (reason === 'paused') return 'subscription.paused';
  if (reason === 'taken') return 'subscription.taken';
  return 'form.invalid';
}

export function createSubscriptionsController({ subscriptions, accounts, catalog, timeZone, cutoff }: {
  subscriptions: SubscriptionService; accounts: AccountService; catalog: CatalogService; timeZone: string; cutoff: string;
}) {
  const today = () => dateIn(new Date(), timeZone);

  /** The date in the path: a real calendar date, else the page does not exist. */
  function pathDate(req: Request): string {
    const date = req.params.date;
    if (!isDate(date)) throw new NotFoundError();
    return date;
  }

  /** A customer's subscription page; staff have none. */
  function customerId(req: Request, res: Response): number | null {
    if (req.user!.role === 'customer') return req.user!.id;
    res.redirect(303, '/staff');
    return null;
  }

  async function renderDeliveries(req: Request, res: Response, status: number, problem: { date?: string; field?: string; message?: MessageKey; values?: Record<string, string> } = {}) {
    const [upcoming, prefs, categories] = await Promise.all([
      subscriptions.upcoming(req.user!.id), accounts.preferences(req.user!.id), catalog.listCategories(res.locals.lang),
    ]);
    if (!upcoming) throw new NotFoundError();
    const nameOf = (code: string | null | undefined) => categories.find((c) => c.code === code)?.name ?? code ?? '';
    const entries = upcoming.entries.map((e) => ({ ...e, bouquet: nameOf(e.bouquet ?? prefs?.bouquet), address: e.address ?? prefs?.address ?? '' }));
    // A problem is shown beside its delivery when that delivery is on the page, else above the list.
    const beside = problem.date !== undefined && entries.some((e) => e.date === problem.date);
    res.status(status).render('subscriptions/deliveries', {
      entries, pausedUntil: upcoming.pausedUntil, cancelled: upcoming.cancelled, cutoff, problem: { ...problem, beside }, values: problem.values ?? {},
    });
  }

  /** After a change to one delivery: back to the list, or the list again with the reason. */
  async function afterDelivery(req: Request, res: Response, date: string, result: ChangeResult, flash: string, field?: string, values?: Record<string, string>) {
    if (result.ok) {
      req.session.flash = result.changed ? flash : 'flash.nothing_changed';
      return res.redirect(303, '/account/deliveries');
    }
    if (result.reason === 'no_subscription') throw new NotFoundError();
    const status = result.reason === 'locked' ? 409 : 422;
    return renderDeliveries(req, res, status, { date, field, message: messageOf(result.reason, field ? 'move' : 'delivery'), values });
  }

  function pausePresets() {
    const day = today();
    return [
      { key: 'pause.preset.2w', date: addDays(day, 14) },
      { key: 'pause.preset.1m', date: nthDelivery(day, 'monthly', 1) },
      { key: 'pause.preset.2m', date: nthDelivery(day, 'monthly', 2) },
    ];
  }

  async function renderPause(req: Request, res: Response, status: number, values: Record<string, string>, errors: FormErrors) {
    const upcoming = await subscriptions.upcoming(req.user!.id, 1);
    if (!upcoming) throw new NotFoundError();
    if (upcoming.cancelled) return res.redirect(303, '/account');
    const earliest = addDays(subscriptions.firstOpenDate(), 1);
    res.status(status).render('subscriptions/pause', {
      pausedUntil: upcoming.pausedUntil, presets: pausePresets(), earliest, latest: nthDelivery(today(), 'monthly', 6), values, errors,
    });
  }

  async function renderDashboard(req: Request, res: Response, status: number, values: Record<string, string>, errors: FormErrors) {
    res.status(status).render('account/show', {
      account: await accounts.dashboard(req.user!.id, res.locals.lang, req.user), values, errors,
    });
  }

  return {
    async deliveries(req: Request, res: Response) {
      if (customerId(req, res) === null) return;
      await renderDeliveries(req, res, 200);
    },

    async skip(req: Request, res: Response) {
      const date = pathDate(req);
      requireButtonForm(req.body);
      const id = customerId(req, res);
      if (id === null) return;
      await afterDelivery(req, res, date, await subscriptions.skip(id, date, 'account'), 'flash.skipped');
    },

    async unskip(req: Request, res: Response) {
      const date = pathDate(req);
      requireButtonForm(req.body);
      const id = customerId(req, res);
      if (id === null) return;
      await afterDelivery(req, res, date, await subscriptions.unskip(id, date, 'account'), 'flash.unskipped');
    },

    async move(req: Request, res: Response) {
      const date = pathDate(req);
      const id = customerId(req, res);
      if (id === null) return;
      const form = parseForm(moveSchema(today()), req.body);
      if (!form.ok) {
        const field = form.errors._form ? undefined : 'newDate';
        return renderDeliveries(req, res, 422, { date, field, message: form.errors._form ?? form.errors.newDate ?? 'form.invalid', values: form.values });
      }
      const { newDate } = form.data;
      await afterDelivery(req, res, date, await subscriptions.move(id, date, newDate, 'account'), 'flash.moved', 'newDate', { newDate });
    },

    async editPause(req: Request, res: Response) {
      if (customerId(req, res) === null) return;
      await renderPause(req, res, 200, {}, {});
    },

    async pause(req: Request, res: Response) {
      const id = customerId(req, res);
      if (id === null) return;
      const form = parseForm(pauseSchema(today()), req.body);
      if (!form.ok) return renderPause(req, res, 422, form.values, form.errors);
      const result = await subscriptions.pause(id, form.data.until, 'account');
      if (!result.ok) {
        if (result.reason === 'no_subscription') throw new NotFoundError();
        return renderPause(req, res, 422, { until: form.data.until }, { until: messageOf(result.reason, 'pause') });
      }
      req.session.flash = result.changed ? 'flash.paused' : 'flash.nothing_changed';
      res.redirect(303, '/account');
    },

    async resume(req: Request, res: Response) {
      requireButtonForm(req.body);
      const id = customerId(req, res);
      if (id === null) return;
      const result = await subscriptions.resume(id, 'account');
      if (!result.ok) throw new NotFoundError();
      req.session.flash = result.changed ? 'flash.resumed' : 'flash.nothing_changed';
      res.redirect(303, '/account');
    },

    async editCancel(req: Request, res: Response) {
      if (customerId(req, res) === null) return;
      const upcoming = await subscriptions.upcoming(req.user!.id, 1);
      if (!upcoming) throw new NotFoundError();
      if (upcoming.cancelled) return res.redirect(303, '/account');
      res.render('subscriptions/cancel', { values: {}, errors: {} });
    },

    /**
     * Step 1 sends the reason: one offer that fits it is shown (a monthly interval for "too often" and "price"
     * unless it is monthly already, a pause for "moving" and "other"), or the subscription is cancelled at once.
     * The offer's decline (`decision=cancel`) cancels; `decision=monthly` takes the offer instead.
     */
    async cancel(req: Request, res: Response) {
      const id = customerId(req, res);
      if (id === null) return;
      const form = parseForm(cancelSchema, req.body);
      if (!form.ok) return res.status(422).render('subscriptions/cancel', { values: form.values, errors: form.errors });
      const { reason, comment, decision } = form.data;
      const prefs = await accounts.preferences(id);
      if (!prefs) throw new NotFoundError();
      const offer = reason === 'too_often' || reason === 'price' ? (prefs.interval === 'monthly' ? null : 'monthly')
        : reason === 'moving' || reason === 'other' ? 'pause' : null;
      if (decision === 'monthly') {
        if (offer !== 'monthly') return res.status(422).render('subscriptions/cancel', { values: { reason, comment }, errors: { _form: 'form.invalid' } });
        const saved = await accounts.updatePreferences(id, { ...prefs, interval: 'monthly' });
        req.session.flash = saved === 'saved' ? 'flash.monthly' : 'flash.nothing_changed';
        return res.redirect(303, '/account');
      }
      if (decision === undefined && offer) {
        const upcoming = await subscriptions.upcoming(id, 1);
        if (upcoming?.cancelled) return res.redirect(303, '/account');
        return res.render('subscriptions/offer', { offer, reason, comment, interval: prefs.interval, pauseUntil: nthDelivery(today(), 'monthly', 1) });
      }
      const result = await subscriptions.cancel(id, reason, comment, 'account');
      if (!result.ok) throw new NotFoundError();
      req.session.flash = result.changed ? 'flash.cancelled' : 'flash.nothing_changed';
      res.redirect(303, '/account');
    },

    async reactivate(req: Request, res: Response) {
      const id = customerId(req, res);
      if (id === null) return;
      const form = parseForm(reactivateSchema(today()), req.body);
      if (!form.ok) return renderDashboard(req, res, 422, form.values, form.errors);
      const result = await subscriptions.reactivate(id, form.data.deliveryDate, 'account');
      if (!result.ok) {
        if (result.reason === 'no_subscription') throw new NotFoundError();
        if (result.reason === 'not_cancelled') return res.redirect(303, '/account');
        return renderDashboard(req, res, 422, { deliveryDate: form.data.deliveryDate }, { deliveryDate: messageOf(result.reason, 'reactivate') });
      }
      req.session.flash = result.changed ? 'flash.reactivated' : 'flash.nothing_changed';
      res.redirect(303, '/account');
    },
  };
}
