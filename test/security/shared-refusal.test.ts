/**
 * Where directories cannot be pinned by descriptor — macOS (simulated here with
 * `seam.platform = 'darwin'`), and Linux without /proc (simulated by failing the look at
 * /proc/self/fd) — entries are named by path, and as root the library refuses to pass through
 * a name another user could change, before anything is written: ERR_ATOMIC_SHARED_DIRECTORY,
 * unless `unsafeSharedDirectories: true`. The link's or sweep's own directory may be shared
 * where only names in it are used. A non-root caller is never refused, nor is anyone where
 * /proc/self/fd pins directories.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type TestContext, describe, test } from 'node:test';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { AtomicFsError, cleanupTemps, replaceSymlink, writeDirectory } from '../../src/index.js';
import { stagingName, tempName } from '../../src/core/temp-names.js';
import {
  instrument,
  isLinux,
  isRoot,
  list,
  needs,
  newFds,
  openFds,
  tempDir,
} from '../support/helpers.js';

const NOBODY = 65534;
const LIBRARY = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const SEAM = fileURLToPath(new URL('../../src/engine/fs.js', import.meta.url));
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
/** A writer that cannot exist (beyond any pid_max): its temps are a dead writer's. */
const DEAD = 999_999_999;

type Simulation = 'darwin' | 'linux without /proc' | 'linux';

/** Make the library see `simulation` (restored after the test). */
function simulate(t: TestContext, simulation: Simulation): void {
  if (simulation === 'darwin') {
    seam.platform = 'darwin';
  } else if (simulation === 'linux without /proc') {
    instrument(t, [
      {
        code: 'ENOENT',
        when: (call) => call.name === 'stat' && String(call.args[0]).startsWith('/proc/self/fd/'),
      },
    ]);
  }
  t.after(restoreSeam);
}

interface Layout {
  /** Root's directory (0755), the test's top. */
  readonly top: string;
  /** A directory of nobody's in it. */
  readonly shared: string;
}

function layout(t: TestContext): Layout {
  const top = tempDir(t, 'afs-refusal-');
  fs.chmodSync(top, 0o755);
  const shared = join(top, 'shared');
  fs.mkdirSync(shared);
  fs.chownSync(shared, NOBODY, NOBODY);
  return { top, shared };
}

function assertRefused(error: unknown, where: string): void {
  assert.ok(error instanceof AtomicFsError, `${where}: ${String(error)}`);
  assert.equal(error.code, 'ERR_ATOMIC_SHARED_DIRECTORY', `${where}: ${error.message}`);
  assert.match(error.message, /unsafeSharedDirectories: true/, where);
}

