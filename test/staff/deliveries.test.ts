// GET /staff/deliveries and /staff/deliveries.csv: every subscription delivery and confirmed order of the day,
// sorted by address, with links to the days around it, paged, and as CSV for Excel.
import { expect } from 'chai';
import type { Response } from 'supertest';
import { todayIn } from '../../src/i18n/i18n.js';
import { pageProblems } from '../helpers/pages.js';
import { addDays, insertCustomers, insertOrder, staffWorld, type StaffWorld } from './helpers.js';

const DAY = '2031-03-31'; // a Monday at a month's end

/**
 * A CSV file read the way a spreadsheet reads it (RFC 4180): records end at CRLF outside quotes, a `"` opens and
 * closes quoting, `""` inside quotes is one quote, the separator is a parameter. Where RFC 4180 leaves text after
 * a closing quote undefined (the file read with the other separator), the quote goes on toggling quoting, as
 * Excel and LibreOffice do. A leading byte-order mark is not part of the first cell.
 */
function parseCsv(text: string, separator: ';' | ','): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  const source = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i]!;
    if (quoted) {
      if (c === '"' && source[i + 1] === '"') { cell += '"'; i += 1; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === separator) { record.push(cell); cell = ''; } else if (c === '\r' && source[i + 1] === '\n') {
      record.push(cell); records.push(record); record = []; cell = ''; i += 1;
    } else cell += c;
  }
  if (quoted) throw new Error('CSV ends inside a quoted cell');
  if (cell !== '' || record.length) { record.push(cell); records.push(record); }
  return records;
}

/** The response body as bytes (supertest would otherwise decode text/csv as a string). */
function bytes(r: Response, done: (err: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = [];
  r.on('data', (c: Buffer) => chunks.push(c));
  r.on('end', () => done(null, Buffer.concat(chunks)));
}

/** The addresses of the deliveries list, in page order. */
function addressesOf(html: string): string[] {
  const list = /<ol class="s-runs"[^>]*>([\s\S]*?)<\/ol>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<strong>([^<]*)<\/strong>/g)].map((m) => m[1]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&'));
}

