// The staff area in Chromium with JavaScript disabled: sign in, follow the overview's links, move between days,
// search, open a customer, re-sync, refresh its amoCRM history; axe and a 360 px viewport on every staff page; the courier list printed on A4.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { todayIn } from '../../src/i18n/i18n.js';
import { axeContext, axeOn, follow, launchBrowser, noScriptContext, serve } from '../helpers/browser.js';
import { createSyncLogModel } from '../../src/models/sync-log-model.js';
import { addDays, insertCustomers, insertOrder, STAFF_PASSWORD, staffWorld, type StaffWorld } from '../staff/helpers.js';

/** Runs in the page: how wide the document is (wider than the viewport means sideways scrolling). */
const pageWidth = () => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth;

/**
 * Runs in the page: every word of every table cell that is drawn on more than one line (a word broken inside
 * itself, like «127880» as «12788 / 0»), with the cell it is in. A word's characters give one rectangle per line;
 * the parts of a hyphenated word count as words (a line may end after a hyphen).
 */
const WORDS_BROKEN = `(() => {
  const broken = [];
  for (const cell of document.querySelectorAll('main td, main th')) {
    const texts = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = texts.nextNode(); node; node = texts.nextNode()) {
      for (const word of node.textContent.matchAll(/[^\\s-]+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(word[0] + ' in «' + cell.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60) + '»');
      }
    }
  }
  return broken;
})()`;

