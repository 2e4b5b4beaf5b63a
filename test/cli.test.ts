// Operator commands, run as operators run them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { findProjectRoot } from '../src/config.js';
import { TEST_ENV } from './helpers/app.js';
import { testDatabase } from './helpers/db.js';
import { sharedSimulator } from './helpers/amocrm.js';
import { uniqueEmail } from './helpers/client.js';

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

  it('without a command, lists the commands; an unknown one exits 2', () => {
    const list = cli([]);
    expect(list.status).to.equal(0);
    expect(list.stderr).to.include('staff:add').and.include('amocrm:fields').and.include('migrate');
    expect(cli(['nonsense']).status).to.equal(2);
  });
});
