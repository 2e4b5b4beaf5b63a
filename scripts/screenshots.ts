// Takes 360 px and 1280 px screenshots of pages of a running site, for looking at them:
//   npx tsx scripts/screenshots.ts http://127.0.0.1:3000 / /signup /login   → var/screenshots/*.png
// A "Cookie: name=value" may be given with --cookie to see pages behind a login.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser } from '../test/helpers/browser.js';

const args = process.argv.slice(2);
const cookieAt = args.indexOf('--cookie');
const cookie = cookieAt >= 0 ? args.splice(cookieAt, 2)[1] : undefined;
const [base, ...paths] = args;
if (!base || !paths.length) {
  console.error('usage: tsx scripts/screenshots.ts <base-url> <path>... [--cookie name=value]');
  process.exit(2);
}
const out = path.resolve('var', 'screenshots');
mkdirSync(out, { recursive: true });
const browser = await launchBrowser();
for (const width of [360, 1280]) {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width, height: 900 }, locale: 'ru-RU' });
  if (cookie) {
    const [name, ...rest] = cookie.split('=');
    await context.addCookies([{ name: name!, value: rest.join('='), url: base }]);
  }
  const page = await context.newPage();
  for (const p of paths) {
    await page.goto(new URL(p, base).toString());
    const file = path.join(out, `${p.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '') || 'home'}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(file);
  }
  await context.close();
}
await browser.close();
