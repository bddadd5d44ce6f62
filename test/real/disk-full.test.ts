/**
 * Disk full, produced by the kernel (Linux, root): a small ext4 on a loop device and a small
 * tmpfs, mounted by the test. Every write operation that cannot complete fails with an
 * AtomicFsError `ENOSPC` naming its phase; the destination is as it was (bytes and mode); no
 * temp file or staged tree is left; the file system's free space is back to what it was;
 * no descriptor is left open; and once space is freed the same write succeeds.
 *
 * Three ways to run out of space:
 * - `data`: the new content does not fit (ext4 and tmpfs);
 * - `rename`: the content fits, but the rename's new directory entry needs a new directory
 *   block and there is none left (ext4; a new destination, since renaming over an existing
 *   name reuses its entry);
 * - `temp entry`: the temp file's own directory entry needs a new block and the disk has
 *   none (ext4, existing destination: fails as the temp is created).
 *
 * The directory recipe (ext4 with 1 KiB blocks and metadata_csum): a directory that fits in
 * one block holds, after `.` and `..`, 988 bytes of entries, each taking 8 + its name length
 * rounded up to 4 bytes; an entry is added into the unused tail of an existing one, and only
 * when no tail is big enough does the directory grow by a block. So the test fills a fresh
 * directory with filler names adding up to exactly 988 − room bytes, where `room` is chosen
 * to hold the temp name's entry but not, in addition, the destination's (case `rename`), or
 * not even the temp's (case `temp entry`); fills the disk until exactly the blocks the data
 * needs are free; and checks the recipe on a twin directory first, with plain files, so a
 * kernel that lays directories out differently fails the test loudly rather than testing
 * nothing.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  AtomicFsError,
  copyFile,
  openAtomic,
  writeDirectory,
  writeFile,
  writeFileSync,
  writeJson,
} from '../../src/index.js';
import { ioThreadReady } from '../../src/core/io-thread.js';
import { HOST_TAG } from '../../src/core/temp-names.js';
import { isLinux, isRoot, needs, openFdCount, tempDir } from '../support/helpers.js';
import { type LoopFs, loopFs, missingTools } from '../support/loopfs.js';

await ioThreadReady();

const BLOCK = 1024;

interface FullOp {
  readonly name: string;
  /** Write `size` bytes (about) to `dest`. */
  readonly write: (dest: string, size: number, source: string) => Promise<void>;
  /** Blocks the data of a small write needs, besides directory entries. */
  readonly blocks: number;
  /** The name of the temp or staged tree made beside `dest`, with this process's pid. */
  readonly tempLength: (base: string) => number;
}

const tempLength = (base: string): number =>
  `.${base}.afs-${HOST_TAG}-${process.pid}-0123456789abcdef.tmp`.length;

function body(size: number): Buffer {
  return Buffer.alloc(size, 'n');
}

const OPS: readonly FullOp[] = [
  { name: 'writeFile', write: (dest, size) => writeFile(dest, body(size)), blocks: 1, tempLength },
  {
    name: 'writeFileSync',
    write: (dest, size) => {
      writeFileSync(dest, body(size));
      return Promise.resolve();
    },
    blocks: 1,
    tempLength,
  },
  {
    name: 'openAtomic',
    write: async (dest, size) => {
      const handle = await openAtomic(dest);
      try {
        await handle.write(body(size));
        await handle.commit();
      } finally {
        await handle.discard();
      }
    },
    blocks: 1,
    tempLength,
  },
  {
    name: 'copyFile',
    write: async (dest, size, source) => {
      fs.writeFileSync(source, body(size));
      await copyFile(source, dest);
    },
    blocks: 1,
    tempLength,
  },
  {
    name: 'writeJson',
    // Two quotes and a newline around the string.
    write: (dest, size) => writeJson(dest, 'n'.repeat(Math.max(0, size - 3))),
    blocks: 1,
    tempLength,
  },
  {
    name: 'writeDirectory',
    write: async (dest, size) => {
      await writeDirectory(dest, { 'a.bin': body(size) });
    },
    // The staged directory's own block, and the file's.
    blocks: 2,
    tempLength: (base) => tempLength(base) + '.stage'.length - '.tmp'.length,
  },
];

/** The state a test checks is untouched: listing, and each entry's bytes and mode. */
function snapshot(dir: string): string {
  const walk = (path: string): unknown => {
    const stats = fs.lstatSync(path);
    if (stats.isDirectory()) {
      return {
        mode: stats.mode & 0o7777,
        entries: Object.fromEntries(
          fs
            .readdirSync(path)
            .sort()
            .map((name) => [name, walk(join(path, name))]),
        ),
      };
    }
    return { mode: stats.mode & 0o7777, bytes: fs.readFileSync(path).toString('base64') };
  };
  return JSON.stringify(walk(dir));
}

