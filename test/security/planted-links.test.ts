/**
 * A hostile local user plants a symlink (or a file, or a hard link) at the very name the
 * library is about to create — its temp file, a staging directory or an entry inside it, a
 * temp symlink, a kept-tree name, the lock sidecar — pointing at a victim elsewhere. The
 * names are random, so the test finds each one at the fs seam, just before the call that
 * creates it, and plants there (plant.ts). Every time: the call fails (never writes through
 * the link), the victim is byte for byte, mode and inode what it was, the destination is
 * untouched, the planted object is not the library's to remove (it stays, unless it sat inside
 * the library's own staged tree), no temp of ours is left and no descriptor leaked.
 *
 * Controls prove the planting hits the call that matters: the same run with `O_EXCL` and
 * `O_NOFOLLOW` taken off that one open writes through the link, and the victim check fails.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { trackedTemps, trackedTrees } from '../../src/core/exit-handler.js';
import { flags, restoreSeam, seam } from '../../src/engine/fs.js';
import {
  AtomicFsError,
  copyFile,
  download,
  openAtomic,
  openAtomicSync,
  replaceSymlink,
  update,
  updateJson,
  updateJsonSync,
  updateSync,
  writeDirectory,
  writeFile,
  writeFileSync,
  writeFiles,
  writeJson,
  writeJsonSync,
} from '../../src/index.js';
import { LOCK_TAG } from '../../src/json/constants.js';
import { parseStagingName, parseTempName } from '../../src/core/temp-names.js';
import { serve } from '../support/http.js';
import { list, needs, newFds, openFds, tempDir } from '../support/helpers.js';
import {
  type PlantRule,
  type Snapshot,
  assertUntouched,
  plantBefore,
  snapshot,
  symlinkTo,
  victimDirectory,
  victimFile,
} from './plant.js';

const OLD = '{"old":true}\n';
const isTemp = (path: string): boolean => parseTempName(basename(path)) !== undefined;
const isLock = (path: string): boolean => basename(path).endsWith(`.${LOCK_TAG}`);

function expectError(error: unknown, code: string, phase: string): true {
  assert.ok(error instanceof AtomicFsError, `an AtomicFsError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.equal(error.phase, phase, error.message);
  return true;
}

interface FileCase {
  readonly name: string;
  /** The call that creates the name to attack, by operation and path. */
  readonly when: PlantRule['when'];
  readonly run: (dest: string, dir: string) => Promise<unknown>;
  readonly code: string;
  readonly phase: string;
  /** Names the call legitimately leaves besides the destination (the lock sidecar). */
  readonly sidecar?: boolean;
}

const createsTemp: PlantRule['when'] = (name, path, args) =>
  name === 'open' && isTemp(path) && args[1] === flags.createTemp;

const FILE_CASES: readonly FileCase[] = [
  {
    name: 'writeFile',
    when: createsTemp,
    run: (dest) => writeFile(dest, 'new'),
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'writeFile, create-only',
    when: createsTemp,
    run: (dest) => writeFile(`${dest}-new`, 'new', { overwrite: false }),
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'writeFile, a stream',
    when: createsTemp,
    run: (dest) =>
      writeFile(
        dest,
        (async function* chunks() {
          yield 'a';
          yield 'b';
        })(),
      ),
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'writeFileSync',
    when: createsTemp,
    run: async (dest) => {
      writeFileSync(dest, 'new');
    },
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'openAtomic',
    when: createsTemp,
    run: async (dest) => {
      const file = await openAtomic(dest);
      await file.write('new');
      await file.commit();
    },
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'openAtomicSync',
    when: createsTemp,
    run: async (dest) => {
      const file = openAtomicSync(dest);
      file.write('new');
      file.commit();
    },
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'writeJson',
    when: createsTemp,
    run: (dest) => writeJson(dest, { a: 1 }),
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'writeJsonSync',
    when: createsTemp,
    run: async (dest) => {
      writeJsonSync(dest, { a: 1 });
    },
    code: 'EEXIST',
    phase: 'create-temp',
  },
  {
    name: 'update',
    when: createsTemp,
    run: (dest) => update(dest, () => 'new'),
    code: 'EEXIST',
    phase: 'create-temp',
    sidecar: true,
  },
  {
    name: 'updateSync',
    when: createsTemp,
    run: async (dest) => updateSync(dest, () => 'new'),
    code: 'EEXIST',
    phase: 'create-temp',
    sidecar: true,
  },
  {
    name: 'updateJson',
    when: createsTemp,
    run: (dest) => updateJson(dest, () => ({ a: 1 })),
    code: 'EEXIST',
    phase: 'create-temp',
    sidecar: true,
  },
  {
    name: 'updateJsonSync',
    when: createsTemp,
    run: async (dest) => updateJsonSync(dest, () => ({ a: 1 })),
    code: 'EEXIST',
    phase: 'create-temp',
    sidecar: true,
  },
  {
    name: "update's lock sidecar (O_NOFOLLOW)",
    when: (name, path) => name === 'open' && isLock(path),
    run: (dest) => update(dest, () => 'new'),
    code: 'ELOOP',
    phase: 'lock',
  },
  {
    name: "updateJsonSync's lock sidecar (O_NOFOLLOW)",
    when: (name, path) => name === 'open' && isLock(path),
    run: async (dest) => updateJsonSync(dest, () => ({ a: 1 })),
    code: 'ELOOP',
    phase: 'lock',
  },
  {
    name: "replaceSymlink's temp link",
    when: (name, path) => name === 'symlink' && isTemp(path),
    run: (dest) => replaceSymlink('elsewhere', dest, { force: true }),
    code: 'EEXIST',
    phase: 'create-temp',
  },
];

