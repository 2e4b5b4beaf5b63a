import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { axeViolations, follow, launchBrowser, noScriptContext, serve } from '../helpers/browser.js';

describe('site shell in a real browser (JavaScript disabled)', () => {
  let browser: Browser;
  let t: TestApp;
  let site: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    browser = await launchBrowser();
    t = createTestApp();
    site = await serve(t.app);
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await t?.close();
  });

  it('when a visitor opens the landing page, then it renders with its stylesheet and nothing else is requested', async () => {
    const { context, requests } = await noScriptContext(browser);
    const page = await context.newPage();
    await page.goto(`${site.url}/`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Букеты по подписке');
    const own = requests.filter((u) => !u.endsWith('/favicon.ico'));
    expect(own).to.have.length(2);
    expect(own[1]).to.match(/\/css\/site\.[0-9a-f]{10}\.css$/);
    await follow(page.getByRole('link', { name: 'English' }));
    expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Bouquets by subscription');
    await context.close();
  });

  for (const path of ['/', '/?lang=en', '/no/such/page']) {
    it(`has no accessibility violations on ${path}`, async () => {
      expect(await axeViolations(browser, `${site.url}${path}`)).to.deep.equal([]);
    });
  }
});
