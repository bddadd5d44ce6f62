/** The guarantees of writeFile / writeFileSync, checked on real files. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { AtomicFsError, writeFile, writeFileSync, writeJsonSync } from '../../src/index.js';
import { seam } from '../../src/engine/fs.js';
import { ioThreadReady } from '../../src/core/io-thread.js';
import {
  instrument,
  isLinux,
  isRoot,
  list,
  needs,
  openFdCount,
  temps,
  tempDir,
} from '../support/helpers.js';

await ioThreadReady();

const both = [
  ['writeFile', writeFile],
  [
    'writeFileSync',
    // async: a synchronous throw becomes a rejection, as for writeFile.
    async (path: string, data: string | NodeJS.ArrayBufferView, options?: object) => {
      writeFileSync(path, data, options);
    },
  ],
] as const;

for (const [name, write] of both) {
  test(`${name}: replaces the content and leaves nothing else`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'file.txt');
    fs.writeFileSync(dest, 'old');
    const fds = openFdCount();
    await write(dest, 'new content');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'new content');
    assert.deepEqual(list(dir), ['file.txt']);
    assert.equal(openFdCount(), fds);
  });

  test(`${name}: keeps an existing file's mode, also while writing`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'secret');
    fs.writeFileSync(dest, 'old');
    fs.chmodSync(dest, 0o600);
    const modes: number[] = [];
    const recorder = instrument(t);
    const realWrite = (await import('../../src/engine/fs.js')).seam;
    const syncWrite = realWrite.sync.write;
    const asyncWrite = realWrite.async.write;
    const look = (): void => {
      for (const temp of temps(dir)) modes.push(fs.statSync(join(dir, temp)).mode & 0o7777);
    };
    realWrite.sync.write = (...args) => {
      look();
      return syncWrite(...args);
    };
    realWrite.async.write = (...args) => {
      look();
      return asyncWrite(...args);
    };
    await write(dest, 'new secret');
    assert.ok(recorder.calls.length > 0);
    assert.ok(modes.length > 0, 'the temp file was observed');
    assert.deepEqual([...new Set(modes)], [0o600], 'the temp file was never wider than 0600');
    assert.equal(fs.statSync(dest).mode & 0o7777, 0o600);
  });

  test(`${name}: applies an explicit mode exactly, set-user-ID bit included`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'tool');
    await write(dest, '#!/bin/sh\n', { mode: 0o4750 });
    assert.equal(fs.statSync(dest).mode & 0o7777, 0o4750);
    await write(dest, '#!/bin/sh\necho\n', { mode: 0o444 });
    assert.equal(fs.statSync(dest).mode & 0o7777, 0o444);
    // A read-only file is still replaced (the directory is what matters), and keeps 0444.
    await write(dest, 'again');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'again');
    assert.equal(fs.statSync(dest).mode & 0o7777, 0o444);
  });

  test(`${name}: a new file gets 0666 minus the umask`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'new');
    const previous = process.umask(0o027);
    try {
      await write(dest, 'x');
    } finally {
      process.umask(previous);
    }
    assert.equal(fs.statSync(dest).mode & 0o7777, 0o640);
  });

  test(`${name}: keeps an existing file's owner (as root)`, async (t) => {
    if (!needs(t, isRoot, 'changing a file owner needs root')) return;
    const dir = tempDir(t);
    const dest = join(dir, 'owned');
    fs.writeFileSync(dest, 'old');
    fs.chownSync(dest, 1234, 5678);
    fs.chmodSync(dest, 0o2640);
    await write(dest, 'new');
    const stats = fs.statSync(dest);
    assert.deepEqual([stats.uid, stats.gid, stats.mode & 0o7777], [1234, 5678, 0o2640]);
    await write(dest, 'newer', { chown: { uid: 42, gid: -1 } });
    const after = fs.statSync(dest);
    assert.deepEqual([after.uid, after.gid], [42, 5678]);
    await write(dest, 'mine', { chown: false });
    assert.equal(fs.statSync(dest).uid, process.getuid?.());
  });

  test(`${name}: follows a symlink and keeps it; a dangling link creates its target`, async (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(join(dir, 'real'));
    fs.writeFileSync(join(dir, 'real', 'target'), 'old');
    fs.symlinkSync('real/target', join(dir, 'link'));
    fs.symlinkSync('link', join(dir, 'link2'));
    await write(join(dir, 'link2'), 'through two links');
    assert.ok(fs.lstatSync(join(dir, 'link')).isSymbolicLink());
    assert.ok(fs.lstatSync(join(dir, 'link2')).isSymbolicLink());
    assert.equal(fs.readFileSync(join(dir, 'real', 'target'), 'utf8'), 'through two links');
    assert.deepEqual(list(join(dir, 'real')), ['target']);

    fs.symlinkSync('real/created', join(dir, 'dangling'));
    await write(join(dir, 'dangling'), 'made');
    assert.ok(fs.lstatSync(join(dir, 'dangling')).isSymbolicLink());
    assert.equal(fs.readFileSync(join(dir, 'real', 'created'), 'utf8'), 'made');
  });

  test(`${name}: symlinks 'replace' replaces the link itself`, async (t) => {
    const dir = tempDir(t);
    fs.writeFileSync(join(dir, 'target'), 'untouched');
    fs.symlinkSync('target', join(dir, 'link'));
    await write(join(dir, 'link'), 'a file now', { symlinks: 'replace' });
    assert.ok(fs.lstatSync(join(dir, 'link')).isFile());
    assert.equal(fs.readFileSync(join(dir, 'link'), 'utf8'), 'a file now');
    assert.equal(fs.readFileSync(join(dir, 'target'), 'utf8'), 'untouched');
  });

  test(`${name}: writes every TypedArray and DataView with its true byte length`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'bytes');
    const cases: [NodeJS.ArrayBufferView | ArrayBuffer, number][] = [
      [new Float64Array(4).fill(1.5), 32],
      [new Uint16Array([1, 2, 3]), 6],
      [new BigInt64Array(2), 16],
      [new DataView(new ArrayBuffer(10), 2, 5), 5],
      [new Uint32Array(new ArrayBuffer(64), 8, 4), 16],
      [new ArrayBuffer(7), 7],
      [Buffer.from('héllo'), 6],
    ];
    for (const [data, length] of cases) {
      await write(dest, data as NodeJS.ArrayBufferView);
      assert.equal(fs.statSync(dest).size, length, data.constructor.name);
    }
    const view = new Float32Array([1, 2, 3, 4]).subarray(1, 3);
    await write(dest, view);
    assert.deepEqual(
      fs.readFileSync(dest),
      Buffer.from(view.buffer, view.byteOffset, view.byteLength),
    );
  });

  test(`${name}: encodings, as an option or a string argument`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'enc');
    await write(dest, 'aGVsbG8=', 'base64' as never);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'hello');
    await write(dest, '68690a', { encoding: 'hex' });
    assert.equal(fs.readFileSync(dest, 'utf8'), 'hi\n');
    await write(dest, '');
    assert.equal(fs.statSync(dest).size, 0);
  });

  test(`${name}: mkdirs creates the missing parents`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'a', 'b', 'c', 'file');
    await write(dest, 'deep', { mkdirs: true });
    assert.equal(fs.readFileSync(dest, 'utf8'), 'deep');
    assert.deepEqual(list(join(dir, 'a', 'b', 'c')), ['file']);
  });

  test(`${name}: overwrite false creates, then refuses with EEXIST`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'once');
    await write(dest, 'first', { overwrite: false });
    await assert.rejects(write(dest, 'second', { overwrite: false }), { code: 'EEXIST' });
    assert.equal(fs.readFileSync(dest, 'utf8'), 'first');
    assert.deepEqual(list(dir), ['once']);
  });
}

test('writeFile: create-only under a race between processes lets exactly one win', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'race');
  const script = `
    const { writeFile } = await import(${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)});
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => writeFile(process.argv[1], process.pid + ':' + i, { overwrite: false, coalesce: false })));
    process.stdout.write(JSON.stringify(results.map((r) => r.status === 'fulfilled' ? 'ok' : r.reason.code)));`;
  const children = await Promise.all(
    Array.from(
      { length: 4 },
      () =>
        new Promise<string[]>((resolve, reject) => {
          const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, dest], {
            encoding: 'utf8',
          });
          if (child.status !== 0) reject(new Error(child.stderr));
          else resolve(JSON.parse(child.stdout) as string[]);
        }),
    ),
  );
  const outcomes = children.flat();
  assert.equal(outcomes.filter((o) => o === 'ok').length, 1, outcomes.join(','));
  assert.equal(outcomes.filter((o) => o === 'EEXIST').length, outcomes.length - 1);
  assert.deepEqual(list(dir), ['race']);
});

test('writeFile: data kinds — iterables, async generators, Readable, web ReadableStream', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'stream');
  const expected = 'one\ntwo\nthree\n';
  const sources: [string, () => unknown][] = [
    ['array of chunks', () => ['one\n', Buffer.from('two\n'), new TextEncoder().encode('three\n')]],
    [
      'sync generator',
      function* () {
        yield 'one\n';
        yield 'two\n';
        yield 'three\n';
      },
    ],
    [
      'async generator',
      async function* () {
        yield 'one\n';
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield 'two\nthree\n';
      },
    ],
    ['Readable', () => Readable.from(['one\n', 'two\n', 'three\n'])],
    [
      'web ReadableStream',
      () =>
        new ReadableStream({
          start(controller) {
            for (const part of ['one\n', 'two\n', 'three\n']) {
              controller.enqueue(new TextEncoder().encode(part));
            }
            controller.close();
          },
        }),
    ],
  ];
  for (const [name, make] of sources) {
    fs.rmSync(dest, { force: true });
    const source = make();
    const data = typeof source === 'function' ? (source as () => unknown)() : source;
    await writeFile(dest, data as Iterable<string>);
    assert.equal(fs.readFileSync(dest, 'utf8'), expected, name);
    assert.deepEqual(list(dir), ['stream'], name);
  }
});

test('writeFile: a stream is read with backpressure, in bounded memory', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'big');
  const MiB = 1 << 20;
  let produced = 0;
  let maxAhead = 0;
  const fds = openFdCount();
  await writeFile(
    dest,
    (async function* () {
      for (let i = 0; i < 256; i += 1) {
        // How far the producer runs ahead of the bytes already in the temp file.
        const [temp] = temps(dir);
        const written = temp === undefined ? 0 : fs.statSync(join(dir, temp)).size;
        maxAhead = Math.max(maxAhead, produced * MiB - written);
        produced += 1;
        yield Buffer.alloc(MiB, i);
      }
    })(),
  );
  assert.equal(produced, 256);
  assert.ok(maxAhead <= 2 * MiB, `the source ran ${maxAhead / MiB} MiB ahead of the disk`);
  assert.equal(fs.statSync(dest).size, 256 * MiB);
  assert.equal(openFdCount(), fds);
});

test('writeFile: a source that errors rejects and publishes nothing', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, 'old');
  const fds = openFdCount();
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(100_000, 1));
      this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    },
  });
  await assert.rejects(writeFile(dest, failing), (error: unknown) => {
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ERR_ATOMIC_SOURCE');
    assert.equal(error.phase, 'read-source');
    assert.equal((error.cause as NodeJS.ErrnoException).code, 'ECONNRESET');
    return true;
  });
  const generator = (async function* () {
    yield 'partial';
    throw new Error('generator broke');
  })();
  await assert.rejects(writeFile(dest, generator), {
    code: 'ERR_ATOMIC_SOURCE',
    phase: 'read-source',
  });
  await assert.rejects(writeFile(dest, [1, 2, 3] as unknown as string[]), {
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
  assert.deepEqual(list(dir), ['file']);
  assert.equal(openFdCount(), fds);
});

test('writeFile: abort before start, mid-stream and before the rename publishes nothing', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, 'old');
  const fds = openFdCount();

  await assert.rejects(writeFile(dest, 'new', { signal: AbortSignal.abort() }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });

  const controller = new AbortController();
  const stream = (async function* () {
    yield 'first';
    controller.abort(new Error('user cancelled'));
    yield 'second';
  })();
  await assert.rejects(writeFile(dest, stream, { signal: controller.signal }), (error: unknown) => {
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ABORT_ERR');
    assert.equal((error.cause as Error).message, 'user cancelled');
    return true;
  });

  // Abort while the temp file is being flushed: the rename must not happen.
  const late = new AbortController();
  const recorder = instrument(t, [
    {
      code: 'NONE',
      when: (call) => {
        if (call.name === 'fsync' && temps(dir).length > 0) late.abort();
        return false;
      },
    },
  ]);
  await assert.rejects(writeFile(dest, 'new', { signal: late.signal }), { code: 'ABORT_ERR' });
  assert.ok(!recorder.calls.some((call) => call.name === 'rename'), 'no rename after abort');

  assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
  assert.deepEqual(list(dir), ['file']);
  assert.equal(openFdCount(), fds);
});

test('writeFile: 1000 concurrent writes end with the last; every promise settles; few commits', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'burst');
  const recorder = instrument(t);
  const writes = Array.from({ length: 1000 }, (_, i) => writeFile(dest, `version ${i}`));
  const results = await Promise.allSettled(writes);
  assert.ok(results.every((result) => result.status === 'fulfilled'));
  assert.equal(fs.readFileSync(dest, 'utf8'), 'version 999');
  const renames = recorder.calls.filter((call) => call.name === 'rename').length;
  assert.ok(renames <= 3, `${renames} commits for a burst of 1000`);
  assert.deepEqual(list(dir), ['burst']);
});

test('writeFile: order is kept per real file, across two names for it', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, '');
  fs.symlinkSync('file', join(dir, 'alias'));
  const order: string[] = [];
  const recorder = instrument(t, [
    {
      code: 'NONE',
      when: (call) => {
        if (call.name === 'write') order.push(Buffer.from(call.args[1] as Uint8Array).toString());
        return false;
      },
    },
  ]);
  await Promise.all([
    writeFile(dest, 'A', { coalesce: false }),
    writeFile(join(dir, 'alias'), 'B', { coalesce: false }),
    writeFile(dest, 'C', { coalesce: false }),
    writeFile(join(dir, '.', 'alias'), 'D', { coalesce: false }),
  ]);
  assert.ok(recorder.calls.length > 0);
  assert.deepEqual(order, ['A', 'B', 'C', 'D']);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'D');
});

test('writeFile: a call made after an earlier write’s rename still queues behind the ones waiting', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, '0');
  const renamed: string[] = [];
  let third: Promise<void> | undefined;
  instrument(t, [
    {
      code: 'NONE',
      when: (call) => {
        if (call.name === 'rename') renamed.push(fs.readFileSync(call.args[0] as string, 'utf8'));
        // The first write has renamed (the file is a new inode now) and is flushing its
        // directory: a third call made now must still come after the second, queued one.
        if (call.name === 'fsync' && call.subject === dir && third === undefined) {
          third = writeFile(dest, '3', { coalesce: false });
        }
        return false;
      },
    },
  ]);
  const first = writeFile(dest, '1', { coalesce: false });
  const second = writeFile(dest, '2', { coalesce: false });
  await Promise.all([first, second]);
  await third;
  assert.deepEqual(renamed, ['1', '2', '3']);
  assert.equal(fs.readFileSync(dest, 'utf8'), '3');
});

test('writeFile: a call made once an earlier write made the directories still queues behind it', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'a', 'b', 'file');
  const renamed: string[] = [];
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let reached = (): void => undefined;
  const atRename = new Promise<void>((resolve) => (reached = resolve));
  instrument(t);
  const { rename } = seam.async;
  seam.async.rename = async (from, to) => {
    const content = fs.readFileSync(from, 'utf8');
    if (content === 'first') {
      reached();
      await held;
    }
    renamed.push(content);
    return rename(from, to);
  };
  const options = { mkdirs: true, coalesce: false };
  const first = writeFile(dest, 'first', options);
  // The first write has made a/b and waits at its rename: the directory exists now.
  await atRename;
  assert.ok(fs.statSync(join(dir, 'a', 'b')).isDirectory());
  let secondDone = false;
  const second = writeFile(dest, 'second', options).then(() => {
    secondDone = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(secondDone, false, 'the second call waits for the first');
  release();
  await Promise.all([first, second]);
  assert.deepEqual(renamed, ['first', 'second']);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'second');
});

test('writeFile: an earlier call never rejects with a later call’s error', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  const first = writeFile(dest, 'first');
  const second = writeFile(dest, 'second', { mode: 0o600 });
  // The third fails (its create-only check meets the file the first one made).
  const third = writeFile(dest, 'third', { overwrite: false });
  await first;
  await second;
  await assert.rejects(third, { code: 'EEXIST' });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'second');
});

test('writeFile: a coalesced-away write never gets the newer data’s ENOSPC: its own data is written', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  // The disk is "full" for anything larger than 1 KiB.
  const recorder = instrument(t, [
    {
      code: 'ENOSPC',
      when: (call) => call.name === 'write' && (call.args[3] as number) > 1024,
    },
  ]);
  const first = writeFile(dest, 'first');
  const small = writeFile(dest, 'small');
  const big = writeFile(dest, 'B'.repeat(4096));
  await first;
  await small;
  await assert.rejects(big, { code: 'ENOSPC', phase: 'write' });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'small', 'as if each had been written in turn');
  assert.deepEqual(temps(dir), []);
  // The newest was tried first, once; then the superseded one.
  assert.equal(recorder.calls.filter((call) => call.name === 'rename').length, 2);
});

test('writeFile: a failure older data would meet at the same step is shared, not retried', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  // An existing file: the streamed write creates its temp at once (a new file's would follow
  // the probe of its mode, which the wait below could take for it).
  fs.writeFileSync(dest, 'old');
  let gate: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (gate = resolve));
  const first = writeFile(
    dest,
    (async function* () {
      yield 'first';
      await held;
    })(),
  );
  const older = writeFile(dest, 'older');
  const newer = writeFile(dest, 'newer');
  for (let i = 0; temps(dir).length === 0; i += 1) {
    assert.ok(i < 100_000, 'the streamed write made its temp file');
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Every temp file created from now on is refused, as in a directory that lost its write
  // permission: the older data would meet that too.
  const isTempOpen = (call: { name: string; subject: string }): boolean =>
    call.name === 'open' && call.subject.endsWith('.tmp');
  const recorder = instrument(t, [{ code: 'EACCES', when: isTempOpen }]);
  gate();
  await first;
  await assert.rejects(newer, { code: 'EACCES', phase: 'create-temp' });
  await assert.rejects(older, { code: 'EACCES', phase: 'create-temp' });
  assert.equal(recorder.calls.filter(isTempOpen).length, 1, 'tried once, for the newest data');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'first');
});

test('writeFileSync (and writeJsonSync) while an asynchronous write of the file is pending: ERR_ATOMIC_SYNC_CONFLICT, nothing written', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, 'old');
  fs.symlinkSync(dest, join(dir, 'alias'));
  const pending = writeFile(dest, 'async');
  for (const path of [dest, join(dir, 'alias')]) {
    assert.throws(
      () => {
        writeFileSync(path, 'sync');
      },
      (error) =>
        error instanceof AtomicFsError &&
        error.code === 'ERR_ATOMIC_SYNC_CONFLICT' &&
        error.path === path &&
        /asynchronous write of this file is queued or in progress/.test(error.message),
    );
  }
  assert.throws(
    () => {
      writeJsonSync(dest, { sync: true });
    },
    { code: 'ERR_ATOMIC_SYNC_CONFLICT' },
  );
  await pending;
  assert.equal(
    fs.readFileSync(dest, 'utf8'),
    'async',
    'the async write landed, and nothing after it',
  );
  // Once it has settled, the sync write goes through (it was lost before: the async one
  // landed after it and overwrote it).
  writeFileSync(dest, 'sync');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'sync');
  // Another file is not in conflict.
  const other = writeFile(join(dir, 'other'), 'x');
  writeFileSync(dest, 'sync 2');
  await other;
  assert.deepEqual(temps(dir), []);
});

test('durability levels issue the fsyncs they promise', async (t) => {
  const dir = tempDir(t);
  const counts: Record<string, number> = {};
  for (const durability of ['full', 'file', 'none'] as const) {
    const recorder = instrument(t);
    await writeFile(join(dir, durability), 'x', { durability });
    counts[durability] = recorder.calls.filter((call) => call.name === 'fsync').length;
  }
  assert.deepEqual(counts, { full: 2, file: 1, none: 0 });
});

test('writeFile: a buffer over 2 GiB is written whole', async (t) => {
  const size = 2 ** 31 + 4096;
  if (!needs(t, freemem() > 3 * size, `needs ${Math.ceil((3 * size) / 2 ** 30)} GiB free memory`)) {
    return;
  }
  const dir = tempDir(t);
  const { bavail, bsize } = fs.statfsSync(dir);
  if (!needs(t, bavail * bsize > 2 * size, 'needs 4.2 GiB of free disk')) return;
  const dest = join(dir, 'huge');
  const data = Buffer.allocUnsafe(size);
  data.fill(0xab);
  data.write('start', 0);
  data.write('end', size - 3);
  await writeFile(dest, data);
  assert.equal(fs.statSync(dest).size, size);
  const fd = fs.openSync(dest, 'r');
  try {
    const edge = Buffer.alloc(10);
    fs.readSync(fd, edge, 0, 10, 2 ** 31 - 5);
    assert.deepEqual(edge, Buffer.alloc(10, 0xab));
    const tail = Buffer.alloc(3);
    fs.readSync(fd, tail, 0, 3, size - 3);
    assert.equal(tail.toString(), 'end');
  } finally {
    fs.closeSync(fd);
  }
});

test(
  'writeFile: resolves on the I/O thread and on the calling thread alike',
  { skip: !isLinux },
  async (t) => {
    const dir = tempDir(t);
    assert.equal(await ioThreadReady(), true);
    const fds = openFdCount();
    await writeFile(join(dir, 'a'), 'via the I/O thread');
    await assert.rejects(writeFile(join(dir, 'missing', 'a'), 'x'), {
      code: 'ENOENT',
      phase: 'resolve',
    });
    fs.mkdirSync(join(dir, 'isdir'));
    await assert.rejects(writeFile(join(dir, 'isdir'), 'x'), (error: unknown) => {
      assert.ok(error instanceof AtomicFsError, 'errors cross the thread as AtomicFsError');
      assert.equal(error.code, 'EISDIR');
      assert.equal(error.phase, 'resolve');
      return true;
    });
    assert.equal(fs.readFileSync(join(dir, 'a'), 'utf8'), 'via the I/O thread');
    assert.equal(openFdCount(), fds);
    assert.deepEqual(list(dir), ['a', 'isdir']);
  },
);
