/**
 * Directories pinned by descriptor (src/engine/pinned-dir.ts): how names are formed, the rules for
 * directories other users can write, when /proc/self/fd is used, and what opening a
 * subdirectory checks. The attacks these defend against are in test/security/.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import {
  type Dir,
  entry,
  listing,
  openChild,
  openRoot,
  releaseDir,
  stableName,
  writableByOthers,
} from '../../src/engine/pinned-dir.js';
import { type Plan, runAsync, runSync } from '../../src/engine/executors.js';
import { instrument, isLinux, needs, newFds, openFds, tempDir } from '../support/helpers.js';

const ROOT_ONLY = { uid: 0, gid: 0, dev: 1, ino: 1 };

function opened(t: TestContext, path: string): Dir {
  const dir = runSync(openRoot(path, { unsafeShared: false, descend: true }));
  t.after(() => {
    runSync(releaseDir(dir));
  });
  return dir;
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  return undefined;
}

describe('pinned directories', () => {
  test('an entry is one name below the descriptor; anything else is refused', (t) => {
    if (!needs(t, isLinux, '/proc/self/fd (Linux)')) return;
    const dir = opened(t, tempDir(t));
    assert.equal(dir.pinned, true);
    assert.equal(entry(dir, 'a.txt'), `/proc/self/fd/${String(dir.fd)}/a.txt`);
    assert.equal(listing(dir), `/proc/self/fd/${String(dir.fd)}`);
    for (const name of ['', '.', '..', 'a/b', '/etc']) {
      assert.throws(() => entry(dir, name), /not a single name/, JSON.stringify(name));
    }
  });

  test('named by path where /proc/self/fd is not there, or on another platform', (t) => {
    const path = tempDir(t);
    instrument(t, [
      {
        code: 'ENOENT',
        when: (call) => call.name === 'stat' && String(call.args[0]).startsWith('/proc/'),
      },
    ]);
    const dir = opened(t, path);
    assert.equal(dir.pinned, false);
    assert.equal(entry(dir, 'a.txt'), join(path, 'a.txt'));
    restoreSeam();
    seam.platform = 'darwin';
    t.after(restoreSeam);
    assert.equal(opened(t, path).pinned, false);
  });

  test('a failing look at /proc/self/fd other than "not there" is an error; nothing leaks', (t) => {
    if (!needs(t, isLinux, '/proc/self/fd (Linux)')) return;
    const path = tempDir(t);
    const fds = openFds();
    const recorder = instrument(t, [
      {
        code: 'EIO',
        when: (call) => call.name === 'stat' && String(call.args[0]).startsWith('/proc/'),
      },
    ]);
    assert.equal(
      codeOf(() => runSync(openRoot(path, { unsafeShared: false, descend: false }))),
      'EIO',
    );
    restoreSeam();
    assert.deepEqual([...recorder.open.values()], []);
    assert.deepEqual(newFds(fds), []);
  });

  test('who else can write: another owner, group or other write bits', () => {
    assert.equal(writableByOthers({ uid: 0, mode: 0o755 }, 0), false);
    assert.equal(writableByOthers({ uid: 0, mode: 0o775 }, 0), true);
    assert.equal(writableByOthers({ uid: 0, mode: 0o1777 }, 0), true);
    assert.equal(writableByOthers({ uid: 1000, mode: 0o700 }, 0), true);
    assert.equal(writableByOthers({ uid: 1000, mode: 0o755 }, 1000), false);
  });

  test('a stable name: nobody else can write the directory, or it is sticky and root owns both', () => {
    assert.equal(stableName({ ...ROOT_ONLY, mode: 0o755 }, 1000), true);
    assert.equal(stableName({ ...ROOT_ONLY, mode: 0o1777 }, 0), true);
    assert.equal(stableName({ ...ROOT_ONLY, mode: 0o1777 }, 1000), false, "a user's entry");
    assert.equal(stableName({ ...ROOT_ONLY, mode: 0o777 }, 0), false, 'not sticky');
    assert.equal(stableName({ ...ROOT_ONLY, uid: 1000, mode: 0o1755 }, 0), false, "a user's");
  });

  test('a subdirectory: a symlink at its name, or anything but a directory, is not opened', (t) => {
    if (!needs(t, process.platform !== 'win32', 'symlinks')) return;
    const path = tempDir(t);
    fs.mkdirSync(join(path, 'real'));
    fs.symlinkSync(join(path, 'real'), join(path, 'link'));
    fs.writeFileSync(join(path, 'file'), 'x');
    const dir = opened(t, path);
    const fds = openFds();
    assert.equal(
      codeOf(() => runSync(openChild(dir, 'link'))),
      'ENOTDIR',
    );
    assert.equal(
      codeOf(() => runSync(openChild(dir, 'file'))),
      'ENOTDIR',
    );
    assert.equal(
      codeOf(() => runSync(openChild(dir, 'missing'))),
      'ENOENT',
    );
    const child = runSync(openChild(dir, 'real'));
    assert.equal(child.path, join(path, 'real'));
    runSync(releaseDir(child));
    assert.equal(child.fd, undefined, 'released exactly once');
    runSync(releaseDir(child));
    assert.deepEqual(newFds(fds), []);
  });

  test('a subdirectory that is not the one expected, or not one just made, is refused', async (t) => {
    const path = tempDir(t);
    fs.mkdirSync(join(path, 'a'));
    fs.mkdirSync(join(path, 'b'));
    const dir = opened(t, path);
    const a = runSync(openChild(dir, 'a'));
    runSync(releaseDir(a));
    const expect = [{ dev: a.stats.dev, ino: a.stats.ino }];
    assert.equal((await runAsync(openChildReleased(dir, 'a', expect))).pinned, dir.pinned);
    assert.equal(
      codeOf(() => runSync(openChild(dir, 'b', { expect }))),
      'ERR_ATOMIC_PATH_CHANGED',
    );
    // Where someone else can write the parent, a directory "just made" must be empty and ours.
    seam.geteuid = () => 4321;
    t.after(restoreSeam);
    const asAnother = opened(t, path);
    assert.equal(
      codeOf(() => runSync(openChild(asAnother, 'b', { created: true }))),
      'ERR_ATOMIC_PATH_CHANGED',
      'not ours',
    );
    restoreSeam();
    fs.chmodSync(path, 0o777);
    const shared = opened(t, path);
    fs.writeFileSync(join(path, 'b', 'planted'), 'x');
    assert.equal(
      codeOf(() => runSync(openChild(shared, 'b', { created: true }))),
      'ERR_ATOMIC_PATH_CHANGED',
      'not empty',
    );
    fs.rmSync(join(path, 'b', 'planted'));
    runSync(releaseDir(runSync(openChild(shared, 'b', { created: true }))));
  });
});

function* openChildReleased(
  dir: Dir,
  name: string,
  expect: readonly { dev: number; ino: number }[],
): Plan<Dir> {
  const child = yield* openChild(dir, name, { expect });
  yield* releaseDir(child);
  return child;
}