/** Run one attack on a file destination and check everything a failed call must leave. */
async function attack(
  t: TestContext,
  kase: Pick<FileCase, 'when' | 'run' | 'code' | 'phase' | 'sidecar'>,
  plantWith: (victim: string) => (path: string) => void = symlinkTo,
): Promise<void> {
  const dir = tempDir(t);
  const elsewhere = tempDir(t);
  const victim = victimFile(elsewhere);
  const dest = join(dir, 'file');
  fs.writeFileSync(dest, OLD);
  fs.chmodSync(dest, 0o640);
  const before: Snapshot = snapshot(victim);
  const fds = openFds();
  const planted = plantBefore(t, { when: kase.when, plant: plantWith(victim) });
  await assert.rejects(kase.run(dest, dir), (error) => expectError(error, kase.code, kase.phase));
  assert.equal(planted.length, 1, 'the attack was made');
  const [at] = planted as [string];
  assertUntouched(before);
  assert.equal(fs.readFileSync(dest, 'utf8'), OLD, 'the destination is untouched');
  assert.equal(fs.lstatSync(dest).mode & 0o7777, 0o640);
  assert.ok(fs.lstatSync(at), 'the planted object is not ours to remove');
  const expected = ['file', basename(at)];
  if (kase.sidecar === true) expected.push('.file.afs-lock');
  assert.deepEqual(list(dir), expected.sort(), 'nothing of ours is left');
  assert.ok(!trackedTemps().includes(at), 'the exit handler will not remove the planted name');
  assert.deepEqual(newFds(fds), [], 'no descriptor leaked');
}

describe('a symlink planted at the name the library is about to create', () => {
  for (const kase of FILE_CASES) {
    test(kase.name, async (t) => {
      if (!needs(t, process.platform !== 'win32', 'symlinks')) return;
      await attack(t, kase);
    });
  }

  test('writeFile: a hard link or a plain file planted at the temp name', async (t) => {
    if (!needs(t, process.platform !== 'win32', 'hard links')) return;
    const plants: [string, (victim: string) => (path: string) => void][] = [
      [
        'a hard link to the victim',
        (victim) => (path) => {
          fs.linkSync(victim, path);
        },
      ],
      [
        'a plain file',
        () => (path) => {
          fs.writeFileSync(path, 'planted');
        },
      ],
    ];
    for (const [label, plantWith] of plants) {
      await t.test(label, async (t2) => {
        await attack(
          t2,
          {
            when: createsTemp,
            run: (dest) => writeFile(dest, 'new'),
            code: 'EEXIST',
            phase: 'create-temp',
          },
          plantWith,
        );
      });
    }
  });

  test("update's lock sidecar: a hard link to a victim is locked, never written", async (t) => {
    if (!needs(t, process.platform !== 'win32', 'hard links')) return;
    const dir = tempDir(t);
    const elsewhere = tempDir(t);
    const victim = victimFile(elsewhere);
    const before = snapshot(victim);
    const dest = join(dir, 'file');
    // The lock's name is predictable (it must be: every process has to find it).
    fs.linkSync(victim, join(dir, '.file.afs-lock'));
    await updateJson(dest, () => ({ a: 1 }), { mode: 0o600 });
    assert.deepEqual(JSON.parse(fs.readFileSync(dest, 'utf8')), { a: 1 });
    assertUntouched(before, 'the victim keeps its bytes and mode');
  });

  test("update's lock sidecar: a dangling symlink never creates its target", async (t) => {
    if (!needs(t, process.platform !== 'win32', 'symlinks')) return;
    const dir = tempDir(t);
    const elsewhere = tempDir(t);
    const target = join(elsewhere, 'created-by-the-attack');
    fs.symlinkSync(target, join(dir, '.file.afs-lock'));
    await assert.rejects(
      updateJson(join(dir, 'file'), () => ({ a: 1 })),
      (error) => expectError(error, 'ELOOP', 'lock'),
    );
    assert.deepEqual(list(elsewhere), []);
    assert.deepEqual(list(dir), ['.file.afs-lock']);
  });
});