async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Every entry below `dir`, for "nothing was written". */
function everything(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

const runnable = (t: TestContext): boolean =>
  needs(t, isLinux && isRoot, 'root on Linux (directories owned by another user)');

for (const simulation of ['darwin', 'linux without /proc'] as const) {
  describe(`as root where directories cannot be pinned (${simulation})`, () => {
    test('writeDirectory in a directory of another user: refused before anything is written', async (t) => {
      if (!runnable(t)) return;
      const { top, shared } = layout(t);
      const before = everything(top);
      const fds = openFds();
      simulate(t, simulation);
      const error = await outcome(() => writeDirectory(join(shared, 'site'), { a: 'a' }));
      assertRefused(error, 'a new tree');
      assert.equal((error as AtomicFsError).phase, 'resolve');
      assert.deepEqual(everything(top), before, 'nothing written');
      assert.deepEqual(newFds(fds), []);
      await writeDirectory(join(shared, 'site'), { a: 'a' }, { unsafeSharedDirectories: true });
      assert.equal(fs.readFileSync(join(shared, 'site', 'a'), 'utf8'), 'a');
    });

    test("writeDirectory replacing another user's tree: refused (it would be entered), unless kept", async (t) => {
      if (!runnable(t)) return;
      const { top, shared } = layout(t);
      const site = join(top, 'site');
      fs.mkdirSync(site);
      fs.chownSync(site, NOBODY, NOBODY);
      fs.writeFileSync(join(site, 'old'), 'old');
      const before = everything(top);
      simulate(t, simulation);
      assertRefused(await outcome(() => writeDirectory(site, { a: 'a' })), 'replace');
      assert.deepEqual(everything(top), before, 'nothing written');
      // Kept, the previous tree is never entered: nothing to refuse.
      const { previous } = await writeDirectory(site, { a: 'a' }, { keepOld: true });
      assert.ok(previous !== undefined);
      assert.equal(fs.readFileSync(join(previous, 'old'), 'utf8'), 'old');
      assert.equal(fs.statSync(join(site, 'a')).uid, NOBODY, 'the owner is kept');
      assert.ok(fs.existsSync(shared));
    });

    test('writeDirectory below a directory of another user: refused', async (t) => {
      if (!runnable(t)) return;
      const { shared } = layout(t);
      // Root's own directory, in the other user's: that user can rename it.
      const mine = join(shared, 'mine');
      fs.mkdirSync(mine);
      simulate(t, simulation);
      assertRefused(await outcome(() => writeDirectory(join(mine, 'site'), { a: 'a' })), 'below');
      assert.deepEqual(list(mine), []);
    });

    test('writeDirectory in a sticky directory of root (like /tmp): allowed', async (t) => {
      if (!runnable(t)) return;
      const { top } = layout(t);
      const sticky = join(top, 'tmp');
      fs.mkdirSync(sticky);
      fs.chmodSync(sticky, 0o1777);
      simulate(t, simulation);
      await writeDirectory(join(sticky, 'site'), { 'sub/a': 'a' });
      await writeDirectory(join(sticky, 'site'), { 'sub/b': 'b' });
      assert.deepEqual(list(join(sticky, 'site', 'sub')), ['b']);
    });

    test('replaceSymlink: the link directory may be shared, not a directory above it', async (t) => {
      if (!runnable(t)) return;
      const { shared } = layout(t);
      simulate(t, simulation);
      // Only names in the link's own directory are used: nothing to refuse.
      await replaceSymlink('releases/2', join(shared, 'current'));
      assert.equal(fs.readlinkSync(join(shared, 'current')), 'releases/2');
      const app = join(shared, 'app');
      fs.mkdirSync(app);
      const error = await outcome(() => replaceSymlink('releases/2', join(app, 'current')));
      assertRefused(error, 'below a shared directory');
      assert.deepEqual(list(app), []);
      await replaceSymlink('releases/2', join(app, 'current'), { unsafeSharedDirectories: true });
      assert.equal(fs.readlinkSync(join(app, 'current')), 'releases/2');
    });

    test('cleanupTemps: temps in a shared directory are removed; entering one is refused', async (t) => {
      if (!runnable(t)) return;
      const { shared } = layout(t);
      const temp = join(shared, tempName('a', DEAD));
      fs.writeFileSync(temp, 'x');
      simulate(t, simulation);
      // Unlinking a name in it passes through no name the other user could change.
      assert.deepEqual(await cleanupTemps(shared), [temp]);
      // A staged tree of that user's in it would be entered to remove it.
      const staged = join(shared, stagingName('site', DEAD));
      fs.mkdirSync(join(staged, 'sub'), { recursive: true });
      fs.chownSync(staged, NOBODY, NOBODY);
      assertRefused(await outcome(() => cleanupTemps(shared)), 'a staged tree');
      assert.ok(fs.existsSync(join(staged, 'sub')));
      const sub = join(shared, 'sub');
      fs.mkdirSync(sub);
      fs.chownSync(sub, NOBODY, NOBODY);
      fs.writeFileSync(join(sub, tempName('b', DEAD)), 'x');
      const options = { recursive: true };
      assertRefused(await outcome(() => cleanupTemps(sub, options)), 'recursive, refused');
      assert.deepEqual(
        (await cleanupTemps(shared, { ...options, unsafeSharedDirectories: true })).length,
        2,
        'with the opt-in: the staged tree and the nested temp',
      );
    });

    test('a caller that is not root is never refused', async (t) => {
      if (!runnable(t)) return;
      if (!needs(t, hasSetpriv, 'setpriv (util-linux), to run as nobody')) return;
      const { top } = layout(t);
      // Root's, writable by anyone: as root, refused.
      const open = join(top, 'open');
      fs.mkdirSync(open);
      fs.chmodSync(open, 0o777);
      simulate(t, simulation);
      assertRefused(await outcome(() => writeDirectory(join(open, 'site'), { a: 'a' })), 'root');
      restoreSeam();
      // The same call as nobody, under the same simulation, in another process.
      const script = `
        const { seam } = await import(${JSON.stringify(SEAM)});
        const { writeDirectory, replaceSymlink, cleanupTemps } = await import(${JSON.stringify(LIBRARY)});
        const [dir, simulation] = process.argv.slice(1);
        if (simulation === 'darwin') seam.platform = 'darwin';
        else {
          const real = seam.async.stat;
          seam.async.stat = (path) => path.startsWith('/proc/self/fd/')
            ? Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))
            : real(path);
        }
        await writeDirectory(dir + '/site', { 'sub/a': 'a' });
        await writeDirectory(dir + '/site', { 'sub/b': 'b' });
        await replaceSymlink('x', dir + '/site/sub/link');
        process.stdout.write(JSON.stringify(await cleanupTemps(dir, { recursive: true })));`;
      const child = spawnSync(
        'setpriv',
        [
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          '--clear-groups',
          process.execPath,
          '--input-type=module',
          '-e',
          script,
          open,
          simulation,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(child.status, 0, child.stderr);
      assert.equal(child.stdout, '[]');
      assert.deepEqual(list(join(open, 'site', 'sub')), ['b', 'link']);
      assert.equal(fs.statSync(join(open, 'site')).uid, NOBODY);
    });
  });
}

describe('where /proc/self/fd pins directories, nothing is refused', () => {
  test('the same calls as root in and below a directory of another user', async (t) => {
    if (!runnable(t)) return;
    const { shared } = layout(t);
    const mine = join(shared, 'mine');
    fs.mkdirSync(mine);
    await writeDirectory(join(shared, 'site'), { 'sub/a': 'a' });
    await writeDirectory(join(mine, 'site'), { 'sub/a': 'a' });
    await replaceSymlink('releases/2', join(mine, 'current'));
    const staged = join(shared, stagingName('site', DEAD));
    fs.mkdirSync(join(staged, 'sub'), { recursive: true });
    fs.chownSync(staged, NOBODY, NOBODY);
    fs.chownSync(join(staged, 'sub'), NOBODY, NOBODY);
    assert.deepEqual(await cleanupTemps(shared, { recursive: true }), [staged]);
  });
});
