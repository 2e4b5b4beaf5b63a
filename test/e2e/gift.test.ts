// A gift order in Chromium without JavaScript: the customer opens «Это подарок» on the order form, is told about a
// wrong phone next to the field, places and confirms the order; staff find it on the day's deliveries with the
// recipient's name and phone, and the card message on a line of its own on the printed sheet. axe on each page.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { axeViolations, fillSignup, follow, launchBrowser, noScriptContext, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';
import { STAFF_PASSWORD, staffWorld, type StaffWorld } from '../staff/helpers.js';

type Box = { top: number; bottom: number };
/** Runs in the page: where the gift line and the card line of the first gift delivery are drawn. */
const LINES = `(() => {
  const box = (selector) => { const r = document.querySelector(selector).getBoundingClientRect(); return { top: r.top, bottom: r.bottom }; };
  return { address: box('.s-runs li:has(.s-card) strong'), gift: box('.s-runs .s-gift'), card: box('.s-runs .s-card') };
})()`;

describe('gift order in a real browser (JavaScript disabled)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let w: StaffWorld;
  let site: Awaited<ReturnType<typeof serve>>;
  let customer: BrowserContext;
  let page: Page;
  const day = daysFromToday(4);

  before(async () => {
    browser = await launchBrowser();
    w = await staffWorld();
    site = await serve(w.t.app);
    ({ context: customer } = await noScriptContext(browser));
    page = await customer.newPage();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await w?.close();
  });

  it('when a customer orders a bouquet as a gift, then a wrong phone is explained next to the field and the right one is kept as +7…', async () => {
    await page.goto(`${site.url}/signup`);
    await fillSignup(page, {
      email: uniqueEmail('giver'), password: 'Podsolnukh na okne 7', bouquet: 'romantic', address: 'Казань, ул. Баумана, 10', deliveryDate: daysFromToday(9), interval: 'monthly',
    });
    await page.getByLabel('Даю согласие на обработку моих персональных данных').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    await follow(page.getByRole('link', { name: 'Заказать букет' }).first());
    expect(await page.getByLabel('Имя получателя').isVisible()).to.equal(false); // folded until asked for
    await page.getByText('Это подарок').click(); // <details> opens without JavaScript
    expect(await page.getByLabel('Имя получателя').isVisible()).to.equal(true);
    expect(await axeViolations(browser, page.url(), customer)).to.deep.equal([]);

    await page.getByLabel('Категория букета').selectOption('luxe');
    await page.getByLabel('Дата доставки').fill(day);
    await page.getByLabel('Адрес доставки').fill('Казань, ул. Пушкина, 5, кв. 12');
    await page.getByLabel('Имя получателя').fill('Анна Петрова');
    await page.getByLabel('Телефон получателя').fill('8 (912) 345-67');
    await page.getByLabel('Текст открытки').fill('С днём рождения!\nЛюбим, целуем.');
    await follow(page.getByRole('button', { name: 'Оформить заказ' }));
    expect(new URL(page.url()).pathname).to.equal('/account/orders');
    const phone = page.getByLabel('Телефон получателя');
    expect(await phone.isVisible()).to.equal(true); // the section is open again, with the message
    expect(await phone.getAttribute('aria-invalid')).to.equal('true');
    expect(await page.locator('#recipientPhone-error').textContent()).to.include('российский номер');
    expect(await page.getByLabel('Имя получателя').inputValue()).to.equal('Анна Петрова');
    expect(await axeViolations(browser, `${site.url}/account/orders/new`, customer)).to.deep.equal([]);

    await phone.fill('8 (912) 345-67-89');
    await follow(page.getByRole('button', { name: 'Оформить заказ' }));
    expect(new URL(page.url()).pathname).to.match(/^\/account\/orders\/\d+$/);
    const shown = await page.locator('main').innerText();
    expect(shown).to.include('Анна Петрова, +7\u00a0912\u00a0345\u201167\u201189').and.include('С днём рождения!\nЛюбим, целуем.');
    await follow(page.getByRole('button', { name: 'Подтвердить заказ' }));
    const row = await w.t.db('orders').orderBy('id', 'desc').first();
    expect([row.status, row.recipient_name, row.recipient_phone]).to.deep.equal(['confirmed', 'Анна Петрова', '+79123456789']);
    expect(await axeViolations(browser, page.url(), customer)).to.deep.equal([]);
  });

  it('when staff open the day, then the gift is listed with the recipient and the address, and the printed card message has a line of its own', async () => {
    const { context: staff } = await noScriptContext(browser, { width: 1280 });
    const p = await staff.newPage();
    await p.goto(`${site.url}/login`);
    await p.getByLabel('Email').fill(w.staffEmail);
    await p.getByLabel('Пароль').fill(STAFF_PASSWORD);
    await follow(p.getByRole('button', { name: 'Войти' }));
    await p.goto(`${site.url}/staff/deliveries?date=${day}`);
    const item = p.locator('ol.s-runs > li', { hasText: 'ул. Пушкина, 5' });
    expect(await item.innerText()).to.include('Подарок, получатель — Анна Петрова, +7\u00a0912\u00a0345\u201167\u201189')
      .and.include('Открытка: С днём рождения!\nЛюбим, целуем.');
    expect(await axeViolations(browser, p.url(), staff)).to.deep.equal([]);

    await p.emulateMedia({ media: 'print' });
    const lines = await p.evaluate(LINES) as { address: Box; gift: Box; card: Box };
    expect(lines.gift.top).to.be.at.least(lines.address.bottom - 1);
    expect(lines.card.top).to.be.at.least(lines.gift.bottom - 1); // below the recipient, not run on after it
    await staff.close();
  });
});