/** Put a precious old version at `dest` (a file, or for writeDirectory a tree). */
function precious(op: FullOp, dest: string): void {
  if (op.name === 'writeDirectory') {
    fs.mkdirSync(dest, { mode: 0o750 });
    fs.writeFileSync(join(dest, 'old.txt'), 'precious tree', { mode: 0o640 });
  } else {
    fs.writeFileSync(dest, 'precious', { mode: 0o640 });
  }
}

/** Flush, so that blocks freed by unlinks are counted free again (they are, once committed). */
function settled(disk: LoopFs): number {
  if (disk.kind !== 'tmpfs') disk.sync();
  return disk.available();
}

interface Failure {
  readonly code: string | undefined;
  readonly phase: string | undefined;
}

/** Run a write expected to fail; return its code and phase (asserting it is an AtomicFsError). */
async function failure(op: FullOp, write: () => Promise<void>): Promise<Failure> {
  try {
    await write();
  } catch (error) {
    assert.ok(error instanceof AtomicFsError, `${op.name}: ${String(error)}`);
    return { code: error.code, phase: error.phase };
  }
  assert.fail(`${op.name}: the write succeeded`);
}

/** Fill the disk until exactly `keep` blocks are available, with files under `fill`. */
function fillDisk(disk: LoopFs, fill: string, keep: number): void {
  fs.mkdirSync(fill, { recursive: true });
  const balance = join(fill, `balance-${fs.readdirSync(fill).length}`);
  const free = settled(disk);
  assert.ok(free > keep + 64, `not enough room to fill: ${free} blocks`);
  fs.writeFileSync(
    join(fill, `bulk-${fs.readdirSync(fill).length}`),
    Buffer.alloc((free - keep - 32) * BLOCK),
  );
  fs.writeFileSync(balance, '');
  let size = 0;
  for (let rounds = 0; ; rounds += 1) {
    const now = settled(disk);
    if (now === keep) return;
    assert.ok(rounds < 200, `could not reach ${keep} free blocks (at ${now})`);
    size = Math.max(0, size + (now - keep) * BLOCK);
    try {
      // Real blocks, not a hole: write them.
      fs.writeFileSync(balance, Buffer.alloc(size));
    } catch (error) {
      // The last block or two may be taken by the file's own metadata: measure again.
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      size = fs.statSync(balance).size;
    }
  }
}

function filler(index: number, recordLength: number): string {
  // An entry takes 8 + name length rounded up to 4: a name of recordLength - 8 takes it exactly.
  return `f${String(index).padStart(3, '0')}`.padEnd(recordLength - 8, 'x');
}

/** Entry size of a name in an ext4 directory block. */
const entry = (name: string): number => (8 + Buffer.byteLength(name) + 3) & ~3;

/** Fill a one-block directory so that exactly `room` bytes of entries still fit in it. */
function fillDirectory(dir: string, room: number): void {
  fs.mkdirSync(dir);
  let left = 988 - room;
  for (let index = 0; left > 0; index += 1) {
    let length = Math.min(256, left);
    if (left - length > 0 && left - length < 12) length = left - 12;
    fs.writeFileSync(join(dir, filler(index, length)), '');
    left -= length;
  }
  assert.equal(fs.statSync(dir).size, BLOCK, `${dir} grew past one block while filling it`);
}

test('disk full on ext4 and tmpfs: ENOSPC, destination intact, no temp, space back', async (t) => {
  if (!needs(t, isLinux && isRoot, 'loop devices and mounts need Linux and root')) return;
  const missing = missingTools('ext4');
  if (!needs(t, missing.length === 0, `missing ${missing.join(', ')}`)) return;
  const sources = tempDir(t);
  const phases: string[] = [];
  for (const [kind, disk] of [
    [
      'ext4',
      loopFs(t, 'ext4', { sizeMiB: 8, mkfs: ['-b', '1024', '-m', '0', '-O', 'metadata_csum'] }),
    ],
    ['tmpfs', loopFs(t, 'tmpfs', { sizeMiB: 2 })],
  ] as const) {
    for (const op of OPS) {
      const dir = join(disk.mnt, op.name);
      fs.mkdirSync(dir);
      const dest = join(dir, 'dest');
      precious(op, dest);
      const before = snapshot(dir);
      const free = settled(disk);
      const fds = openFdCount();
      const big = (free + 256) * (disk.kind === 'tmpfs' ? 4096 : BLOCK);
      const { code, phase } = await failure(op, () => op.write(dest, big, join(sources, op.name)));
      assert.equal(code, 'ENOSPC', `${kind} ${op.name}: ${phase}`);
      assert.equal(snapshot(dir), before, `${kind} ${op.name}: destination and listing`);
      assert.equal(settled(disk), free, `${kind} ${op.name}: free space`);
      assert.equal(openFdCount(), fds, `${kind} ${op.name}: descriptors`);
      phases.push(`${kind} ${op.name} ${phase ?? '?'}`);
      // With room, the same operation works.
      await op.write(dest, 1000, join(sources, op.name));
      fs.rmSync(dir, { recursive: true });
    }
  }
  process.stdout.write(`# disk full, data too big: ${phases.join('; ')}\n`);
});

