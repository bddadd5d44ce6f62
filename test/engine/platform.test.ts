/** Platform rules, and the Windows and POSIX paths they select, simulated at the seam. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, after, before, describe, test } from 'node:test';
import { WINDOWS_RENAME_RETRY_MS } from '../../src/core/constants.js';
import { flags, restoreSeam, seam } from '../../src/engine/fs.js';
import {
  copyFile,
  download,
  openAtomic,
  openAtomicSync,
  replaceSymlink,
  updateJson,
  updateJsonSync,
  writeDirectory,
  writeFile,
  writeFileSync,
  writeFiles,
  writeJson,
  writeJsonSync,
} from '../../src/index.js';
import {
  fsyncsDirectories,
  hasPosixMetadata,
  isIgnorableChownError,
  isTransientRenameError,
  isUnsupportedDirectoryFsync,
  nativeAddonRefusal,
  reachesByDescriptorLink,
  copiesIntoDescriptor,
  runtimeOf,
} from '../../src/engine/platform.js';
import { type SeamCall, instrument, isRoot, list, tempDir, temps } from '../support/helpers.js';
import { type TestServer, serve } from '../support/http.js';

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

test('descriptor links (/proc/self/fd): Linux and Android, never under Deno', () => {
  assert.equal(reachesByDescriptorLink('linux', 'node'), true);
  assert.equal(reachesByDescriptorLink('android', 'bun'), true);
  // Deno grants /proc/self paths to --allow-all only: without it every such call would fail.
  assert.equal(reachesByDescriptorLink('linux', 'deno'), false);
  assert.equal(reachesByDescriptorLink('darwin', 'node'), false);
  assert.equal(reachesByDescriptorLink('win32', 'node'), false);
  assert.equal(copiesIntoDescriptor('linux', 'node'), true);
  assert.equal(copiesIntoDescriptor('linux', 'deno'), false);
  assert.equal(copiesIntoDescriptor('freebsd', 'node'), false);
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

// ---------------------------------------------------------------------------------------------
// Every write function under simulated Windows and macOS rules (issue 7).

interface WriteCase {
  readonly name: string;
  /** Prepare the directory; returns the destination. */
  readonly setup?: (dir: string) => void;
  readonly run: (dest: string, dir: string) => Promise<unknown>;
  /** What the destination holds after a successful run. */
  readonly expected: string;
  /** The call reports a failure in its result instead of rejecting (writeFiles). */
  readonly outcome?: boolean;
  /** The call renames a symlink, not a file (replaceSymlink). */
  readonly link?: boolean;
  /** The call gives the file the source's mode (copyFile: on Windows, the read-only bit). */
  readonly sourceMode?: boolean;
}

let server: TestServer | undefined;

