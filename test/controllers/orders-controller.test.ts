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

  describe('gift orders («Это подарок»)', () => {
    const PHONE_OK = 'Укажите российский номер: +7\u00a0и десять цифр, например +7\u00a0912\u00a0345\u201167\u201189.';
    let agent: Agent;
    let userId: number;
    before(async () => {
      agent = client(t.app);
      const { email } = await signUp(agent);
      userId = Number((await t.db('users').whereRaw('lower(email) = ?', [email]).first('id')).id);
    });
    /** Each post starts a new shop day for this customer, so that the daily cap is not what the tests meet. */
    async function send(extra: Record<string, string>) {
      await t.db('orders').where({ user_id: userId }).update({ created_at: t.db.raw("created_at - interval '1 day'") });
      const page = await agent.get('/account/orders/new').expect(200);
      return agent.post('/account/orders').type('form').send({ _csrf: csrfFrom(page.text), ...fields(), ...extra });
    }
    const state = async () => [await t.db('orders').where({ user_id: userId }).orderBy('id').pluck('id'), await t.db('subscription_events').where({ user_id: userId }).orderBy('id').pluck('id')];
    const lastOrder = async () => t.db('orders').where({ user_id: userId }).orderBy('id', 'desc').first();
    const messageNextTo = (html: string, field: string, message: string) => {
      expect(html).to.include(`<p class="error" id="${field}-error">${message}</p>`);
      expect(html).to.match(new RegExp(`id="${field}" name="${field}"[^>]*aria-describedby="[^"]*${field}-error"[^>]*aria-invalid="true"`));
    };

    it('when the order form opens, then it has the gift section (a <details> that works without JavaScript) with name, phone and card message', async () => {
      const page = await agent.get('/account/orders/new').expect(200);
      expect(page.text).to.match(/<details class="gift">\s*<summary>Это подарок<\/summary>/);
      for (const field of ['recipientName', 'recipientPhone', 'cardMessage']) expect(page.text).to.include(`name="${field}"`);
      expect(page.text).not.to.match(/<details class="gift" open>/);
    });

    for (const typed of ['+7 912 345-67-89', '+79123456789', '8 (912) 345 67 89', '8-912-345-67-89', '89123456789', '9123456789', '912 345 67 89',
      '(912) 345-67-89', '7 912 3456789', '+7 (912) 345-67-89', ' +7 912 345 67 89 ']) {
      it(`when the recipient's phone is typed as "${typed}", then the gift order is stored with +79123456789`, async () => {
        const res = await send({ recipientName: 'Анна', recipientPhone: typed });
        expect(res.status, res.text.slice(0, 500)).to.equal(303);
        const order = await lastOrder();
        expect([order.recipient_name, order.recipient_phone, order.card_message]).to.deep.equal(['Анна', '+79123456789', null]);
      });
    }

    for (const typed of ['+7 912 345-67-8', '+7 912 345-67-890', '8912345678', '+8 912 345 67 89', '+1 912 345 67 89', '+7 712 345 67 89', '+7 891 234 56 78', '+7 123 456 78 90',
      '9123456789 доб. 5', '+7.912.345.67.89', 'abc', '١٢٣٤٥٦٧٨٩٠', '９１２３４５６７８９', '++79123456789', '+7 912 345 67 89\u00ad']) {
      it(`when the recipient's phone is "${typed}", then 422 with the message next to the phone field and nothing stored`, async () => {
        const before = await state();
        const res = await send({ recipientName: 'Анна', recipientPhone: typed });
        expect(res.status).to.equal(422);
        messageNextTo(res.text, 'recipientPhone', PHONE_OK);
        expect(res.text).to.match(/<details class="gift" open>/); // the section stays open with what was typed
        expect(await state()).to.deep.equal(before);
      });
    }

    it('when a phone is given without a name, a name without a phone, or only a card message, then 422 asks for what is missing and nothing is stored', async () => {
      const before = await state();
      const noName = await send({ recipientPhone: '+7 912 345-67-89' });
      expect(noName.status).to.equal(422);
      messageNextTo(noName.text, 'recipientName', 'Укажите имя получателя подарка.');
      expect(noName.text).to.include('value="+7 912 345-67-89"');
      const blankName = await send({ recipientName: '   ', recipientPhone: '+7 912 345-67-89' });
      expect(blankName.status).to.equal(422);
      messageNextTo(blankName.text, 'recipientName', 'Укажите имя получателя подарка.');
      const noPhone = await send({ recipientName: 'Анна' });
      expect(noPhone.status).to.equal(422);
      messageNextTo(noPhone.text, 'recipientPhone', 'Укажите телефон получателя: курьер позвонит ему перед доставкой.');
      const onlyCard = await send({ cardMessage: 'С днём рождения!' });
      expect(onlyCard.status).to.equal(422);
      messageNextTo(onlyCard.text, 'recipientName', 'Укажите имя получателя подарка.');
      messageNextTo(onlyCard.text, 'recipientPhone', 'Укажите телефон получателя: курьер позвонит ему перед доставкой.');
      expect(await state()).to.deep.equal(before);
    });

    it('when the card message is 300 Cyrillic characters it is stored whole; 301 (or a 101-character name) is refused with 422 next to the field and nothing stored', async () => {
      const card = 'С днём рождения, дорогая! '.repeat(12).slice(0, 299) + 'я';
      expect(card.length).to.equal(300);
      expect(Buffer.byteLength(card)).to.be.above(500); // characters, not bytes
      const name = 'Анна-Мария '.repeat(10).slice(0, 100);
      const ok = await send({ recipientName: name, recipientPhone: '8 912 345 67 89', cardMessage: card });
      expect(ok.status, ok.text.slice(0, 300)).to.equal(303);
      const order = await lastOrder();
      expect([order.recipient_name, order.card_message]).to.deep.equal([name.trim(), card]);
      const emoji = `${'💐'.repeat(300)}`; // 300 characters, 600 UTF-16 units
      expect((await send({ recipientName: 'Анна', recipientPhone: '8 912 345 67 89', cardMessage: emoji })).status).to.equal(303);
      expect((await lastOrder()).card_message).to.equal(emoji);

      const before = await state();
      const long = await send({ recipientName: 'Анна', recipientPhone: '8 912 345 67 89', cardMessage: `${card}ь` });
      expect(long.status).to.equal(422);
      messageNextTo(long.text, 'cardMessage', 'Текст открытки не длиннее 300 символов.');
      const longName = await send({ recipientName: `${'Анна'.repeat(25)}я`, recipientPhone: '8 912 345 67 89' });
      expect(longName.status).to.equal(422);
      messageNextTo(longName.text, 'recipientName', 'Имя получателя не длиннее 100 символов.');
      expect(await state()).to.deep.equal(before);
    });

    it('when a gift order is placed, then the subscription history records it (gift_order, from the account) and the order page and account show the recipient', async () => {
      const eventsBefore = await t.db('subscription_events').where({ user_id: userId }).count({ n: '*' }).first();
      const res = await send({ recipientName: 'Анна Петрова', recipientPhone: '8 (912) 345-67-89', cardMessage: 'С днём рождения!\nЛюбим, целуем.' });
      expect(res.status).to.equal(303);
      const id = Number(/\/account\/orders\/(\d+)$/.exec(res.headers.location!)![1]);
      const events = await t.db('subscription_events').where({ user_id: userId }).orderBy('id', 'desc').select('kind', 'details', 'source', 'staff_user_id');
      expect(events).to.have.length(Number(eventsBefore!.n) + 1);
      expect(events[0]).to.deep.equal({ kind: 'gift_order', details: { orderId: id, recipientName: 'Анна Петрова' }, source: 'account', staff_user_id: null });
      const show = await agent.get(`/account/orders/${id}`).expect(200);
      expect(show.text).to.include('<dt>Получатель</dt><dd>Анна Петрова, <a href="tel:+79123456789">+7\u00a0912\u00a0345\u201167\u201189</a></dd>');
      expect(show.text).to.include('С днём рождения!\nЛюбим, целуем.');
      const account = await agent.get('/account').expect(200);
      expect(account.text).to.include('Получатель — Анна Петрова');
    });

    it('when an order is not a gift, then no gift columns and no history row are stored, and the order page shows no recipient', async () => {
      const before = await t.db('subscription_events').where({ user_id: userId }).count({ n: '*' }).first();
      const res = await send({ recipientName: '', recipientPhone: '', cardMessage: '  ' });
      expect(res.status).to.equal(303);
      const order = await lastOrder();
      expect([order.recipient_name, order.recipient_phone, order.card_message]).to.deep.equal([null, null, null]);
      expect(await t.db('subscription_events').where({ user_id: userId }).count({ n: '*' }).first()).to.deep.equal(before);
      expect((await agent.get(`/account/orders/${order.id}`)).text).not.to.include('Получатель');
    });

    it('refuses a gift that skips the form (the database keeps name and phone together and the phone normalised)', async () => {
      const insert = (extra: Record<string, string | undefined>) => t.db('orders').insert({ user_id: userId, bouquet: 'luxe', delivery_date: daysFromToday(3), address: 'ул. Прямая, 1', price_kopecks: 1, ...extra });
      for (const bad of [{ recipient_name: 'Анна' } as Record<string, string | undefined>, { recipient_phone: '+79123456789' }, { recipient_name: 'Анна', recipient_phone: '89123456789' },
        { recipient_name: 'Анна', recipient_phone: '+7 912 345-67-89' }, { card_message: 'Без получателя' }, { recipient_name: '', recipient_phone: '+79123456789' }]) {
        let error: unknown = null;
        try { await insert(bad); } catch (e) { error = e; }
        expect((error as { code?: string } | null)?.code, JSON.stringify(bad)).to.equal('23514');
      }
    });
  });
});
