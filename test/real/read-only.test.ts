/**
 * A file system remounted read-only between two writes (Linux, root): every write
 * operation fails with an AtomicFsError `EROFS` whose path is the destination, and nothing
 * on it changes. (test/bad-input.test.ts covers writeFile and writeFileSync alone.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AtomicFsError,
  copyFile,
  openAtomic,
  openAtomicSync,
  replaceSymlink,
  update,
  updateJson,
  updateJsonSync,
  writeDirectory,
  writeFiles,
  writeJson,
  writeJsonSync,
} from '../../src/index.js';
import { ioThreadReady } from '../../src/core/io-thread.js';
import { isLinux, isRoot, needs, openFdCount, tempDir } from '../support/helpers.js';
import { loopFs } from '../support/loopfs.js';

await ioThreadReady();

interface RoOp {
  readonly name: string;
  /** The destination's name in the operation's directory. */
  readonly dest: string;
  readonly write: (dest: string, v: number, source: string) => Promise<unknown>;
}

const OPS: readonly RoOp[] = [
  {
    name: 'openAtomic',
    dest: 'f.txt',
    write: async (dest, v) => {
      await using handle = await openAtomic(dest);
      await handle.write(`v${v}`);
      await handle.commit();
    },
  },
  {
    name: 'openAtomicSync',
    dest: 'f.txt',
    write: (dest, v) => {
      using handle = openAtomicSync(dest);
      handle.write(`v${v}`);
      handle.commit();
      return Promise.resolve();
    },
  },
  { name: 'copyFile', dest: 'f.txt', write: (dest, _v, source) => copyFile(source, dest) },
  { name: 'writeJson', dest: 'd.json', write: (dest, v) => writeJson(dest, { v }) },
  {
    name: 'writeJsonSync',
    dest: 'd.json',
    write: (dest, v) => {
      writeJsonSync(dest, { v });
      return Promise.resolve();
    },
  },
  { name: 'update', dest: 'f.txt', write: (dest, v) => update(dest, () => `v${v}`) },
  { name: 'updateJson', dest: 'd.json', write: (dest, v) => updateJson(dest, () => ({ v })) },
  {
    name: 'updateJsonSync',
    dest: 'd.json',
    write: (dest, v) => Promise.resolve(updateJsonSync(dest, () => ({ v }))),
  },
  {
    name: 'writeFiles',
    dest: 'f.txt',
    write: async (dest, v) => {
      const [outcome] = await writeFiles([[dest, `v${v}`]]);
      if (outcome?.status === 'failed') throw outcome.error;
    },
  },
  {
    name: 'writeDirectory',
    dest: 'tree',
    write: (dest, v) => writeDirectory(dest, { 'a.txt': `v${v}`, 'sub/b.txt': `v${v}` }),
  },
  { name: 'replaceSymlink', dest: 'link', write: (dest, v) => replaceSymlink(`target-${v}`, dest) },
];

/** Everything under `dir`: names, modes, bytes and link targets. */
function snapshot(dir: string): string {
  const walk = (path: string): unknown => {
    const stats = fs.lstatSync(path);
    if (stats.isSymbolicLink()) return { link: fs.readlinkSync(path) };
    if (stats.isDirectory()) {
      const names = fs.readdirSync(path).sort();
      return { mode: stats.mode & 0o7777, entries: names.map((n) => [n, walk(join(path, n))]) };
    }
    return { mode: stats.mode & 0o7777, bytes: fs.readFileSync(path, 'latin1') };
  };
  return JSON.stringify(walk(dir));
}

test('read-only remount between writes: EROFS with the path for every operation, nothing changed', async (t) => {
  if (!needs(t, isLinux && isRoot, 'mounting a tmpfs needs Linux and root')) return;
  const disk = loopFs(t, 'tmpfs', { sizeMiB: 4 });
  const source = join(tempDir(t), 'source');
  fs.writeFileSync(source, 'v1 from elsewhere');
  for (const op of OPS) {
    fs.mkdirSync(join(disk.mnt, op.name));
    await op.write(join(disk.mnt, op.name, op.dest), 0, source);
  }
  const before = snapshot(disk.mnt);
  execFileSync('mount', ['-o', 'remount,ro', disk.mnt]);
  const fds = openFdCount();
  const phases: string[] = [];
  for (const op of OPS) {
    const dest = join(disk.mnt, op.name, op.dest);
    await assert.rejects(
      async () => op.write(dest, 1, source),
      (error: unknown) => {
        assert.ok(error instanceof AtomicFsError, `${op.name}: ${String(error)}`);
        assert.equal(error.code, 'EROFS', op.name);
        assert.equal(error.path, dest, op.name);
        phases.push(`${op.name} ${error.phase}`);
        return true;
      },
    );
  }
  assert.equal(snapshot(disk.mnt), before);
  assert.equal(openFdCount(), fds);
  process.stdout.write(`# EROFS: ${phases.join(', ')}\n`);
});
