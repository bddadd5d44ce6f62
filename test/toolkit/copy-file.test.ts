/**
 * copyFile: bytes and modes on disk, the kernel copy and the read/write loop, the errors the
 * issue names (missing source, directory source, same file), a symlink planted at the temp
 * name, another file system, progress, abort, and the read-only cache use case end to end.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFile, writeFile } from '../../src/index.js';
import { flags, restoreSeam, seam } from '../../src/engine/fs.js';
import {
  instrument,
  isLinux,
  list,
  needs,
  openFdCount,
  rejection,
  tempDir,
  temps,
} from '../support/helpers.js';

function modeOf(path: string): number {
  return fs.statSync(path).mode & 0o7777;
}

function source(dir: string, bytes: Buffer | string, mode = 0o644, name = 'src.bin'): string {
  const path = join(dir, name);
  fs.writeFileSync(path, bytes);
  fs.chmodSync(path, mode);
  return path;
}

describe('copyFile', () => {
  test('copies the bytes with the source mode, through the kernel copy', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'hello, copy\n', 0o640);
    const dest = join(dir, 'dest.txt');
    const recorder = instrument(t);
    await copyFile(src, dest);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'hello, copy\n');
    assert.equal(modeOf(dest), 0o640);
    const names = recorder.calls.map((call) => call.name);
    assert.ok(names.includes('copyFile'), 'kernel copy used');
    assert.ok(!names.includes('read'), 'no read loop');
    assert.ok(names.includes('fsync'), 'fsynced');
    assert.deepEqual(temps(dir), []);
  });

  test('replaces an existing file, keeping nothing of it', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'short');
    const dest = source(dir, 'a much longer old content', 0o600, 'dest.txt');
    await copyFile(src, dest);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'short');
    assert.equal(modeOf(dest), 0o644, 'the source mode, not the old one');
  });

  test('seed use case: a read-only (0o444) cache entry, created and then replaced', async (t) => {
    const dir = tempDir(t);
    const build = source(dir, Buffer.alloc(300_000, 1), 0o644, 'bundle.js');
    const entry = join(dir, 'cache', 'v1', 'bundle.js');
    await copyFile(build, entry, { mode: 0o444, mkdirs: true });
    assert.deepEqual(fs.readFileSync(entry), fs.readFileSync(build));
    assert.equal(modeOf(entry), 0o444);
    // A new build replaces the read-only entry (rename needs the directory, not the file).
    fs.writeFileSync(build, Buffer.alloc(200_000, 2));
    await copyFile(build, entry, { mode: 0o444 });
    assert.deepEqual(fs.readFileSync(entry), Buffer.alloc(200_000, 2));
    assert.equal(modeOf(entry), 0o444);
    assert.deepEqual(list(join(dir, 'cache', 'v1')), ['bundle.js']);
  });

  test('a mode narrower than the source never exposes the temp: the loop path, temp created 0o600', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'secret', 0o666);
    const dest = join(dir, 'secret.txt');
    const recorder = instrument(t);
    await copyFile(src, dest, { mode: 0o600 });
    assert.equal(modeOf(dest), 0o600);
    const names = recorder.calls.map((call) => call.name);
    assert.ok(!names.includes('copyFile'), 'libuv would create the temp 0o666: not used');
    const create = recorder.calls.find(
      (call) => call.name === 'open' && call.args[1] === flags.createTemp,
    );
    assert.equal(create?.args[2], 0o600);
  });

  test('set-user-ID and sticky bits are not copied unless asked for', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, '#!/bin/sh\n', 0o4755);
    await copyFile(src, join(dir, 'a'));
    assert.equal(modeOf(join(dir, 'a')), 0o755);
    await copyFile(src, join(dir, 'b'), { mode: 0o4750 });
    assert.equal(modeOf(join(dir, 'b')), 0o4750);
  });

  test('onProgress: the read/write loop reports 0, each MiB, and the total', async (t) => {
    const dir = tempDir(t);
    const size = 2.5 * 1024 * 1024;
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) bytes[i] = i % 251;
    const src = source(dir, bytes);
    const dest = join(dir, 'dest.bin');
    const seen: { bytes: number; total: number | undefined }[] = [];
    await copyFile(src, dest, { onProgress: (progress) => seen.push(progress) });
    assert.deepEqual(fs.readFileSync(dest), bytes);
    assert.deepEqual(
      seen.map((p) => p.bytes),
      [0, 1024 * 1024, 2 * 1024 * 1024, size],
    );
    assert.ok(seen.every((p) => p.total === size));
  });

  test('an onProgress that throws stops the copy: nothing published', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, Buffer.alloc(3 * 1024 * 1024, 7));
    const dest = source(dir, 'old', 0o644, 'dest.bin');
    const boom = new Error('boom');
    const error = await rejection(
      copyFile(src, dest, {
        onProgress: ({ bytes }) => {
          if (bytes > 0) throw boom;
        },
      }),
    );
    assert.equal(error.code, 'ERR_ATOMIC_CALLBACK');
    assert.equal(error.phase, 'callback');
    assert.equal(error.cause, boom);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(temps(dir), []);
  });

  test('a missing source: ENOENT with path = src, nothing created', async (t) => {
    const dir = tempDir(t);
    const src = join(dir, 'missing');
    const error = await rejection(copyFile(src, join(dir, 'dest')));
    assert.equal(error.code, 'ENOENT');
    assert.equal(error.path, src);
    assert.equal(error.phase, 'open-source');
    assert.deepEqual(list(dir), []);
  });

  test('a directory source: EISDIR with path = src', async (t) => {
    const dir = tempDir(t);
    const src = join(dir, 'folder');
    fs.mkdirSync(src);
    const fds = openFdCount();
    const error = await rejection(copyFile(src, join(dir, 'dest')));
    assert.equal(error.code, 'EISDIR');
    assert.equal(error.path, src);
    assert.deepEqual(list(dir), ['folder']);
    assert.equal(openFdCount(), fds, 'the directory descriptor was closed');
  });

  test('a directory destination: EISDIR, the directory untouched', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'x');
    fs.mkdirSync(join(dir, 'target'));
    const error = await rejection(copyFile(src, join(dir, 'target')));
    assert.equal(error.code, 'EISDIR');
    assert.deepEqual(list(join(dir, 'target')), []);
  });

  test('the same file, by name, symlink or hard link: a clear error and no truncation', async (t) => {
    const dir = tempDir(t);
    const content = 'precious content\n';
    const src = source(dir, content);
    fs.symlinkSync(src, join(dir, 'link'));
    fs.linkSync(src, join(dir, 'hard'));
    const before = fs.statSync(src);
    for (const dest of [src, join(dir, 'link'), join(dir, 'hard')]) {
      for (const onProgress of [undefined, () => undefined]) {
        const error = await rejection(copyFile(src, dest, { onProgress }));
        assert.equal(error.code, 'ERR_ATOMIC_SAME_FILE', dest);
        assert.match(error.message, /same file/);
        assert.equal(fs.readFileSync(src, 'utf8'), content);
        assert.equal(fs.statSync(src).mtimeMs, before.mtimeMs);
        assert.equal(fs.statSync(src).ino, before.ino);
      }
    }
    assert.deepEqual(temps(dir), []);
  });

  test('create-only: EEXIST for an existing destination, else created', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'new');
    const dest = source(dir, 'old', 0o644, 'dest');
    const error = await rejection(copyFile(src, dest, { overwrite: false }));
    assert.equal(error.code, 'EEXIST');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    await copyFile(src, join(dir, 'fresh'), { overwrite: false });
    assert.equal(fs.readFileSync(join(dir, 'fresh'), 'utf8'), 'new');
    assert.deepEqual(temps(dir), []);
  });

  // Outside Linux the kernel copy creates the temp itself (an owner-only source only): simulated.
  test('a symlink planted at the temp name is never followed (kernel copy, macOS)', async (t) => {
    const dir = tempDir(t);
    const victim = source(dir, 'victim content', 0o644, 'victim');
    const src = source(dir, 'attacker wants this in the victim', 0o600);
    const dest = source(dir, 'old', 0o644, 'dest');
    let planted: string | undefined;
    const realAsync = seam.async.copyFile;
    t.after(restoreSeam);
    seam.platform = 'darwin';
    seam.async.copyFile = (from, to, mode) => {
      planted = to;
      fs.symlinkSync(victim, to);
      return realAsync(from, to, mode);
    };
    const error = await rejection(copyFile(src, dest));
    assert.equal(error.code, 'EEXIST');
    assert.equal(error.phase, 'copy');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'victim content');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    assert.ok(planted !== undefined && fs.lstatSync(planted).isSymbolicLink(), 'not ours: left');
  });

  test('a symlink planted at the temp name is never followed (read/write loop)', async (t) => {
    const dir = tempDir(t);
    const victim = source(dir, 'victim content', 0o644, 'victim');
    const src = source(dir, 'attacker wants this in the victim');
    const dest = join(dir, 'dest');
    const realOpen = seam.async.open;
    t.after(restoreSeam);
    seam.async.open = (path, flag, mode) => {
      if (flag === flags.createTemp) fs.symlinkSync(victim, path);
      return realOpen(path, flag, mode);
    };
    const error = await rejection(copyFile(src, dest, { onProgress: () => undefined }));
    assert.equal(error.code, 'EEXIST');
    assert.equal(error.phase, 'create-temp');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'victim content');
    assert.ok(!fs.existsSync(dest));
  });

  test('a temp swapped for a symlink after the kernel copy is refused (O_NOFOLLOW, macOS)', async (t) => {
    const dir = tempDir(t);
    const victim = source(dir, 'victim content', 0o644, 'victim');
    const src = source(dir, 'new bytes', 0o600);
    const dest = source(dir, 'old', 0o644, 'dest');
    const realOpen = seam.async.open;
    t.after(restoreSeam);
    seam.platform = 'darwin';
    seam.async.open = (path, flag, mode) => {
      if (flag === flags.reopenTemp) {
        fs.unlinkSync(path);
        fs.symlinkSync(victim, path);
      }
      return realOpen(path, flag, mode);
    };
    const error = await rejection(copyFile(src, dest));
    assert.equal(error.code, 'ELOOP');
    assert.equal(error.phase, 'copy');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'victim content');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(temps(dir), []);
  });

  test('a source that changes size during the kernel copy is not published', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'original bytes');
    const dest = source(dir, 'old', 0o644, 'dest');
    const realCopy = seam.async.copyFile;
    t.after(restoreSeam);
    seam.async.copyFile = async (from, to, mode) => {
      await realCopy(from, to, mode);
      fs.appendFileSync(to, ' and more');
    };
    const error = await rejection(copyFile(src, dest));
    assert.equal(error.code, 'ERR_ATOMIC_SOURCE_CHANGED');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(temps(dir), []);
  });

  test('a source that grows during the read/write loop is not published', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, Buffer.alloc(2 * 1024 * 1024, 1));
    const dest = source(dir, 'old', 0o644, 'dest');
    const error = await rejection(
      copyFile(src, dest, {
        onProgress: ({ bytes }) => {
          if (bytes === 1024 * 1024) fs.appendFileSync(src, 'more');
        },
      }),
    );
    assert.equal(error.code, 'ERR_ATOMIC_SOURCE_CHANGED');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(temps(dir), []);
  });

  test('after a failed kernel copy, a temp that cannot be checked is removed all the same', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'bytes');
    const dest = join(dir, 'dest');
    const recorder = instrument(t, [
      { code: 'EIO', when: (call) => call.name === 'copyFile' },
      { code: 'EIO', when: (call) => call.name === 'lstat' && call.subject.includes('.afs-') },
    ]);
    const error = await rejection(copyFile(src, dest));
    restoreSeam();
    assert.equal(error.code, 'EIO');
    assert.equal(error.phase, 'copy');
    assert.equal(error.leftover, undefined, 'nothing there: unlink met ENOENT');
    assert.ok(recorder.calls.some((call) => call.name === 'unlink'));
    assert.deepEqual(list(dir), ['src.bin']);
  });

  test('to and from another file system (tmpfs)', async (t) => {
    const dir = tempDir(t);
    const shm = '/dev/shm';
    const other = fs.existsSync(shm) && fs.statSync(shm).dev !== fs.statSync(dir).dev;
    if (!needs(t, isLinux && other, `${shm} on another file system than ${dir}`)) return;
    const far = fs.mkdtempSync(join(shm, 'afs-test-'));
    t.after(() => {
      fs.rmSync(far, { recursive: true, force: true });
    });
    const bytes = Buffer.alloc(1024 * 1024 + 17, 3);
    const src = source(far, bytes);
    await copyFile(src, join(dir, 'here.bin'));
    assert.deepEqual(fs.readFileSync(join(dir, 'here.bin')), bytes);
    await copyFile(join(dir, 'here.bin'), join(far, 'back.bin'), { onProgress: () => undefined });
    assert.deepEqual(fs.readFileSync(join(far, 'back.bin')), bytes);
    assert.deepEqual(temps(far), []);
    assert.deepEqual(temps(dir), []);
  });

  test('an empty file and a /proc file (size 0 with content) are copied by reading to the end', async (t) => {
    const dir = tempDir(t);
    await copyFile(source(dir, ''), join(dir, 'empty'));
    assert.equal(fs.readFileSync(join(dir, 'empty')).length, 0);
    if (!needs(t, isLinux, '/proc/self/status exists on Linux only')) return;
    await copyFile('/proc/self/status', join(dir, 'status'));
    assert.match(fs.readFileSync(join(dir, 'status'), 'utf8'), /^Name:/);
  });

  test('abort: before the call nothing is touched; during the copy nothing is published', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, Buffer.alloc(3 * 1024 * 1024, 9));
    const dest = source(dir, 'old', 0o644, 'dest');
    const error = await rejection(copyFile(src, dest, { signal: AbortSignal.abort() }));
    assert.equal(error.code, 'ABORT_ERR');
    const controller = new AbortController();
    const during = await rejection(
      copyFile(src, dest, {
        signal: controller.signal,
        onProgress: ({ bytes }) => {
          if (bytes > 0) controller.abort();
        },
      }),
    );
    assert.equal(during.code, 'ABORT_ERR');
    assert.equal(during.name, 'AbortError');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(temps(dir), []);
  });

  test('keeps call order with other writes to the same file', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'copied');
    const dest = join(dir, 'dest');
    await Promise.all([writeFile(dest, 'first'), copyFile(src, dest), writeFile(dest, 'last')]);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'last');
    await Promise.all([writeFile(dest, 'first'), copyFile(src, dest)]);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'copied');
  });

  test('validates its arguments before touching anything', async (t) => {
    const dir = tempDir(t);
    const src = source(dir, 'x');
    const dest = join(dir, 'dest');
    const bad: [unknown[], string][] = [
      [[42, dest], 'ERR_INVALID_ARG_TYPE'],
      [[src, ''], 'ERR_INVALID_ARG_VALUE'],
      [[src, dest, 'utf8'], 'ERR_INVALID_ARG_TYPE'],
      [[src, dest, { mode: 0o10000 }], 'ERR_OUT_OF_RANGE'],
      [[src, dest, { onProgress: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
      [[src, dest, { durability: 'some' }], 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [args, code] of bad) {
      await assert.rejects(
        (copyFile as (...a: unknown[]) => Promise<void>)(...args),
        (error: unknown) =>
          (error instanceof TypeError || error instanceof RangeError) &&
          (error as { code?: string }).code === code,
        JSON.stringify(args),
      );
    }
    assert.deepEqual(list(dir), ['src.bin']);
  });
});
