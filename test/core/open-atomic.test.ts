/** The handle: incremental writes, commit/discard, and every defined outcome of misuse. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { AtomicFsError, openAtomic, openAtomicSync, writeFile } from '../../src/index.js';
import { ioThreadReady } from '../../src/core/io-thread.js';
import { instrument, list, openFdCount, temps, tempDir } from '../support/helpers.js';

await ioThreadReady();

test('openAtomic: nothing is visible until commit', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'report.csv');
  fs.writeFileSync(dest, 'old');
  const fds = openFdCount();
  const file = await openAtomic(dest);
  assert.equal(file.path, dest);
  assert.deepEqual(temps(dir), [file.tempPath.split('/').at(-1)]);
  for (let i = 0; i < 1000; i += 1) await file.write(`row ${i}\n`);
  await file.write(new Uint16Array([0x4241]));
  assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
  await file.commit();
  const text = fs.readFileSync(dest, 'utf8');
  assert.ok(text.startsWith('row 0\nrow 1\n'));
  assert.ok(text.endsWith('row 999\nAB'));
  assert.deepEqual(list(dir), ['report.csv']);
  assert.equal(openFdCount(), fds);
});

test('openAtomic: commit twice returns the same promise; discard after commit does nothing', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  const recorder = instrument(t);
  const file = await openAtomic(dest);
  await file.write('data');
  const first = file.commit();
  const second = file.commit();
  assert.equal(first, second);
  await first;
  await file.discard();
  await file[Symbol.asyncDispose]();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'data');
  await assert.rejects(file.write('more'), { code: 'ERR_ATOMIC_CLOSED', phase: 'state' });
  assert.deepEqual(recorder.doubleCloses, []);
  assert.equal(recorder.calls.filter((call) => call.name === 'rename').length, 1);
  assert.deepEqual([...recorder.open.values()], []);
});

test('openAtomic: discard removes the temp; again is a no-op; then write and commit refuse', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  fs.writeFileSync(dest, 'old');
  const recorder = instrument(t);
  const file = await openAtomic(dest);
  await file.write('never published');
  await file.discard();
  await file.discard();
  assert.deepEqual(list(dir), ['f']);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
  await assert.rejects(file.write('x'), { code: 'ERR_ATOMIC_CLOSED' });
  await assert.rejects(file.commit(), { code: 'ERR_ATOMIC_CLOSED' });
  assert.deepEqual(recorder.doubleCloses, []);
  // The temp's descriptor, once (the others: the one that read the old file's ACL, and the
  // directory's, pinned while the handle was open).
  const closes = recorder.calls.filter(
    (call) => call.name === 'close' && call.subject !== dest && call.subject !== dir,
  );
  assert.equal(closes.length, 1);
});

test('openAtomic: write once a commit started is refused; discard waits for the commit', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  const file = await openAtomic(dest);
  await file.write('a');
  const committing = file.commit();
  await assert.rejects(file.write('b'), { code: 'ERR_ATOMIC_CLOSED' });
  await file.discard();
  await committing;
  assert.equal(fs.readFileSync(dest, 'utf8'), 'a');
});

test('openAtomic: a failed write removes the temp; commit rejects with that failure', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  fs.writeFileSync(dest, 'old');
  const recorder = instrument(t, [{ code: 'ENOSPC', when: (call) => call.name === 'write' }]);
  const file = await openAtomic(dest);
  // Large: written at once, and fails; later calls report the same failure.
  await assert.rejects(file.write(Buffer.alloc(100_000)), { code: 'ENOSPC', phase: 'write' });
  assert.deepEqual(list(dir), ['f'], 'the temp file is gone at once');
  await assert.rejects(file.write('x'), { code: 'ENOSPC', phase: 'write' });
  await assert.rejects(file.commit(), { code: 'ENOSPC' });
  await file.discard();
  assert.deepEqual(list(dir), ['f']);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
  assert.deepEqual(recorder.doubleCloses, []);
  assert.deepEqual([...recorder.open.values()], []);
});

test('openAtomic: small writes are gathered; a failure surfaces at commit', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  const recorder = instrument(t, [{ code: 'EIO', when: (call) => call.name === 'write' }]);
  const file = await openAtomic(dest);
  await file.write('small'); // staged, not yet written
  await assert.rejects(file.commit(), { code: 'EIO', phase: 'write' });
  assert.deepEqual(list(dir), []);
  assert.deepEqual([...recorder.open.values()], []);
});

test('openAtomic: writable() with pipeline, then commit', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'piped');
  const file = await openAtomic(dest);
  await pipeline(Readable.from(['a', 'b', Buffer.from('c')]), file.writable());
  assert.deepEqual(list(dir).length, 1, 'still only the temp file');
  await file.commit();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'abc');
});

test('openAtomic: a pipeline that fails discards the handle (nothing is published)', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'piped');
  fs.writeFileSync(dest, 'old');
  const fds = openFdCount();
  const file = await openAtomic(dest);
  const source = new Readable({
    read() {
      this.push('partial');
      this.destroy(new Error('upstream failed'));
    },
  });
  await assert.rejects(pipeline(source, file.writable()), /upstream failed/);
  await assert.rejects(file.commit(), { code: 'ERR_ATOMIC_CLOSED' });
  // pipeline() rejects on the first error; the discard it started settles here.
  await file.discard();
  assert.deepEqual(list(dir), ['piped']);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
  assert.equal(openFdCount(), fds);
});

test('openAtomic: asyncDispose discards an uncommitted handle', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  {
    const file = await openAtomic(dest);
    await file.write('x');
    await file[Symbol.asyncDispose]();
  }
  assert.deepEqual(list(dir), []);
});

test('openAtomic: abort discards; the handle refuses with ABORT_ERR afterwards', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  const controller = new AbortController();
  const file = await openAtomic(dest, { signal: controller.signal });
  await file.write('x');
  controller.abort();
  await file.discard(); // settles the discard the abort started
  assert.deepEqual(list(dir), []);
  await assert.rejects(file.write('y'), { code: 'ABORT_ERR', name: 'AbortError' });
  await assert.rejects(file.commit(), { code: 'ABORT_ERR' });
});

test('openAtomic: create-only fails at commit if the file appeared meanwhile', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  const file = await openAtomic(dest, { overwrite: false });
  await file.write('mine');
  fs.writeFileSync(dest, 'theirs');
  await assert.rejects(file.commit(), (error: unknown) => {
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'EEXIST');
    assert.equal(error.committed, false);
    return true;
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'theirs');
  assert.deepEqual(list(dir), ['f']);
});

test('openAtomic: commits queue behind writes to the same file in call order', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  const file = await openAtomic(dest);
  await file.write('from the handle');
  const { writeFile } = await import('../../src/index.js');
  const order: string[] = [];
  const writing = writeFile(dest, 'from writeFile').then(() => order.push('writeFile'));
  const committing = file.commit().then(() => order.push('commit'));
  await Promise.all([writing, committing]);
  assert.deepEqual(order, ['writeFile', 'commit']);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'from the handle');
});

test('openAtomicSync: write, commit, and the defined outcomes', (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  const recorder = instrument(t);
  const file = openAtomicSync(dest, { mode: 0o600 });
  file.write('hello ');
  file.write(Buffer.from('world'));
  assert.equal(fs.existsSync(dest), false);
  file.commit();
  file.commit(); // no-op
  file.discard(); // no-op
  file[Symbol.dispose]();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'hello world');
  assert.equal(fs.statSync(dest).mode & 0o777, 0o600);
  assert.throws(
    () => {
      file.write('x');
    },
    { code: 'ERR_ATOMIC_CLOSED' },
  );

  const other = openAtomicSync(join(dir, 'g'));
  other.write('x');
  other[Symbol.dispose]();
  other.discard();
  assert.throws(
    () => {
      other.commit();
    },
    { code: 'ERR_ATOMIC_CLOSED' },
  );
  assert.deepEqual(list(dir), ['f']);
  assert.deepEqual(recorder.doubleCloses, []);
  assert.deepEqual([...recorder.open.values()], []);
});

test('openAtomicSync: a failed write removes the temp and poisons the handle', (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'f');
  instrument(t, [{ code: 'EIO', when: (call) => call.name === 'write' }]);
  const file = openAtomicSync(dest);
  assert.throws(
    () => {
      file.write('x');
    },
    { code: 'EIO', phase: 'write' },
  );
  assert.throws(
    () => {
      file.commit();
    },
    { code: 'EIO' },
  );
  file.discard();
  assert.deepEqual(list(dir), []);
});

test('openAtomicSync: a commit while an asynchronous write of the file is pending fails with ERR_ATOMIC_SYNC_CONFLICT and removes the temp', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file.txt');
  fs.writeFileSync(dest, 'old');
  const fds = openFdCount();
  const file = openAtomicSync(dest);
  file.write('from the handle');
  const pending = writeFile(dest, 'async');
  assert.throws(
    () => {
      file.commit();
    },
    (error) => error instanceof AtomicFsError && error.code === 'ERR_ATOMIC_SYNC_CONFLICT',
  );
  // The handle failed as on any failed commit: its temp is gone (the async write may have
  // one of its own by now), its descriptor closed.
  assert.equal(fs.existsSync(file.tempPath), false);
  assert.throws(
    () => {
      file.commit();
    },
    { code: 'ERR_ATOMIC_SYNC_CONFLICT' },
  );
  file.discard();
  await pending;
  // Committed before, the handle's content was lost: the async write landed after it.
  assert.equal(fs.readFileSync(dest, 'utf8'), 'async');
  assert.equal(openFdCount(), fds);
  // With nothing pending, a sync commit goes through.
  const later = openAtomicSync(dest);
  later.write('sync');
  later.commit();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'sync');
  assert.deepEqual(list(dir), ['file.txt']);
});
