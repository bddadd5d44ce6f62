/**
 * writeDirectory: what ends up on disk, argument checks, symlinked directories, the Windows
 * rules, and the exchange being unavailable.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { KEPT_TAG } from '../../src/tree/constants.js';
import { entriesOf, keptName, splitRelative } from '../../src/tree/write-directory.js';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { AtomicFsError, writeDirectory } from '../../src/index.js';
import { parseStagingName, parseTempName } from '../../src/core/temp-names.js';
import { instrument, isLinux, isRoot, list, needs, tempDir } from '../support/helpers.js';

/** Every file below `dir` with its content, by relative path. */
function files(dir: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    result[path.slice(dir.length + 1)] = fs.readFileSync(path, 'utf8');
  }
  return result;
}

function modeOf(path: string): number {
  return fs.statSync(path).mode & 0o7777;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail('expected a rejection');
}

describe('writeDirectory', () => {
  test('creates a new directory with nested files', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'site');
    const result = await writeDirectory(dir, {
      'index.html': '<h1>hi</h1>',
      'assets/app.js': Buffer.from('js'),
      'assets/img/x.bin': new Uint8Array([1, 2, 3]),
    });
    assert.deepEqual(result, { path: dir, previous: undefined });
    assert.deepEqual(files(dir), {
      'index.html': '<h1>hi</h1>',
      'assets/app.js': 'js',
      'assets/img/x.bin': '\u0001\u0002\u0003',
    });
    assert.deepEqual(list(parent), ['site']);
  });

  test('replaces the whole content: old files and directories are gone', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'conf');
    fs.mkdirSync(join(dir, 'old', 'deep'), { recursive: true });
    fs.writeFileSync(join(dir, 'old', 'deep', 'x'), 'x');
    fs.writeFileSync(join(dir, 'keep.txt'), 'old');
    fs.chmodSync(dir, 0o710);
    const inode = fs.statSync(dir).ino;
    await writeDirectory(dir, new Map([['keep.txt', 'new']]));
    assert.deepEqual(files(dir), { 'keep.txt': 'new' });
    assert.deepEqual(list(dir), ['keep.txt']);
    assert.notEqual(fs.statSync(dir).ino, inode, 'a new directory took its place');
    assert.equal(modeOf(dir), 0o710, 'the directory keeps its mode');
    assert.deepEqual(list(parent), ['conf']);
  });

  test('an empty set of files makes an empty directory', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, 'x'), 'x');
    await writeDirectory(dir, {});
    assert.deepEqual(list(dir), []);
  });

  test('keepOld keeps the previous tree under a returned name no cleanup takes', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    const first = await writeDirectory(dir, { v: '2' }, { keepOld: true });
    assert.ok(first.previous !== undefined);
    assert.deepEqual(files(first.previous), { v: '1' });
    assert.deepEqual(files(dir), { v: '2' });
    const name = first.previous.slice(parent.length + 1);
    assert.match(name, new RegExp(`^\\.d\\.${KEPT_TAG}-\\d{8}T\\d{6}Z-[0-9a-f]{8}$`));
    assert.equal(parseTempName(name), undefined);
    assert.equal(parseStagingName(name), undefined);
    // A new directory has no previous tree to keep.
    const fresh = await writeDirectory(join(parent, 'e'), { v: '1' }, { keepOld: true });
    assert.equal(fresh.previous, undefined);
  });

  test('mode and dirMode are applied exactly, whatever the umask', async (t) => {
    const dir = join(tempDir(t), 'd');
    const umask = process.umask(0o077);
    try {
      await writeDirectory(
        dir,
        { 'a/b/c.txt': 'c', 'top.txt': 't' },
        { mode: 0o644, dirMode: 0o755 },
      );
    } finally {
      process.umask(umask);
    }
    assert.equal(modeOf(dir), 0o755);
    assert.equal(modeOf(join(dir, 'a')), 0o755);
    assert.equal(modeOf(join(dir, 'a', 'b')), 0o755);
    assert.equal(modeOf(join(dir, 'a', 'b', 'c.txt')), 0o644);
    assert.equal(modeOf(join(dir, 'top.txt')), 0o644);
  });

  test('a read-only dirMode still lets the tree be filled', async (t) => {
    const dir = join(tempDir(t), 'd');
    await writeDirectory(dir, { 'sub/f': 'f' }, { dirMode: 0o555, mode: 0o444 });
    assert.equal(modeOf(join(dir, 'sub')), 0o555);
    assert.equal(fs.readFileSync(join(dir, 'sub', 'f'), 'utf8'), 'f');
    // So that the test directory can be removed by a non-root user too.
    fs.chmodSync(join(dir, 'sub'), 0o755);
    fs.chmodSync(dir, 0o755);
  });

  test('data: every kind writeFile takes, with true byte lengths', async (t) => {
    const dir = join(tempDir(t), 'd');
    async function* generate(): AsyncGenerator<string> {
      await Promise.resolve();
      yield 'gen';
      yield 'erated';
    }
    await writeDirectory(
      dir,
      {
        latin: 'ŝ',
        floats: new Float64Array([1, 2]),
        buffer: new ArrayBuffer(3),
        view: new DataView(new ArrayBuffer(5)),
        stream: Readable.from([Buffer.from('str'), Buffer.from('eam')]),
        generator: generate(),
        web: new Blob(['web stream']).stream(),
        array: ['a', Buffer.from('b')],
        empty: '',
      },
      { encoding: 'latin1' },
    );
    const size = (name: string): number => fs.statSync(join(dir, name)).size;
    assert.equal(size('latin'), 1);
    assert.equal(size('floats'), 16);
    assert.equal(size('buffer'), 3);
    assert.equal(size('view'), 5);
    assert.equal(size('empty'), 0);
    const text = files(dir);
    assert.equal(text.stream, 'stream');
    assert.equal(text.generator, 'generated');
    assert.equal(text.web, 'web stream');
    assert.equal(text.array, 'ab');
  });

  test('a failing source rejects with ERR_ATOMIC_SOURCE and changes nothing', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    const broken = new Readable({
      read() {
        this.destroy(new Error('disk unplugged'));
      },
    });
    const error = await rejection(writeDirectory(dir, { a: 'a', b: broken }));
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ERR_ATOMIC_SOURCE');
    assert.equal(error.phase, 'read-source');
    assert.match(error.message, /"b"/);
    assert.deepEqual(files(dir), { v: '1' });
    assert.deepEqual(list(parent), ['d']);
  });

  test('a bad chunk from a source is a TypeError; nothing changes', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    const notChunks: unknown = [42];
    const error = await rejection(writeDirectory(dir, { a: notChunks as string[] }));
    assert.ok(error instanceof TypeError);
    assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARG_TYPE');
    assert.deepEqual(files(dir), { v: '1' });
    assert.deepEqual(list(parent), ['d']);
  });

  test('abort: before the call nothing is touched; during a stream the staging goes', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    const error = await rejection(writeDirectory(dir, { v: '2' }, { signal: AbortSignal.abort() }));
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ABORT_ERR');
    assert.equal(error.name, 'AbortError');
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<string> {
      await Promise.resolve();
      yield 'part';
      controller.abort();
      yield 'rest';
    }
    const midway = await rejection(
      writeDirectory(dir, { a: 'a', b: slow(), c: 'c' }, { signal: controller.signal }),
    );
    assert.ok(midway instanceof AtomicFsError);
    assert.equal(midway.code, 'ABORT_ERR');
    assert.deepEqual(files(dir), { v: '1' });
    assert.deepEqual(list(parent), ['d']);
  });

  test('calls for one directory apply in call order', async (t) => {
    const dir = join(tempDir(t), 'd');
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => writeDirectory(dir, { v: String(i), [`f${i}`]: '' })),
    );
    assert.deepEqual(list(dir), ['f7', 'v']);
    assert.equal(fs.readFileSync(join(dir, 'v'), 'utf8'), '7');
  });

  test('a symlinked directory: the target is replaced, the link stays', async (t) => {
    const parent = tempDir(t);
    fs.mkdirSync(join(parent, 'releases', 'a'), { recursive: true });
    fs.writeFileSync(join(parent, 'releases', 'a', 'old'), 'old');
    fs.symlinkSync('releases/a', join(parent, 'data'));
    const result = await writeDirectory(join(parent, 'data'), { new: 'new' });
    assert.equal(result.path, join(parent, 'releases', 'a'));
    assert.equal(fs.readlinkSync(join(parent, 'data')), 'releases/a');
    assert.deepEqual(list(join(parent, 'releases', 'a')), ['new']);
    assert.deepEqual(list(join(parent, 'releases')), ['a']);
    // A dangling link: the directory it names is created.
    fs.symlinkSync('releases/b', join(parent, 'next'));
    await writeDirectory(join(parent, 'next'), { x: 'x' });
    assert.deepEqual(list(join(parent, 'releases', 'b')), ['x']);
  });

  test('trailing separators and file: URLs name the same directory', async (t) => {
    const parent = tempDir(t);
    await writeDirectory(`${join(parent, 'd')}//`, { a: '1' });
    await writeDirectory(pathToFileURL(join(parent, 'd')), { b: '2' });
    assert.deepEqual(list(join(parent, 'd')), ['b']);
  });

  test('a file at dir is ENOTDIR; a missing parent is ENOENT; both in phase resolve', async (t) => {
    const parent = tempDir(t);
    fs.writeFileSync(join(parent, 'f'), 'file');
    const notDir = await rejection(writeDirectory(join(parent, 'f'), { a: 'a' }));
    assert.ok(notDir instanceof AtomicFsError);
    assert.equal(notDir.code, 'ENOTDIR');
    assert.equal(notDir.phase, 'resolve');
    const missing = await rejection(writeDirectory(join(parent, 'no', 'd'), { a: 'a' }));
    assert.ok(missing instanceof AtomicFsError);
    assert.equal(missing.code, 'ENOENT');
    assert.equal(missing.phase, 'resolve');
    assert.deepEqual(list(parent), ['f']);
  });

  test('the new tree takes the owner of the directory it replaces', async (t) => {
    if (!needs(t, isRoot, 'giving files away needs root')) return;
    const dir = join(tempDir(t), 'd');
    fs.mkdirSync(dir);
    fs.chownSync(dir, 1234, 5678);
    await writeDirectory(dir, { 'a/b': 'b', c: 'c' });
    for (const path of [dir, join(dir, 'a'), join(dir, 'a', 'b'), join(dir, 'c')]) {
      const stats = fs.statSync(path);
      assert.deepEqual([stats.uid, stats.gid], [1234, 5678], path);
    }
  });

  test('durability: none fsyncs nothing; file flushes the swap only before removing the old tree', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '0' });
    const fsyncs = async (
      durability: 'full' | 'file' | 'none',
      keepOld = false,
    ): Promise<string[]> => {
      const recorder = instrument(t);
      await writeDirectory(dir, { 'a/b': '1', c: '2' }, { durability, keepOld });
      restoreSeam();
      return recorder.calls.filter((c) => c.name === 'fsync').map((c) => c.subject);
    };
    const full = await fsyncs('full');
    const file = await fsyncs('file');
    const fileKeepingOld = await fsyncs('file', true);
    assert.deepEqual(await fsyncs('none'), []);
    // Two files and two staged directories before the swap; the parent after it.
    assert.equal(full.length, 5);
    assert.equal(full.at(-1), parent);
    // 'file': the parent too, because the previous tree is removed next (a power cut must not
    // find its removal on disk without the swap); keeping it, the swap may stay unflushed.
    const names = (subjects: string[]): string[] =>
      subjects.map((subject) => subject.replace(/\.d\.afs-[^/]*\.stage/, 'STAGE'));
    assert.deepEqual(names(file), names(full));
    assert.equal(fileKeepingOld.length, 4);
    assert.ok(!fileKeepingOld.includes(parent));
  });
});