describe('copyFile: the kernel copy, the read/write loop, and a swap before the re-open', () => {
  const cases = [
    {
      // Outside Linux (simulated): the kernel copy creates the temp itself (an owner-only source).
      name: 'the kernel copy (COPYFILE_EXCL, macOS)',
      when: ((name, path) => name === 'copyFile' && isTemp(path)) as PlantRule['when'],
      options: {},
      code: 'EEXIST',
      platform: 'darwin' as const,
    },
    {
      // On Linux the kernel copy fills a temp the library created itself.
      name: 'the kernel copy into our own temp (Linux)',
      when: createsTemp,
      options: {},
      code: 'EEXIST',
      platform: undefined,
    },
    {
      name: 'the read/write loop',
      when: createsTemp,
      options: { onProgress: () => undefined },
      code: 'EEXIST',
      platform: undefined,
    },
  ];
  for (const kase of cases) {
    test(kase.name, async (t) => {
      if (!needs(t, process.platform !== 'win32', 'symlinks')) return;
      const src = join(tempDir(t), 'src');
      fs.writeFileSync(src, 'source bytes');
      fs.chmodSync(src, 0o600);
      if (kase.platform !== undefined) {
        if (!needs(t, process.platform === 'linux', 'simulating macOS on Linux')) return;
        seam.platform = kase.platform;
        t.after(restoreSeam);
      }
      await attack(t, {
        when: kase.when,
        run: (dest) => copyFile(src, dest, kase.options),
        code: kase.code,
        phase: kase.platform === undefined ? 'create-temp' : 'copy',
      });
    });
  }

  test('the copied temp swapped for a symlink before it is re-opened: ELOOP (macOS)', async (t) => {
    if (!needs(t, process.platform === 'linux', 'simulating macOS on Linux')) return;
    seam.platform = 'darwin';
    t.after(restoreSeam);
    const dir = tempDir(t);
    const elsewhere = tempDir(t);
    const victim = victimFile(elsewhere);
    const before = snapshot(victim);
    const src = join(elsewhere, 'src');
    fs.writeFileSync(src, 'source bytes');
    fs.chmodSync(src, 0o600);
    const dest = join(dir, 'file');
    fs.writeFileSync(dest, OLD);
    const planted = plantBefore(t, {
      when: (name, path, args) => name === 'open' && isTemp(path) && args[1] === flags.reopenTemp,
      plant: (path) => {
        fs.unlinkSync(path);
        fs.symlinkSync(victim, path);
      },
    });
    await assert.rejects(copyFile(src, dest), (error) => expectError(error, 'ELOOP', 'copy'));
    assert.equal(planted.length, 1);
    assertUntouched(before);
    assert.equal(fs.readFileSync(dest, 'utf8'), OLD);
    // The name was ours (the copy created it): removing what sits there now removes a link,
    // never what it points to.
    assert.deepEqual(list(dir), ['file']);
  });
});

describe('download and writeFiles', () => {
  test('download', async (t) => {
    if (!needs(t, process.platform !== 'win32', 'symlinks')) return;
    const server = await serve((_req, res) => {
      res.end('downloaded body');
    });
    t.after(() => server.close());
    await attack(t, {
      when: createsTemp,
      run: (dest) => download(`${server.base}/file`, dest),
      code: 'EEXIST',
      phase: 'create-temp',
    });
  });

  test('writeFiles: the attacked file fails, the other is written', async (t) => {
    if (!needs(t, process.platform !== 'win32', 'symlinks')) return;
    const dir = tempDir(t);
    const victim = victimFile(tempDir(t));
    const before = snapshot(victim);
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    const planted = plantBefore(t, {
      when: (name, path, args) => createsTemp(name, path, args) && basename(path).startsWith('.a.'),
      plant: symlinkTo(victim),
    });
    const outcomes = await writeFiles({ [a]: 'new a', [b]: 'new b' });
    assert.equal(planted.length, 1);
    const [first, second] = outcomes;
    assert.ok(first?.status === 'failed', 'the attacked file fails');
    expectError(first.error, 'EEXIST', 'create-temp');
    assert.equal(second?.status, 'written');
    assertUntouched(before);
    assert.equal(fs.existsSync(a), false);
    assert.equal(fs.readFileSync(b, 'utf8'), 'new b');
    assert.deepEqual(list(dir), [basename(planted[0] ?? ''), 'b'].sort());
  });
});

