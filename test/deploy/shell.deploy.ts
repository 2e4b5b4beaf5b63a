// The deploy shell scripts: bash syntax and ShellCheck (Debian's shellcheck) with no finding.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { DEPLOY } from './helpers/processes.js';

function scripts(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? scripts(path.join(dir, e.name)) : e.name.endsWith('.sh') ? [path.join(dir, e.name)] : []);
}

describe('deploy shell scripts', () => {
  it('when checked, then each is executable, valid bash, and clean under ShellCheck', () => {
    if (!existsSync('/usr/bin/shellcheck')) throw new Error('install ShellCheck: apt-get install -y shellcheck (.ci/run does)');
    const files = scripts(DEPLOY);
    expect(files.map((f) => path.relative(DEPLOY, f)).sort()).to.deep.equal(['backup/flowers-backup.sh', 'backup/flowers-restore.sh', 'build-release.sh', 'rolling-restart.sh']);
    for (const file of files) {
      expect(statSync(file).mode & 0o111, `${file} is executable`).to.not.equal(0);
      const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
      expect(syntax.status, syntax.stderr).to.equal(0);
    }
    const lint = spawnSync('/usr/bin/shellcheck', ['--severity=style', ...files], { encoding: 'utf8' });
    expect(lint.status, lint.stdout).to.equal(0);
  });
});
