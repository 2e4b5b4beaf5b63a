// The privacy page in a real browser with JavaScript disabled: reached from the account page, the advertising
// consent withdrawn with its button, and the data export downloaded as a file.
import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type TestApp } from '../helpers/app.js';
import { closeBrowserSite, openBrowserSite } from '../helpers/browser-site.js';
import { axeViolations, fillSignup, follow, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';

describe('the privacy page in a real browser (JavaScript disabled)', () => {
  let browser: Browser;
  let t: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;
  const email = uniqueEmail('privacy');

  before(async () => ({ browser, t, site, context, page } = await openBrowserSite()));
  after(() => closeBrowserSite({ browser, t, site }));

  it('signs up with the advertising consent, withdraws it on the privacy page, and downloads the data', async () => {
    await page.goto(`${site.url}/signup`);
    await fillSignup(page, {
      email, password: 'Landyshi v mae 2026', bouquet: 'seasonal', address: 'Москва, ул. Садовая, 5', deliveryDate: daysFromToday(4), interval: 'weekly',
    });
    await page.getByLabel('Даю согласие на обработку').check();
    await page.getByLabel('Хочу получать рекламу').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    expect(new URL(page.url()).pathname).to.equal('/account');

    await follow(page.getByRole('link', { name: 'Мои данные и согласия' }));
    expect(new URL(page.url()).pathname).to.equal('/account/privacy');
    const given = page.getByRole('region', { name: 'Данные согласия' });
    expect(await given.innerText()).to.include('Согласие на обработку персональных данных').and.include('Согласие на получение рекламной рассылки');
    expect(await axeViolations(browser, page.url(), context)).to.deep.equal([]);

    await follow(page.getByRole('button', { name: 'Отозвать согласие на рекламу' }));
    expect(new URL(page.url()).pathname).to.equal('/account/privacy');
    expect(await given.innerText()).not.to.include('рекламной рассылки');
    expect(await page.getByRole('button', { name: 'Получать рекламу и новости' }).count()).to.equal(1);
    const user = await t.db('users').where({ email }).first('id');
    expect((await t.db('consent_events').where({ user_id: user.id, document: 'marketing' }).orderBy('id').select('action')).map((r) => r.action))
      .to.deep.equal(['grant', 'withdraw']);
    expect(await axeViolations(browser, page.url(), context)).to.deep.equal([]);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Скачать мои данные' }).click()]);
    expect(download.suggestedFilename()).to.match(/^flowers-data-\d{4}-\d{2}-\d{2}\.json$/);
    const data = JSON.parse(await readFile((await download.path())!, 'utf8'));
    expect(data.profile.email).to.equal(email);
    expect(data.consents.map((c: { document: string; action: string }) => `${c.document} ${c.action}`)).to.deep.equal(['personal-data grant', 'marketing grant', 'marketing withdraw']);
  });
});
