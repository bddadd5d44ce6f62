/**
 * replaceSymlink: the switch itself, what is refused without `force`, what `force` does, the
 * race where an empty directory fills up, arguments, and durability.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { AtomicFsError, replaceSymlink } from '../../src/index.js';
import { instrument, list, tempDir } from '../support/helpers.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return assert.fail('expected a rejection');
}

function releases(dir: string): void {
  for (const name of ['1', '2']) {
    fs.mkdirSync(join(dir, 'releases', name), { recursive: true });
    fs.writeFileSync(join(dir, 'releases', name, 'id'), name);
  }
}

describe('replaceSymlink', () => {
  test('creates, then switches a link; the target is stored as given', async (t) => {
    const dir = tempDir(t);
    releases(dir);
    const link = join(dir, 'current');
    await replaceSymlink('releases/1', link);
    assert.equal(fs.readlinkSync(link), 'releases/1');
    assert.equal(fs.readFileSync(join(link, 'id'), 'utf8'), '1');
    await replaceSymlink(join(dir, 'releases', '2'), link);
    assert.equal(fs.readlinkSync(link), join(dir, 'releases', '2'));
    assert.deepEqual(list(dir), ['current', 'releases']);
  });

  test('a dangling target is allowed (as with ln -s)', async (t) => {
    const dir = tempDir(t);
    await replaceSymlink('not/yet', join(dir, 'l'));
    assert.equal(fs.readlinkSync(join(dir, 'l')), 'not/yet');
  });

  test('a link at linkPath is replaced, never followed', async (t) => {
    const dir = tempDir(t);
    releases(dir);
    fs.symlinkSync('releases/1', join(dir, 'current'));
    await replaceSymlink('releases/2', join(dir, 'current'));
    assert.equal(fs.readlinkSync(join(dir, 'current')), 'releases/2');
    assert.deepEqual(list(join(dir, 'releases', '1')), ['id'], 'the old target is untouched');
  });

  test('a file is refused without force (EEXIST), replaced with it', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'current');
    fs.writeFileSync(path, 'data');
    const error = await rejection(replaceSymlink('x', path));
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'EEXIST');
    assert.equal(error.phase, 'resolve');
    assert.match(error.message, /force: true/);
    assert.equal(fs.readFileSync(path, 'utf8'), 'data');
    await replaceSymlink('x', path, { force: true });
    assert.equal(fs.readlinkSync(path), 'x');
    assert.deepEqual(list(dir), ['current']);
  });

  test('a directory: refused (EISDIR); with force an empty one is exchanged, a full one refused', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'current');
    fs.mkdirSync(path);
    const refused = await rejection(replaceSymlink('x', path));
    assert.ok(refused instanceof AtomicFsError);
    assert.equal(refused.code, 'EISDIR');
    fs.writeFileSync(join(path, 'f'), 'f');
    const full = await rejection(replaceSymlink('x', path, { force: true }));
    assert.ok(full instanceof AtomicFsError);
    assert.equal(full.code, 'ENOTEMPTY');
    assert.deepEqual(list(path), ['f']);
    fs.unlinkSync(join(path, 'f'));
    await replaceSymlink('x', path, { force: true });
    assert.equal(fs.readlinkSync(path), 'x');
    assert.deepEqual(list(dir), ['current']);
  });

  test('force on a directory that fills up after the check: exchanged back, refused', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'current');
    fs.mkdirSync(path);
    instrument(t, [{ code: 'ENOTEMPTY', when: (c) => c.name === 'rmdir' }]);
    const error = await rejection(replaceSymlink('x', path, { force: true }));
    restoreSeam();
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ENOTEMPTY');
    assert.equal(error.phase, 'remove-old');
    assert.equal(error.committed, false);
    assert.ok(fs.lstatSync(path).isDirectory(), 'the directory is back');
    assert.deepEqual(list(dir), ['current']);
  });

  test('…and if exchanging back fails, the error says the link is in place', async (t) => {
    const dir = tempDir(t);
    const path = join(dir, 'current');
    fs.mkdirSync(path);
    let swaps = 0;
    instrument(t, [
      { code: 'ENOTEMPTY', when: (c) => c.name === 'rmdir' },
      { code: 'EIO', when: (c) => c.name === 'swap' && (swaps += 1) === 2 },
    ]);
    const error = await rejection(replaceSymlink('x', path, { force: true }));
    restoreSeam();
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.committed, true);
    assert.ok(error.leftover !== undefined);
    assert.equal(fs.readlinkSync(path), 'x');
    assert.ok(fs.lstatSync(error.leftover).isDirectory(), 'the old directory, named');
  });

  test('Windows: a directory cannot be exchanged, even with force', async (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(join(dir, 'current'));
    instrument(t);
    seam.platform = 'win32';
    const error = await rejection(replaceSymlink('x', join(dir, 'current'), { force: true }));
    restoreSeam();
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ERR_ATOMIC_NO_EXCHANGE');
  });

  test('an exchange the file system refuses: ERR_ATOMIC_NO_EXCHANGE, nothing changed', async (t) => {
    const dir = tempDir(t);
    fs.mkdirSync(join(dir, 'current'));
    instrument(t, [{ code: 'EINVAL', when: (c) => c.name === 'swap' }]);
    const error = await rejection(replaceSymlink('x', join(dir, 'current'), { force: true }));
    restoreSeam();
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ERR_ATOMIC_NO_EXCHANGE');
    assert.ok(fs.lstatSync(join(dir, 'current')).isDirectory());
    assert.deepEqual(list(dir), ['current']);
  });

  test('mkdirs creates the parents; without it a missing parent is ENOENT', async (t) => {
    const dir = tempDir(t);
    const error = await rejection(replaceSymlink('x', join(dir, 'a', 'b', 'l')));
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ENOENT');
    assert.equal(error.phase, 'resolve');
    await replaceSymlink('x', pathToFileURL(join(dir, 'a', 'b', 'l')), { mkdirs: true });
    assert.equal(fs.readlinkSync(join(dir, 'a', 'b', 'l')), 'x');
  });

  test('durability: full fsyncs the directory, file and none do not', async (t) => {
    const dir = tempDir(t);
    for (const [durability, expected] of [
      ['full', 1],
      ['file', 0],
      ['none', 0],
    ] as const) {
      const recorder = instrument(t);
      await replaceSymlink('x', join(dir, 'l'), { durability });
      restoreSeam();
      assert.equal(recorder.calls.filter((c) => c.name === 'fsync').length, expected, durability);
    }
  });

  test('abort: before the call, or after the temp link exists', async (t) => {
    const dir = tempDir(t);
    const link = join(dir, 'l');
    await replaceSymlink('a', link);
    const before = await rejection(replaceSymlink('b', link, { signal: AbortSignal.abort() }));
    assert.ok(before instanceof AtomicFsError);
    assert.equal(before.code, 'ABORT_ERR');
    const controller = new AbortController();
    instrument(t, [
      {
        code: 'NONE',
        when: (c) => {
          if (c.name === 'symlink') controller.abort();
          return false;
        },
      },
    ]);
    const during = await rejection(replaceSymlink('b', link, { signal: controller.signal }));
    restoreSeam();
    assert.ok(during instanceof AtomicFsError);
    assert.equal(during.code, 'ABORT_ERR');
    assert.equal(fs.readlinkSync(link), 'a');
    assert.deepEqual(list(dir), ['l']);
  });

  test('switches of one link apply in call order', async (t) => {
    const dir = tempDir(t);
    const link = join(dir, 'l');
    await Promise.all(Array.from({ length: 10 }, (_, i) => replaceSymlink(`t${i}`, link)));
    assert.equal(fs.readlinkSync(link), 't9');
    assert.deepEqual(list(dir), ['l']);
  });

  test('arguments are checked before anything is touched', async (t) => {
    const dir = tempDir(t);
    const call = replaceSymlink as (a: unknown, b: unknown, c?: unknown) => Promise<void>;
    const cases: [unknown, unknown, unknown, string][] = [
      ['', join(dir, 'l'), undefined, 'ERR_INVALID_ARG_VALUE'],
      ['a\u0000b', join(dir, 'l'), undefined, 'ERR_INVALID_ARG_VALUE'],
      [42, join(dir, 'l'), undefined, 'ERR_INVALID_ARG_TYPE'],
      ['x', '', undefined, 'ERR_INVALID_ARG_VALUE'],
      ['x', null, undefined, 'ERR_INVALID_ARG_TYPE'],
      ['x', join(dir, 'l'), { force: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
      ['x', join(dir, 'l'), { durability: 'half' }, 'ERR_INVALID_ARG_VALUE'],
      ['x', join(dir, 'l'), { mkdirs: 1 }, 'ERR_INVALID_ARG_TYPE'],
      ['x', join(dir, 'l'), 'utf8', 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [target, link, options, code] of cases) {
      const error = await rejection(call(target, link, options));
      assert.ok(error instanceof TypeError, String(error));
      assert.equal((error as { code?: string }).code, code, error.message);
    }
    const slash = await rejection(replaceSymlink('x', `${join(dir, 'l')}/`));
    assert.ok(slash instanceof AtomicFsError);
    assert.equal(slash.code, 'EISDIR');
    assert.deepEqual(list(dir), []);
  });
});
