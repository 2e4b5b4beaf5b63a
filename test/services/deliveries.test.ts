import { expect } from 'chai';
import {
  canMove, canPause, cutoffOf, dateIn, deliveriesBetween, isLocked, type DeliveryException, type Subscription,
} from '../../src/services/deliveries.js';

const weekly: Subscription = { firstDate: '2027-03-01', interval: 'weekly', pausedFrom: null, pausedUntil: null, cancelled: false };
const rules = { cutoff: '18:00', timeZone: 'Europe/Moscow' };
const skip = (scheduledDate: string): DeliveryException => ({ scheduledDate, kind: 'skip', newDate: null });
const move = (scheduledDate: string, newDate: string): DeliveryException => ({ scheduledDate, kind: 'move', newDate });

describe('deliveries of a customer', () => {
  it('when nothing changed, then the rule gives the planned deliveries, none before the first date', () => {
    expect(deliveriesBetween(weekly, [], [], '2027-02-20', '2027-03-15')).to.deep.equal([
      { date: '2027-03-01', state: 'planned' }, { date: '2027-03-08', state: 'planned' }, { date: '2027-03-15', state: 'planned' },
    ]);
    expect(deliveriesBetween({ ...weekly, interval: 'monthly', firstDate: '2027-01-31' }, [], [], '2027-02-01', '2027-04-30').map((e) => e.date))
      .to.deep.equal(['2027-02-28', '2027-03-31', '2027-04-30']);
    expect(deliveriesBetween(weekly, [], [], '2027-03-02', '2027-03-07')).to.deep.equal([]);
  });

  it('when a delivery is skipped or moved, then it is skipped on its day, or listed once on its new day with where it came from', () => {
    const entries = deliveriesBetween(weekly, [skip('2027-03-08'), move('2027-03-15', '2027-03-17')], [], '2027-03-01', '2027-03-22');
    expect(entries).to.deep.equal([
      { date: '2027-03-01', state: 'planned' }, { date: '2027-03-08', state: 'skipped' },
      { date: '2027-03-17', state: 'moved', from: '2027-03-15', to: '2027-03-17' }, { date: '2027-03-22', state: 'planned' },
    ]);
  });

  it('when a delivery moves across the edge of the range, then it counts on the side of its new date', () => {
    const exceptions = [move('2027-03-08', '2027-03-10')];
    expect(deliveriesBetween(weekly, exceptions, [], '2027-03-08', '2027-03-09')).to.deep.equal([]);
    expect(deliveriesBetween(weekly, exceptions, [], '2027-03-10', '2027-03-10')).to.have.length(1);
  });

  it('when a change names a date the rule does not have (the first date changed since), then it is ignored', () => {
    expect(deliveriesBetween(weekly, [move('2027-03-09', '2027-03-11'), skip('2027-03-10')], [], '2027-03-01', '2027-03-14'))
      .to.deep.equal([{ date: '2027-03-01', state: 'planned' }, { date: '2027-03-08', state: 'planned' }]);
  });

  it('when paused, then every delivery from the start up to the day before the end is paused, a moved one included', () => {
    const paused = { ...weekly, pausedFrom: '2027-03-05', pausedUntil: '2027-03-22' };
    expect(deliveriesBetween(paused, [move('2027-03-01', '2027-03-06')], [], '2027-03-01', '2027-03-22')).to.deep.equal([
      { date: '2027-03-06', state: 'paused' }, { date: '2027-03-08', state: 'paused' }, { date: '2027-03-15', state: 'paused' },
      { date: '2027-03-22', state: 'planned' },
    ]);
  });

  it('when cancelled, then only confirmed one-off orders remain, after the subscription on the same day', () => {
    const orders = [
      { id: 7, deliveryDate: '2027-03-08', status: 'confirmed' as const }, { id: 5, deliveryDate: '2027-03-08', status: 'confirmed' as const },
      { id: 8, deliveryDate: '2027-03-09', status: 'placed' as const }, { id: 9, deliveryDate: '2027-03-10', status: 'cancelled' as const },
      { id: 10, deliveryDate: '2027-04-10', status: 'confirmed' as const },
    ];
    expect(deliveriesBetween(weekly, [], orders, '2027-03-08', '2027-03-31')).to.deep.equal([
      { date: '2027-03-08', state: 'planned' }, { date: '2027-03-08', state: 'order', orderId: 5 }, { date: '2027-03-08', state: 'order', orderId: 7 },
      { date: '2027-03-15', state: 'planned' }, { date: '2027-03-22', state: 'planned' }, { date: '2027-03-29', state: 'planned' },
    ]);
    expect(deliveriesBetween({ ...weekly, cancelled: true }, [], orders, '2027-03-08', '2027-03-31'))
      .to.deep.equal([{ date: '2027-03-08', state: 'order', orderId: 5 }, { date: '2027-03-08', state: 'order', orderId: 7 }]);
  });
});