describe('writeDirectory: paths and arguments are checked before anything is written', () => {
  const bad: [string, string][] = [
    ['', 'must not be empty'],
    ['/etc/passwd', 'must be relative'],
    ['../x', '".."'],
    ['a/../../x', '".."'],
    ['./a', '"."'],
    ['a//b', 'empty segments'],
    ['a/', 'empty segments'],
    ['a\u0000b', 'null bytes'],
  ];
  for (const [name, why] of bad) {
    test(`refuses ${JSON.stringify(name)}`, async (t) => {
      const parent = tempDir(t);
      const error = await rejection(writeDirectory(join(parent, 'd'), { ok: 'x', [name]: 'x' }));
      assert.ok(error instanceof TypeError, String(error));
      assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARG_VALUE');
      assert.ok(error.message.includes(why), error.message);
      assert.deepEqual(list(parent), [], 'nothing was written');
    });
  }

  test('Windows rules: backslashes separate; drive letters and ":" are refused', () => {
    assert.deepEqual(splitRelative('a\\b/c', 'win32'), ['a', 'b', 'c']);
    assert.deepEqual(splitRelative('a\\b', 'linux'), ['a\\b']);
    for (const name of ['C:\\x', 'C:x', '\\x', 'a\\..\\..\\x', 'file.txt:stream']) {
      assert.throws(() => splitRelative(name, 'win32'), { code: 'ERR_INVALID_ARG_VALUE' }, name);
    }
  });

  test('duplicates and a path that is both a file and a directory', () => {
    const check = (pairs: [string, string][]): void => {
      entriesOf(pairs, 'utf8', 'linux');
    };
    assert.throws(() => {
      check([
        ['a', '1'],
        ['a', '2'],
      ]);
    }, /given twice/);
    assert.throws(() => {
      check([
        ['a', '1'],
        ['a/b', '2'],
      ]);
    }, /directory and a file/);
    assert.throws(() => {
      check([
        ['a/b', '1'],
        ['a', '2'],
      ]);
    }, /both a file and a directory/);
    assert.doesNotThrow(() => {
      check([
        ['a/b', '1'],
        ['a/c', '2'],
      ]);
    });
  });

  test('bad files, data and options are TypeErrors and RangeErrors', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    const cases: [unknown, unknown, unknown, string][] = [
      [dir, null, undefined, 'ERR_INVALID_ARG_TYPE'],
      [dir, 'a string', undefined, 'ERR_INVALID_ARG_TYPE'],
      [dir, [['a']], undefined, 'ERR_INVALID_ARG_VALUE'],
      [dir, [[1, 'x']], undefined, 'ERR_INVALID_ARG_TYPE'],
      [dir, { a: 42 }, undefined, 'ERR_INVALID_ARG_TYPE'],
      [dir, { a: null }, undefined, 'ERR_INVALID_ARG_TYPE'],
      [dir, {}, { mode: 0o10000 }, 'ERR_OUT_OF_RANGE'],
      [dir, {}, { dirMode: '755' }, 'ERR_INVALID_ARG_TYPE'],
      [dir, {}, { durability: 'some' }, 'ERR_INVALID_ARG_VALUE'],
      [dir, {}, { keepOld: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
      [dir, {}, { allowNonAtomic: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [dir, {}, { signal: {} }, 'ERR_INVALID_ARG_TYPE'],
      [dir, {}, 'utf8', 'ERR_INVALID_ARG_TYPE'],
      ['', {}, undefined, 'ERR_INVALID_ARG_VALUE'],
      [42, {}, undefined, 'ERR_INVALID_ARG_TYPE'],
      ['/', {}, undefined, 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [path, data, options, code] of cases) {
      const call = writeDirectory as (a: unknown, b: unknown, c: unknown) => Promise<unknown>;
      const error = await rejection(call(path, data, options));
      assert.ok(error instanceof TypeError || error instanceof RangeError, String(error));
      assert.equal((error as { code?: string }).code, code, error.message);
    }
    assert.deepEqual(list(parent), []);
  });

  test('the options object is not mutated', async (t) => {
    const options = Object.freeze({ mode: 0o600, keepOld: false });
    await writeDirectory(join(tempDir(t), 'd'), { a: 'a' }, options);
    assert.deepEqual(options, { mode: 0o600, keepOld: false });
  });

  test('kept names: hidden, dated, never a temp or staging name, within 255 bytes', () => {
    const name = keptName('x'.repeat(300), new Date('2026-01-02T03:04:05.678Z'));
    assert.match(name, /^\.x+\.afs-old-20260102T030405Z-[0-9a-f]{8}$/);
    assert.ok(Buffer.byteLength(name) <= 255);
  });
});

describe('writeDirectory without an atomic exchange', () => {
  test('Windows: an existing directory is refused before anything is written', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    const recorder = instrument(t);
    seam.platform = 'win32';
    const error = await rejection(writeDirectory(dir, { v: '2' }));
    restoreSeam();
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ERR_ATOMIC_NO_EXCHANGE');
    assert.equal(error.phase, 'swap');
    assert.match(error.message, /allowNonAtomic/);
    assert.deepEqual(
      recorder.calls.filter((c) => !['lstat', 'stat', 'realpath'].includes(c.name)),
      [],
      'nothing but looking',
    );
    assert.deepEqual(files(dir), { v: '1' });
  });

  test('Windows: a new directory needs no exchange', async (t) => {
    const parent = tempDir(t);
    instrument(t);
    seam.platform = 'win32';
    await writeDirectory(join(parent, 'd'), { 'a/b': 'b' });
    restoreSeam();
    assert.deepEqual(files(join(parent, 'd')), { 'a/b': 'b' });
  });

  test('Windows with allowNonAtomic: two renames, previous tree removed or kept', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    const recorder = instrument(t);
    seam.platform = 'win32';
    await writeDirectory(dir, { v: '2' }, { allowNonAtomic: true });
    const kept = await writeDirectory(dir, { v: '3' }, { allowNonAtomic: true, keepOld: true });
    restoreSeam();
    assert.equal(recorder.calls.filter((c) => c.name === 'swap').length, 0);
    assert.equal(
      recorder.calls.filter((c) => c.name === 'fsync' && c.subject === parent).length,
      0,
    );
    assert.deepEqual(files(dir), { v: '3' });
    assert.ok(kept.previous !== undefined);
    assert.deepEqual(files(kept.previous), { v: '2' });
    assert.deepEqual(list(parent).length, 2);
  });

  test('Windows: if the second rename fails, the old tree is moved back', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    instrument(t, [
      { code: 'EIO', when: (c) => c.name === 'rename' && c.subject.endsWith('.stage') },
    ]);
    seam.platform = 'win32';
    const error = await rejection(writeDirectory(dir, { v: '2' }, { allowNonAtomic: true }));
    restoreSeam();
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'EIO');
    assert.equal(error.phase, 'swap');
    assert.deepEqual(files(dir), { v: '1' });
    assert.deepEqual(list(parent), ['d']);
  });

  test('Windows: if moving back fails too, the error says where the old tree is', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    instrument(t, [{ code: 'EIO', when: (c) => c.name === 'rename' && c.args[1] === dir }]);
    seam.platform = 'win32';
    const error = await rejection(writeDirectory(dir, { v: '2' }, { allowNonAtomic: true }));
    restoreSeam();
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'EIO');
    assert.ok(error.leftover !== undefined);
    assert.match(error.message, /is missing, its previous tree is at/);
    assert.equal(fs.existsSync(dir), false);
    assert.deepEqual(files(error.leftover), { v: '1' });
    assert.deepEqual(list(parent), [error.leftover.slice(parent.length + 1)]);
  });

  test('Windows: a busy rename is retried (bounded), then succeeds', async (t) => {
    const parent = tempDir(t);
    const dir = join(parent, 'd');
    await writeDirectory(dir, { v: '1' });
    let busy = 2;
    instrument(t, [{ code: 'EBUSY', when: (c) => c.name === 'rename' && (busy -= 1) >= 0 }]);
    seam.platform = 'win32';
    await writeDirectory(dir, { v: '2' }, { allowNonAtomic: true });
    restoreSeam();
    assert.deepEqual(files(dir), { v: '2' });
    assert.deepEqual(list(parent), ['d']);
  });

  for (const code of ['EINVAL', 'ENOSYS']) {
    test(`an exchange refused with ${code}: ERR_ATOMIC_NO_EXCHANGE, or two renames if allowed`, async (t) => {
      if (!needs(t, isLinux || process.platform === 'darwin', 'the exchange path')) return;
      const parent = tempDir(t);
      const dir = join(parent, 'd');
      await writeDirectory(dir, { v: '1' });
      instrument(t, [{ code, when: (c) => c.name === 'swap' }]);
      const error = await rejection(writeDirectory(dir, { v: '2' }));
      assert.ok(error instanceof AtomicFsError);
      assert.equal(error.code, 'ERR_ATOMIC_NO_EXCHANGE');
      assert.equal(errnoCode(error.cause), code);
      assert.deepEqual(list(parent), ['d']);
      await writeDirectory(dir, { v: '3' }, { allowNonAtomic: true });
      restoreSeam();
      assert.deepEqual(files(dir), { v: '3' });
      assert.deepEqual(list(parent), ['d']);
    });
  }

  test('the exchange error carries the syscall and both paths', async (t) => {
    if (!needs(t, isLinux, 'renameat2 on Linux')) return;
    const parent = tempDir(t);
    const missing = join(parent, 'missing');
    assert.throws(
      () => {
        seam.sync.swap(missing, parent);
      },
      {
        code: 'ENOENT',
        syscall: 'renameat2',
        path: missing,
      },
    );
    await assert.rejects(seam.async.swap(missing, parent), { code: 'ENOENT', dest: parent });
  });
});

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String(error.code)
    : undefined;
}

