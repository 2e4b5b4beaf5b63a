// Consents in a real browser with JavaScript disabled: sign-up refuses without the required box and keeps the
// message beside it, goes through with it; the documents open from the form's links; the renewal interstitial.
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort } from '../../src/embedded-postgres.js';
import { CURRENT_DOCUMENTS } from '../../src/services/documents.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { axeViolations, fillSignup, follow, launchBrowser, noScriptContext, serve } from '../helpers/browser.js';
import { daysFromToday, uniqueEmail } from '../helpers/client.js';

describe('consents in a real browser (JavaScript disabled)', () => {
  let browser: Browser;
  let t: TestApp;
  let v2: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;
  let site2: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;
  const email = uniqueEmail('consent');
  const password = 'Romashki v pole 2026';

  before(async () => {
    browser = await launchBrowser();
    const [port, port2] = [await freePort(), await freePort()];
    t = createTestApp({ env: { APP_URL: `http://127.0.0.1:${port}`, METRICA_COUNTER_ID: '12345678', METRICA_MP_TOKEN: 'test-token', METRICA_ENDPOINT: 'http://127.0.0.1:9/collect' } });
    v2 = createTestApp({
      env: { APP_URL: `http://127.0.0.1:${port2}` },
      documents: { ...CURRENT_DOCUMENTS, 'personal-data': { version: '2', date: '2027-01-15', template: 'documents/personal-data/1' } },
    });
    site = await serve(t.app, port);
    site2 = await serve(v2.app, port2);
    ({ context } = await noScriptContext(browser));
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await site2?.close();
    await t?.close();
    await v2?.close();
  });

  const expectAxeClean = async (p: Page = page, c: BrowserContext = context) => {
    expect(await axeViolations(browser, p.url(), c), p.url()).to.deep.equal([]);
  };
  const consentBox = (p: Page = page) => p.getByLabel('Даю согласие на обработку моих персональных данных');

  it('opens each document from the sign-up form, in Russian and in English', async () => {
    await page.goto(`${site.url}/signup`);
    for (const [link, heading] of [['Согласие на обработку персональных данных', 'Согласие на обработку персональных данных'],
      ['Согласие на получение рекламной рассылки', 'Согласие на получение рекламной рассылки'], ['Согласие на веб-аналитику', 'Согласие на веб-аналитику'],
      ['Политика обработки персональных данных', 'Политика обработки персональных данных']]) {
      await follow(page.getByRole('main').getByRole('link', { name: link, exact: true }));
      expect(await page.getByRole('heading', { level: 1 }).innerText()).to.equal(heading);
      expect(await page.locator('main').innerText()).to.include('Редакция 1').and.include('Оператор персональных данных');
      await expectAxeClean();
      await page.goBack();
    }
    await page.goto(`${site.url}/consent/personal-data?lang=en`);
    expect(await page.getByRole('heading', { level: 1 }).innerText()).to.equal('Consent to personal data processing');
    await expectAxeClean();
    await page.goto(`${site.url}/?lang=ru`);
  });

  it('refuses the sign-up without the required box, with the message beside it, and signs up once it is ticked', async () => {
    await page.goto(`${site.url}/signup`);
    for (const label of ['Даю согласие на обработку', 'Хочу получать рекламу', 'Разрешаю веб-аналитику']) {
      expect(await page.getByLabel(label).isChecked(), label).to.equal(false);
    }
    await fillSignup(page, { email, password, bouquet: 'seasonal', address: 'Москва, ул. Лесная, 3', deliveryDate: daysFromToday(4), interval: 'weekly' });
    await page.getByLabel('Хочу получать рекламу').check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    expect(new URL(page.url()).pathname).to.equal('/signup');
    expect(await page.locator('#consentPersonalData-error').innerText()).to.include('отметьте этот пункт');
    expect(await consentBox().getAttribute('aria-invalid')).to.equal('true');
    expect(await page.getByLabel('Хочу получать рекламу').isChecked()).to.equal(true);
    expect(await t.db('users').where({ email }).first()).to.equal(undefined);
    await expectAxeClean();

    await page.getByLabel('Пароль').fill(password);
    await consentBox().check();
    await follow(page.getByRole('button', { name: 'Зарегистрироваться' }));
    expect(new URL(page.url()).pathname).to.equal('/account');
    const { id } = await t.db('users').where({ email }).first('id');
    expect(await t.db('consent_events').where({ user_id: id }).orderBy('id').pluck('document')).to.deep.equal(['personal-data', 'marketing']);
  });

  it('asks again for the consent when its text has a new version, before the account, then lets the customer in', async () => {
    const { context: c2 } = await noScriptContext(browser);
    const p = await c2.newPage();
    await p.goto(`${site2.url}/login`);
    await p.getByLabel('Email').fill(email);
    await p.getByLabel('Пароль').fill(password);
    await follow(p.getByRole('button', { name: 'Войти' }));
    expect(new URL(p.url()).pathname).to.equal('/account/consent');
    expect(await p.locator('main').innerText()).to.include('Редакция 2 от 15 января 2027');
    await expectAxeClean(p, c2);
    await follow(p.getByRole('button', { name: 'Подтвердить и продолжить' }));
    expect(await p.locator('#consentPersonalData-error').innerText()).to.include('отметьте этот пункт');
    await consentBox(p).check();
    await follow(p.getByRole('button', { name: 'Подтвердить и продолжить' }));
    expect(new URL(p.url()).pathname).to.equal('/account');
    await c2.close();
  });
});
