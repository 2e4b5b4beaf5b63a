// The whole account journey in Chromium with JavaScript disabled, and axe on every page of it.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type TestApp } from '../helpers/app.js';
import { closeBrowserSite, openBrowserSite } from '../helpers/browser-site.js';
import { axeContext, axeOn, axeViolations, fillSignup, follow, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';
import { waitForMail } from '../helpers/smtp.js';

describe('account journey in a real browser (JavaScript disabled)', () => {
  let browser: Browser;
  let t: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;
  const email = uniqueEmail('browser');
  const firstPassword = 'Sirenevyi tuman 2026';
  const newPassword = 'Belye romashki 2027';

  before(async () => ({ browser, t, site, context, page } = await openBrowserSite({ worker: true })));
  after(() => closeBrowserSite({ browser, t, site }));

  async function expectAxeClean() {
    expect(await axeViolations(browser, page.url(), context), page.url()).to.deep.equal([]);
  }

  it('signs up with bouquet preferences and lands on the account page', async () => {
    await page.goto(`${site.url}/`);
    await follow(page.getByRole('link', { name: 'Оформить подписку' }));
    expect(new URL(page.url()).pathname).to.equal('/signup');
    await expectAxeClean();
    await fillSignup(page, {
      email, password: firstPassword, bouquet: 'luxe', address: 'Москва, ул. Садовая, 5, кв. 12', deliveryDate: daysFromToday(3), interval: 'biweekly',
      wishes: 'Без лилий, пожалуйста',
    });
    await page.getByLabel('Даю согласие на обработку моих персональных данных').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    expect(new URL(page.url()).pathname).to.equal('/account');
    const main = await page.locator('main').innerText();
    expect(main).to.include('9\u00a0000\u00a0₽').and.include('Люкс').and.include('1 раз в 2 недели').and.include('Без лилий');
    await expectAxeClean();
  });

  it('shows field errors next to the fields when the form is wrong, keeping what was typed', async () => {
    // axe needs JavaScript to run; the page itself has none, so the re-rendered form is the same either way.
    const other = await axeContext(browser);
    const p = await other.newPage();
    await p.goto(`${site.url}/signup`);
    await p.getByLabel('Email').fill('not-an-email');
    await p.getByLabel('Пароль').fill('short');
    await p.getByLabel('Адрес доставки').fill('Тверская, 1');
    await follow(p.getByRole('button', { name: 'Зарегистрироваться' }));
    expect(await p.locator('#email-error').innerText()).to.include('name@example.ru');
    expect(await p.locator('#password-error').innerText()).to.include('8 символов');
    expect(await p.getByLabel('Адрес доставки').inputValue()).to.equal('Тверская, 1');
    expect(await p.getByLabel('Email').getAttribute('aria-invalid')).to.equal('true');
    expect(await axeOn(p)).to.deep.equal([]); // the re-rendered form, errors included
    await other.close();
  });

  it('visits the password and email pages, then logs out and back in', async () => {
    await follow(page.getByRole('link', { name: 'Сменить пароль' }));
    await expectAxeClean();
    await page.goto(`${site.url}/account/email`);
    await expectAxeClean();
    await follow(page.getByRole('button', { name: 'Выйти', exact: true }));
    expect(new URL(page.url()).pathname).to.equal('/');
    await page.goto(`${site.url}/login`);
    await expectAxeClean();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Пароль').fill('Wrong password 1');
    await follow(page.getByRole('button', { name: 'Войти' }));
    expect(await page.locator('[role=alert]').innerText()).to.include('Неверный email или пароль');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Пароль').fill(firstPassword);
    await follow(page.getByRole('button', { name: 'Войти' }));
    expect(new URL(page.url()).pathname).to.equal('/account');
    await follow(page.getByRole('button', { name: 'Выйти', exact: true }));
  });

  it('recovers the password through the mailed link and logs in with the new one', async () => {
    await page.goto(`${site.url}/login`);
    await follow(page.getByRole('link', { name: 'Забыли пароль?' }));
    await expectAxeClean();
    await page.getByLabel('Email').fill(email);
    await follow(page.getByRole('button', { name: 'Прислать ссылку' }));
    expect(new URL(page.url()).pathname).to.equal('/forgot-password/sent');
    await expectAxeClean();
    const mail = await waitForMail(email, { subject: /Восстановление пароля/ });
    const link = mail.links.find((l) => l.includes('/reset-password?token='))!;
    expect(link.startsWith(site.url)).to.equal(true);
    await page.goto(link);
    expect(page.url()).to.equal(`${site.url}/reset-password`); // the token left the address bar
    await expectAxeClean();
    await page.getByLabel('Новый пароль').fill(newPassword);
    await follow(page.getByRole('button', { name: 'Сохранить пароль' }));
    expect(new URL(page.url()).pathname).to.equal('/login');
    expect(await page.locator('[role=status]').innerText()).to.include('Пароль изменён');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Пароль').fill(newPassword);
    await follow(page.getByRole('button', { name: 'Войти' }));
    expect(new URL(page.url()).pathname).to.equal('/account');
    await page.goto(link); // the used link now explains itself
    expect(await page.locator('h1').innerText()).to.equal('Ссылка недействительна');
    await expectAxeClean();
  });
});
