import { expect } from 'chai';
import { deliversOn, nthDelivery, upcomingDeliveries } from '../../src/services/schedule.js';

describe('delivery schedule', () => {
  it('steps weekly and every two weeks from the first date', () => {
    expect(upcomingDeliveries('2026-12-01', 'weekly', '2026-11-26', 3)).to.deep.equal(['2026-12-01', '2026-12-08', '2026-12-15']);
    expect(upcomingDeliveries('2026-10-01', 'biweekly', '2026-11-26', 2)).to.deep.equal(['2026-11-26', '2026-12-10']);
    expect(upcomingDeliveries('2026-10-01', 'biweekly', '2026-11-27', 2)).to.deep.equal(['2026-12-10', '2026-12-24']);
    expect(upcomingDeliveries('2026-11-26', 'weekly', '2026-11-26', 1)).to.deep.equal(['2026-11-26']); // today counts
  });

  it('keeps the day of the month, using the last day of shorter months', () => {
    expect(upcomingDeliveries('2026-01-31', 'monthly', '2026-02-01', 4)).to.deep.equal(['2026-02-28', '2026-03-31', '2026-04-30', '2026-05-31']);
    expect(nthDelivery('2027-12-15', 'monthly', 1)).to.equal('2028-01-15');
    expect(upcomingDeliveries('2024-01-31', 'monthly', '2024-02-01', 1)).to.deep.equal(['2024-02-29']);
  });

  it('tells whether a subscription delivers on a date', () => {
    expect(deliversOn('2026-12-01', 'weekly', '2026-12-22')).to.equal(true);
    expect(deliversOn('2026-12-01', 'weekly', '2026-12-23')).to.equal(false);
    expect(deliversOn('2026-12-01', 'biweekly', '2026-12-08')).to.equal(false);
    expect(deliversOn('2026-12-01', 'weekly', '2026-11-24')).to.equal(false);
    expect(deliversOn('2026-01-31', 'monthly', '2026-04-30')).to.equal(true);
  });
});