describe('cut-off and change rules', () => {
  it('puts the cut-off at the given time on the day before, in the shop time zone', () => {
    expect(cutoffOf('2027-03-08', '18:00', 'Europe/Moscow').toISOString()).to.equal('2027-03-07T15:00:00.000Z');
    expect(cutoffOf('2027-01-01', '09:30', 'Asia/Vladivostok').toISOString()).to.equal('2026-12-30T23:30:00.000Z');
    // Across a daylight-saving change: Berlin is UTC+1 on 27 March 2027 and UTC+2 from 28 March.
    expect(cutoffOf('2027-03-29', '18:00', 'Europe/Berlin').toISOString()).to.equal('2027-03-28T16:00:00.000Z');
    expect(cutoffOf('2027-03-28', '18:00', 'Europe/Berlin').toISOString()).to.equal('2027-03-27T17:00:00.000Z');
    expect(cutoffOf('2027-03-29', '01:30', 'Europe/Berlin').toISOString()).to.equal('2027-03-28T00:30:00.000Z'); // just before the change
  });

  it('locks a delivery from its cut-off on', () => {
    expect(isLocked('2027-03-08', new Date('2027-03-07T14:59:59Z'), rules)).to.equal(false);
    expect(isLocked('2027-03-08', new Date('2027-03-07T15:00:00Z'), rules)).to.equal(true);
    expect(dateIn(new Date('2027-03-07T21:30:00Z'), 'Europe/Moscow')).to.equal('2027-03-08');
  });

  it('refuses a move for each broken rule, with its reason', () => {
    const now = new Date('2027-03-01T09:00:00Z'); // 1 March, 12:00 in Moscow
    const exceptions = [skip('2027-03-15'), move('2027-03-22', '2027-03-24')];
    const check = (date: string, newDate: string, s: Subscription = weekly) => canMove(s, exceptions, date, newDate, now, rules);
    expect(check('2027-03-08', '2027-03-10')).to.equal(null);
    expect(check('2027-03-08', '2027-03-15')).to.equal(null); // onto a skipped delivery's day
    expect(check('2027-03-08', '2027-03-04')).to.equal(null); // earlier, still before its cut-off
    expect(check('2027-03-24', '2027-03-26')).to.equal(null); // a moved delivery moves again
    expect(check('2027-03-24', '2027-03-22')).to.equal(null); // or back to its own day
    expect(check('2027-03-24', '2027-03-30')).to.equal('too_late'); // more than a week after its scheduled 22 March
    expect(check('2027-03-22', '2027-03-23')).to.equal('not_a_delivery'); // moved away from there
    expect(check('2027-03-15', '2027-03-16')).to.equal('not_a_delivery'); // skipped
    expect(check('2027-03-09', '2027-03-10')).to.equal('not_a_delivery');
    expect(check('2027-03-08', '2027-03-08')).to.equal('same_day');
    expect(check('2027-03-08', '2027-02-28')).to.equal('past');
    expect(check('2027-03-08', '2027-03-02')).to.equal(null); // tomorrow, before today's 18:00
    expect(canMove(weekly, [], '2027-03-08', '2027-03-02', new Date('2027-03-01T15:00:00Z'), rules)).to.equal('past'); // from 18:00 on
    expect(check('2027-03-08', '2027-03-01')).to.equal('past'); // today
    expect(check('2027-03-08', '2027-03-29')).to.equal('taken');
    expect(check('2027-03-08', '2027-03-16')).to.equal('too_late');
    expect(check('2027-03-08', '2027-03-10', { ...weekly, pausedFrom: '2027-03-09', pausedUntil: '2027-03-12' })).to.equal('paused');
    expect(check('2027-03-08', '2027-03-10', { ...weekly, cancelled: true })).to.equal('cancelled');
    expect(canMove(weekly, [], '2027-03-08', '2027-03-10', new Date('2027-03-07T15:00:00Z'), rules)).to.equal('locked');
    expect(canMove(weekly, [], '2027-03-15', '2027-03-08', new Date('2027-03-07T15:00:00Z'), rules)).to.equal('past'); // onto a day past its cut-off
  });

  it('allows a pause that ends after today and at most six months ahead', () => {
    expect(canPause('2027-03-02', '2027-03-01')).to.equal(null);
    expect(canPause('2027-09-01', '2027-03-01')).to.equal(null);
    expect(canPause('2027-09-02', '2027-03-01')).to.equal('too_far');
    expect(canPause('2027-03-01', '2027-03-01')).to.equal('past');
    expect(canPause('2027-08-31', '2027-02-28')).to.equal('too_far');
  });
});
