// Confirming the address in Chromium with JavaScript disabled: sign up, read the mail from the SMTP server, open
// the link (a page with one button, which confirms nothing by itself), press the button, see it confirmed. axe on
// every page of it; the run's vnu check covers them too.
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { type TestApp } from '../helpers/app.js';
import { closeBrowserSite, openBrowserSite } from '../helpers/browser-site.js';
import { expectAxeClean, fillSignup, follow, noScriptContext, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';
import { confirmationLink } from '../helpers/smtp.js';

describe('email confirmation in a real browser (JavaScript disabled)', () => {
  let browser: Browser;
  let t: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;

  before(async () => ({ browser, t, site } = await openBrowserSite({ worker: true })));
  after(() => closeBrowserSite({ browser, t, site }));

  const confirmedAt = async (email: string) => (await t.db('users').whereRaw('lower(email) = ?', [email]).first('email_confirmed_at')).email_confirmed_at;

  for (const width of [360, 1280]) {
    it(`at ${width} px: signs up, sees the banner, opens the mailed link, presses the one button and sees the address confirmed`, async () => {
      const email = uniqueEmail('confirm');
      const { context } = await noScriptContext(browser, { width });
      const page = await context.newPage();
      await page.goto(`${site.url}/signup`);
      await fillSignup(page, { email, password: 'Sirenevyi tuman 2026', bouquet: 'seasonal', address: 'Москва, ул. Садовая, 5, кв. 12', deliveryDate: daysFromToday(4), interval: 'weekly' });
      await page.getByLabel('Даю согласие на обработку моих персональных данных').check();
      await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
      expect(new URL(page.url()).pathname).to.equal('/account');
      const banner = page.getByRole('region', { name: 'Подтвердите email' });
      expect(await banner.innerText()).to.include(email);
      expect(await banner.getByRole('button', { name: 'Отправить письмо ещё раз' }).count()).to.equal(1);
      await expectAxeClean(browser, page, context);

      const link = await confirmationLink(email);
      await page.goto(link);
      expect(new URL(page.url()).pathname).to.equal('/confirm-email');
      expect(await page.locator('main').innerText()).to.include(`Нажмите кнопку, чтобы подтвердить адрес ${email}`);
      expect(await page.locator('main').getByRole('button').count(), 'one button (besides the header\'s log-out)').to.equal(1);
      expect(await confirmedAt(email), 'opening the link confirms nothing').to.equal(null);
      await expectAxeClean(browser, page, context);

      await follow(page.getByRole('button', { name: 'Подтвердить' }));
      expect(new URL(page.url()).pathname).to.equal('/account');
      expect(await page.getByRole('status').innerText()).to.equal('Email подтверждён.');
      expect(await page.getByRole('region', { name: 'Подтвердите email' }).count()).to.equal(0);
      expect(await confirmedAt(email)).to.be.instanceOf(Date);
      await expectAxeClean(browser, page, context);

      await page.goto(link); // the same link again: used up
      expect(await page.locator('h1').innerText()).to.equal('Ссылка не работает');
      await expectAxeClean(browser, page, context);
      await context.close();
    });
  }

  it('opened in another browser with no session: the button confirms and a success page says so', async () => {
    const email = uniqueEmail('confirm');
    const { context } = await noScriptContext(browser);
    const page = await context.newPage();
    await page.goto(`${site.url}/signup`);
    await fillSignup(page, { email, password: 'Sirenevyi tuman 2026', bouquet: 'romantic', address: 'Москва, ул. Садовая, 7', deliveryDate: daysFromToday(5), interval: 'monthly' });
    await page.getByLabel('Даю согласие на обработку моих персональных данных').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    await context.close();

    const other = (await noScriptContext(browser)).context;
    const phone = await other.newPage();
    await phone.goto(await confirmationLink(email));
    expect(await phone.getByRole('button').count()).to.equal(1);
    await follow(phone.getByRole('button', { name: 'Подтвердить' }));
    expect(await phone.locator('h1').innerText()).to.equal('Email подтверждён');
    expect(await phone.locator('main').innerText()).to.include('Адрес подтверждён');
    expect(await other.cookies()).to.deep.equal([]);
    await expectAxeClean(browser, phone, other);
    await other.close();
  });
});
