import { expect } from 'chai';
import bcrypt from 'bcrypt';
import { BCRYPT_COST, commonPasswordCount, createPasswordHasher, passwordProblem } from '../../src/services/passwords.js';

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
});
