/**
 * writeFiles: every file atomic on its own, committed as a group — bytes on disk, the order
 * of the steps (every temp fsynced before any rename, one directory fsync per directory after
 * all renames into it), per-file outcomes, stopOnError, abort, and ordering with other writes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { AtomicFsError, writeFile, writeFiles } from '../../src/index.js';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { ioThreadReady } from '../../src/core/io-thread.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { type SeamCall, instrument, list, tempDir, temps } from '../support/helpers.js';
import { tempsUnder } from '../faults/table.js';

const isTemp = (call: SeamCall): boolean => parseTempName(basename(call.subject)) !== undefined;

/**
 * The batch plans run on the I/O thread when the seam is pristine and no signal is given, and
 * on the calling thread otherwise (a signal that is never aborted forces that): each
 * behaviour test runs on both.
 */
const executors = {
  'I/O thread': () => ({}),
  'calling thread': () => ({ signal: new AbortController().signal }),
};

describe('writeFiles on both executors', () => {
  for (const [executor, extra] of Object.entries(executors)) {
    describe(executor, () => {
      test('the I/O thread is up', async (t) => {
        const online = await ioThreadReady();
        assert.ok(online || process.env.ATOMIC_FS_IO_THREAD === '0', 'I/O thread started');
        t.diagnostic(`I/O thread online: ${String(online)}`);
      });

      test('bytes, modes, failures isolated, create-only, mkdirs', async (t) => {
        const dir = tempDir(t);
        fs.writeFileSync(join(dir, 'kept.txt'), 'old', { mode: 0o640 });
        fs.chmodSync(join(dir, 'kept.txt'), 0o640);
        fs.mkdirSync(join(dir, 'adir'));
        const entries = new Map<string, string | Uint8Array>([
          [join(dir, 'kept.txt'), 'new'],
          [join(dir, 'adir'), 'a directory: fails alone'],
          [join(dir, 'n', 'e', 'w.txt'), 'deep'],
          [join(dir, 'bytes.bin'), new Uint8Array([1, 2, 3])],
        ]);
        const results = await writeFiles(entries, { mkdirs: true, ...extra() });
        assert.deepEqual(
          results.map((r) => (r.status === 'failed' ? r.error.code : r.status)),
          ['written', 'EISDIR', 'written', 'written'],
        );
        assert.equal(fs.readFileSync(join(dir, 'kept.txt'), 'utf8'), 'new');
        assert.equal(fs.statSync(join(dir, 'kept.txt')).mode & 0o7777, 0o640);
        assert.equal(fs.readFileSync(join(dir, 'n', 'e', 'w.txt'), 'utf8'), 'deep');
        assert.deepEqual([...fs.readFileSync(join(dir, 'bytes.bin'))], [1, 2, 3]);
        const again = await writeFiles(
          { [join(dir, 'kept.txt')]: 'no', [join(dir, 'fresh.txt')]: 'yes' },
          { overwrite: false, mode: 0o600, ...extra() },
        );
        assert.deepEqual(
          again.map((r) => (r.status === 'failed' ? r.error.code : r.status)),
          ['EEXIST', 'written'],
        );
        assert.equal(fs.statSync(join(dir, 'fresh.txt')).mode & 0o7777, 0o600);
        assert.deepEqual(tempsUnder(dir), []);
      });

      test('stopOnError: a failure while preparing publishes nothing', async (t) => {
        const dir = tempDir(t);
        fs.writeFileSync(join(dir, 'a.txt'), 'old a');
        fs.mkdirSync(join(dir, 'b.txt'));
        const results = await writeFiles(
          { [join(dir, 'a.txt')]: 'new a', [join(dir, 'b.txt')]: 'b', [join(dir, 'c.txt')]: 'c' },
          { stopOnError: true, concurrency: 1, ...extra() },
        );
        assert.deepEqual(
          results.map((result) => result.status),
          ['skipped', 'failed', 'skipped'],
        );
        assert.equal(fs.readFileSync(join(dir, 'a.txt'), 'utf8'), 'old a');
        assert.deepEqual(list(dir), ['a.txt', 'b.txt']);
      });

      test('a large group in several batches', async (t) => {
        const dir = tempDir(t);
        const entries = new Map<string, Buffer>();
        for (let i = 0; i < 200; i += 1) entries.set(join(dir, `f${i}`), Buffer.alloc(1024, i));
        // A pooled Buffer (a view into a larger ArrayBuffer) crosses to the I/O thread intact.
        entries.set(join(dir, 'pooled'), Buffer.from('a small string from the pool'));
        const results = await writeFiles(entries, extra());
        assert.equal(results.filter((result) => result.status === 'written').length, 201);
        for (const [path, data] of entries) assert.deepEqual(fs.readFileSync(path), data);
        assert.equal(list(dir).length, 201);
      });
    });
  }
});