const WRITE_CASES: readonly WriteCase[] = [
  { name: 'writeFile', run: (dest) => writeFile(dest, 'new'), expected: 'new' },
  {
    name: 'writeFileSync',
    run: async (dest) => {
      writeFileSync(dest, 'new');
    },
    expected: 'new',
  },
  {
    name: 'openAtomic',
    run: async (dest) => {
      const file = await openAtomic(dest);
      await file.write('new');
      await file.commit();
    },
    expected: 'new',
  },
  {
    name: 'openAtomicSync',
    run: async (dest) => {
      const file = openAtomicSync(dest);
      file.write('new');
      file.commit();
    },
    expected: 'new',
  },
  { name: 'writeJson', run: (dest) => writeJson(dest, { n: 2 }), expected: '{\n  "n": 2\n}\n' },
  {
    name: 'writeJsonSync',
    run: async (dest) => {
      writeJsonSync(dest, { n: 2 });
    },
    expected: '{\n  "n": 2\n}\n',
  },
  {
    name: 'updateJson',
    run: (dest) => updateJson(dest, () => ({ n: 2 })),
    expected: '{\n  "n": 2\n}\n',
  },
  {
    name: 'updateJsonSync',
    run: async (dest) => updateJsonSync(dest, () => ({ n: 2 })),
    expected: '{\n  "n": 2\n}\n',
  },
  {
    name: 'copyFile (kernel copy)',
    sourceMode: true,
    setup: (dir) => {
      fs.writeFileSync(join(dir, 'source'), 'new');
      fs.chmodSync(join(dir, 'source'), 0o644);
    },
    run: (dest, dir) => copyFile(join(dir, 'source'), dest),
    expected: 'new',
  },
  {
    name: 'copyFile (read/write loop)',
    sourceMode: true,
    setup: (dir) => {
      fs.writeFileSync(join(dir, 'source'), 'new');
      fs.chmodSync(join(dir, 'source'), 0o644);
    },
    run: (dest, dir) => copyFile(join(dir, 'source'), dest, { onProgress: () => undefined }),
    expected: 'new',
  },
  {
    name: 'download',
    run: (dest) => download(`${server?.base ?? ''}/new`, dest),
    expected: 'new',
  },
  {
    name: 'writeFiles',
    run: async (dest) => {
      const [outcome] = await writeFiles({ [dest]: 'new' });
      if (outcome?.status === 'failed') throw outcome.error;
    },
    expected: 'new',
    outcome: true,
  },
  {
    name: 'replaceSymlink',
    setup: (dir) => {
      fs.symlinkSync('old-target', join(dir, 'file-link'));
    },
    run: (_dest, dir) => replaceSymlink('new', join(dir, 'file-link')),
    expected: 'new',
    link: true,
  },
];

/** What is at the destination now: the file's bytes, or the link's target. */
function contentOf(kase: WriteCase, dir: string): string {
  return kase.link === true
    ? fs.readlinkSync(join(dir, 'file-link'))
    : fs.readFileSync(join(dir, 'file'), 'utf8');
}

function setUp(t: TestContext, kase: WriteCase): { dir: string; dest: string; old: string } {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, '{"n":1}\n');
  kase.setup?.(dir);
  return { dir, dest, old: contentOf(kase, dir) };
}

const isDirectoryOpen = (call: SeamCall): boolean =>
  call.name === 'open' && call.args[1] === flags.directory;

