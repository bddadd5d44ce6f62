/** Platform rules, and the Windows and POSIX paths they select, simulated at the seam. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { WINDOWS_RENAME_RETRY_MS } from '../src/constants.js';
import { seam } from '../src/fs.js';
import { writeFile, writeFileSync } from '../src/index.js';
import {
  fsyncsDirectories,
  hasPosixMetadata,
  isIgnorableChownError,
  isTransientRenameError,
  isUnsupportedDirectoryFsync,
  nativeAddonRefusal,
  runtimeOf,
} from '../src/platform.js';
import { instrument, isRoot, list, tempDir } from './helpers.js';

test('policy functions', () => {
  assert.equal(fsyncsDirectories('linux'), true);
  assert.equal(fsyncsDirectories('darwin'), true);
  assert.equal(fsyncsDirectories('win32'), false);
  assert.equal(hasPosixMetadata('win32'), false);
  assert.equal(hasPosixMetadata('freebsd'), true);
  for (const code of ['EPERM', 'EBUSY', 'EACCES']) {
    assert.equal(isTransientRenameError('win32', code), true, code);
    assert.equal(isTransientRenameError('linux', code), false, code);
    assert.equal(isTransientRenameError('darwin', code), false, code);
  }
  assert.equal(isTransientRenameError('win32', 'ENOENT'), false);
  assert.equal(isTransientRenameError('win32', undefined), false);
  assert.equal(isIgnorableChownError('EPERM', false), true);
  assert.equal(isIgnorableChownError('EPERM', true), false);
  assert.equal(isIgnorableChownError('EIO', false), false);
  for (const code of ['EINVAL', 'ENOTSUP', 'EOPNOTSUPP']) {
    assert.equal(isUnsupportedDirectoryFsync(code), true);
  }
  assert.equal(isUnsupportedDirectoryFsync('EIO'), false);
});

test('runtimes: Bun and Deno are told apart, and the native addon is kept from them', () => {
  assert.equal(runtimeOf(process.versions), 'node');
  assert.equal(runtimeOf({ node: '24.0.0', bun: '1.4.5' }), 'bun');
  assert.equal(runtimeOf({ node: '22.0.0', deno: '2.9.6' }), 'deno');
  assert.equal(nativeAddonRefusal('node'), undefined);
  assert.match(nativeAddonRefusal('bun') ?? '', /libuv, which Bun does not provide/);
  assert.match(nativeAddonRefusal('deno') ?? '', /libuv, which Deno does not provide/);
});

function fakeSleeps(): number[] {
  const slept: number[] = [];
  seam.sync.sleep = (ms) => {
    slept.push(ms);
  };
  seam.async.sleep = (ms) => {
    slept.push(ms);
    return Promise.resolve();
  };
  return slept;
}

for (const [name, write] of [
  ['writeFile', writeFile],
  [
    'writeFileSync',
    async (p: string, d: string) => {
      writeFileSync(p, d);
    },
  ],
] as const) {
  test(`Windows (${name}): a rename held by a scanner is retried, briefly`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'file');
    fs.writeFileSync(dest, 'old');
    let failures = 2;
    const recorder = instrument(t, [
      { code: 'EBUSY', when: (call) => call.name === 'rename' && failures-- > 0 },
    ]);
    seam.platform = 'win32';
    const slept = fakeSleeps();
    await write(dest, 'new');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'new');
    assert.equal(recorder.calls.filter((call) => call.name === 'rename').length, 3);
    assert.equal(slept.length, 2);
    // Windows: no directory fsync, no owner or mode to preserve.
    const opens = recorder.calls.filter((call) => call.name === 'open');
    assert.equal(opens.length, 1, 'only the temp file is opened');
    assert.ok(!recorder.calls.some((call) => ['fchown', 'fstat', 'fchmod'].includes(call.name)));
  });

  test(`Windows (${name}): a rename that stays refused fails within the budget`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'file');
    fs.writeFileSync(dest, 'old');
    const recorder = instrument(t, [{ code: 'EPERM', when: (call) => call.name === 'rename' }]);
    seam.platform = 'win32';
    const slept = fakeSleeps();
    await assert.rejects(write(dest, 'new'), { code: 'EPERM', phase: 'rename' });
    const total = slept.reduce((a, b) => a + b, 0);
    assert.ok(total <= WINDOWS_RENAME_RETRY_MS, `waited ${total} ms`);
    assert.ok(total >= WINDOWS_RENAME_RETRY_MS / 2, `gave up after only ${total} ms`);
    assert.equal(recorder.calls.filter((call) => call.name === 'rename').length, slept.length + 1);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    assert.deepEqual(list(dir), ['file']);
  });

  test(`POSIX (${name}): EACCES/EPERM on rename is reported at once, never retried`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'file');
    const recorder = instrument(t, [{ code: 'EACCES', when: (call) => call.name === 'rename' }]);
    const slept = fakeSleeps();
    await assert.rejects(write(dest, 'new'), { code: 'EACCES', phase: 'rename' });
    assert.equal(recorder.calls.filter((call) => call.name === 'rename').length, 1);
    assert.deepEqual(slept, []);
    assert.deepEqual(list(dir), []);
  });
}

test('Windows: an explicit mode still sets the read-only attribute via fchmod', async (t) => {
  const dir = tempDir(t);
  const recorder = instrument(t);
  seam.platform = 'win32';
  await writeFile(join(dir, 'ro'), 'x', { mode: 0o444 });
  assert.ok(recorder.calls.some((call) => call.name === 'fchmod' && call.args[1] === 0o444));
});

test('a directory fsync the file system does not support is tolerated', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  instrument(t, [
    { code: 'EINVAL', when: (call) => call.name === 'fsync' && call.subject === dir },
  ]);
  await writeFile(dest, 'new');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'new');
});

test('preserving an owner as non-root ignores EPERM; an explicit owner does not', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, 'old');
  if (isRoot) fs.chownSync(dest, 4321, 4321);
  instrument(t, [{ code: 'EPERM', when: (call) => call.name === 'fchown' }]);
  await writeFile(dest, 'new');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'new');
  await assert.rejects(writeFile(dest, 'newer', { chown: { uid: 1, gid: 1 } }), {
    code: 'EPERM',
    phase: 'chown',
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'new');
});
