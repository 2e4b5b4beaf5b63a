// deploy/build-release.sh for real, as root: the release that root cloned is built by an unprivileged user in a
// scratch directory (npm is a stand-in that records who ran it, where, and lays out what the real commands
// would), and comes back root-owned and read-only to everyone else — "nobody" (standing in for the app user
// "flowers") finds nothing in it that it can write, neither the code nor the scripts that root and postgres run.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { DEPLOY, ROOT } from './helpers/processes.js';

const SCRIPT = path.join(DEPLOY, 'build-release.sh');
const NOBODY = os.userInfo().uid === 0 ? Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim()) : -1;
const asNobody = ['/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'];

/** What npm ci / run build / prune leave behind, in miniature: a package with a world-writable file, a dev tool linked from .bin, the build. */
const STAND_IN = `#!/bin/sh
set -eu
echo "npm $* as $(id -un) in $PWD"
case "$1" in
  ci)
    mkdir -p node_modules/express node_modules/typescript/bin node_modules/.bin
    echo 'module.exports = 1;' > node_modules/express/index.js
    chmod 666 node_modules/express/index.js
    printf '#!/bin/sh\\n' > node_modules/typescript/bin/tsc && chmod 775 node_modules/typescript/bin/tsc
    ln -s ../typescript/bin/tsc node_modules/.bin/tsc
    ln -s ../express/index.js node_modules/.bin/express-main
    [ -z "\${EXTRA:-}" ] || sh -c "$EXTRA"
    ;;
  run) mkdir -p dist/src && echo 'console.log("server");' > dist/src/server.js ;;
  prune) rm -rf node_modules/typescript node_modules/.bin/tsc ;;
esac
`;

type Run = { code: number | null; output: string };

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? [p, ...walk(p)] : [p];
  });
}