describe('every write function under simulated Windows and macOS rules', () => {
  before(async () => {
    server = await serve((_req, res) => {
      res.end('new');
    });
  });
  after(async () => {
    await server?.close();
  });

  for (const kase of WRITE_CASES) {
    test(`Windows, ${kase.name}: a held rename is retried; no directory fsync, no owners`, async (t) => {
      const { dir, dest } = setUp(t, kase);
      let failures = 2;
      const recorder = instrument(t, [
        { code: 'EBUSY', when: (call) => call.name === 'rename' && failures-- > 0 },
      ]);
      seam.platform = 'win32';
      const slept = fakeSleeps();
      await kase.run(dest, dir);
      assert.equal(contentOf(kase, dir), kase.expected);
      assert.equal(slept.length, 2, 'two waits');
      assert.equal(recorder.calls.filter((call) => call.name === 'rename').length, 3);
      assert.deepEqual(recorder.calls.filter(isDirectoryOpen), [], 'no directory is opened');
      assert.ok(!recorder.calls.some((call) => call.name === 'fchown'), 'no owner is applied');
      // Windows has one permission bit (read-only), set through fchmod when a mode is wanted.
      const modes = recorder.calls
        .filter((call) => call.name === 'fchmod')
        .map((call) => call.args[1]);
      assert.deepEqual(modes, kase.sourceMode === true ? [0o644] : [], 'modes asked for');
      assert.deepEqual(temps(dir), []);
    });

    test(`Windows, ${kase.name}: a rename that stays refused fails within 2 s, nothing changed`, async (t) => {
      const { dir, dest, old } = setUp(t, kase);
      instrument(t, [{ code: 'EPERM', when: (call) => call.name === 'rename' }]);
      seam.platform = 'win32';
      const slept = fakeSleeps();
      await assert.rejects(kase.run(dest, dir), { code: 'EPERM', phase: 'rename' });
      const total = slept.reduce((a, b) => a + b, 0);
      assert.ok(
        total <= WINDOWS_RENAME_RETRY_MS && total >= WINDOWS_RENAME_RETRY_MS / 2,
        `${total}`,
      );
      assert.equal(contentOf(kase, dir), old);
      assert.deepEqual(temps(dir), []);
    });

    test(`macOS, ${kase.name}: the directory is fsynced; EPERM is never retried`, async (t) => {
      const { dir, dest } = setUp(t, kase);
      const recorder = instrument(t);
      seam.platform = 'darwin';
      await kase.run(dest, dir);
      assert.equal(contentOf(kase, dir), kase.expected);
      assert.ok(
        recorder.calls.some((call) => isDirectoryOpen(call) && call.subject === dir),
        'the directory is fsynced',
      );
      restoreSeam();
      const again = setUp(t, kase);
      instrument(t, [{ code: 'EPERM', when: (call) => call.name === 'rename' }]);
      seam.platform = 'darwin';
      const slept = fakeSleeps();
      await assert.rejects(kase.run(again.dest, again.dir), { code: 'EPERM', phase: 'rename' });
      assert.deepEqual(slept, [], 'never retried');
      assert.equal(contentOf(kase, again.dir), again.old);
    });
  }

  test('Windows, writeFiles: each file has its own retry budget', async (t) => {
    const dir = tempDir(t);
    const files = ['a', 'b', 'c'].map((name) => join(dir, name));
    const held = new Map(files.map((file) => [file, 3]));
    instrument(t, [
      {
        code: 'EACCES',
        when: (call) => {
          if (call.name !== 'rename') return false;
          const dest = call.args[1] as string;
          const left = held.get(dest) ?? 0;
          held.set(dest, left - 1);
          return left > 0;
        },
      },
    ]);
    seam.platform = 'win32';
    const slept = fakeSleeps();
    const outcomes = await writeFiles(Object.fromEntries(files.map((file) => [file, 'x'])));
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ['written', 'written', 'written'],
    );
    assert.equal(slept.length, 9, 'three waits for each file');
    assert.deepEqual(list(dir), ['a', 'b', 'c']);
  });

  test('Windows, a new lock sidecar gets no owner and no mode', async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'c.json');
    const recorder = instrument(t);
    seam.platform = 'win32';
    await updateJson(dest, () => ({ n: 1 }), { mode: 0o600 });
    const sidecar = join(dir, '.c.json.afs-lock');
    const onSidecar = recorder.calls.filter(
      (call) => call.subject === sidecar && ['fchown', 'fchmod'].includes(call.name),
    );
    assert.deepEqual(onSidecar, []);
    assert.ok(fs.existsSync(sidecar));
  });

  test('macOS has the atomic exchange; FreeBSD does not (writeDirectory, replaceSymlink)', async (t) => {
    const dir = tempDir(t);
    const site = join(dir, 'site');
    fs.mkdirSync(site);
    const recorder = instrument(t);
    seam.platform = 'darwin';
    await writeDirectory(site, { 'a.txt': 'a' });
    assert.ok(
      recorder.calls.some((call) => call.name === 'swap'),
      'exchanged',
    );
    assert.deepEqual(list(site), ['a.txt']);
    seam.platform = 'freebsd';
    await assert.rejects(writeDirectory(site, { 'b.txt': 'b' }), {
      code: 'ERR_ATOMIC_NO_EXCHANGE',
    });
    assert.deepEqual(list(site), ['a.txt'], 'refused before anything was written');
    fs.mkdirSync(join(dir, 'empty'));
    await assert.rejects(replaceSymlink('site', join(dir, 'empty'), { force: true }), {
      code: 'ERR_ATOMIC_NO_EXCHANGE',
    });
    seam.platform = 'darwin';
    await replaceSymlink('site', join(dir, 'empty'), { force: true });
    assert.equal(fs.readlinkSync(join(dir, 'empty')), 'site');
  });
});