test('SIGTERM during writeDirectory: the staged tree is reclaimed on the way out', async (t) => {
  // A write that stalls on a source which never ends, then SIGTERM: the exit handler
  // (signal-exit) must claim and remove the staged tree; the directory stays as it was.
  const parent = tempDir(t);
  const dir = join(parent, 'd');
  await writeDirectory(dir, { v: '1' });
  const index = new URL('../../src/index.js', import.meta.url).href;
  const script = `
    import { writeDirectory } from ${JSON.stringify(index)};
    import { readdirSync } from 'node:fs';
    const never = { [Symbol.asyncIterator]() { return { next: () => new Promise(() => {}) }; } };
    void writeDirectory(${JSON.stringify(dir)}, { a: 'a', stalled: never });
    const wait = () => {
      if (readdirSync(${JSON.stringify(parent)}).some((n) => n.endsWith('.stage'))) {
        process.stdout.write('staged\\n');
      } else setTimeout(wait, 5);
    };
    wait();
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) =>
    child.stdout.once('data', () => {
      resolve();
    }),
  );
  assert.equal(list(parent).length, 2, 'the staged tree exists while the write stalls');
  const exit = new Promise<NodeJS.Signals | null>((resolve) => {
    child.once('exit', (_code, signal) => {
      resolve(signal);
    });
  });
  child.kill('SIGTERM');
  assert.equal(await exit, 'SIGTERM');
  assert.deepEqual(list(parent), ['d']);
  assert.deepEqual(files(dir), { v: '1' });
});
