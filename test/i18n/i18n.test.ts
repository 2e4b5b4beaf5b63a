import { expect } from 'chai';
import { formatDate, formatDateTime, formatMoney, todayIn, translator } from '../../src/i18n/i18n.js';
import ru from '../../src/i18n/ru.json' with { type: 'json' };
import en from '../../src/i18n/en.json' with { type: 'json' };

const NBSP = '\u00a0';

describe('i18n', () => {
  it('formats kopecks as whole roubles in Russian style', () => {
    expect(formatMoney(500_000)).to.equal(`5${NBSP}000${NBSP}₽`);
    expect(formatMoney(450_000)).to.equal(`4${NBSP}500${NBSP}₽`);
    expect(formatMoney(90)).to.equal(`0,90${NBSP}₽`);
    expect(formatMoney(0)).to.equal(`0${NBSP}₽`);
  });

  it('formats calendar dates in Russian without the year suffix, and in English', () => {
    expect(formatDate('2025-10-08')).to.equal('8 октября 2025');
    expect(formatDate('2026-03-01')).to.equal('1 марта 2026');
    expect(formatDate('2025-10-08', 'en')).to.equal('8 October 2025');
  });

  it('gives today in the shop time zone, not the server one', () => {
    const lateUtc = new Date('2026-11-26T22:30:00Z'); // 01:30 on the 27th in Moscow
    expect(todayIn('Europe/Moscow', lateUtc)).to.equal('2026-11-27');
    expect(todayIn('UTC', lateUtc)).to.equal('2026-11-26');
    expect(formatDateTime(lateUtc, 'Europe/Moscow')).to.equal('27 ноября 2026, 01:30');
  });

  it('translates with parameters, and both catalogs have the same keys', () => {
    expect(translator('ru')('home.price', { price: '5 000 ₽' })).to.equal('5 000 ₽ за букет');
    expect(translator('en')('home.price', { price: '₽5,000' })).to.equal('₽5,000 a bouquet');
    expect(Object.keys(en).sort()).to.deep.equal(Object.keys(ru).sort());
  });
});
