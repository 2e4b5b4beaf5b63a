// Signing in with a code from a mail, in Chromium with JavaScript disabled: the code typed by hand, and the mailed
// link's one-button page. axe on every page of it; the run's vnu check covers them too.
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { type TestApp } from '../helpers/app.js';
import { closeBrowserSite, openBrowserSite } from '../helpers/browser-site.js';
import { expectAxeClean, follow, noScriptContext, serve } from '../helpers/browser.js';
import { client, signUp } from '../helpers/client.js';
import { waitForMail } from '../helpers/smtp.js';

const SUBJECT = /Код для входа/;

describe('sign in with a code from a mail in a real browser (JavaScript disabled)', () => {
  let browser: Browser;
  let t: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;

  before(async () => ({ browser, t, site } = await openBrowserSite({ worker: true })));
  after(() => closeBrowserSite({ browser, t, site }));

  it('asks for a code from the login page, reads it from the mail, types it and lands on the account page', async () => {
    const { email } = await signUp(client(t.app));
    const { context } = await noScriptContext(browser);
    const page = await context.newPage();
    await page.goto(`${site.url}/login`);
    await follow(page.getByRole('link', { name: 'Войти по коду из письма' }));
    expect(new URL(page.url()).pathname).to.equal('/login/code');
    await expectAxeClean(browser, page, context);
    await page.getByLabel('Email').fill(email);
    await follow(page.getByRole('button', { name: 'Прислать код' }));
    expect(new URL(page.url()).pathname).to.equal('/login/code/verify');
    expect(await page.getByLabel('Email').inputValue()).to.equal(email);
    await expectAxeClean(browser, page, context);

    await page.getByLabel('Код из письма').fill('000000');
    const mail = await waitForMail(email, { subject: SUBJECT });
    const code = /\b(\d{6})\b/.exec(mail.text)![1]!;
    if (code !== '000000') {
      await follow(page.getByRole('button', { name: 'Войти' }).last());
      expect(await page.locator('#code-error').innerText()).to.include('Код неверный или устарел');
      expect(await page.getByLabel('Код из письма').getAttribute('aria-invalid')).to.equal('true');
      await expectAxeClean(browser, page, context);
    }
    await page.getByLabel('Код из письма').fill(code);
    await follow(page.getByRole('button', { name: 'Войти' }).last());
    expect(new URL(page.url()).pathname).to.equal('/account');
    expect(await page.locator('main').innerText()).to.include(email);
    await context.close();
  });

  it('opens the mailed link: a page with one button, and the button signs in', async () => {
    const { email } = await signUp(client(t.app));
    const { context } = await noScriptContext(browser, { width: 1280 });
    const page = await context.newPage();
    await page.goto(`${site.url}/login/code`);
    await page.getByLabel('Email').fill(email);
    await follow(page.getByRole('button', { name: 'Прислать код' }));
    const mail = await waitForMail(email, { subject: SUBJECT });
    const link = mail.links.find((l) => l.includes('/login/code/verify?'))!;
    expect(mail.html).to.include('href="http://127.0.0.1:');

    const other = (await noScriptContext(browser)).context; // the mail opened on another device
    const linkPage = await other.newPage();
    await linkPage.goto(link);
    expect(await linkPage.getByRole('button').count()).to.equal(1);
    expect(await linkPage.locator('main').innerText()).to.include(email);
    await expectAxeClean(browser, linkPage, other);
    await linkPage.goto(`${site.url}/account`); // the GET signed nobody in
    expect(new URL(linkPage.url()).pathname).to.equal('/login');
    await linkPage.goto(link);
    await follow(linkPage.getByRole('button', { name: 'Войти' }));
    expect(new URL(linkPage.url()).pathname).to.equal('/account');
    expect(await linkPage.locator('main').innerText()).to.include(email);
    await other.close();
    await context.close();
  });
});
