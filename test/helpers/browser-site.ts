// A browser test's world: the app served on a free port (APP_URL names that port, as the cross-origin check needs)
// to Debian's Chromium, with a page in a no-JavaScript context.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort } from '../../src/embedded-postgres.js';
import { createTestApp, type TestApp } from './app.js';
import { launchBrowser, noScriptContext, serve } from './browser.js';

export type BrowserSite = { browser: Browser; t: TestApp; site: Awaited<ReturnType<typeof serve>>; context: BrowserContext; page: Page };

/** Starts the browser, the app (and its job worker when asked) and a no-JavaScript page; what started is closed if a later step fails. */
export async function openBrowserSite(options: { worker?: boolean } = {}): Promise<BrowserSite> {
  const opened: Partial<BrowserSite> = {};
  try {
    opened.browser = await launchBrowser();
    const port = await freePort();
    opened.t = createTestApp({ env: { APP_URL: `http://127.0.0.1:${port}` } });
    if (options.worker) await opened.t.startWorker();
    opened.site = await serve(opened.t.app, port);
    ({ context: opened.context } = await noScriptContext(opened.browser));
    opened.page = await opened.context.newPage();
    return opened as BrowserSite;
  } catch (error) {
    await closeBrowserSite(opened);
    throw error;
  }
}

export async function closeBrowserSite(s: Partial<BrowserSite>): Promise<void> {
  await s.browser?.close();
  await s.site?.close();
  await s.t?.close();
}
