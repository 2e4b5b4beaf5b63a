// Debian's Chromium driven by playwright-core: page flows with JavaScript disabled, axe checks in a
// JavaScript-enabled context (our pages have no scripts, so nothing else differs).
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import type { Express } from 'express';
import { recordPage } from './vnu.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Browser tests need Debian's Chromium at ${CHROMIUM}: run "apt-get install -y chromium" (the CI script does).`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** A no-JavaScript context, as the site's customers may use it; every request it makes is recorded. */
export async function noScriptContext(browser: Browser, options: { width?: number } = {}) {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: options.width ?? 360, height: 800 }, locale: 'ru-RU' });
  const requests: string[] = [];
  context.on('request', (r) => requests.push(r.url()));
  return { context, requests };
}

/** axe on a page as it is now; the page's context must have JavaScript enabled (axe runs as a script). */
export async function axeOn(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** axe on a URL, loaded in a JavaScript-enabled copy of the given context (same cookies, same language). */
export async function axeViolations(browser: Browser, url: string, from?: BrowserContext) {
  const context = await axeContext(browser, from);
  try {
    const page = await context.newPage();
    await page.goto(url);
    return await axeOn(page);
  } finally {
    await context.close();
  }
}

/** Fails with the page's URL and axe's findings when the page, as it is in this context, is not axe-clean. */
export async function expectAxeClean(browser: Browser, page: Page, context: BrowserContext): Promise<void> {
  expect(await axeViolations(browser, page.url(), context), page.url()).to.deep.equal([]);
}

export async function axeContext(browser: Browser, from?: BrowserContext): Promise<BrowserContext> {
  return browser.newContext({ javaScriptEnabled: true, locale: 'ru-RU', storageState: from ? await from.storageState() : undefined });
}

/**
 * Serves an Express app on 127.0.0.1 (a free port unless given) for the browser. Every HTML page it serves is
 * saved for the W3C Nu Html Checker at the end of the run (test/helpers/vnu.ts).
 */
export async function serve(app: Express, port = 0): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = createServer((req, res) => {
      recordPage(req, res);
      app(req, res);
    }).listen(port, '127.0.0.1', () => resolve(s));
  });
  const { port: listening } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${listening}`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * Clicks a link or submit button and waits until the page it leads to has loaded. With JavaScript off a form
 * submission is a plain navigation that a click alone may not wait for, so a test could read the old page.
 */
export async function follow(target: Locator): Promise<void> {
  const loaded = target.page().waitForEvent('load');
  await target.click();
  await loaded;
}

/** Fills the sign-up form's account and bouquet fields (the consent boxes are left to the test). */
export async function fillSignup(page: Page, form: {
  email: string; password: string; bouquet: string; address: string; deliveryDate: string; interval: string; wishes?: string;
}): Promise<void> {
  await page.getByLabel('Email').fill(form.email);
  await page.getByLabel('Пароль').fill(form.password);
  await page.getByLabel('Категория букета').selectOption(form.bouquet);
  await page.getByLabel('Адрес доставки').fill(form.address);
  await page.getByLabel('Дата первой доставки').fill(form.deliveryDate);
  await page.getByLabel('Как часто привозить букеты').selectOption(form.interval);
  if (form.wishes !== undefined) await page.getByLabel('Пожелания к букетам').fill(form.wishes);
}