describe('writeDirectory: the staging directory, entries inside it, the kept tree', () => {
  interface DirCase {
    readonly name: string;
    readonly when: PlantRule['when'];
    readonly victim: 'file' | 'dir';
    readonly keepOld?: boolean;
    /** The planted object sits inside our own staged tree, which is removed. */
    readonly inside: boolean;
    readonly code: string;
    readonly phase: string;
    readonly committed?: boolean;
  }
  const inStaging = (path: string): boolean =>
    path.split('/').some((part) => parseStagingName(part) !== undefined) &&
    parseStagingName(basename(path)) === undefined;
  const cases: readonly DirCase[] = [
    {
      name: 'the staging directory',
      when: (name, path) => name === 'mkdir' && parseStagingName(basename(path)) !== undefined,
      victim: 'dir',
      inside: false,
      code: 'EEXIST',
      phase: 'stage',
    },
    {
      name: 'a file inside the staged tree',
      when: (name, path) => name === 'open' && inStaging(path) && basename(path) === 'b.txt',
      victim: 'file',
      inside: true,
      code: 'EEXIST',
      phase: 'stage',
    },
    {
      name: 'a subdirectory inside the staged tree',
      when: (name, path) => name === 'mkdir' && inStaging(path),
      victim: 'dir',
      inside: true,
      code: 'EEXIST',
      phase: 'stage',
    },
    {
      name: 'the name the previous tree is kept under (keepOld)',
      when: (name, path) => name === 'rename' && basename(path).includes('.afs-old-'),
      victim: 'dir',
      keepOld: true,
      inside: false,
      code: 'ENOTDIR',
      phase: 'keep-old',
      committed: true,
    },
  ];
  for (const kase of cases) {
    test(kase.name, async (t) => {
      if (!needs(t, process.platform === 'linux', 'symlinks and the atomic exchange (Linux)')) {
        return;
      }
      const parent = tempDir(t);
      const elsewhere = tempDir(t);
      const victim = kase.victim === 'dir' ? victimDirectory(elsewhere) : victimFile(elsewhere);
      const before = snapshot(victim);
      const live = join(parent, 'site');
      fs.mkdirSync(live);
      fs.writeFileSync(join(live, 'old.txt'), 'old');
      const liveBefore = snapshot(live);
      const fds = openFds();
      const planted = plantBefore(t, { when: kase.when, plant: symlinkTo(victim) });
      await assert.rejects(
        writeDirectory(live, { 'a.txt': 'a', 'sub/b.txt': 'b' }, { keepOld: kase.keepOld }),
        (error) => {
          expectError(error, kase.code, kase.phase);
          assert.equal((error as AtomicFsError).committed, kase.committed ?? false);
          return true;
        },
      );
      assert.equal(planted.length, 1, 'the attack was made');
      const [at] = planted as [string];
      assertUntouched(before);
      if (kase.committed === true) {
        assert.equal(fs.readFileSync(join(live, 'sub', 'b.txt'), 'utf8'), 'b');
      } else {
        assertUntouched(liveBefore, 'the live tree is untouched');
      }
      const left = list(parent).filter((name) => name !== 'site');
      if (kase.inside) {
        assert.deepEqual(left, [], 'the staged tree is removed, links unlinked, never followed');
      } else {
        assert.ok(left.includes(basename(at)), 'the planted link is not ours to remove');
        assert.ok(fs.lstatSync(at).isSymbolicLink());
      }
      assert.ok(!trackedTrees().includes(at));
      assert.deepEqual(newFds(fds), [], 'no descriptor leaked');
    });
  }
});

describe('controls: the attack would succeed against a weaker open', () => {
  test('writeFile with O_EXCL and O_NOFOLLOW taken off the temp open writes the victim', async (t) => {
    if (!needs(t, process.platform !== 'win32', 'symlinks')) return;
    const dir = tempDir(t);
    const victim = victimFile(tempDir(t));
    const before = snapshot(victim);
    const dest = join(dir, 'file');
    fs.writeFileSync(dest, OLD);
    const planted = plantBefore(t, {
      when: createsTemp,
      plant: symlinkTo(victim),
      weaken: (_name, [path, , mode]) => [
        path,
        fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC,
        mode,
      ],
    });
    await writeFile(dest, 'written through the link');
    assert.equal(planted.length, 1);
    assert.throws(() => {
      assertUntouched(before);
    }, assert.AssertionError);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'written through the link');
    assert.ok(fs.lstatSync(dest).isSymbolicLink(), 'and the link was renamed over the file');
  });
});
