// A reminder mail's skip link in a real browser with JavaScript disabled and no login: the mail read from the SMTP
// server, the link opened, the button pressed, the result seen; the pages axe clean (and checked by vnu at the end).
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort } from '../../src/embedded-postgres.js';
import { formatDate } from '../../src/i18n/i18n.js';
import { axeContext, axeOn, axeViolations, follow, launchBrowser, noScriptContext, serve } from '../helpers/browser.js';
import { daysFromToday } from '../helpers/client.js';
import { waitForMail } from '../helpers/smtp.js';
import { addDays } from '../staff/helpers.js';
import { customersOn, reminderWorld, type ReminderWorld } from '../reminders/helpers.js';

describe('a reminder mail\'s links in a real browser (JavaScript disabled, not logged in)', () => {
  let browser: Browser;
  let w: ReminderWorld;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let page: Page;

  before(async () => {
    browser = await launchBrowser();
    const port = await freePort();
    w = await reminderWorld({ APP_URL: `http://127.0.0.1:${port}` });
    site = await serve(w.t.app, port);
    ({ context } = await noScriptContext(browser));
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await w?.close();
  });

  it('skips the delivery from the mailed link: the page says what will happen, one button, then the result; the link is used up', async () => {
    const date = daysFromToday(2);
    const [c] = await customersOn(w.t, date, 1, { prefix: 'e2e-remind' });
    await w.services.reminders.plan(date);
    await w.t.startWorker();
    const mail = await waitForMail(c!.email);
    const [skip, move] = mail.links.filter((l) => l.startsWith(`${site.url}/m/`));

    await page.goto(skip!);
    expect(await page.getByRole('heading', { level: 1 }).innerText()).to.equal('Пропустить доставку');
    expect(await page.locator('main').innerText()).to.include(`Доставка ${formatDate(date)} будет пропущена.`);
    expect(await page.getByRole('button').count()).to.equal(1);
    expect(await axeViolations(browser, skip!, context)).to.deep.equal([]);
    expect(await w.t.db('delivery_exceptions').where({ user_id: c!.id })).to.have.length(0);

    await follow(page.getByRole('button', { name: 'Пропустить доставку' }));
    expect(await page.getByRole('status').innerText()).to.equal(`Доставка ${formatDate(date)} пропущена.`);
    expect(await w.t.db('delivery_exceptions').where({ user_id: c!.id }).select('kind', 'source')).to.deep.equal([{ kind: 'skip', source: 'mail' }]);
    expect(await context.cookies()).to.deep.equal([]); // no session for a mail link

    const again = await page.goto(skip!);
    expect(again!.status()).to.equal(410);
    expect(await page.getByRole('heading', { level: 1 }).innerText()).to.equal('Ссылка уже использована');
    expect(await axeViolations(browser, skip!, context)).to.deep.equal([]);

    // The move link of the same mail: the delivery is skipped now, so there is nothing to move (409).
    const gone = await page.goto(move!);
    expect(gone!.status()).to.equal(409);
    expect(await axeViolations(browser, move!, context)).to.deep.equal([]);
  });

  it('moves a delivery with the date field of the move page; the error next to the field and the result page are axe clean', async () => {
    const date = daysFromToday(3);
    const [c] = await customersOn(w.t, date, 1, { prefix: 'e2e-move' });
    await w.services.reminders.plan(date);
    const mail = await waitForMail(c!.email);
    const move = mail.links.filter((l) => l.startsWith(`${site.url}/m/`))[1]!;
    const axe = await axeContext(browser);
    try {
      const checked = await axe.newPage();
      await checked.goto(move);
      expect(await axeOn(checked)).to.deep.equal([]);
      await checked.getByLabel('Новая дата доставки').fill(addDays(date, 30));
      await follow(checked.getByRole('button', { name: 'Перенести доставку' }));
      expect(await checked.locator('#newDate-error').innerText()).to.equal('Выберите день из допустимого диапазона.');
      expect(await axeOn(checked)).to.deep.equal([]);
      await checked.getByLabel('Новая дата доставки').fill(addDays(date, 1));
      await follow(checked.getByRole('button', { name: 'Перенести доставку' }));
      expect(await checked.getByRole('status').innerText()).to.equal(`Доставка ${formatDate(date)} перенесена на ${formatDate(addDays(date, 1))}.`);
      expect(await axeOn(checked)).to.deep.equal([]);
    } finally {
      await axe.close();
    }
  });
});
