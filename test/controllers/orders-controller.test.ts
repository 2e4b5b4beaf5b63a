import { expect } from 'chai';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { client, csrfFrom, daysFromToday, signUp, type Agent } from '../helpers/client.js';

describe('orders (/account/orders)', () => {
  let t: TestApp;
  before(() => { t = createTestApp(); });
  after(() => t.close());

  const fields = () => ({ bouquet: 'romantic', deliveryDate: daysFromToday(5), address: 'ул. Заказная, 1', wishes: '' });
  const orderCount = async (email: string) => Number((await t.db('orders').join('users', 'users.id', 'orders.user_id')
    .whereRaw('lower(users.email) = ?', [email]).count({ n: '*' }).first())!.n);
  async function place(agent: Agent) {
    const page = await agent.get('/account/orders/new').expect(200);
    return agent.post('/account/orders').type('form').send({ _csrf: csrfFrom(page.text), ...fields() });
  }

  it('when a customer has placed 5 orders today (cancelled ones too), then the 6th is refused with 429 and a message on the form, and nothing is stored; another customer still may order', async () => {
    const agent = client(t.app);
    const { email } = await signUp(agent);
    for (let i = 0; i < 5; i++) expect((await place(agent)).status).to.equal(303);
    const last = await t.db('orders').max('id as id').first();
    const cancelPage = await agent.get(`/account/orders/${last!.id}`);
    await agent.post(`/account/orders/${last!.id}/cancel`).type('form').send({ _csrf: csrfFrom(cancelPage.text) }).expect(303);
    const refused = await place(agent);
    expect(refused.status).to.equal(429);
    expect(refused.text).to.include('role="alert"').and.include('Сегодня уже оформлено 5 заказов');
    expect(refused.text).to.include('>ул. Заказная, 1</textarea>');
    expect(await orderCount(email)).to.equal(5);

    const other = client(t.app);
    await signUp(other);
    expect((await place(other)).status).to.equal(303);
  });

  it('when one customer sends 8 orders at the same moment, then exactly 5 are stored', async () => {
    const agent = client(t.app);
    const { email } = await signUp(agent);
    const token = csrfFrom((await agent.get('/account/orders/new')).text);
    const results = await Promise.all(Array.from({ length: 8 }, () => agent.post('/account/orders').type('form').send({ _csrf: token, ...fields() })));
    expect(results.map((r) => r.status).sort()).to.deep.equal([303, 303, 303, 303, 303, 429, 429, 429]);
    expect(await orderCount(email)).to.equal(5);
  });
});
