/**
 * The steps of a replace (core/replace-plans.ts). `discard`, where names go by path: a temp whose name is
 * gone (unlink: ENOENT) because its directory was renamed still exists elsewhere; it is
 * reported as `leftover` and stays tracked for the exit handler. A temp that is really gone is
 * not reported. Where the directory is pinned (Linux), a renamed directory changes nothing:
 * the handle commits, and a failed write removes its temp, in the directory where it went.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { trackedTemps } from '../../src/core/exit-handler.js';
import { AtomicFsError, openAtomic, openAtomicSync, writeFile } from '../../src/index.js';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { canPin } from '../../src/core/target-dir.js';
import {
  instrument,
  isLinux,
  needs,
  rejection,
  tempDir,
  temps,
  thrown,
} from '../support/helpers.js';

/** Names go by path in this test, as on a platform that cannot pin directories. */
function byPath(t: TestContext): void {
  t.after(restoreSeam);
  if (canPin()) seam.platform = 'darwin';
}

/** A directory `a` holding the destination, and where it is moved to (`b`). */
function setup(t: Parameters<typeof tempDir>[0]) {
  const root = tempDir(t);
  const dir = join(root, 'a');
  fs.mkdirSync(dir);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, 'old');
  return { root, dir, dest, moved: join(root, 'b') };
}

/**
 * A streamed write of `dest` whose source, once the temp holds its first chunk (the temp is
 * created before the source is read), moves the directory `dir` to `moved` and fails.
 */
function streamMovingItsDirectory(dest: string, dir: string, moved: string) {
  return rejection(
    writeFile(
      dest,
      (async function* () {
        yield 'new';
        fs.renameSync(dir, moved);
        throw new Error('source failed');
      })(),
    ),
  );
}

/** The failure reports the temp, which lives on in the moved directory, and it stays tracked. */
function assertLeftover(error: AtomicFsError, tmp: string, moved: string): void {
  assert.equal(error.leftover, tmp);
  assert.deepEqual(temps(moved), [basename(tmp)], 'the temp lives on in the moved directory');
  assert.ok(trackedTemps().includes(tmp), 'still tracked for the exit handler');
  assert.equal(fs.readFileSync(join(moved, 'file'), 'utf8'), 'old');
}

describe('discard, by path', () => {
  test('a handle whose directory was renamed: the failed commit reports the temp as leftover', async (t) => {
    byPath(t);
    const { dir, dest, moved } = setup(t);
    const file = await openAtomic(dest);
    await file.write('new');
    fs.renameSync(dir, moved);
    const error = await rejection(file.commit());
    assertLeftover(error, file.tempPath, moved);
  });

  test('the same with a sync handle', (t) => {
    byPath(t);
    const { dir, dest, moved } = setup(t);
    const file = openAtomicSync(dest);
    file.write('new');
    fs.renameSync(dir, moved);
    const error = thrown(() => {
      file.commit();
    });
    assertLeftover(error, file.tempPath, moved);
  });

  test('a streamed write whose directory was renamed: the failure (descriptor still held) reports the temp', async (t) => {
    byPath(t);
    const { dir, dest, moved } = setup(t);
    const error = await streamMovingItsDirectory(dest, dir, moved);
    assert.equal(error.code, 'ERR_ATOMIC_SOURCE');
    const [left] = temps(moved);
    assert.ok(left !== undefined, 'the temp lives on in the moved directory');
    assertLeftover(error, join(dir, left), moved);
  });

  test('a temp removed by someone else is not reported (descriptor held, and not)', async (t) => {
    byPath(t);
    const { dir, dest } = setup(t);
    const streamed = await rejection(
      writeFile(
        dest,
        (async function* () {
          yield 'new';
          for (const name of temps(dir)) fs.unlinkSync(join(dir, name));
          throw new Error('source failed');
        })(),
      ),
    );
    assert.equal(streamed.leftover, undefined);
    const file = await openAtomic(dest);
    await file.write('new');
    fs.unlinkSync(file.tempPath);
    const committed = await rejection(file.commit());
    assert.equal(committed.code, 'ENOENT');
    assert.equal(committed.leftover, undefined);
    assert.ok(!trackedTemps().includes(file.tempPath));
    assert.deepEqual(fs.readdirSync(dir), ['file']);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
  });
});

