// Deleting the account in a real browser with JavaScript disabled: from the privacy page to the delete page, a
// wrong password shown beside its field, the right one leading to the goodbye page, signed out.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type TestApp } from '../helpers/app.js';
import { closeBrowserSite, openBrowserSite } from '../helpers/browser-site.js';
import { axeViolations, fillSignup, follow, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';

describe('deleting the account in a real browser (JavaScript disabled)', () => {
  let browser: Browser;
  let t: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;
  const email = uniqueEmail('delete');
  const password = 'Romashki v iyule 2026';

  before(async () => ({ browser, t, site, context, page } = await openBrowserSite()));
  after(() => closeBrowserSite({ browser, t, site }));

  it('signs up, goes from the privacy page to the delete page, fails with a wrong password, deletes with the right one', async () => {
    await page.goto(`${site.url}/signup`);
    await fillSignup(page, { email, password, bouquet: 'romantic', address: 'Москва, ул. Прощальная, 3', deliveryDate: daysFromToday(5), interval: 'weekly' });
    await page.getByLabel('Даю согласие на обработку').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    expect(new URL(page.url()).pathname).to.equal('/account');

    await page.goto(`${site.url}/account/privacy`);
    await follow(page.getByRole('link', { name: 'Отозвать согласие и удалить аккаунт' }));
    expect(new URL(page.url()).pathname).to.equal('/account/delete');
    expect(await page.getByRole('heading', { level: 1 }).innerText()).to.equal('Удаление аккаунта');
    expect(await axeViolations(browser, page.url(), context)).to.deep.equal([]);

    await page.getByLabel('Текущий пароль').fill('Not the password 1');
    await follow(page.getByRole('button', { name: 'Удалить аккаунт навсегда' }));
    expect(new URL(page.url()).pathname).to.equal('/account/delete');
    const field = page.getByLabel('Текущий пароль');
    expect(await field.getAttribute('aria-invalid')).to.equal('true');
    expect(await page.locator('#currentPassword-error').innerText()).to.equal('Неверный текущий пароль.');
    expect((await t.db('users').where({ email }).first('deleted_at')).deleted_at).to.equal(null);

    await field.fill(password);
    await follow(page.getByRole('button', { name: 'Удалить аккаунт навсегда' }));
    expect(new URL(page.url()).pathname).to.equal('/goodbye');
    expect(await page.getByRole('status').innerText()).to.include('Ваш аккаунт удалён');
    expect(await axeViolations(browser, page.url(), context)).to.deep.equal([]);
    expect(await t.db('users').where({ email }).first('id')).to.equal(undefined);

    await page.goto(`${site.url}/account`);
    expect(new URL(page.url()).pathname).to.equal('/login');
  });
});
