// A staff member turns on the second factor and logs in with it, in Chromium with JavaScript disabled: the key is
// read from the page and the code computed here, as the phone would.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { stepAt, totpCode } from '../../src/services/totp.js';
import { axeViolations, follow, launchBrowser, noScriptContext, serve } from '../helpers/browser.js';
import { STAFF_PASSWORD, staffWorld, type StaffWorld } from '../staff/helpers.js';

describe('staff TOTP in a real browser (JavaScript disabled)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let w: StaffWorld;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    browser = await launchBrowser();
    w = await staffWorld();
    site = await serve(w.t.app);
    ({ context } = await noScriptContext(browser));
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await w?.close();
  });

  it('when staff enrol from the key on the page, log out and log in again, then the code from the app opens the staff area', async () => {
    await page.goto(`${site.url}/login`);
    await page.getByLabel('Email').fill(w.staffEmail);
    await page.getByLabel('Пароль').fill(STAFF_PASSWORD);
    await follow(page.getByRole('button', { name: 'Войти' }));
    await follow(page.getByRole('link', { name: 'Двухфакторный вход' }));
    expect(new URL(page.url()).pathname).to.equal('/staff/2fa');
    expect(await page.locator('figure.qr svg').count()).to.equal(1);
    expect(await axeViolations(browser, `${site.url}/staff/2fa`, context)).to.deep.equal([]);
    const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s/g, '');
    await page.getByLabel('Код из приложения (6 цифр)').fill(totpCode(secret, stepAt(Date.now())));
    await follow(page.getByRole('button', { name: 'Подтвердить' }));
    expect(await page.locator('.recovery-codes li').count()).to.equal(10);

    await follow(page.getByRole('button', { name: 'Выйти' }));
    await page.goto(`${site.url}/login`);
    await page.getByLabel('Email').fill(w.staffEmail);
    await page.getByLabel('Пароль').fill(STAFF_PASSWORD);
    await follow(page.getByRole('button', { name: 'Войти' }));
    expect(new URL(page.url()).pathname).to.equal('/login/2fa');
    expect(await axeViolations(browser, `${site.url}/login/2fa`, context)).to.deep.equal([]);
    await page.goto(`${site.url}/staff`);
    expect(new URL(page.url()).pathname).to.equal('/login');
    await page.goBack();
    // The enrolment took this step's code; the next step's is within the ±1 window and not yet used.
    await page.getByLabel('Код из приложения (6 цифр)').fill(totpCode(secret, stepAt(Date.now()) + 1));
    await follow(page.getByRole('button', { name: 'Войти', exact: true }));
    expect(new URL(page.url()).pathname).to.equal('/staff');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Обзор');
  });
});