describe('deploy/build-release.sh: a release root owns and the app user cannot change', function () {
  this.timeout(60_000);
  let dir: string;
  let tmp: string;
  let npm: string;
  let serial = 0;

  before(() => {
    if (os.userInfo().uid !== 0) throw new Error('the release test builds a root-owned release and checks what "nobody" may write: run it as root (CI does)');
    dir = mkdtempSync(path.join(os.tmpdir(), 'flowers-release-'));
    chmodSync(dir, 0o755);
    tmp = path.join(dir, 'tmp');
    mkdirSync(tmp);
    chmodSync(tmp, 0o1777); // like /var/tmp
    npm = path.join(dir, 'npm');
    writeFileSync(npm, STAND_IN, { mode: 0o755 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A release directory as "git clone" by root leaves it: this checkout's source, root's, umask 022, with .git. */
  function clonedRelease(): string {
    const release = path.join(dir, 'releases', `v${++serial}`);
    mkdirSync(release, { recursive: true });
    const parts = ['package.json', 'package-lock.json', 'deploy', 'src', 'views', 'public', 'migrations'];
    const copy = spawnSync('sh', ['-c', 'umask 022 && tar -C "$1" -cf - $2 | tar -C "$3" --no-same-owner --no-same-permissions -xf -', 'sh', ROOT, parts.join(' '), release], { encoding: 'utf8' });
    expect(copy.status, copy.stderr).to.equal(0);
    mkdirSync(path.join(release, '.git'), { mode: 0o755 });
    writeFileSync(path.join(release, '.git', 'HEAD'), 'ref: refs/heads/main\n', { mode: 0o644 });
    return release;
  }

  function build(release: string, env: Record<string, string> = {}): Run {
    const r = spawnSync(SCRIPT, [release], {
      encoding: 'utf8', timeout: 30_000,
      env: { PATH: process.env.PATH, BUILD_USER: 'nobody', BUILD_TMP: tmp, NPM: npm, ...env },
    });
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  }

  const scratchLeft = () => readdirSync(tmp).filter((n) => n.startsWith('flowers-build.'));

  it('when root builds a cloned release, then npm ran only as the build user in a scratch directory, and the release comes back whole', () => {
    const release = clonedRelease();
    const result = build(release);
    expect(result.code, result.output).to.equal(0);
    const npmLines = result.output.split('\n').filter((l) => l.startsWith('npm '));
    expect(npmLines.map((l) => l.replace(/ in .*/, ''))).to.deep.equal([
      'npm ci --no-audit --no-fund as nobody', 'npm run build as nobody', 'npm prune --omit=dev --no-audit --no-fund as nobody',
    ]);
    for (const line of npmLines) expect(line).to.match(new RegExp(` in ${tmp}/flowers-build\\.\\w+$`));
    expect(existsSync(path.join(release, 'dist', 'src', 'server.js'))).to.equal(true);
    expect(existsSync(path.join(release, 'node_modules', 'express', 'index.js'))).to.equal(true);
    expect(existsSync(path.join(release, 'node_modules', 'typescript'))).to.equal(false); // pruned
    expect(existsSync(path.join(release, '.git', 'HEAD'))).to.equal(true);
    expect(scratchLeft()).to.deep.equal([]);
  });

  it('when built, then every file, directory and link of the release is root:root, none writable by group or others, none set-id', () => {
    const release = clonedRelease();
    expect(build(release).code).to.equal(0);
    const entries = [release, ...walk(release)];
    expect(entries.length).to.be.greaterThan(100);
    const wrong = entries.map((p) => ({ p, s: lstatSync(p) }))
      .filter(({ s }) => s.uid !== 0 || s.gid !== 0 || (!s.isSymbolicLink() && (s.mode & 0o6022) !== 0))
      .map(({ p, s }) => `${path.relative(release, p)} ${s.uid}:${s.gid} ${(s.mode & 0o7777).toString(8)}`);
    expect(wrong).to.deep.equal([]);
    const mode = (p: string) => lstatSync(path.join(release, p)).mode & 0o7777;
    expect(mode('node_modules/express/index.js')).to.equal(0o644); // the package shipped it 0666
    expect(mode('deploy/rolling-restart.sh')).to.equal(0o755);
    expect(mode('deploy/backup/flowers-backup.sh')).to.equal(0o755);
    expect(mode('dist/src/server.js')).to.equal(0o644);
  });

  it('when the app user looks for anything to write in the release, then it finds nothing, and each attempt is refused', () => {
    const release = clonedRelease();
    expect(build(release).code).to.equal(0);
    const writable = spawnSync(asNobody[0]!, [...asNobody.slice(1), 'find', release, '-writable'], { encoding: 'utf8' });
    expect(writable.stderr).to.equal('');
    expect(writable.stdout).to.equal('');
    for (const target of ['deploy/rolling-restart.sh', 'deploy/backup/flowers-backup.sh', 'dist/src/server.js', 'node_modules/express/index.js']) {
      const append = spawnSync(asNobody[0]!, [...asNobody.slice(1), 'sh', '-c', 'echo "id > /tmp/owned" >> "$1"', 'sh', path.join(release, target)], { encoding: 'utf8' });
      expect(append.status, target).to.not.equal(0);
      expect(append.stderr, target).to.match(/Permission denied/);
    }
    const create = spawnSync(asNobody[0]!, [...asNobody.slice(1), 'touch', path.join(release, 'dist', 'injected.js')], { encoding: 'utf8' });
    expect(create.status).to.not.equal(0);
  });

  it('when the release is already built, then it refuses and leaves it as it is', () => {
    const release = clonedRelease();
    expect(build(release).code).to.equal(0);
    const again = build(release);
    expect(again.code).to.equal(1);
    expect(again.output).to.include('is already built').and.not.include('npm ci');
    expect(existsSync(path.join(release, 'dist', 'src', 'server.js'))).to.equal(true);
  });

  it('when a file of the cloned source is not root\'s alone, then it refuses before running npm', () => {
    const owned = clonedRelease();
    chownSync(path.join(owned, 'deploy', 'rolling-restart.sh'), NOBODY, 0);
    const byOwner = build(owned);
    expect(byOwner.code).to.equal(1);
    expect(byOwner.output).to.include('deploy/rolling-restart.sh is not root\'s alone').and.not.include('npm ci');
    const open = clonedRelease();
    chmodSync(path.join(open, 'package.json'), 0o666);
    expect(build(open).output).to.include('package.json is not root\'s alone');
  });

  it('when the build leaves a set-id file, then it is installed without the set-id bit', () => {
    const release = clonedRelease();
    const result = build(release, { EXTRA: 'chmod 6775 node_modules/express/index.js' });
    expect(result.code, result.output).to.equal(0);
    expect(lstatSync(path.join(release, 'node_modules', 'express', 'index.js')).mode & 0o7777).to.equal(0o755);
  });

  it('when the build leaves a link that leads out of the release, or a device or pipe, then nothing is installed', () => {
    for (const [extra, message] of [
      ['ln -s /etc node_modules/express/config', 'node_modules/express/config leads out of the release (to /etc)'],
      ['ln -s ../../../../../../../../tmp node_modules/express/scratch', 'node_modules/express/scratch leads out of the release (to /tmp)'],
      ['mkfifo node_modules/express/pipe', 'node_modules/express/pipe is not a root-owned, read-only file, directory or link'],
    ] as const) {
      const release = clonedRelease();
      const result = build(release, { EXTRA: extra });
      expect(result.code, `${extra}: ${result.output}`).to.equal(1);
      expect(result.output, extra).to.include(message);
      expect(existsSync(path.join(release, 'dist')), extra).to.equal(false);
      expect(existsSync(path.join(release, 'node_modules')), extra).to.equal(false);
      expect(scratchLeft(), extra).to.deep.equal([]);
    }
  });
});
