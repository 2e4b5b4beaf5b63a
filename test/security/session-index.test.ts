// A user's sessions are found through session_user_id_idx, never by reading the whole session table: the exact
// statements that a password change, an email change, a reset, "log out everywhere" and a promotion to staff
// run are captured from the database client and EXPLAINed over 100,000 session rows.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { createDb, type Db } from '../../src/db.js';
import { createPasswordResetModel } from '../../src/models/password-reset-model.js';
import { hashToken } from '../../src/services/link-tokens.js';
import { createEmailConfirmationModel } from '../../src/models/email-confirmation-model.js';
import { testConfig } from '../helpers/app.js';
import { uniqueEmail } from '../helpers/client.js';
import { freshDatabase } from '../helpers/db.js';

const PASSWORD = 'Tyulpany v marte 2026';
const META = { ip: '10.1.2.3', userAgent: 'test' };

describe('session rows of one user (no scan of the session table)', function () {
  this.timeout(120_000);
  let database: { url: string; drop: () => Promise<void> };
  let db: Db;
  before(async () => {
    database = await freshDatabase();
    db = createDb(database.url);
  });
  after(async () => {
    await db.destroy();
    await database.drop();
  });

  it('when 100,000 sessions exist, then password change, email change, reset, "log out everywhere" and promotion reach the user\'s rows by index', async () => {
    const services = createServices({ config: testConfig({}, database.url), db, logger: pino({ level: 'silent' }) });
    const [user] = await db('users').insert({
      email: uniqueEmail(), password_hash: await services.hasher.hash(PASSWORD), role: 'customer', language: 'ru', referral_id: randomUUID(),
      bouquet: 'seasonal', address: 'ул. Ленина, 25', delivery_date: '2030-01-01', interval: 'weekly', wishes: '', account_sum_kopecks: 500_000,
    }).returning(['id', 'email']);
    const userId = Number(user.id);
    // Half visitor sessions, half logged-in ones of 20,000 other customers; the user's own are among them.
    await db.raw(`
      insert into session (sid, sess, expire)
      select 'load-' || g,
             case when g % 2 = 0 then json_build_object('cookie', json_build_object('path', '/'))
                  else json_build_object('cookie', json_build_object('path', '/'), 'passport', json_build_object('user', json_build_object('id', 1000000 + g % 20000, 'v', 1))) end,
             now() + interval '1 day'
      from generate_series(1, 100000) g`);
    const ownSessions = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await db('session').insert({ sid: `own-${randomUUID()}`, sess: JSON.stringify({ cookie: { path: '/' }, passport: { user: { id: userId, v: 1 } } }), expire: new Date(Date.now() + 86_400_000) });
      }
    };
    await ownSessions(3);
    await db.raw('analyze session');

    const captured: { sql: string; bindings: unknown[] }[] = [];
    const listener = (q: { sql: string; bindings?: unknown[] }) => {
      if (/\bsession\b/.test(q.sql) && !/^insert into "session"/.test(q.sql)) captured.push({ sql: q.sql, bindings: q.bindings ?? [] });
    };
    db.on('query', listener);
    try {
      const changed = await services.auth.changePassword(userId, PASSWORD, 'Sovsem novyi parol 77', 'own-kept', META);
      expect(changed).to.have.property('user');
      await ownSessions(2);
      const newEmail = uniqueEmail('moved');
      expect(await services.auth.changeEmail(userId, 'Sovsem novyi parol 77', newEmail, META)).to.deep.equal({ pendingEmail: newEmail });
      const link = 'confirmation-token-for-the-explain-test';
      const { auth_version: current } = await db('users').where({ id: userId }).first('auth_version');
      await createEmailConfirmationModel(db).replaceForUser(userId, hashToken(link), newEmail, current, 60);
      const moved = await services.emailConfirmations.confirm(link, META, { userId, sid: 'own-kept' });
      expect(moved).to.include({ status: 'confirmed', changed: true });
      await ownSessions(2);
      const { auth_version: version, email } = await db('users').where({ id: userId }).first('auth_version', 'email');
      const token = 'reset-token-for-the-explain-test';
      await createPasswordResetModel(db).replaceForUser(userId, hashToken(token), version, 60);
      expect(await services.auth.resetPassword(token, 'Eshche odin parol 88', META)).to.deep.equal({ ok: true });
      await ownSessions(2);
      await services.auth.logoutEverywhere(userId, META);
      await ownSessions(2);
      expect(await services.auth.addStaff(email, 'Menedzher magazina 2026', { promote: true })).to.deep.equal({ promoted: true });
    } finally {
      db.off('query', listener);
    }

    expect(captured.length, 'one statement per action').to.be.at.least(5);
    const pgClient = new pg.Client({ connectionString: database.url }); // the statements as sent, with $n placeholders
    await pgClient.connect();
    try {
      for (const { sql, bindings } of captured) {
        const { rows } = await pgClient.query<{ 'QUERY PLAN': string }>(`explain ${sql}`, bindings);
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan, `${sql}\n${plan}`).not.to.match(/Seq Scan on session/);
        expect(plan, `${sql}\n${plan}`).to.include('session_user_id_idx');
      }
    } finally {
      await pgClient.end();
    }
    expect(await db('session').where('sid', 'like', 'own-%').count({ n: '*' }).first()).to.deep.equal({ n: 0 });
  });
});
