// The customer's dashboard, preferences and orders, and the staff amoCRM page, in Chromium without JavaScript;
// axe on each.
import { expect } from 'chai';
import pino from 'pino';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort } from '../../src/embedded-postgres.js';
import { createServices } from '../../src/app.js';
import { crmWorld } from '../helpers/amocrm.js';
import { axeViolations, fillSignup, follow, launchBrowser, noScriptContext, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';
import { waitFor } from '../helpers/wait.js';

describe('dashboard, preferences and orders in a real browser (JavaScript disabled)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let w: Awaited<ReturnType<typeof crmWorld>>;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;
  const email = uniqueEmail('dash');

  before(async () => {
    browser = await launchBrowser();
    const port = await freePort();
    w = await crmWorld({ env: { APP_URL: `http://127.0.0.1:${port}` } });
    site = await serve(w.t.app, port);
    ({ context } = await noScriptContext(browser));
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await w?.close();
  });

  const axe = async () => expect(await axeViolations(browser, page.url(), context), page.url()).to.deep.equal([]);
  const main = () => page.locator('main').innerText();

  it('signs up and sees the sum, six upcoming deliveries and the CRM stage once the lead exists', async () => {
    await page.goto(`${site.url}/signup`);
    await fillSignup(page, {
      email, password: 'Podsolnukh na okne 7', bouquet: 'romantic', address: 'Казань, ул. Баумана, 10', deliveryDate: daysFromToday(2), interval: 'weekly',
    });
    await page.getByLabel('Даю согласие на обработку моих персональных данных').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    expect(await main()).to.include('4\u00a0500\u00a0₽');
    expect(await page.locator('ol.deliveries > li').count()).to.equal(6);
    await waitFor(async () => (await w.t.db('users').where({ email }).first()).amo_lead_id, 15_000, 'lead');
    await waitFor(async () => {
      await page.reload();
      return (await main()).includes('Этап в CRM:');
    }, 15_000, 'stage shown');
    await axe();
  });

  it('changes the preferences', async () => {
    await follow(page.getByRole('link', { name: 'Изменить предпочтения' }));
    await axe();
    await page.getByLabel('Категория букета').selectOption('luxe');
    await page.getByLabel('Пожелания к букетам').fill('Пионы, если сезон');
    await follow(page.getByRole('button', { name: 'Сохранить' }));
    expect(new URL(page.url()).pathname).to.equal('/account');
    expect(await page.locator('body').innerText()).to.include('Предпочтения сохранены');
    expect(await main()).to.include('9\u00a0000\u00a0₽').and.include('Пионы, если сезон');
  });

  it('orders a bouquet, confirms it, and sees it on the dashboard', async () => {
    await follow(page.getByRole('link', { name: 'Заказать букет' }));
    await axe();
    await page.getByLabel('Дата доставки').fill(daysFromToday(4));
    await follow(page.getByRole('button', { name: 'Оформить заказ' }));
    expect(new URL(page.url()).pathname).to.match(/^\/account\/orders\/\d+$/);
    expect(await main()).to.include('Оформлен');
    await axe();
    await follow(page.getByRole('button', { name: 'Подтвердить заказ' }));
    const body = await page.locator('body').innerText();
    expect(body, `${page.url()}\n${body}`).to.include('Заказ подтверждён');
    await page.goto(`${site.url}/account`);
    expect(await main()).to.match(/Заказ №\d+/);
  });

  it('shows the history on the dashboard and the whole history on its own page', async () => {
    await page.goto(`${site.url}/account`);
    const section = page.locator('section[aria-labelledby="history-title"]');
    await waitFor(async () => {
      await page.reload();
      return (await section.innerText()).includes('подтверждён');
    }, 15_000, 'the confirmed order in the history');
    expect(await section.locator('ol.history > li').count()).to.be.within(1, 5);
    expect(await section.innerText()).to.match(/Статус заявки: /);
    await follow(section.getByRole('link', { name: 'Вся история' }));
    expect(new URL(page.url()).pathname).to.equal('/account/history');
    expect(await page.locator('h1').innerText()).to.equal('История');
    const entries = await main();
    expect(entries).to.include('Заявка получена').and.match(/Заказ №\d+ подтверждён, [\d\u00a0]+₽/);
    expect(await page.locator('ol.history time[datetime]').count()).to.equal(await page.locator('ol.history > li').count());
    await axe();
  });

  it('shows the staff amoCRM page to staff, with no accessibility violations', async () => {
    const services = createServices({ config: w.t.config, db: w.t.db, logger: pino({ level: 'silent' }) });
    await services.auth.addStaff('e2e-manager@flowers.test', 'Menedzher magazina 2026');
    const { context: staffContext } = await noScriptContext(browser);
    const staff = await staffContext.newPage();
    await staff.goto(`${site.url}/login`);
    await staff.getByLabel('Email').fill('e2e-manager@flowers.test');
    await staff.getByLabel('Пароль').fill('Menedzher magazina 2026');
    await follow(staff.getByRole('button', { name: 'Войти' }));
    await staff.goto(`${site.url}/staff/amocrm`);
    expect(await staff.locator('h1').innerText()).to.equal('amoCRM');
    expect(await axeViolations(browser, staff.url(), staffContext)).to.deep.equal([]);
    await staffContext.close();
  });
});
