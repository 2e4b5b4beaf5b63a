// Subscription self-service in a real browser with JavaScript disabled: skip and take back a delivery, move one,
// pause and resume, cancel with a reason, decline the one offer, and start again; axe on every page.
// SCREENSHOTS=1 also saves each page at 360 and 1280 px in var/screenshots/ for looking at them.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { formatDate } from '../../src/i18n/i18n.js';
import { type TestApp } from '../helpers/app.js';
import { closeBrowserSite, openBrowserSite } from '../helpers/browser-site.js';
import { axeContext, axeOn, axeViolations, fillSignup, follow, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';

describe('subscription self-service in a real browser (JavaScript disabled)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let t: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;
  const email = uniqueEmail('subscription');
  const first = daysFromToday(4);

  before(async () => ({ browser, t, site, context, page } = await openBrowserSite()));
  after(() => closeBrowserSite({ browser, t, site }));

  const axe = async () => expect(await axeViolations(browser, page.url(), context), page.url()).to.deep.equal([]);
  const main = () => page.locator('body').innerText();
  const path_ = () => new URL(page.url()).pathname;
  async function shoot(name: string) {
    if (!process.env.SCREENSHOTS) return;
    const out = path.resolve('var', 'screenshots');
    mkdirSync(out, { recursive: true });
    for (const width of [360, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      await page.screenshot({ path: path.join(out, `subscription-${name}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 360, height: 800 });
  }

  it('signs up, opens the deliveries from the account, skips one and takes the skip back', async () => {
    await page.goto(`${site.url}/signup`);
    await fillSignup(page, { email, password: 'Romashki v pole 2026', bouquet: 'seasonal', address: 'Москва, ул. Садовая, 5', deliveryDate: first, interval: 'weekly' });
    await page.getByLabel('Даю согласие на обработку').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    await follow(page.getByRole('link', { name: 'Все доставки: пропустить или перенести' }));
    expect(path_()).to.equal('/account/deliveries');
    expect(await page.locator('ol.schedule > li').count()).to.equal(8);
    await shoot('deliveries');
    await axe();

    await follow(page.getByRole('button', { name: `Пропустить доставку ${formatDate(first)}` }));
    expect(await main()).to.include('Доставка пропущена.');
    const entry = page.locator('ol.schedule > li').first();
    expect(await entry.innerText()).to.include('Пропущена');
    await axe();
    await follow(page.getByRole('button', { name: `Вернуть доставку ${formatDate(first)}` }));
    expect(await entry.innerText()).to.include('Запланирована');
  });

  it('moves a delivery by two days and sees where it came from', async () => {
    await page.locator(`#newDate-${first}`).fill(daysFromToday(6));
    await follow(page.getByRole('button', { name: `Перенести доставку ${formatDate(first)}` }));
    expect(await main()).to.include('Доставка перенесена.');
    const entry = page.locator('ol.schedule > li').first();
    expect(await entry.innerText()).to.include(formatDate(daysFromToday(6))).and.include(`Перенесена с ${formatDate(first)}`);
  });

  it('a date onto another delivery is refused beside the field, and nothing changes', async () => {
    const second = daysFromToday(11);
    await page.locator(`#newDate-${second}`).fill(daysFromToday(18));
    await follow(page.getByRole('button', { name: `Перенести доставку ${formatDate(second)}` }));
    expect(await page.locator(`#newDate-${second}-error`).innerText()).to.include('В этот день уже есть доставка');
    await axe();
  });

  it('pauses for a month with a preset and resumes at once', async () => {
    await page.goto(`${site.url}/account`);
    await follow(page.getByRole('link', { name: 'Пауза', exact: true }));
    expect(path_()).to.equal('/account/pause');
    await shoot('pause');
    await axe();
    await follow(page.getByRole('button', { name: /^На месяц/ }));
    expect(path_()).to.equal('/account');
    expect(await main()).to.include('Подписка на паузе до');
    await shoot('paused-dashboard');
    await axe();
    await follow(page.getByRole('button', { name: 'Возобновить сейчас' }));
    expect(await main()).to.include('Доставки возобновлены.').and.not.include('Подписка на паузе до');
  });

  it('cancels with a reason, declines the offer with one click, and starts the subscription again', async () => {
    await follow(page.getByRole('link', { name: 'Отменить подписку' }));
    expect(path_()).to.equal('/account/cancel');
    await shoot('cancel');
    await axe();
    await page.getByLabel('Слишком часто').check();
    await page.getByLabel('Комментарий').fill('Не успеваю ставить в вазу');
    await follow(page.getByRole('button', { name: 'Продолжить' }));
    expect(await main()).to.include('раз в месяц').and.include('Нет, отменить подписку');
    await shoot('offer');
    // axe on the offer, reached the same way in a JavaScript-enabled copy of the session.
    const scripted = await axeContext(browser, context);
    const copy = await scripted.newPage();
    await copy.goto(`${site.url}/account/cancel`);
    await copy.getByLabel('Слишком часто').check();
    await Promise.all([copy.waitForEvent('load'), copy.getByRole('button', { name: 'Продолжить' }).click()]);
    expect(await copy.locator('h1').innerText()).to.equal('Может быть, так удобнее?');
    expect(await axeOn(copy)).to.deep.equal([]);
    await scripted.close();

    await follow(page.getByRole('button', { name: 'Нет, отменить подписку' }));
    expect(path_()).to.equal('/account');
    expect(await main()).to.include('Подписка отменена');
    const user = await t.db('users').where({ email }).first('cancel_reason', 'cancel_comment');
    expect(user).to.deep.equal({ cancel_reason: 'too_often', cancel_comment: 'Не успеваю ставить в вазу' });
    await shoot('cancelled-dashboard');
    await axe();

    await page.getByLabel('Дата первой доставки').fill(daysFromToday(9));
    await follow(page.getByRole('button', { name: 'Возобновить подписку' }));
    expect(await main()).to.include('Подписка возобновлена.').and.not.include('Подписка отменена');
    expect(await main()).to.include(formatDate(daysFromToday(9)));
  });
});
