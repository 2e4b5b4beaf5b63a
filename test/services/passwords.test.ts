import { expect } from 'chai';
import bcrypt from 'bcrypt';
import { BCRYPT_COST, BCRYPT_QUEUE_BOUND, BCRYPT_SECONDARY_BOUND, commonPasswordCount, createPasswordHasher, HasherBusyError, passwordProblem } from '../../src/services/passwords.js';

describe('password rules (S1, S2)', () => {
  it('ships a list of at least 10,000 common passwords', () => {
    expect(commonPasswordCount()).to.be.greaterThan(10_000);
  });

  it('refuses short, common and email-like passwords, and counts bytes, not characters, against the 72-byte limit', () => {
    expect(passwordProblem('1234567')).to.equal('too_short');
    expect(passwordProblem('ёжикёжи')).to.equal('too_short'); // 7 letters, 14 bytes
    expect(passwordProblem('password123')).to.equal('common');
    expect(passwordProblem('QWERTY123')).to.equal('common');
    expect(passwordProblem('йцукенгш')).to.equal('common');
    expect(passwordProblem('anna.petrova', 'anna.petrova@example.ru')).to.equal('like_email');
    expect(passwordProblem('a'.repeat(72))).to.equal(null);
    expect(passwordProblem('a'.repeat(73))).to.equal('too_long');
    expect(passwordProblem('я'.repeat(36))).to.equal(null); // 72 bytes
    expect(passwordProblem('я'.repeat(36) + 'a')).to.equal('too_long'); // 73 bytes, 37 characters
    expect(passwordProblem('Tyulpany v marte 2026')).to.equal(null);
  });

  it('hashes with bcrypt cost 12, keeps spaces as typed, and knows when a hash needs a stronger cost', async () => {
    const hasher = createPasswordHasher();
    const hash = await hasher.hash(' leading and trailing ');
    expect(BCRYPT_COST).to.equal(12);
    expect(bcrypt.getRounds(hash)).to.equal(12);
    expect(await hasher.verify(' leading and trailing ', hash)).to.equal(true);
    expect(await hasher.verify('leading and trailing', hash)).to.equal(false);
    expect(hasher.needsRehash(await bcrypt.hash('x', 10))).to.equal(true);
    expect(hasher.needsRehash(hash)).to.equal(false);
  });

  it('runs bcrypt off the event loop (async): a timer keeps firing during a hash', async () => {
    const hasher = createPasswordHasher();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await hasher.hash('Tyulpany v marte 2026');
    clearInterval(timer);
    expect(ticks).to.be.greaterThan(5);
  });

  describe('the bounded queue', () => {
    it('when more than 32 operations wait in one process, then the next ones are refused at once with HasherBusyError; a freed place is usable again', async () => {
      const hasher = createPasswordHasher(4); // the cost does not matter to the queue; cost 4 keeps the test quick
      const hash = await hasher.hash('Tyulpany v marte 2026');
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => hasher.verify('Tyulpany v marte 2026', hash)));
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(BCRYPT_QUEUE_BOUND);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused).to.have.length(40 - BCRYPT_QUEUE_BOUND);
      expect(refused.every((r) => r.reason instanceof HasherBusyError)).to.equal(true);
      expect(hasher.pending()).to.equal(0);
      expect(await hasher.verify('Tyulpany v marte 2026', hash)).to.equal(true);
    });

    it('when 100 current-password checks arrive at once, then only 16 queue and the rest are refused, so a login started after them waits for at most 16', async () => {
      const hasher = createPasswordHasher(4);
      const hash = await hasher.hash('Tyulpany v marte 2026');
      let finishedBeforeLogin = 0;
      let loginDone = false;
      const flood = Array.from({ length: 100 }, () => hasher.verifyCurrent('Wrong password 1', hash).then(() => { if (!loginDone) finishedBeforeLogin++; }));
      const login = hasher.verify('Tyulpany v marte 2026', hash).then((ok) => { loginDone = true; return ok; });
      const results = await Promise.allSettled(flood);
      expect(await login).to.equal(true);
      expect(results.filter((r) => r.status === 'rejected')).to.have.length(100 - BCRYPT_SECONDARY_BOUND);
      expect(finishedBeforeLogin).to.be.at.most(BCRYPT_SECONDARY_BOUND);
    });
  });
});