describe('staff area in a real browser (JavaScript disabled)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let w: StaffWorld;
  let site: Awaited<ReturnType<typeof serve>>;
  let context: BrowserContext;
  let requests: string[];
  let page: Page;
  let customerId: number;
  const today = todayIn('Europe/Moscow');

  before(async () => {
    browser = await launchBrowser();
    w = await staffWorld();
    site = await serve(w.t.app);
    const streets = ['Садовая', 'Лесная', 'Полевая', 'Речная', 'Школьная', 'Набережная'];
    const ids = await insertCustomers(w.t.db, Array.from({ length: 55 }, (_, i) => ({
      email: `courier${i}.${['ivanova', 'petrov', 'sidorova'][i % 3]}@${['mail.ru', 'yandex.ru'][i % 2]}`,
      address: `г. Москва, ул. ${streets[i % 6]}, д. ${i + 1}, кв. ${(i * 17) % 300 + 1}, подъезд ${i % 5 + 1}`,
      deliveryDate: addDays(today, -7 * (i % 4)), interval: 'weekly' as const,
      wishes: ['Позвонить за час до доставки', '', 'Без лилий — аллергия', 'Оставить у консьержа'][i % 4]!,
      bouquet: (['romantic', 'seasonal', 'luxe'] as const)[i % 3],
    })));
    customerId = ids[0]!;
    await insertOrder(w.t.db, { userId: customerId, deliveryDate: today, status: 'confirmed', address: 'г. Москва, ул. Садовая, д. 1, офис 3' });
    await w.t.db('users').where({ id: customerId }).update({ amo_lead_id: 9001, amo_contact_id: 9002 });
    // The lead's history as the job keeps it: a manager's long note, a call, a stage move, the lead's creation.
    await w.t.db('amocrm_lead_history').insert({ user_id: customerId, lead_id: 9001, fetched_at: new Date(), entries: JSON.stringify([
      { kind: 'note', at: new Date(Date.now() - 3600_000).toISOString(), author: 'Ольга Менеджер', text: 'Клиентка просила звонить после 18:00, в выходные не беспокоить.\nВ следующий раз предложить пионы вместо роз.' },
      { kind: 'note', at: new Date(Date.now() - 7200_000).toISOString(), author: 'Ольга Менеджер', text: 'Входящий звонок: 2 мин 15 с' },
      { kind: 'event', at: new Date(Date.now() - 86_400_000).toISOString(), author: 'Администратор', text: 'Этап: Новая заявка → Подписка активна' },
      { kind: 'event', at: new Date(Date.now() - 2 * 86_400_000).toISOString(), text: 'Сделка создана' },
    ]) });
    // The amoCRM page as an installation has it: the eight fields found (six-digit ids), attempts of every outcome.
    const roles = ['sum', 'bouquet', 'address', 'deliveryDate', 'interval', 'wishes', 'email', 'referralLink'];
    await w.t.db('amocrm_fields').insert(roles.map((role, i) => ({ role, name: role, field_id: 1278804 + i * 1013, type: 'text' })));
    const log = createSyncLogModel(w.t.db);
    for (const [outcome, httpStatus, message] of [['ok', null, 'created'], ['ok', null, 'updated'], ['retry', 504, 'PATCH /api/v4/leads/31524217: 504'],
      ['failed', 400, 'POST /api/v4/leads/complex: 400 Request validation failed'], ['paused', null, 'not sent: needs re-authorization'], ['skipped', null, 'skipped']] as const) {
      await log.record({ task: 'amocrm:sync-customer', userId: customerId, jobId: '1', attempt: 1, outcome, httpStatus, message, details: { validation: [] } });
    }
    ({ context, requests } = await noScriptContext(browser));
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await w?.close();
  });

  it('when staff signs in, then the overview leads to the day\'s deliveries, the next day, a customer and a re-sync — all without JavaScript', async () => {
    await page.goto(`${site.url}/login`);
    await page.getByLabel('Email').fill(w.staffEmail);
    await page.getByLabel('Пароль').fill(STAFF_PASSWORD);
    await follow(page.getByRole('button', { name: 'Войти' }));
    expect(new URL(page.url()).pathname).to.equal('/staff');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).to.equal('Обзор');

    await follow(page.getByRole('link', { name: /Доставок сегодня/ }));
    expect(new URL(page.url()).pathname).to.equal('/staff/deliveries');
    expect(await page.locator('ol.s-runs > li').count()).to.equal(50);
    expect(await page.getByRole('heading', { level: 2 }).first().textContent()).to.equal('Доставки 1–50 из 56, по адресу');
    await follow(page.getByRole('link', { name: 'Дальше →' }));
    expect(await page.locator('ol.s-runs > li').count()).to.equal(6);
    await follow(page.getByRole('link', { name: 'Следующий день →' }));
    expect(new URL(page.url()).search).to.equal(`?date=${addDays(today, 1)}`);
    await page.getByLabel('Другой день').fill(today);
    await follow(page.getByRole('button', { name: 'Показать' }));
    expect(new URL(page.url()).search).to.equal(`?date=${today}`);

    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: /Скачать весь день в CSV/ }).click();
    const csv = readFileSync((await (await download).path())!);
    expect([...csv.subarray(0, 3)]).to.deep.equal([0xef, 0xbb, 0xbf]);
    expect(csv.toString('utf8').trim().split('\r\n')).to.have.length(57);

    await follow(page.getByRole('navigation', { name: 'Раздел сотрудников' }).getByRole('link', { name: 'Клиенты' }));
    await page.getByLabel('Email, адрес или номер').fill('courier0.ivanova');
    await follow(page.getByRole('button', { name: 'Найти' }));
    await follow(page.getByRole('link', { name: 'courier0.ivanova@mail.ru' }));
    expect(new URL(page.url()).pathname).to.equal(`/staff/customers/${customerId}`);
    expect(await page.getByRole('link', { name: '9001' }).getAttribute('href')).to.match(/\/leads\/detail\/9001$/);
    await follow(page.getByRole('button', { name: 'Отправить в amoCRM заново' }));
    expect(new URL(page.url()).pathname).to.equal(`/staff/customers/${customerId}`);
    expect(await page.locator('body').innerText({ timeout: 5000 })).to.include('Клиент поставлен в очередь на отправку в amoCRM.');
    const history = page.getByRole('region', { name: 'История в amoCRM' });
    expect(await history.locator('li').count()).to.equal(4);
    expect(await history.locator('li').first().innerText()).to.include('Ольга Менеджер').and.include('после 18:00');
    await follow(history.getByRole('button', { name: 'Обновить' }));
    expect(new URL(page.url()).pathname).to.equal(`/staff/customers/${customerId}`);
    expect(await page.locator('body').innerText({ timeout: 5000 })).to.include('История обновится через минуту.');
    expect(await history.innerText()).to.include('загружается');

    const own = requests.filter((u) => u.startsWith(site.url) && !u.endsWith('/favicon.ico'));
    expect(own.filter((u) => !/\/css\/site\.[0-9a-f]{10}\.css$/.test(u)).every((u) => new URL(u).pathname.startsWith('/staff') || ['/login'].includes(new URL(u).pathname))).to.equal(true);
    expect(requests.filter((u) => /\.(js|mjs|png|jpe?g|gif|svg|webp|woff2?)(\?|$)/.test(u))).to.deep.equal([]);
  });

  const PAGES = () => ['/staff', '/staff/deliveries', `/staff/deliveries?date=${addDays(today, 1)}`, '/staff/customers', '/staff/customers?q=courier',
    '/staff/customers?q=zz', `/staff/customers/${customerId}`, '/staff/amocrm', '/staff?lang=en', '/staff/deliveries?lang=en'];

  it('when every staff page is checked with axe, then there are no violations', async () => {
    const axe = await axeContext(browser, context);
    const p = await axe.newPage();
    for (const path of PAGES()) {
      await p.goto(`${site.url}${path}`);
      expect(await axeOn(p), path).to.deep.equal([]);
    }
    await axe.close();
  });

  it('when every staff page is shown 360 px wide, then nothing scrolls sideways and no word in a table breaks inside itself', async () => {
    const narrow = await browser.newContext({ javaScriptEnabled: true, viewport: { width: 360, height: 800 }, locale: 'ru-RU', storageState: await context.storageState() });
    const p = await narrow.newPage();
    let cells = 0;
    for (const path of [...PAGES(), '/staff/amocrm?lang=en']) {
      await p.goto(`${site.url}${path}`);
      expect(await p.evaluate(pageWidth), path).to.be.at.most(360);
      expect(await p.evaluate(WORDS_BROKEN), path).to.deep.equal([]);
      cells += await p.locator('main td').count();
      if (path.startsWith('/staff/amocrm')) expect(await axeOn(p), `${path} stacked`).to.deep.equal([]); // its tables become lists here
    }
    expect(cells, 'table cells looked at').to.be.greaterThan(20);
    await narrow.close();
  });

  it('when the deliveries are printed, then only the list is printed and 50 deliveries fit on two A4 sheets', async () => {
    const printing = await browser.newContext({ javaScriptEnabled: true, viewport: { width: 700, height: 1000 }, locale: 'ru-RU', storageState: await context.storageState() });
    const p = await printing.newPage();
    await p.goto(`${site.url}/staff/deliveries?date=${today}`);
    await p.emulateMedia({ media: 'print' });
    expect(await p.locator('.staff-nav').isVisible()).to.equal(false);
    expect(await p.locator('form.s-form').isVisible()).to.equal(false);
    expect(await p.locator('.s-bar').first().isVisible()).to.equal(false);
    expect(await p.locator('ol.s-runs').isVisible()).to.equal(true);
    expect(await p.evaluate(pageWidth)).to.be.at.most(700);
    const pdf = (await p.pdf({ format: 'A4', preferCSSPageSize: true })).toString('latin1');
    const sheets = pdf.match(/\/Type\s*\/Page[^s]/g)?.length ?? 0;
    expect(sheets).to.be.within(1, 2);
    await printing.close();
  });
});
