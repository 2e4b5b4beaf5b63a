// Operator commands, run as operators run them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { findProjectRoot } from '../src/config.js';
import { TEST_ENV } from './helpers/app.js';
import { testDatabase } from './helpers/db.js';
import { sharedSimulator } from './helpers/amocrm.js';
import { createTestApp } from './helpers/app.js';
import { client, csrfFrom, logIn, signUp, uniqueEmail } from './helpers/client.js';
import { STAFF_PASSWORD, staffAgent } from './staff/helpers.js';
import { stepAt, totpCode } from '../src/services/totp.js';

function cli(args: string[], env: Record<string, string> = {}) {
  const root = findProjectRoot();
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src', 'cli.ts'), ...args], {
    cwd: root, encoding: 'utf8', timeout: 60_000,
    env: { ...process.env, ...TEST_ENV, DATABASE_URL: testDatabase().url, AMOCRM_BASE_URL: sharedSimulator().url, AMOCRM_LONG_LIVED_TOKEN: sharedSimulator().token, LOG_LEVEL: 'warn', ...env },
  });
}

describe('npm run cli', function () {
  this.timeout(60_000);

  it('staff:add creates a staff account with the password from STAFF_PASSWORD, and refuses a weak one', async () => {
    const email = uniqueEmail('staff');
    const weak = cli(['staff:add', email], { STAFF_PASSWORD: 'password1' });
    expect(weak.status).to.equal(2);
    expect(weak.stderr).to.include('password refused: common');
    const ok = cli(['staff:add', email], { STAFF_PASSWORD: 'Rabochii parol magazina' });
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stdout).to.include(`${email} is staff (new account)`);
    const row = await testDatabase().db('users').where({ email }).first();
    expect(row.role).to.equal('staff');
    expect(row.bouquet).to.equal(null);
  });

  it('staff:add refuses an address that already has an account; --promote makes it staff with the operator\'s password and ends its sessions', async () => {
    const t = createTestApp();
    try {
      const owner = client(t.app);
      const { email, password } = await signUp(owner);
      const before = await t.db('users').where({ email }).first('role', 'password_hash', 'auth_version');

      const refused = cli(['staff:add', email], { STAFF_PASSWORD: 'Rabochii parol magazina' });
      expect(refused.status, refused.stdout).to.equal(2);
      expect(refused.stderr).to.include('already has an account').and.include(`staff:add --promote ${email}`);
      expect(await t.db('users').where({ email }).first('role', 'password_hash', 'auth_version')).to.deep.equal(before);
      await owner.get('/account').expect(200);

      const promoted = cli(['staff:add', '--promote', email], { STAFF_PASSWORD: 'Rabochii parol magazina' });
      expect(promoted.status, promoted.stderr).to.equal(0);
      expect(promoted.stdout).to.include(`${email} is staff (existing account: password set, its sessions ended)`);
      const after = await t.db('users').where({ email }).first('id', 'role', 'auth_version');
      expect(after.role).to.equal('staff');
      expect(after.auth_version).to.equal(before.auth_version + 1);
      expect(await t.db('session').whereRaw("sess #>> '{passport,user,id}' = ?", [String(after.id)]).count({ n: '*' }).first()).to.deep.equal({ n: 0 });
      expect((await owner.get('/staff')).status).to.equal(303); // the registrant's open session is gone, not staff
      expect((await logIn(client(t.app), email, password)).status).to.equal(401);
      const staff = client(t.app);
      expect((await logIn(staff, email, 'Rabochii parol magazina')).status).to.equal(303);
      await staff.get('/staff').expect(200);
    } finally {
      await t.close();
    }
  });

  it('staff:reset-2fa removes the TOTP of a staff account with a lost phone, ends its sessions and records it in staff_actions', async () => {
    const t = createTestApp();
    try {
      const { agent, email, id } = await staffAgent(t);
      const page = await agent.get('/staff/2fa').expect(200);
      const secret = /id="totp-secret">([A-Z2-7 ]+)</.exec(page.text)![1]!.replace(/ /g, '');
      await agent.post('/staff/2fa').type('form').send({ _csrf: csrfFrom(page.text), code: totpCode(secret, stepAt(Date.now())) }).expect(200);
      await agent.get('/staff').expect(200);

      const refused = cli(['staff:reset-2fa', 'nobody-here@example.ru']);
      expect(refused.status).to.equal(2);
      const done = cli(['staff:reset-2fa', email]);
      expect(done.status, done.stderr).to.equal(0);
      expect(done.stdout).to.include('second factor removed');
      expect(await t.db('staff_totp').where({ user_id: id }).first()).to.equal(undefined);
      expect(await t.db('staff_recovery_codes').where({ user_id: id }).count({ n: '*' }).first()).to.deep.equal({ n: 0 });
      await agent.get('/staff').expect(303);
      const row = await t.db('staff_actions').where({ staff_id: id, action: 'staff.reset_2fa' }).first();
      expect(row).to.include({ staff_email: email, subject: 'cli', outcome: 'reset', ip: null });
      // Logged in with the password alone again, and sent to enrol anew.
      const again = client(t.app);
      const res = await logIn(again, email, STAFF_PASSWORD);
      expect(res.headers.location).to.equal('/staff');
      expect((await again.get('/staff/2fa').expect(200)).text).to.include('<svg');
    } finally {
      await t.close();
    }
  });

  it('without a command, lists the commands; an unknown one exits 2', () => {
    const list = cli([]);
    expect(list.status).to.equal(0);
    expect(list.stderr).to.include('staff:add').and.include('amocrm:fields').and.include('migrate');
    expect(cli(['nonsense']).status).to.equal(2);
  });
});
