// GET /account/orders/new, POST /account/orders, GET /account/orders/:id, POST …/confirm and …/cancel.
import type { Request, Response } from 'express';
import { todayIn } from '../i18n/i18n.js';
import { NotFoundError } from '../middleware/errors.js';
import type { AccountService } from '../services/account-service.js';
import type { CatalogService } from '../services/catalog-service.js';
import type { OrderService } from '../services/order-service.js';
import { orderSchema, parseForm, pathId, requireButtonForm, type FormErrors } from './forms.js';

const orderId = (req: Request): number => pathId(req.params.id);

export function createOrdersController({ orders, accounts, catalog, timeZone }: { orders: OrderService; accounts: AccountService; catalog: CatalogService; timeZone: string }) {
  async function render(res: Response, status: number, values: Record<string, string>, errors: FormErrors) {
    res.status(status).render('orders/new', { values, errors, today: todayIn(timeZone), categories: await catalog.listCategories(res.locals.lang) });
  }
  return {
    async new(req: Request, res: Response) {
      const prefs = await accounts.preferences(req.user!.id);
      await render(res, 200, { bouquet: prefs?.bouquet ?? 'seasonal', address: prefs?.address ?? '', deliveryDate: '', wishes: prefs?.wishes ?? '', recipientName: '', recipientPhone: '', cardMessage: '' }, {});
    },

    async create(req: Request, res: Response) {
      const codes = (await catalog.listCategories(res.locals.lang)).map((c) => c.code);
      const form = parseForm(orderSchema(todayIn(timeZone), codes), req.body);
      if (!form.ok) return render(res, 422, form.values, form.errors);
      const { _csrf, ...input } = form.data;
      const placed = await orders.place(req.user!.id, input);
      if ('error' in placed) {
        return placed.error === 'daily_limit'
          ? render(res, 429, { ...input }, { _form: 'order.daily_limit' })
          : render(res, 422, { ...input }, { bouquet: 'bouquet.required' });
      }
      res.redirect(303, `/account/orders/${placed.order.id}`);
    },

    async show(req: Request, res: Response) {
      const order = await orders.show(req.user!.id, orderId(req), res.locals.lang);
      if (!order) throw new NotFoundError();
      res.render('orders/show', { order });
    },

    async confirm(req: Request, res: Response) {
      const id = orderId(req);
      if (!(await orders.show(req.user!.id, id, res.locals.lang))) throw new NotFoundError();
      requireButtonForm(req.body);
      req.session.flash = (await orders.confirm(req.user!.id, id)) ? 'flash.order_confirmed' : 'flash.order_unchanged';
      res.redirect(303, `/account/orders/${id}`);
    },

    async cancel(req: Request, res: Response) {
      const id = orderId(req);
      if (!(await orders.show(req.user!.id, id, res.locals.lang))) throw new NotFoundError();
      requireButtonForm(req.body);
      req.session.flash = (await orders.cancel(req.user!.id, id)) ? 'flash.order_cancelled' : 'flash.order_not_cancellable';
      res.redirect(303, `/account/orders/${id}`);
    },
  };
}