describe('writeFiles', () => {
  test('writes every file; temps fsynced before any rename; one fsync per directory, last', async (t) => {
    const dir = tempDir(t);
    for (const sub of ['a', 'b', 'c']) fs.mkdirSync(join(dir, sub));
    const entries: Record<string, string> = {};
    for (let i = 0; i < 30; i += 1)
      entries[join(dir, 'abc'[i % 3] ?? 'a', `f${i}.txt`)] = `file ${i}\n`;
    const recorder = instrument(t);
    const results = await writeFiles(entries);
    restoreSeam();
    assert.deepEqual(
      results,
      Object.keys(entries).map((path) => ({ path, status: 'written' })),
    );
    for (const [path, content] of Object.entries(entries)) {
      assert.equal(fs.readFileSync(path, 'utf8'), content);
    }
    assert.deepEqual(tempsUnder(dir), []);
    const calls = recorder.calls;
    const lastTempFsync = calls.findLastIndex((call) => call.name === 'fsync' && isTemp(call));
    const firstRename = calls.findIndex((call) => call.name === 'rename');
    assert.ok(lastTempFsync < firstRename, 'every temp is fsynced before the first rename');
    const dirFsyncs = calls.filter((call) => call.name === 'fsync' && !isTemp(call));
    assert.deepEqual(
      dirFsyncs.map((call) => call.subject).sort(),
      ['a', 'b', 'c'].map((sub) => join(dir, sub)),
      'one fsync per directory',
    );
    const lastRename = calls.findLastIndex((call) => call.name === 'rename');
    const firstDirFsync = calls.findIndex((call) => call.name === 'fsync' && !isTemp(call));
    assert.ok(lastRename < firstDirFsync, 'directories are fsynced after all renames');
    assert.equal(calls.filter((call) => call.name === 'rename').length, 30);
  });

  test('entries as a Map or pairs, with URLs, TypedArrays and an encoding', async (t) => {
    const dir = tempDir(t);
    const floats = new Float64Array([1.5, 2.5]);
    const results = await writeFiles(
      new Map<string | URL, string | NodeJS.ArrayBufferView>([
        [pathToFileURL(join(dir, 'url.txt')), 'via URL'],
        [join(dir, 'floats.bin'), floats],
        [join(dir, 'latin1.txt'), 'ŝ'],
      ]),
      { encoding: 'latin1' },
    );
    assert.ok(results.every((result) => result.status === 'written'));
    assert.equal(fs.readFileSync(join(dir, 'url.txt'), 'utf8'), 'via URL');
    assert.equal(fs.readFileSync(join(dir, 'floats.bin')).length, 16);
    assert.deepEqual(fs.readFileSync(join(dir, 'latin1.txt')), Buffer.from('ŝ', 'latin1'));
    assert.deepEqual(await writeFiles([]), []);
    assert.deepEqual(await writeFiles({}), []);
  });

  test('one failure does not stop the others', async (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(join(dir, 'b.txt'));
    const results = await writeFiles([
      [join(dir, 'a.txt'), 'a'],
      [join(dir, 'b.txt'), 'b'],
      [join(dir, 'c.txt'), 'c'],
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['written', 'failed', 'written'],
    );
    const failed = results[1];
    assert.ok(failed?.status === 'failed');
    assert.ok(failed.error instanceof AtomicFsError);
    assert.equal(failed.error.code, 'EISDIR');
    assert.equal(failed.error.path, join(dir, 'b.txt'));
    assert.deepEqual(list(dir), ['a.txt', 'b.txt', 'c.txt']);
  });

  test('existing files keep their mode; mode, create-only and mkdirs apply to each file', async (t) => {
    const dir = tempDir(t);
    fs.writeFileSync(join(dir, 'kept.txt'), 'old', { mode: 0o640 });
    fs.chmodSync(join(dir, 'kept.txt'), 0o640);
    await writeFiles({ [join(dir, 'kept.txt')]: 'new' });
    assert.equal(fs.statSync(join(dir, 'kept.txt')).mode & 0o7777, 0o640);
    await writeFiles(
      { [join(dir, 'kept.txt')]: 'newer', [join(dir, 'x.txt')]: 'x' },
      { mode: 0o600 },
    );
    assert.equal(fs.statSync(join(dir, 'kept.txt')).mode & 0o7777, 0o600);
    assert.equal(fs.statSync(join(dir, 'x.txt')).mode & 0o7777, 0o600);
    const createOnly = await writeFiles(
      { [join(dir, 'kept.txt')]: 'no', [join(dir, 'fresh.txt')]: 'yes' },
      { overwrite: false },
    );
    assert.deepEqual(
      createOnly.map((result) => (result.status === 'failed' ? result.error.code : result.status)),
      ['EEXIST', 'written'],
    );
    assert.equal(fs.readFileSync(join(dir, 'kept.txt'), 'utf8'), 'newer');
    const deep = {
      [join(dir, 'n', 'e', 'w', 'a.txt')]: 'a',
      [join(dir, 'n', 'e', 'w', 'b.txt')]: 'b',
    };
    assert.ok((await writeFiles(deep, { mkdirs: true })).every((r) => r.status === 'written'));
    assert.equal(fs.readFileSync(join(dir, 'n', 'e', 'w', 'b.txt'), 'utf8'), 'b');
    assert.deepEqual(tempsUnder(dir), []);
  });

  test('durability: none skips every fsync, file skips the directory fsync', async (t) => {
    const dir = tempDir(t);
    const entries = { [join(dir, 'a')]: 'a', [join(dir, 'b')]: 'b' };
    const none = instrument(t);
    await writeFiles(entries, { durability: 'none' });
    assert.equal(none.calls.filter((call) => call.name === 'fsync').length, 0);
    restoreSeam();
    const file = instrument(t);
    await writeFiles(entries, { durability: 'file' });
    const fsyncs = file.calls.filter((call) => call.name === 'fsync');
    assert.equal(fsyncs.length, 2);
    assert.ok(fsyncs.every(isTemp));
  });

  test('an abort during the renames: files renamed before stay, the rest fail with ABORT_ERR', async (t) => {
    const dir = tempDir(t);
    const controller = new AbortController();
    const realRename = seam.async.rename;
    t.after(restoreSeam);
    let renames = 0;
    seam.async.rename = async (from, to) => {
      await realRename(from, to);
      renames += 1;
      if (renames === 2) controller.abort();
    };
    const names = ['a', 'b', 'c', 'd'];
    const results = await writeFiles(
      names.map((name) => [join(dir, name), name] as const),
      { signal: controller.signal },
    );
    assert.deepEqual(
      results.map((result) => (result.status === 'failed' ? result.error.code : result.status)),
      ['written', 'written', 'ABORT_ERR', 'ABORT_ERR'],
    );
    assert.deepEqual(list(dir), ['a', 'b']);
    await assert.rejects(writeFiles({ [join(dir, 'x')]: 'x' }, { signal: AbortSignal.abort() }), {
      code: 'ABORT_ERR',
    });
    assert.deepEqual(list(dir), ['a', 'b']);
  });

  test('keeps call order with other writes to the same files; overlapping groups never deadlock', async (t) => {
    const dir = tempDir(t);
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await Promise.all([
      writeFile(a, '1'),
      writeFiles({ [a]: '2', [b]: '2' }),
      writeFile(a, '3'),
      writeFiles([
        [b, '4'],
        [a, '4'],
      ]),
      writeFiles({ [a]: '5' }),
    ]);
    assert.equal(fs.readFileSync(a, 'utf8'), '5');
    assert.equal(fs.readFileSync(b, 'utf8'), '4');
  });

  test('a file is inspected only when its turn comes: a mode set by the write queued before is kept', async (t) => {
    const dir = tempDir(t);
    const f = join(dir, 'f');
    fs.writeFileSync(f, 'old');
    fs.chmodSync(f, 0o644);
    // The write before the group makes f 0600; it lands only when its source ends.
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const first = writeFile(
      f,
      (async function* () {
        yield 'secret 1';
        await ended;
      })(),
      { mode: 0o600 },
    );
    const group = writeFiles({ [f]: 'secret 2' });
    // Give the group every chance to look at f too early (a temp file of its own shows it
    // did), then let the first write land.
    for (let i = 0; i < 1000 && temps(dir).length < 2; i += 1) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    end();
    await first;
    const outcomes = await group;
    assert.deepEqual(
      outcomes.map((entry) => entry.status),
      ['written'],
    );
    assert.equal(fs.readFileSync(f, 'utf8'), 'secret 2');
    assert.equal(fs.statSync(f).mode & 0o777, 0o600, 'as a second writeFile keeps it');
    // The same through two writeFile calls, for comparison.
    const h = join(dir, 'h');
    await Promise.all([writeFile(h, '1', { mode: 0o600 }), writeFile(h, '2')]);
    assert.equal(fs.statSync(h).mode & 0o777, 0o600);
  });

  test('a file whose turn comes later goes in a later round: the others do not wait for it', async (t) => {
    const dir = tempDir(t);
    const [a, b, c] = ['a', 'b', 'c'].map((name) => join(dir, name));
    assert.ok(a !== undefined && b !== undefined && c !== undefined);
    // A streamed write of b holds b's turn until its source ends.
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const slow = writeFile(
      b,
      (async function* () {
        yield 'b 1';
        await ended;
      })(),
    );
    const group = writeFiles({ [a]: 'a 2', [b]: 'b 2', [c]: 'c 2' });
    // a and c are published (and durable) while b still waits for its turn.
    for (let i = 0; !(fs.existsSync(a) && fs.existsSync(c)); i += 1) {
      assert.ok(i < 10_000, 'a and c were published without waiting for b');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(fs.existsSync(b), false);
    let settled = false;
    void group.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'the call resolves only once every file is written');
    end();
    await slow;
    const outcomes = await group;
    assert.deepEqual(
      outcomes.map((entry) => entry.status),
      ['written', 'written', 'written'],
    );
    assert.deepEqual(
      [a, b, c].map((file) => fs.readFileSync(file, 'utf8')),
      ['a 2', 'b 2', 'c 2'],
      'b after the write called before the group',
    );
    assert.deepEqual(tempsUnder(dir), []);
  });

  test('stopOnError across rounds: files published in an earlier round stay, later rounds are skipped', async (t) => {
    const dir = tempDir(t);
    const [a, b] = ['a', 'b'].map((name) => join(dir, name));
    assert.ok(a !== undefined && b !== undefined);
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (end = resolve));
    // a is published in round 1; b's round fails. (b exists: its streamed write makes no probe
    // of a new file's mode, whose name is the temp's.)
    fs.writeFileSync(b, 'b 0');
    let slow = writeFile(
      b,
      (async function* () {
        yield 'b 1';
        await ended;
      })(),
    );
    // A signal keeps the work on this thread, where the fault below is seen.
    const { signal } = new AbortController();
    let group = writeFiles({ [a]: 'a 2', [b]: 'b 2' }, { stopOnError: true, signal });
    for (let i = 0; !fs.existsSync(a); i += 1) {
      assert.ok(i < 10_000, 'a was published in the first round');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // The streamed write opens its temp file ahead of its turn (after pinning its directory).
    const streamTemp = (): boolean =>
      fs
        .readdirSync(dir)
        .some((name) => name.startsWith('.b.') && parseTempName(name) !== undefined);
    for (let i = 0; !streamTemp(); i += 1) {
      assert.ok(i < 10_000, "the streamed write's temp file exists");
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // From now on no temp file of b can be created: the streamed write has its own already.
    instrument(t, [
      {
        code: 'EIO',
        when: (call) =>
          call.name === 'open' && isTemp(call) && basename(call.subject).startsWith('.b.'),
      },
    ]);
    end();
    await slow;
    let outcomes = await group;
    restoreSeam();
    assert.deepEqual(
      outcomes.map((entry) => entry.status),
      ['written', 'failed'],
    );
    assert.equal(fs.readFileSync(a, 'utf8'), 'a 2', 'published in the first round, kept');
    assert.equal(fs.readFileSync(b, 'utf8'), 'b 1');

    // a fails in round 1: b, whose turn comes later, is skipped.
    const ended2 = new Promise<void>((resolve) => (end = resolve));
    slow = writeFile(
      b,
      (async function* () {
        yield 'b 3';
        await ended2;
      })(),
    );
    fs.rmSync(a);
    fs.mkdirSync(a); // a directory: EISDIR when a is inspected
    group = writeFiles({ [a]: 'a 4', [b]: 'b 4' }, { stopOnError: true });
    await new Promise((resolve) => setImmediate(resolve));
    end();
    await slow;
    outcomes = await group;
    assert.deepEqual(
      outcomes.map((entry) => entry.status),
      ['failed', 'skipped'],
    );
    assert.equal(fs.readFileSync(b, 'utf8'), 'b 3', 'b skipped: only the write before the group');
    assert.deepEqual(tempsUnder(dir), []);
  });

  test('create-only: a temp name that cannot be dropped after the link is reported', async (t) => {
    const dir = tempDir(t);
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    instrument(t, [{ code: 'EIO', when: (call) => call.name === 'unlink' }]);
    const results = await writeFiles(
      { [a]: 'a', [b]: 'b' },
      { overwrite: false, stopOnError: true, concurrency: 1 },
    );
    restoreSeam();
    const [first, second] = results;
    assert.ok(first?.status === 'failed');
    assert.equal(first.error.phase, 'unlink-temp');
    assert.equal(first.error.committed, true, 'linked into place');
    assert.equal(fs.readFileSync(a, 'utf8'), 'a');
    assert.ok(second?.status === 'skipped', 'stopOnError: b is not published');
    assert.ok(!fs.existsSync(b));
    // Both temps could not be removed (every unlink fails): each outcome names its own.
    const leftovers = [first.error.leftover, second.leftover];
    for (const leftover of leftovers) {
      assert.ok(leftover !== undefined && fs.existsSync(leftover));
      fs.unlinkSync(leftover);
    }
    assert.deepEqual(tempsUnder(dir), []);
  });

  test('validates everything before touching anything', async (t) => {
    const dir = tempDir(t);
    const a = join(dir, 'a');
    fs.symlinkSync(a, join(dir, 'alias'));
    const bad: [unknown[], string][] = [
      [[null], 'ERR_INVALID_ARG_TYPE'],
      [['a.txt'], 'ERR_INVALID_ARG_TYPE'],
      [[[['only-a-path']]], 'ERR_INVALID_ARG_VALUE'],
      [[{ [a]: Readable.from(['x']) }], 'ERR_INVALID_ARG_TYPE'],
      [[{ [a]: 42 }], 'ERR_INVALID_ARG_TYPE'],
      [[{ [a]: 'x', [join(dir, 'alias')]: 'y' }], 'ERR_INVALID_ARG_VALUE'],
      [[{ [a]: 'x', [`${dir}/./a`]: 'y' }], 'ERR_INVALID_ARG_VALUE'],
      [[{ [a]: 'x' }, { concurrency: 0 }], 'ERR_OUT_OF_RANGE'],
      [[{ [a]: 'x' }, { concurrency: '4' }], 'ERR_INVALID_ARG_TYPE'],
      [[{ [a]: 'x' }, { stopOnError: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
      [[{ [a]: 'x' }, { mode: -1 }], 'ERR_OUT_OF_RANGE'],
      [[{ [a]: 'x' }, 'utf8'], 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [args, code] of bad) {
      await assert.rejects(
        (writeFiles as (...a: unknown[]) => Promise<unknown>)(...args),
        (error: unknown) =>
          (error instanceof TypeError || error instanceof RangeError) &&
          (error as { code?: string }).code === code,
        JSON.stringify(args),
      );
    }
    assert.deepEqual(list(dir), ['alias']);
    assert.equal(dirname(a), dir);
  });
});