describe('GET /staff/deliveries', function () {
  this.timeout(60_000);
  let w: StaffWorld;
  const ids: Record<string, number> = {};
  const orders: Record<string, number> = {};
  before(async () => {
    w = await staffWorld();
    const seeds = {
      weekly: { email: 'weekly@example.ru', address: 'ул. Вишнёвая, 3', deliveryDate: addDays(DAY, -14), interval: 'weekly' as const, bouquet: 'romantic' as const, wishes: 'Без лилий' },
      biweeklyOff: { email: 'biweekly-off@example.ru', address: 'ул. Абрикосовая, 1', deliveryDate: addDays(DAY, -7), interval: 'biweekly' as const },
      biweekly: { email: 'biweekly@example.ru', address: 'ул. Грушевая, 7', deliveryDate: addDays(DAY, -28), interval: 'biweekly' as const, bouquet: 'luxe' as const },
      monthly31: { email: 'monthly31@example.ru', address: 'пр-т Берёзовый, 2', deliveryDate: '2031-01-31', interval: 'monthly' as const },
      monthly30: { email: 'monthly30@example.ru', address: 'ул. Дубовая, 4', deliveryDate: '2030-12-30', interval: 'monthly' as const },
      future: { email: 'future@example.ru', address: 'ул. Еловая, 5', deliveryDate: addDays(DAY, 7), interval: 'weekly' as const },
    };
    for (const [key, seed] of Object.entries(seeds)) ids[key] = (await insertCustomers(w.t.db, [seed]))[0]!;
    orders.confirmed = await insertOrder(w.t.db, { userId: ids.biweeklyOff!, deliveryDate: DAY, status: 'confirmed', address: 'ул. Бузиновая, 9', bouquet: 'seasonal', wishes: 'Позвонить за час' });
    orders.placed = await insertOrder(w.t.db, { userId: ids.weekly!, deliveryDate: DAY, status: 'placed', address: 'ул. Ивовая, 1' });
    orders.cancelled = await insertOrder(w.t.db, { userId: ids.weekly!, deliveryDate: DAY, status: 'cancelled', address: 'ул. Ивовая, 2' });
    orders.tomorrow = await insertOrder(w.t.db, { userId: ids.weekly!, deliveryDate: addDays(DAY, 1), status: 'confirmed', address: 'ул. Ивовая, 3' });
  });
  after(() => w.close());

  it('when staff opens a day, then every subscription delivery and confirmed order of it is listed by address with email, bouquet, wishes and order number', async () => {
    const page = await w.staff.get(`/staff/deliveries?date=${DAY}`).expect(200);
    expect(page.text).to.include('<h1>Доставки на 31 марта 2031</h1>');
    expect(addressesOf(page.text)).to.deep.equal(['пр-т Берёзовый, 2', 'ул. Бузиновая, 9', 'ул. Вишнёвая, 3', 'ул. Грушевая, 7']);
    const items = page.text.split('<li>').slice(1).join('<li>');
    expect(items).to.include('Сезонный · заказ №' + orders.confirmed).and.include('biweekly-off@example.ru').and.include('Позвонить за час');
    expect(items).to.include('Романтический · подписка').and.include('weekly@example.ru').and.include('Без лилий');
    expect(items).to.include('Люкс · подписка').and.include('biweekly@example.ru');
    expect(items).to.include('monthly31@example.ru'); // 31 January → 31 March
    for (const absent of ['monthly30@example.ru', 'future@example.ru', 'ул. Ивовая', 'ул. Абрикосовая']) expect(items).not.to.include(absent);
    expect(page.text).to.include(`href="/staff/customers/${ids.weekly}"`);
    expect(page.text).to.include('Доставки 1–4 из 4, по адресу');
  });

  it('when staff opens a day, then it links to the previous and next day and to the whole day as CSV', async () => {
    const page = await w.staff.get(`/staff/deliveries?date=${DAY}`).expect(200);
    expect(page.text).to.include('href="/staff/deliveries?date=2031-03-30"').and.include('href="/staff/deliveries?date=2031-04-01"');
    expect(page.text).to.include(`href="/staff/deliveries.csv?date=${DAY}"`);
    const next = await w.staff.get('/staff/deliveries?date=2031-04-01').expect(200);
    expect(addressesOf(next.text)).to.deep.equal(['ул. Ивовая, 3']); // the confirmed order of the 1st; no monthly on the 1st
    const shortMonth = await w.staff.get('/staff/deliveries?date=2031-04-30').expect(200);
    expect(shortMonth.text).to.include('monthly31@example.ru').and.include('monthly30@example.ru'); // the 31st and the 30th both fall on 30 April
  });

  it('when no date is given, then it shows today in the shop time zone', async () => {
    const today = todayIn('Europe/Moscow');
    const [id] = await insertCustomers(w.t.db, [{ email: 'today@example.ru', address: 'ул. Сегодняшняя, 1', deliveryDate: today, interval: 'monthly' }]);
    const page = await w.staff.get('/staff/deliveries').expect(200);
    expect(page.text).to.include(`href="/staff/deliveries?date=${addDays(today, 1)}"`);
    expect(page.text).to.include(`href="/staff/customers/${id}"`);
    expect(page.text).not.to.include('>Сегодня</a>'); // no "back to today" link on today
  });

  it('when the date or page is malformed, then 400 and no database error', async () => {
    for (const q of ['date=2031-02-30', 'date=31.03.2031', 'date=abc', `date=${DAY}&page=0`, `date=${DAY}&page=x`, 'date=2031-03-31&date=2031-04-01']) {
      await w.staff.get(`/staff/deliveries?${q}`).expect(400);
    }
    await w.staff.get('/staff/deliveries.csv?date=2031-13-01').expect(400);
  });

  it('when a day has more than 50 deliveries, then they come 50 a page, numbered on, with links between pages', async () => {
    const day = '2032-06-09'; // a Wednesday: none of the subscriptions above
    await insertCustomers(w.t.db, Array.from({ length: 120 }, (_, i) => ({
      address: `ул. Страничная, ${String(i).padStart(3, '0')}`, deliveryDate: addDays(day, -7 * (i % 5)), interval: 'weekly' as const,
    })));
    const first = await w.staff.get(`/staff/deliveries?date=${day}`).expect(200);
    expect(addressesOf(first.text)).to.have.length(50);
    expect(addressesOf(first.text)[0]).to.equal('ул. Страничная, 000');
    expect(first.text).to.include('Доставки 1–50 из 120').and.include(`href="/staff/deliveries?date=${day}&amp;page=2"`).and.include('start="1"');
    const third = await w.staff.get(`/staff/deliveries?date=${day}&page=3`).expect(200);
    expect(addressesOf(third.text)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `ул. Страничная, ${String(100 + i).padStart(3, '0')}`));
    expect(third.text).to.include('start="101"').and.include(`page=2" rel="prev"`).and.not.include('rel="next"');
    const beyond = await w.staff.get(`/staff/deliveries?date=${day}&page=9`).expect(200);
    expect(addressesOf(beyond.text)).to.deep.equal([]);
  });

  it('when staff downloads a day as CSV, then it is UTF-8 with BOM, semicolon-separated, sorted like the page, wishes whole and formulas defused', async () => {
    const day = '2033-02-17'; // a Thursday
    const long = `${'Очень длинное пожелание; '.repeat(10)}конец`;
    await insertCustomers(w.t.db, [
      { email: 'csv-b@example.ru', address: 'ул. "Кавычки", 2', deliveryDate: day, interval: 'weekly', wishes: long },
      { email: 'csv-a@example.ru', address: 'ул. Абрикосовая, 1', deliveryDate: day, interval: 'monthly', wishes: '=HYPERLINK("http://evil.example","нажми")' },
    ]);
    const res = await w.staff.get(`/staff/deliveries.csv?date=${day}`).buffer(true).parse(bytes).expect(200);
    expect(res.headers['content-type']).to.equal('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).to.equal(`attachment; filename="deliveries-${day}.csv"`);
    expect(res.headers['cache-control']).to.equal('no-store');
    const body = res.body as Buffer;
    expect([...body.subarray(0, 3)]).to.deep.equal([0xef, 0xbb, 0xbf]);
    const lines = body.toString('utf8').slice(1).split('\r\n');
    expect(lines[0]).to.equal('"№";"Дата";"Адрес";"Email";"Букет";"Пожелания";"Заказ";"Тип";"Получатель";"Телефон получателя";"Открытка"');
    expect(lines[1]).to.equal(`"1";"${day}";"ул. ""Кавычки"", 2";"csv-b@example.ru";"Сезонный";"${long}";"";"подписка";"";"";""`);
    expect(lines[2]).to.equal(`"2";"${day}";"ул. Абрикосовая, 1";"csv-a@example.ru";"Сезонный";"'=HYPERLINK(""http://evil.example"",""нажми"")";"";"подписка";"";"";""`);
    expect(lines[3]).to.equal('');
    const page = await w.staff.get(`/staff/deliveries?date=${day}`).expect(200);
    expect(page.text).not.to.include('конец'); // the page shows long wishes cut
  });

  it('when a cell hides a formula after a comma, then neither a semicolon nor a comma reading of the CSV has a cell starting with = + - @ or a tab', async () => {
    const day = '2033-04-23'; // a Saturday: no other test's subscription falls on it
    const evil = ['ул. Мира 1,=HYPERLINK("http://evil.example","нажми")', 'кв. 5,+1+cmd|\' /C calc\'!A0', 'этаж 2,-2+3', 'подъезд 1,@SUM(1)',
      'код,\t=1+1', ' =1+1', '\t+1', 'ок;=1+1', 'ок\r\n=1+1'];
    await insertCustomers(w.t.db, evil.map((text, i) => ({
      email: `csv-${i}@example.ru`, address: text, wishes: `Позвонить за час,${text}`, deliveryDate: day, interval: 'weekly' as const,
    })));
    const res = await w.staff.get(`/staff/deliveries.csv?date=${day}`).buffer(true).parse(bytes).expect(200);
    const text = (res.body as Buffer).toString('utf8');
    const bySemicolon = parseCsv(text, ';');
    expect(bySemicolon).to.have.length(1 + evil.length);
    for (const record of bySemicolon) expect(record).to.have.length(11);
    const addresses = bySemicolon.slice(1).map((r) => r[2]);
    expect(addresses).to.have.members(evil.map((e) => (/^\s*[=+\-@]|^[\t\r]/.test(e) ? `'${e}` : e))); // whole, only defused
    const byComma = parseCsv(text, ',');
    const dangerous = [...bySemicolon, ...byComma].flat().filter((c) => /^\s*[=+\-@]|^[\t\r]/.test(c));
    expect(dangerous).to.deep.equal([]);
  });

  it('when deliveries are skipped, moved, paused or cancelled, then the page and the CSV list only those that happen, a moved one on its new day', async () => {
    const day = '2035-05-14'; // a Monday
    const seeds = ['kept', 'skipped', 'moved-away', 'moved-in', 'paused', 'cancelled'].map((name, i) => ({
      email: `${name}@example.ru`, address: `ул. Тюльпанная, ${i + 1}`, deliveryDate: name === 'moved-in' ? addDays(day, -8) : addDays(day, -14), interval: 'weekly' as const,
    }));
    const [, skipped, movedAway, movedIn, paused, cancelled] = await insertCustomers(w.t.db, seeds);
    await w.t.db('delivery_exceptions').insert([
      { user_id: skipped, scheduled_date: day, kind: 'skip', source: 'account' },
      { user_id: movedAway, scheduled_date: day, kind: 'move', new_date: addDays(day, 2), source: 'mail' },
      { user_id: movedIn, scheduled_date: addDays(day, -1), kind: 'move', new_date: day, source: 'staff' },
    ]);
    await w.t.db('users').where({ id: paused }).update({ paused_from: addDays(day, -3), paused_until: addDays(day, 1) });
    await w.t.db('users').where({ id: cancelled }).update({ cancelled_at: new Date(), cancel_reason: 'moving' });
    const page = await w.staff.get(`/staff/deliveries?date=${day}`).expect(200);
    const ours = (html: string) => addressesOf(html).filter((a) => a.startsWith('ул. Тюльпанная'));
    expect(ours(page.text)).to.deep.equal(['ул. Тюльпанная, 1', 'ул. Тюльпанная, 4']);
    const csv = await w.staff.get(`/staff/deliveries.csv?date=${day}`).expect(200);
    expect(csv.text).to.include('kept@example.ru').and.include('moved-in@example.ru');
    for (const absent of ['skipped@', 'moved-away@', 'paused@', 'cancelled@']) expect(csv.text).not.to.include(absent);
    const later = await w.staff.get(`/staff/deliveries.csv?date=${addDays(day, 2)}`).expect(200);
    const laterLines = later.text.split('\r\n').filter((line) => line.includes('Тюльпанная'));
    expect(laterLines).to.have.length(1);
    expect(laterLines[0]).to.include('moved-away@example.ru');
  });

  it('when a full page has realistic long entries, then it still weighs ≤ 10 KB gzip with the stylesheet and passes the page checks', async () => {
    const day = '2034-09-08'; // a Friday
    const streets = ['Садовая', 'Лесная', 'Полевая', 'Речная', 'Школьная', 'Набережная', 'Советская', 'Гагарина'];
    const wishes = ['Больше зелени, без роз', 'Позвонить за час до доставки, домофон не работает', '', 'Только белые цветы, можно эвкалипт', 'Оставить у консьержа'];
    await insertCustomers(w.t.db, Array.from({ length: 60 }, (_, i) => ({
      email: `${['ivan', 'olga', 'anna', 'sergey'][i % 4]}.${['petrov', 'smirnova', 'kuznetsov'][i % 3]}${i}@${['mail.ru', 'yandex.ru', 'gmail.com'][i % 3]}`,
      address: `г. Москва, ул. ${streets[i % 8]}, д. ${(i * 7) % 150 + 1}, кв. ${(i * 13) % 400 + 1}, подъезд ${i % 6 + 1}`,
      deliveryDate: day, interval: 'weekly' as const, wishes: wishes[i % 5]!, bouquet: (['romantic', 'seasonal', 'luxe'] as const)[i % 3],
    })));
    const page = await w.staff.get(`/staff/deliveries?date=${day}`).expect(200);
    expect(addressesOf(page.text)).to.have.length(50);
    expect(await pageProblems(page.text, { budget: 10 * 1024 })).to.deep.equal([]);
    expect(page.text).not.to.match(/<img\b|<script\b/i);
  });

  describe('gift orders', () => {
    const day = '2036-07-15'; // a Tuesday: no other test's delivery falls on it
    let gift: number;
    let plain: number;
    let evil: number;
    before(async () => {
      const [customer] = await insertCustomers(w.t.db, [{ email: 'giver@example.ru', address: 'ул. Дарителей, 1', deliveryDate: addDays(day, 1), interval: 'weekly' }]);
      gift = await insertOrder(w.t.db, { userId: customer!, deliveryDate: day, address: 'ул. Подарочная, 5, кв. 2', bouquet: 'romantic', wishes: 'Без лилий',
        gift: { recipientName: 'Анна Петрова', recipientPhone: '+79123456789', cardMessage: 'С днём рождения!\nЛюбим, целуем.' } });
      plain = await insertOrder(w.t.db, { userId: customer!, deliveryDate: day, address: 'ул. Подарочная, 7' });
      evil = await insertOrder(w.t.db, { userId: customer!, deliveryDate: day, address: 'ул. Подарочная, 9',
        gift: { recipientName: '=cmd|\' /C calc\'!A0', recipientPhone: '+74951234567', cardMessage: '@SUM(1)' } });
    });

    it('when a day has a gift order, then the list shows the recipient\'s name and phone with the address, and the card message on its own line', async () => {
      const page = await w.staff.get(`/staff/deliveries?date=${day}`).expect(200);
      expect(addressesOf(page.text)).to.deep.equal(['ул. Подарочная, 5, кв. 2', 'ул. Подарочная, 7', 'ул. Подарочная, 9']);
      const item = page.text.split('<li>').find((li) => li.includes('ул. Подарочная, 5'))!;
      expect(item).to.include(`заказ №${gift}`).and.include('<q>Без лилий</q>');
      expect(item).to.include('<span class="s-gift">Подарок, получатель — Анна Петрова, <a href="tel:+79123456789">+7\u00a0912\u00a0345\u201167\u201189</a></span>');
      expect(item).to.include('<span class="s-card">Открытка: С днём рождения!\nЛюбим, целуем.</span>');
      const other = page.text.split('<li>').find((li) => li.includes('ул. Подарочная, 7'))!;
      expect(other).to.include(`заказ №${plain}`).and.not.include('s-gift').and.not.include('s-card');
    });

    it('when the day is downloaded as CSV, then the recipient, the phone and the card message are columns of their own, formulas defused', async () => {
      const res = await w.staff.get(`/staff/deliveries.csv?date=${day}`).buffer(true).parse(bytes).expect(200);
      const records = parseCsv((res.body as Buffer).toString('utf8'), ';');
      expect(records[0]!.slice(8)).to.deep.equal(['Получатель', 'Телефон получателя', 'Открытка']);
      expect(records.slice(1).map((r) => [r[2], r[6], r[8], r[9], r[10]])).to.deep.equal([
        ['ул. Подарочная, 5, кв. 2', String(gift), 'Анна Петрова', '8 912 345-67-89', 'С днём рождения!\nЛюбим, целуем.'],
        ['ул. Подарочная, 7', String(plain), '', '', ''],
        ['ул. Подарочная, 9', String(evil), '\'=cmd|\' /C calc\'!A0', '8 495 123-45-67', '\'@SUM(1)'],
      ]);
      const dangerous = [...records, ...parseCsv((res.body as Buffer).toString('utf8'), ',')].flat().filter((c) => /^\s*[=+\-@]|^[\t\r]/.test(c));
      expect(dangerous).to.deep.equal([]);
    });
  });
});
