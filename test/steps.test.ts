/**
 * The steps of a replace (steps.ts). `discard`: a temp whose name is gone (unlink: ENOENT)
 * because its directory was renamed still exists elsewhere; it is reported as `leftover` and
 * stays tracked for the exit handler. A temp that is really gone is not reported.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { trackedTemps } from '../src/exit-cleanup.js';
import { AtomicFsError, openAtomic, openAtomicSync, writeFile } from '../src/index.js';
import { tempDir, temps } from './helpers.js';

async function rejection(promise: Promise<unknown>): Promise<AtomicFsError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AtomicFsError, String(error));
    return error;
  }
  return assert.fail('expected a rejection');
}

function thrown(run: () => unknown): AtomicFsError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof AtomicFsError, String(error));
    return error;
  }
  return assert.fail('expected a throw');
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

/** The failure reports the temp, which lives on in the moved directory, and it stays tracked. */
function assertLeftover(error: AtomicFsError, tmp: string, moved: string): void {
  assert.equal(error.leftover, tmp);
  assert.deepEqual(temps(moved), [basename(tmp)], 'the temp lives on in the moved directory');
  assert.ok(trackedTemps().includes(tmp), 'still tracked for the exit handler');
  assert.equal(fs.readFileSync(join(moved, 'file'), 'utf8'), 'old');
}

describe('discard', () => {
  test('a handle whose directory was renamed: the failed commit reports the temp as leftover', async (t) => {
    const { dir, dest, moved } = setup(t);
    const file = await openAtomic(dest);
    await file.write('new');
    fs.renameSync(dir, moved);
    const error = await rejection(file.commit());
    assertLeftover(error, file.tempPath, moved);
  });

  test('the same with a sync handle', (t) => {
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
    const { dir, dest, moved } = setup(t);
    const error = await rejection(
      writeFile(
        dest,
        (async function* () {
          // The temp is created before the source is read.
          yield 'new';
          fs.renameSync(dir, moved);
          throw new Error('source failed');
        })(),
      ),
    );
    assert.equal(error.code, 'ERR_ATOMIC_SOURCE');
    const [left] = temps(moved);
    assert.ok(left !== undefined, 'the temp lives on in the moved directory');
    assertLeftover(error, join(dir, left), moved);
  });

  test('a temp removed by someone else is not reported (descriptor held, and not)', async (t) => {
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
