// Tags on the leads the site makes: «сайт» always, «реферал» for a customer who came by a referral link, «подарок»
// on the lead of a gift order. Sent on creation only, so tags added by staff are never replaced.
// The real worker, a database of its own, the simulator over HTTP.
import { expect } from 'chai';
import type { AmoSimulator } from '../../src/crm/simulator/simulator.js';
import { crmWorld } from '../helpers/amocrm.js';
import { client, csrfFrom, daysFromToday, signUp, submit } from '../helpers/client.js';
import { waitFor } from '../helpers/wait.js';

type Lead = { id: number; _embedded: { tags: { name: string }[] } };

describe('amoCRM: tags on the leads', function () {
  this.timeout(120_000);

  let w: Awaited<ReturnType<typeof crmWorld>>;
  before(async () => { w = await crmWorld(); });
  after(() => w.close());

  const tagsOf = (sim: AmoSimulator, id: number) => (sim.controls.leads() as unknown as Lead[]).find((l) => l.id === Number(id))!._embedded.tags.map((t) => t.name).sort();

  async function customer(agent = client(w.t.app)) {
    const { email } = await signUp(agent);
    const user = await waitFor(async () => {
      const u = await w.t.db('users').whereRaw('lower(email) = ?', [email.toLowerCase()]).first();
      return u?.amo_lead_id ? u : null;
    }, 60_000, 'lead');
    return { agent, user };
  }

  async function confirmedOrder(agent: ReturnType<typeof client>, gift: Record<string, string>) {
    const res = await submit(agent, '/account/orders/new', { bouquet: 'luxe', deliveryDate: daysFromToday(5), address: 'ул. Цветочная, 1', wishes: '', ...gift }, '/account/orders');
    const orderUrl = res.headers.location!;
    const orderPage = await agent.get(orderUrl).expect(200);
    await agent.post(`${orderUrl}/confirm`).type('form').send({ _csrf: csrfFrom(orderPage.text) }).expect(303);
    const orderId = Number(orderUrl.split('/').pop());
    const order = await waitFor(async () => {
      const o = await w.t.db('orders').where({ id: orderId }).first();
      return o?.amo_lead_id ? o : null;
    }, 60_000, 'order lead');
    return Number(order.amo_lead_id);
  }

  it('when a customer signs up, then the lead carries the tag «сайт» and no other', async () => {
    const { user } = await customer();
    expect(tagsOf(w.simulator, user.amo_lead_id)).to.deep.equal(['сайт']);
  });

  it('when a customer came by a referral link, then the lead also carries «реферал»', async () => {
    const { user: referrer } = await customer();
    const friend = client(w.t.app);
    await friend.get(`/${referrer.referral_id}`).expect(303);
    const { user } = await customer(friend);
    expect(user.referred_by).to.equal(referrer.id);
    expect(tagsOf(w.simulator, user.amo_lead_id)).to.deep.equal(['реферал', 'сайт']);
  });

  it('when a gift order is confirmed, then its lead carries «подарок»; an order for oneself does not', async () => {
    const { agent } = await customer();
    const giftLead = await confirmedOrder(agent, { recipientName: 'Анна', recipientPhone: '+79161234567', cardMessage: 'С днём рождения!' });
    expect(tagsOf(w.simulator, giftLead)).to.deep.equal(['подарок', 'сайт']);
    const ownLead = await confirmedOrder(agent, {});
    expect(tagsOf(w.simulator, ownLead)).to.deep.equal(['сайт']);
  });

  it('when the customer\'s lead is updated later, then tags added by staff stay', async () => {
    const { agent, user } = await customer();
    await w.simulator.controls.staffChangeLead(Number(user.amo_lead_id), { _embedded: { tags: [{ name: 'сайт' }, { name: 'VIP' }] } });
    const from = w.simulator.controls.requests().length;
    const page = await agent.get('/account/preferences').expect(200);
    const date = /name="deliveryDate" type="date" value="([^"]+)"/.exec(page.text)![1]!;
    await agent.post('/account/preferences').type('form').send({
      _csrf: csrfFrom(page.text), bouquet: 'luxe', address: 'ул. Новая, 7', deliveryDate: date, interval: 'weekly', wishes: '',
    }).expect(303);
    await waitFor(() => w.simulator.controls.requests().slice(from).some((r) => r.method === 'PATCH' && r.path === `/api/v4/leads/${user.amo_lead_id}`), 30_000, 'lead updated');
    expect(tagsOf(w.simulator, user.amo_lead_id)).to.deep.equal(['VIP', 'сайт']);
  });
});
