/**
 * update / updateSync (src/json/update.ts): what fn receives and what is written, the cases where
 * nothing is written, durability through the core write path, and ordering among this
 * process's other writes. The lock itself is tested in lock.test.ts; many processes in
 * test/processes/update.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  AtomicFsError,
  update,
  updateJson,
  updateJsonSync,
  updateSync,
  writeFile,
} from '../../src/index.js';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { heldLocks } from '../../src/json/lock.js';
import { instrument, list, temps, tempDir } from '../support/helpers.js';

test('fn receives the current bytes (undefined when missing); its result is written', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'notes.txt');
  const seen: (string | undefined)[] = [];
  const first = await update(dest, (current) => {
    seen.push(current?.toString());
    return 'one\n';
  });
  assert.deepEqual(first, Buffer.from('one\n'));
  const second = updateSync(dest, (current) => {
    seen.push(current?.toString());
    return Buffer.concat([current ?? Buffer.alloc(0), Buffer.from('two\n')]);
  });
  assert.deepEqual(second, Buffer.from('one\ntwo\n'));
  // Every kind of chunk, and a promise of one.
  await update(dest, () => new Uint16Array([0x6968, 0x0a21]));
  assert.equal(fs.readFileSync(dest, 'latin1'), 'hi!\n');
  await update(dest, () => Promise.resolve(new DataView(new Uint8Array([0x41]).buffer)));
  assert.equal(fs.readFileSync(dest, 'utf8'), 'A');
  await update(dest, () => new Uint8Array([0x42, 0x43]).buffer);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'BC');
  await update(dest, () => 'ŝ', { encoding: 'latin1' });
  assert.deepEqual(fs.readFileSync(dest), Buffer.from([0x5d]));
  assert.deepEqual(seen, [undefined, 'one\n']);
  assert.deepEqual(temps(dir), []);
});

test('nothing is written when fn returns undefined, the same bytes, or throws', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'state.txt');
  fs.writeFileSync(dest, 'same');
  const inode = fs.statSync(dest).ino;
  assert.deepEqual(await update(dest, () => undefined), Buffer.from('same'));
  assert.deepEqual(await update(dest, (current) => current), Buffer.from('same'));
  assert.deepEqual(await update(dest, () => 'same'), Buffer.from('same'));
  assert.deepEqual(
    updateSync(dest, () => Buffer.from('same')),
    Buffer.from('same'),
  );
  await assert.rejects(
    update(dest, () => {
      throw new RangeError('no');
    }),
    RangeError,
  );
  await assert.rejects(
    update(dest, () => Promise.reject(new Error('async no'))),
    /async no/,
  );
  assert.equal(fs.statSync(dest).ino, inode, 'never replaced');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'same');
});

test('fn may change the buffer it is given: returning it writes the change', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'bytes.bin');
  fs.writeFileSync(dest, 'abc');
  await update(dest, (current) => {
    assert.ok(current !== undefined);
    current[0] = 0x78;
    return current;
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'xbc');
  // …and changing it without returning it writes nothing.
  await update(dest, (current) => {
    assert.ok(current !== undefined);
    current[0] = 0x79;
    return undefined;
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'xbc');
});

test('a result that is not data is ERR_INVALID_RETURN_VALUE; nothing written', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'x.txt');
  fs.writeFileSync(dest, 'keep');
  for (const bad of [42, null, { a: 1 }, true]) {
    await assert.rejects(
      update(dest, () => bad as never),
      {
        name: 'TypeError',
        code: 'ERR_INVALID_RETURN_VALUE',
      },
    );
    assert.throws(() => updateSync(dest, () => bad as never), {
      code: 'ERR_INVALID_RETURN_VALUE',
    });
  }
  assert.throws(() => updateSync(dest, () => Promise.resolve('x') as never), {
    code: 'ERR_INVALID_RETURN_VALUE',
    message: /use update, not updateSync/,
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'keep');
  assert.deepEqual(heldLocks(), []);
});

test('the write is the core atomic write: mode, mkdirs and durability are honoured', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'a', 'b', 'conf.txt');
  await assert.rejects(
    update(dest, () => 'x'),
    { code: 'ENOENT', phase: 'resolve' },
  );
  assert.deepEqual(list(dir), []);

  const recorder = instrument(t);
  await update(dest, () => 'x', { mkdirs: true, mode: 0o600 });
  const fsyncs = recorder.calls.filter((call) => call.name === 'fsync').length;
  restoreSeam();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'x');
  assert.equal(fs.statSync(dest).mode & 0o777, 0o600);
  // file + its directory, and the two directories made (each into its parent)
  assert.equal(fsyncs, 4);

  const none = instrument(t);
  updateSync(dest, () => 'y', { durability: 'none' });
  await update(dest, () => 'z', { durability: 'none' });
  restoreSeam();
  assert.equal(none.calls.filter((call) => call.name === 'fsync').length, 0);
  const file = instrument(t);
  await update(dest, () => 'w', { durability: 'file' });
  restoreSeam();
  assert.equal(file.calls.filter((call) => call.name === 'fsync').length, 1);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'w');
  assert.equal(fs.statSync(dest).mode & 0o777, 0o600, 'mode kept');
});

test("an update keeps its place among this process's writeFile calls", async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'log.txt');
  const order = [
    writeFile(dest, 'a'),
    update(dest, (current) => `${current?.toString() ?? ''}b`),
    writeFile(dest, 'c', { coalesce: false }),
    update(dest, (current) => `${current?.toString() ?? ''}d`),
  ];
  await Promise.all(order);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'cd');
});

test('a symlink is followed: the link stays, its target is updated under one lock', async (t) => {
  const dir = tempDir(t);
  const real = join(dir, 'real.txt');
  const link = join(dir, 'link.txt');
  fs.writeFileSync(real, '1');
  fs.symlinkSync(real, link);
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      update(i % 2 === 0 ? link : real, (current) => String(Number(current?.toString()) + 1)),
    ),
  );
  assert.equal(fs.readFileSync(real, 'utf8'), '21');
  assert.ok(fs.lstatSync(link).isSymbolicLink());
  assert.deepEqual(list(dir), ['.real.txt.afs-lock', 'link.txt', 'real.txt']);
});

test('worker threads of one process exclude each other through the kernel lock', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'count.txt');
  const url = new URL('../../src/index.js', import.meta.url).href;
  // Each thread has its own in-process queue; only the kernel lock stands between them.
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.url).then(async ({ update }) => {
      for (let i = 0; i < 50; i++) {
        await update(workerData.dest, (c) => String(Number(c?.toString() ?? '0') + 1));
      }
      parentPort.postMessage('done');
    });
  `;
  const workers = [0, 1, 2].map(() => new Worker(code, { eval: true, workerData: { url, dest } }));
  const mine = (async () => {
    for (let i = 0; i < 50; i += 1) {
      await update(dest, (c) => String(Number(c?.toString() ?? '0') + 1));
    }
  })();
  await Promise.all([
    mine,
    ...workers.map(
      (worker) =>
        new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  ]);
  await Promise.all(workers.map((worker) => worker.terminate()));
  assert.equal(fs.readFileSync(dest, 'utf8'), '200');
});

test('a file larger than its reported size is read whole (the size is only a hint)', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'grown.txt');
  const content = 'z'.repeat(10_000);
  fs.writeFileSync(dest, content);
  // As if the file grew between fstat and read (or a file system that reports 0, like /proc).
  const realFstat = seam.async.fstat;
  seam.async.fstat = async (fd) =>
    Object.assign(Object.create(await realFstat(fd)) as fs.Stats, { size: 0 });
  t.after(restoreSeam);
  const seen = await update(dest, (current) => {
    assert.equal(current?.length, 10_000);
    return undefined;
  });
  assert.equal(seen?.toString(), content);
});

test('updateSync while an asynchronous write of the file is queued: ERR_ATOMIC_SYNC_CONFLICT; while an async update holds the lock: ERR_ATOMIC_LOCK_REENTRANT', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'n.json');
  fs.writeFileSync(dest, '1\n');
  const code = (run: () => unknown): string => {
    try {
      run();
    } catch (error) {
      return error instanceof AtomicFsError ? error.code : String(error);
    }
    return 'returned';
  };
  // A plain write queued: the update would read before it lands, and be overwritten by it.
  const queued = writeFile(dest, '10\n');
  assert.equal(
    code(() => updateJsonSync(dest, (n: number | undefined) => (n ?? 0) + 1)),
    'ERR_ATOMIC_SYNC_CONFLICT',
  );
  assert.equal(
    code(() => updateSync(dest, (c) => c)),
    'ERR_ATOMIC_SYNC_CONFLICT',
  );
  await queued;
  // An async update in flight holds the lock.
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const inFlight = updateJson(dest, async (n: number | undefined) => {
    await held;
    return (n ?? 0) + 1;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(
    code(() => updateJsonSync(dest, (n: number | undefined) => (n ?? 0) + 100)),
    'ERR_ATOMIC_LOCK_REENTRANT',
  );
  release();
  assert.equal(await inFlight, 11);
  assert.equal(
    updateJsonSync(dest, (n: number | undefined) => (n ?? 0) + 1),
    12,
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), '12\n');
  assert.deepEqual(heldLocks(), []);
});