async function directoryBlockCase(
  t: TestContext,
  name: string,
  existing: boolean,
  expected: (op: FullOp) => string,
): Promise<void> {
  if (!needs(t, isLinux && isRoot, 'loop devices and mounts need Linux and root')) return;
  const missing = missingTools('ext4');
  if (!needs(t, missing.length === 0, `missing ${missing.join(', ')}`)) return;
  const sources = tempDir(t);
  const results: string[] = [];
  for (const op of OPS) {
    // A file system per operation: filling it again after a write is not worth the trouble.
    const disk = loopFs(t, 'ext4', {
      sizeMiB: 8,
      mkfs: ['-b', '1024', '-m', '0', '-O', 'metadata_csum'],
    });
    // A long destination name, so that its entry is big.
    const base = `${op.name}-`.padEnd(96, 'd');
    const temp = entry('x'.repeat(op.tempLength(base)));
    // `rename`: the temp's entry fits, the destination's does not fit as well.
    // `temp entry`: the temp's entry does not fit (the destination exists already).
    const room = existing ? temp - 4 : temp + 4;
    assert.ok(existing || entry(base) > 4, 'the destination entry needs more than the spare bytes');
    // The recipe, checked with plain files in a twin directory.
    const twin = join(disk.mnt, 'twin');
    fillDirectory(twin, room);
    if (!existing) {
      fs.writeFileSync(join(twin, 'x'.repeat(op.tempLength(base))), '');
      assert.equal(fs.statSync(twin).size, BLOCK, `${op.name}: the temp entry should still fit`);
    }
    fs.writeFileSync(join(twin, existing ? 'y'.repeat(op.tempLength(base)) : base), '');
    assert.ok(fs.statSync(twin).size > BLOCK, `${op.name}: one more entry should need a block`);
    fs.rmSync(twin, { recursive: true });
    // The real directory; then a full disk but for the blocks of the data.
    const dir = join(disk.mnt, 'dir');
    const dest = join(dir, base);
    if (existing) {
      fillDirectory(dir, room + entry(base));
      precious(op, dest);
      assert.equal(fs.statSync(dir).size, BLOCK);
    } else {
      fillDirectory(dir, room);
    }
    const before = snapshot(dir);
    // `temp entry`: not a block to spare (with one, ext4 starts growing the directory with it
    // — a directory never shrinks again — and only then finds it needs a second).
    const keep = existing ? 0 : op.blocks;
    fillDisk(disk, join(disk.mnt, 'fill'), keep);
    const fds = openFdCount();
    const { code, phase } = await failure(op, () => op.write(dest, 900, join(sources, op.name)));
    results.push(`${op.name} ${code ?? '?'} at ${phase ?? '?'}`);
    assert.equal(code, 'ENOSPC', `${op.name} at ${phase ?? '?'}`);
    assert.equal(phase, expected(op), op.name);
    assert.equal(snapshot(dir), before, `${op.name}: destination and listing`);
    assert.equal(settled(disk), keep, `${op.name}: free space`);
    assert.equal(fs.statSync(dir).size, BLOCK, `${op.name}: the directory did not grow`);
    assert.equal(openFdCount(), fds, `${op.name}: descriptors`);
    // Free a little space: the same write now succeeds.
    fs.rmSync(join(disk.mnt, 'fill'), { recursive: true });
    await op.write(dest, 900, join(sources, op.name));
    assert.ok(fs.existsSync(dest));
    disk.destroy();
  }
  process.stdout.write(`# disk full, ${name}: ${results.join('; ')}\n`);
}

test('disk full, the data fits but the rename needs a new directory block: ENOSPC at rename', async (t) => {
  await directoryBlockCase(t, 'rename needs a directory block', false, (op) =>
    op.name === 'writeDirectory' ? 'swap' : 'rename',
  );
});

test('disk full, the temp file entry needs a new directory block: ENOSPC at create-temp', async (t) => {
  // On Linux copyFile's kernel copy fills a temp the library created itself: `create-temp`.
  const phases: Record<string, string> = { writeDirectory: 'stage' };
  await directoryBlockCase(
    t,
    'temp entry needs a directory block',
    true,
    (op) => phases[op.name] ?? 'create-temp',
  );
});
