// The customer's changes to their subscription against a real database, with the clock set around the cut-off
// (18:00 Moscow on the day before a delivery).
import { expect } from 'chai';
import type { Knex } from 'knex';
import { createDb, type Db } from '../../src/db.js';
import { createSubscriptionService } from '../../src/services/subscription-service.js';
import { testDatabase } from '../helpers/db.js';
import { insertCustomers, insertOrder } from '../staff/helpers.js';

/** An instant given in Moscow time (UTC+3 all year). */
const moscow = (date: string, time: string) => new Date(`${date}T${time}:00+03:00`);

describe('subscription service', () => {
  let db: Db;
  let now: Date;
  const changes: number[] = [];
  let service: ReturnType<typeof createSubscriptionService>;

  before(() => {
    db = createDb(testDatabase().url);
    service = createSubscriptionService({
      db, timeZone: 'Europe/Moscow', cutoff: '18:00', clock: () => now,
      async queueCustomerSync(trx: Knex.Transaction, userId: number) {
        expect(trx.isTransaction).to.equal(true);
        changes.push(userId);
      },
    });
  });
  after(() => db.destroy());
  beforeEach(() => {
    now = moscow('2027-03-01', '12:00');
    changes.length = 0;
  });

  /** A weekly customer delivered on Wednesdays from 2027-03-03. */
  const weekly = async () => (await insertCustomers(db, [{ deliveryDate: '2027-03-03', interval: 'weekly' }]))[0]!;
  const states = async (id: number, count = 4) => (await service.upcoming(id, count, now))!.entries.map((e) => (e.state === 'moved' ? `${e.from}→${e.to}` : `${e.date} ${e.state}${e.locked ? ' locked' : ''}`));
  const events = async (id: number) => (await db('subscription_events').where({ user_id: id }).orderBy('id')).map((e) => `${e.kind} ${JSON.stringify(e.details, Object.keys(e.details).sort())} ${e.source}`);

  describe('skip and unskip', () => {
    it('when a planned delivery is skipped before its cut-off, then it is skipped, recorded and synced; unskip brings it back', async () => {
      const id = await weekly();
      expect(await service.skip(id, '2027-03-10', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 3)).to.deep.equal(['2027-03-03 planned', '2027-03-10 skipped', '2027-03-17 planned']);
      expect(changes).to.deep.equal([id]);
      expect(await service.unskip(id, '2027-03-10', 'mail')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 2)).to.deep.equal(['2027-03-03 planned', '2027-03-10 planned']);
      expect(await events(id)).to.deep.equal(['skip {"date":"2027-03-10"} account', 'unskip {"date":"2027-03-10"} mail']);
    });

    it('when the same skip is submitted twice, then the second changes nothing and records nothing', async () => {
      const id = await weekly();
      await service.skip(id, '2027-03-10', 'account');
      expect(await service.skip(id, '2027-03-10', 'account')).to.deep.equal({ ok: true, changed: false });
      expect(await events(id)).to.have.length(1);
      expect(changes).to.have.length(1);
    });

    it('when six skips and six pauses of one subscription race (double submits, a mail link), then they are applied one after another and each is recorded once', async () => {
      const id = await weekly();
      await Promise.all(Array.from({ length: 8 }, () => db.raw('select pg_sleep(0.05)'))); // eight open connections
      const skips = await Promise.all(Array.from({ length: 6 }, (_, i) => service.skip(id, '2027-03-10', i % 2 ? 'mail' : 'account')));
      expect(skips.filter((r) => r.ok && r.changed)).to.have.length(1);
      const pauses = await Promise.all(Array.from({ length: 6 }, () => service.pause(id, '2027-04-07', 'account')));
      expect(pauses.filter((r) => r.ok && r.changed)).to.have.length(1);
      expect((await events(id)).map((e) => e.split(' ').slice(0, 2).join(' '))).to.deep.equal(['skip {"date":"2027-03-10"}', 'pause {"until":"2027-04-07"}']);
    });

    it('at 17:59 Moscow the day before, then a delivery can be skipped; at 18:00 it is locked', async () => {
      const id = await weekly();
      now = moscow('2027-03-09', '17:59');
      expect(await states(id, 1)).to.deep.equal(['2027-03-10 planned']);
      now = moscow('2027-03-09', '18:00');
      expect(await service.skip(id, '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'locked' });
      expect(await states(id, 1)).to.deep.equal(['2027-03-10 planned locked']);
      now = moscow('2027-03-09', '17:59');
      expect(await service.skip(id, '2027-03-10', 'account')).to.deep.equal({ ok: true, changed: true });
      now = moscow('2027-03-09', '18:00');
      expect(await service.unskip(id, '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'locked' });
      expect(await events(id)).to.have.length(1);
    });

    it('when the date is not one of the customer\'s deliveries, then skip and unskip refuse it', async () => {
      const id = await weekly();
      expect(await service.skip(id, '2027-03-11', 'account')).to.deep.equal({ ok: false, reason: 'not_a_delivery' });
      expect(await service.unskip(id, '2027-03-11', 'account')).to.deep.equal({ ok: false, reason: 'not_a_delivery' });
      expect(await service.skip(id, '2027-02-24', 'account')).to.deep.equal({ ok: false, reason: 'not_a_delivery' });
      expect(await service.skip(999_999_999, '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'no_subscription' });
      expect(await events(id)).to.deep.equal([]);
      expect(changes).to.deep.equal([]);
    });

    it('when a caller passes what is not a date, an unknown reason or a long comment, then the answer is "invalid", not an exception', async () => {
      const id = await weekly();
      const invalid = { ok: false, reason: 'invalid' };
      expect(await service.skip(id, '2027-02-30', 'mail')).to.deep.equal(invalid);
      expect(await service.unskip(id, 'tomorrow', 'mail')).to.deep.equal(invalid);
      expect(await service.move(id, '2027-03-10', '2027-3-12', 'mail')).to.deep.equal(invalid);
      expect(await service.pause(id, '', 'account')).to.deep.equal(invalid);
      expect(await service.cancel(id, 'boredom' as never, '', 'account')).to.deep.equal(invalid);
      expect(await service.cancel(id, 'other', 'x'.repeat(501), 'account')).to.deep.equal(invalid);
      expect(await service.reactivate(id, '2027-13-01', 'account')).to.deep.equal(invalid);
      expect(await service.moveRange(id, '10.03.2027', now)).to.equal(null);
      expect(await events(id)).to.deep.equal([]);
    });

    it('when a staff member changes a subscription, then the event names them; without a staff id it is refused', async () => {
      const id = await weekly();
      const [staff] = await db('users').insert({ email: `s${id}@x.test`, password_hash: 'x', role: 'staff', referral_id: db.raw('gen_random_uuid()') }).returning('id');
      await service.skip(id, '2027-03-10', 'staff', Number(staff.id));
      expect((await db('subscription_events').where({ user_id: id }).first()).staff_user_id).to.equal(Number(staff.id));
      let error: unknown;
      await service.skip(id, '2027-03-17', 'staff').catch((e: unknown) => { error = e; });
      expect(error).to.be.instanceOf(Error);
    });
  });

  describe('move', () => {
    it('when a delivery moves within one interval, then it is listed on its new day and the rest stays', async () => {
      const id = await weekly();
      expect(await service.move(id, '2027-03-10', '2027-03-12', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 3)).to.deep.equal(['2027-03-03 planned', '2027-03-10→2027-03-12', '2027-03-17 planned']);
      expect(await events(id)).to.deep.equal(['move {"from":"2027-03-10","to":"2027-03-12"} account']);
      expect(await service.move(id, '2027-03-10', '2027-03-12', 'account')).to.deep.equal({ ok: true, changed: false });
    });

    it('when a moved delivery moves again or back, then it keeps one change of its scheduled day', async () => {
      const id = await weekly();
      await service.move(id, '2027-03-10', '2027-03-12', 'account');
      expect(await service.move(id, '2027-03-12', '2027-03-15', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 2)).to.deep.equal(['2027-03-03 planned', '2027-03-10→2027-03-15']);
      expect(await service.move(id, '2027-03-15', '2027-03-10', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 2)).to.deep.equal(['2027-03-03 planned', '2027-03-10 planned']);
      expect(await db('delivery_exceptions').where({ user_id: id })).to.have.length(0);
    });

    it('when the move breaks a rule, then it is refused with the reason and nothing changes', async () => {
      const id = await weekly();
      expect(await service.move(id, '2027-03-10', '2027-03-17', 'account')).to.deep.equal({ ok: false, reason: 'taken' });
      expect(await service.move(id, '2027-03-10', '2027-03-18', 'account')).to.deep.equal({ ok: false, reason: 'too_late' });
      expect(await service.move(id, '2027-03-10', '2027-03-01', 'account')).to.deep.equal({ ok: false, reason: 'past' });
      expect(await service.move(id, '2027-03-10', '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'same_day' });
      expect(await service.move(id, '2027-03-11', '2027-03-12', 'account')).to.deep.equal({ ok: false, reason: 'not_a_delivery' });
      now = moscow('2027-03-09', '18:00');
      expect(await service.move(id, '2027-03-10', '2027-03-12', 'account')).to.deep.equal({ ok: false, reason: 'locked' });
      now = moscow('2027-03-09', '17:59');
      expect(await service.move(id, '2027-03-17', '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'taken' });
      expect(await events(id)).to.deep.equal([]);
    });

    it('when tomorrow is past its cut-off, then the move range starts the day after; it ends one interval after the scheduled day', async () => {
      const id = await weekly();
      now = moscow('2027-03-08', '17:59');
      expect(await service.moveRange(id, '2027-03-10', now)).to.deep.equal({ earliest: '2027-03-09', latest: '2027-03-17' });
      now = moscow('2027-03-08', '18:00');
      expect(await service.moveRange(id, '2027-03-10', now)).to.deep.equal({ earliest: '2027-03-10', latest: '2027-03-17' });
      expect(await service.move(id, '2027-03-10', '2027-03-09', 'account')).to.deep.equal({ ok: false, reason: 'past' });
      expect(await service.moveRange(id, '2027-03-11', now)).to.equal(null);
      now = moscow('2027-03-09', '18:00');
      expect(await service.moveRange(id, '2027-03-10', now)).to.equal(null);
    });
  });

  describe('pause and resume', () => {
    it('when paused until a date, then the deliveries before it are paused; resume brings them back at once', async () => {
      const id = await weekly();
      expect(await service.pause(id, '2027-03-24', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 4)).to.deep.equal(['2027-03-03 paused', '2027-03-10 paused', '2027-03-17 paused', '2027-03-24 planned']);
      expect((await service.upcoming(id, 4, now))!.pausedUntil).to.equal('2027-03-24');
      expect(await service.pause(id, '2027-03-24', 'account')).to.deep.equal({ ok: true, changed: false });
      expect(await service.skip(id, '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'paused' });
      expect(await service.resume(id, 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 2)).to.deep.equal(['2027-03-03 planned', '2027-03-10 planned']);
      expect(await service.resume(id, 'account')).to.deep.equal({ ok: true, changed: false });
      expect(await events(id)).to.deep.equal(['pause {"until":"2027-03-24"} account', 'resume {"until":"2027-03-24"} account']);
    });

    it('when tomorrow\'s delivery is past its cut-off, then a pause starts after it and it is still delivered', async () => {
      const id = await weekly();
      now = moscow('2027-03-09', '18:00');
      await service.pause(id, '2027-03-24', 'account');
      expect(await states(id, 3)).to.deep.equal(['2027-03-10 planned locked', '2027-03-17 paused', '2027-03-24 planned']);
    });

    it('when a pause ran for some days, then resume keeps those days paused and frees the rest', async () => {
      const id = await weekly();
      now = moscow('2027-03-01', '12:00');
      await service.pause(id, '2027-04-01', 'account');
      now = moscow('2027-03-12', '12:00');
      await service.resume(id, 'account');
      expect(await db('users').where({ id }).first('paused_from', 'paused_until')).to.deep.equal({ paused_from: '2027-03-02', paused_until: '2027-03-13' });
      expect(await states(id, 2)).to.deep.equal(['2027-03-17 planned', '2027-03-24 planned']);
    });

    it('when the end is past or more than 6 months ahead, then the pause is refused', async () => {
      const id = await weekly();
      expect(await service.pause(id, '2027-03-01', 'account')).to.deep.equal({ ok: false, reason: 'past' });
      expect(await service.pause(id, '2027-02-01', 'account')).to.deep.equal({ ok: false, reason: 'past' });
      expect(await service.pause(id, '2027-09-01', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await service.pause(id, '2027-09-02', 'account')).to.deep.equal({ ok: false, reason: 'too_far' });
    });
  });

  describe('cancel and reactivate', () => {
    it('when cancelled, then nothing is delivered and changes are refused; reactivating starts again from the new date', async () => {
      const id = await weekly();
      await service.skip(id, '2027-03-17', 'account');
      expect(await service.cancel(id, 'too_often', '  Слишком часто  ', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await service.cancel(id, 'price', '', 'account')).to.deep.equal({ ok: true, changed: false });
      expect(await db('users').where({ id }).first('cancel_reason', 'cancel_comment')).to.deep.equal({ cancel_reason: 'too_often', cancel_comment: 'Слишком часто' });
      expect((await service.upcoming(id, 4, now))).to.deep.equal({ entries: [], pausedUntil: null, cancelled: true });
      expect(await service.skip(id, '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'cancelled' });
      expect(await service.pause(id, '2027-04-01', 'account')).to.deep.equal({ ok: false, reason: 'cancelled' });
      expect(await service.reactivate(id, '2027-03-01', 'account')).to.deep.equal({ ok: false, reason: 'past' });
      expect(await service.reactivate(id, '2028-03-02', 'account')).to.deep.equal({ ok: false, reason: 'too_far' });
      expect(await service.reactivate(id, '2027-03-03', 'account')).to.deep.equal({ ok: true, changed: true });
      expect(await states(id, 3)).to.deep.equal(['2027-03-03 planned', '2027-03-10 planned', '2027-03-17 planned']);
      expect(await service.reactivate(id, '2027-03-03', 'account')).to.deep.equal({ ok: true, changed: false });
      expect(await service.reactivate(id, '2027-03-04', 'account')).to.deep.equal({ ok: false, reason: 'not_cancelled' });
      expect(await events(id)).to.deep.equal([
        'skip {"date":"2027-03-17"} account', 'cancel {"comment":"Слишком часто","reason":"too_often"} account', 'reactivate {"deliveryDate":"2027-03-03"} account',
      ]);
    });

    it('at 18:00 the day before, then that day is no longer a first date for reactivation', async () => {
      const id = await weekly();
      await service.cancel(id, 'other', '', 'account');
      now = moscow('2027-03-09', '18:00');
      expect(await service.reactivate(id, '2027-03-10', 'account')).to.deep.equal({ ok: false, reason: 'past' });
      now = moscow('2027-03-09', '17:59');
      expect(await service.reactivate(id, '2027-03-10', 'account')).to.deep.equal({ ok: true, changed: true });
    });
  });

  describe('upcoming', () => {
    it('lists placed and confirmed one-off orders among the deliveries, with their own bouquet and address, and not cancelled ones', async () => {
      const id = await weekly();
      const placed = await insertOrder(db, { userId: id, deliveryDate: '2027-03-05', status: 'placed', address: 'ул. Садовая, 3' });
      const confirmed = await insertOrder(db, { userId: id, deliveryDate: '2027-03-10', status: 'confirmed' });
      await insertOrder(db, { userId: id, deliveryDate: '2027-03-06', status: 'cancelled' });
      const { entries } = (await service.upcoming(id, 4, now))!;
      expect(entries.map((e) => [e.date, e.state, e.state === 'order' ? e.orderId : null, e.orderStatus ?? null])).to.deep.equal([
        ['2027-03-03', 'planned', null, null], ['2027-03-05', 'order', placed, 'placed'], ['2027-03-10', 'planned', null, null], ['2027-03-10', 'order', confirmed, 'confirmed'],
      ]);
      expect(entries[1]!.address).to.equal('ул. Садовая, 3');
    });
  });
});
