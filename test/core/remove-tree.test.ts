/**
 * Removing and reclaiming trees (src/core/remove-tree.ts), the staging names (src/core/temp-names.ts) and the
 * exchange rules (src/engine/platform.ts) that writeDirectory builds on.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { restoreSeam } from '../../src/engine/fs.js';
import { hasAtomicExchange, isUnsupportedExchange } from '../../src/engine/platform.js';
import { runAsync, runSync } from '../../src/engine/executors.js';
import {
  HOST_TAG,
  parseStagingName,
  parseTempName,
  stagingName,
  tempName,
} from '../../src/core/temp-names.js';
import { reclaimStaged, removeTree } from '../../src/core/remove-tree.js';
import { instrument, isLinux, isRoot, list, needs, tempDir } from '../support/helpers.js';

function makeTree(root: string): void {
  fs.mkdirSync(join(root, 'a', 'b'), { recursive: true });
  fs.writeFileSync(join(root, 'a', 'b', 'f'), 'f');
  fs.writeFileSync(join(root, 'g'), 'g');
}

describe('removeTree', () => {
  test('removes a whole tree, sync and async; a missing path is not an error', async (t) => {
    const dir = tempDir(t);
    makeTree(join(dir, 'x'));
    assert.equal(runSync(removeTree(join(dir, 'x'))), undefined);
    makeTree(join(dir, 'y'));
    assert.equal(await runAsync(removeTree(join(dir, 'y'))), undefined);
    assert.deepEqual(list(dir), []);
    assert.equal(runSync(removeTree(join(dir, 'nothing'))), undefined);
  });

  test('never follows a symlink, inside the tree or at its root', (t) => {
    const dir = tempDir(t);
    const outside = join(dir, 'outside');
    makeTree(outside);
    makeTree(join(dir, 'x'));
    fs.symlinkSync(outside, join(dir, 'x', 'link'));
    fs.symlinkSync(outside, join(dir, 'rootlink'));
    assert.equal(runSync(removeTree(join(dir, 'x'))), undefined);
    assert.equal(runSync(removeTree(join(dir, 'rootlink'))), undefined);
    assert.deepEqual(list(dir), ['outside']);
    assert.deepEqual(list(outside), ['a', 'g'], 'the target is untouched');
  });

  test('a file that cannot be unlinked (EPERM) is reported as such, not entered', (t) => {
    const dir = tempDir(t);
    makeTree(join(dir, 'x'));
    instrument(t, [
      { code: 'EPERM', when: (call) => call.name === 'unlink' && call.subject.endsWith('/g') },
    ]);
    const error = runSync(removeTree(join(dir, 'x'))) as { code?: string; syscall?: string };
    restoreSeam();
    assert.equal(error.code, 'EPERM');
    assert.equal(error.syscall, 'unlink');
    assert.deepEqual(list(join(dir, 'x')), ['g'], 'the rest is removed');
  });

  test('keeps going after a failure and returns the first one', (t) => {
    const dir = tempDir(t);
    makeTree(join(dir, 'x'));
    instrument(t, [{ code: 'EIO', when: (c) => c.name === 'unlink' && c.subject.endsWith('/f') }]);
    const error = runSync(removeTree(join(dir, 'x')));
    restoreSeam();
    assert.equal((error as { code?: string }).code, 'EIO');
    // Everything else went; what holds the file that failed stays.
    assert.deepEqual(fs.readdirSync(join(dir, 'x'), { recursive: true }).map(String).sort(), [
      'a',
      'a/b',
      'a/b/f',
    ]);
  });
  test('a mount point is not entered where the tree must stay on one file system', (t) => {
    if (!needs(t, isLinux && isRoot, 'mounting a tmpfs needs root on Linux')) return;
    const path = tempDir(t);
    const tree = join(path, 'tree');
    const mnt = join(tree, 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    fs.writeFileSync(join(tree, 'file'), 'x');
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'none', mnt]);
    if (!needs(t, mounted.status === 0, `mount failed: ${String(mounted.stderr)}`)) return;
    try {
      fs.writeFileSync(join(mnt, 'on-another-fs'), 'keep me');
      const error = runSync(removeTree(tree)) as { code?: string } | undefined;
      assert.equal(error?.code, 'EXDEV');
      assert.equal(fs.readFileSync(join(mnt, 'on-another-fs'), 'utf8'), 'keep me');
      assert.equal(fs.existsSync(join(tree, 'file')), false, 'the rest is removed');
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});

describe('reclaimStaged', () => {
  test('claims the tree under a fresh staging name, then removes it', (t) => {
    const dir = tempDir(t);
    const staged = join(dir, stagingName('d'));
    makeTree(staged);
    const recorder = instrument(t);
    assert.equal(runSync(reclaimStaged(staged)), undefined);
    restoreSeam();
    assert.deepEqual(list(dir), []);
    const names = recorder.calls.map((call) => call.name);
    assert.equal(names.filter((name) => name === 'rename').length, 1);
    const rename = names.indexOf('rename');
    assert.ok(
      names.every((name, i) => !['unlink', 'rmdir'].includes(name) || i > rename),
      'claimed before anything is removed',
    );
    const claimed = basename(String(recorder.calls[rename]?.args[1]));
    assert.equal(parseStagingName(claimed)?.base, 'd');
    assert.notEqual(claimed, basename(staged));
  });

  test('a name already gone is fine; a failed claim is returned', (t) => {
    const dir = tempDir(t);
    assert.equal(runSync(reclaimStaged(join(dir, stagingName('d')))), undefined);
    const staged = join(dir, stagingName('d'));
    fs.mkdirSync(staged);
    instrument(t, [{ code: 'EACCES', when: (c) => c.name === 'rename' }]);
    assert.equal((runSync(reclaimStaged(staged)) as { code?: string }).code, 'EACCES');
    restoreSeam();
    assert.ok(fs.existsSync(staged));
  });
});

describe('staging names', () => {
  test('round trip, and never mistaken for a temp file name (or the reverse)', () => {
    const name = stagingName('my.dir', 4242);
    assert.match(name, /^\.my\.dir\.afs-[0-9a-f]{4}-4242-[0-9a-f]{16}\.stage$/);
    assert.deepEqual(parseStagingName(name), {
      base: 'my.dir',
      host: HOST_TAG,
      pid: 4242,
      random: name.slice(-22, -6),
    });
    assert.equal(parseTempName(name), undefined);
    assert.equal(parseStagingName(tempName('my.dir')), undefined);
    assert.equal(parseStagingName('.x.afs-old-20260101T000000Z-0011aabb'), undefined);
    assert.equal(parseStagingName('plain'), undefined);
  });

  test('fit in 255 bytes whatever the base', () => {
    const name = stagingName('é'.repeat(200));
    assert.ok(Buffer.byteLength(name) <= 255);
    assert.ok(parseStagingName(name) !== undefined);
  });
});

describe('exchange rules', () => {
  test('an atomic exchange exists on Linux and macOS only', () => {
    assert.equal(hasAtomicExchange('linux'), true);
    assert.equal(hasAtomicExchange('darwin'), true);
    assert.equal(hasAtomicExchange('win32'), false);
    assert.equal(hasAtomicExchange('freebsd'), false);
  });

  test('ENOSYS, EINVAL, ENOTSUP, EOPNOTSUPP mean "no exchange here"; others do not', () => {
    for (const code of ['ENOSYS', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP']) {
      assert.equal(isUnsupportedExchange(code), true, code);
    }
    for (const code of ['ENOENT', 'EXDEV', 'EIO', undefined]) {
      assert.equal(isUnsupportedExchange(code), false, String(code));
    }
  });
});