describe('a pinned directory, renamed while a write is in it', () => {
  const pinned = (t: TestContext): boolean =>
    needs(t, isLinux && canPin(), 'directories pinned by descriptor (Linux)');

  test('a handle commits into the directory where it went; nothing is left', async (t) => {
    if (!pinned(t)) return;
    const { dir, dest, moved } = setup(t);
    const file = await openAtomic(dest);
    await file.write('new');
    fs.renameSync(dir, moved);
    await file.commit();
    assert.equal(fs.readFileSync(join(moved, 'file'), 'utf8'), 'new');
    assert.deepEqual(fs.readdirSync(moved), ['file']);
    assert.ok(!trackedTemps().includes(file.tempPath));
  });

  test('the same with a sync handle', (t) => {
    if (!pinned(t)) return;
    const { dir, dest, moved } = setup(t);
    const file = openAtomicSync(dest);
    file.write('new');
    fs.renameSync(dir, moved);
    file.commit();
    assert.equal(fs.readFileSync(join(moved, 'file'), 'utf8'), 'new');
    assert.deepEqual(fs.readdirSync(moved), ['file']);
  });

  test('a failed streamed write removes its temp there: no leftover', async (t) => {
    if (!pinned(t)) return;
    const { dir, dest, moved } = setup(t);
    const error = await streamMovingItsDirectory(dest, dir, moved);
    assert.equal(error.code, 'ERR_ATOMIC_SOURCE');
    assert.equal(error.leftover, undefined);
    assert.deepEqual(fs.readdirSync(moved), ['file']);
    assert.equal(fs.readFileSync(join(moved, 'file'), 'utf8'), 'old');
  });

  test('a directory replaced between the call and its turn: refused, nothing written anywhere', async (t) => {
    if (!pinned(t)) return;
    const { dir, dest, moved } = setup(t);
    let swapped = false;
    instrument(t, [
      {
        code: 'NONE',
        when: (call) => {
          // The first write is in its turn (its directory pinned); the second one was resolved
          // into `a` as it was when it was called, and waits.
          if (call.name === 'fsync' && !swapped) {
            swapped = true;
            fs.renameSync(dir, moved);
            fs.mkdirSync(dir);
          }
          return false;
        },
      },
    ]);
    const ahead = writeFile(dest, 'ahead', { coalesce: false });
    const late = writeFile(dest, 'late', { coalesce: false });
    await ahead;
    const error = await late.then(
      () => assert.fail('expected a rejection'),
      (failure: unknown) => failure as AtomicFsError,
    );
    assert.equal(error.code, 'ERR_ATOMIC_PATH_CHANGED');
    assert.equal(error.phase, 'resolve');
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.deepEqual(fs.readdirSync(moved), ['file']);
    assert.equal(fs.readFileSync(join(moved, 'file'), 'utf8'), 'ahead');
  });

  test('a directory missing at the call, made since and swapped for a symlink: refused, not followed', async (t) => {
    if (!pinned(t)) return;
    const root = fs.realpathSync(tempDir(t));
    const victim = join(root, 'victim');
    fs.mkdirSync(victim);
    const made = join(root, 'new');
    let swapped = false;
    instrument(t, [
      {
        code: 'NONE',
        when: (call) => {
          // The first write has made `new` and published its file; the second, resolved while
          // `new` was missing, waits behind it. Now `new` becomes a symlink to the victim.
          if (call.name === 'rename' && !swapped) {
            swapped = true;
            setImmediate(() => {
              fs.renameSync(made, join(root, 'away'));
              fs.symlinkSync(victim, made);
            });
          }
          return false;
        },
      },
    ]);
    const first = writeFile(join(made, 'f'), 'first', { mkdirs: true });
    const second = writeFile(join(made, 'f'), 'second');
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    const error = await second.then(
      () => assert.fail('expected a rejection'),
      (failure: unknown) => failure as AtomicFsError,
    );
    assert.equal(error.phase, 'resolve');
    assert.ok(['ELOOP', 'ENOTDIR'].includes(error.code), error.code);
    assert.deepEqual(fs.readdirSync(victim), [], 'nothing written through the symlink');
    assert.equal(fs.readFileSync(join(root, 'away', 'f'), 'utf8'), 'first');
  });
});
