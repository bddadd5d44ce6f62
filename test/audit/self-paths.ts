/**
 * The self-audit table: every public write path of atomic-fs, as a function performing one
 * write. Each path is recorded in-process and under strace (test/audit/fixtures/self-writes.ts
 * runs the same table in a child process) at each durability level, and explored.
 *
 * Adding a path is one entry. `dest: 'existing'` writes over an old version (watched by
 * default: the audit watches every existing file the run changed); `dest: 'new'` creates the
 * file (it is watched explicitly; its "old version" is "absent"). `setup` prepares anything
 * else the write needs (a source file for a copy), before the recording starts.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type Durability,
  type WriteOptions,
  openAtomic,
  openAtomicSync,
  writeFile,
  writeFileSync,
} from '../../src/index.js';

/** Old and new contents: about 10 KB each, so writes span page boundaries. */
export const OLD = Buffer.from('old settings line\n'.repeat(560));
export const NEW = Buffer.from('new settings, a longer line\n'.repeat(370));

export interface PathContext {
  /** The audited directory of this case. */
  readonly dir: string;
  /** The destination. */
  readonly dest: string;
  /** Durability (and anything else the table runs with). */
  readonly options: WriteOptions;
}

export interface SelfPath {
  readonly dest: 'existing' | 'new';
  /** Destination relative to the case directory. @default 'settings.json' */
  readonly file?: string;
  readonly setup?: (ctx: PathContext) => void;
  readonly run: (ctx: PathContext) => unknown;
}

async function* chunks(): AsyncGenerator<Buffer> {
  for (let at = 0; at < NEW.length; at += 3000) {
    await Promise.resolve();
    yield NEW.subarray(at, at + 3000);
  }
}

export const selfPaths: Readonly<Record<string, SelfPath>> = {
  'writeFile (buffer)': { dest: 'existing', run: (c) => writeFile(c.dest, NEW, c.options) },
  'writeFile (string)': {
    dest: 'existing',
    run: (c) => writeFile(c.dest, NEW.toString('utf8'), c.options),
  },
  'writeFile (Readable)': {
    dest: 'existing',
    run: (c) =>
      writeFile(c.dest, Readable.from([NEW.subarray(0, 5000), NEW.subarray(5000)]), c.options),
  },
  'writeFile (async iterable)': {
    dest: 'existing',
    run: (c) => writeFile(c.dest, chunks(), c.options),
  },
  'writeFile (mkdirs)': {
    dest: 'new',
    file: 'a/b/settings.json',
    run: (c) => writeFile(c.dest, NEW, { ...c.options, mkdirs: true }),
  },
  'writeFile (create-only)': {
    dest: 'new',
    run: (c) => writeFile(c.dest, NEW, { ...c.options, overwrite: false }),
  },
  writeFileSync: {
    dest: 'existing',
    run: (c) => {
      writeFileSync(c.dest, NEW, c.options);
    },
  },
  openAtomic: {
    dest: 'existing',
    run: async (c) => {
      const file = await openAtomic(c.dest, c.options);
      await file.write(NEW.subarray(0, 4000));
      await file.write(NEW.subarray(4000));
      await file.commit();
    },
  },
  openAtomicSync: {
    dest: 'existing',
    run: (c) => {
      const file = openAtomicSync(c.dest, c.options);
      file.write(NEW.subarray(0, 4000));
      file.write(NEW.subarray(4000));
      file.commit();
    },
  },
};

export const DURABILITIES: readonly Durability[] = ['full', 'file', 'none'];

export interface Case {
  readonly key: string;
  readonly name: string;
  readonly durability: Durability;
  readonly path: SelfPath;
  readonly ctx: PathContext;
  /** Destination relative to the case directory. */
  readonly file: string;
}

/** Every (path, durability) case under `root`, in a fixed order with stable directories. */
export function cases(root: string): Case[] {
  return Object.entries(selfPaths).flatMap(([name, path], index) =>
    DURABILITIES.map((durability) => {
      const dir = join(root, `${String(index).padStart(2, '0')}-${durability}`);
      const file = path.file ?? 'settings.json';
      return {
        key: `${index}-${durability}`,
        name,
        durability,
        path,
        file,
        ctx: { dir, dest: join(dir, file), options: { durability } },
      };
    }),
  );
}

/** Create a case's directory and old version (before any recording). */
export function prepare(c: Case): void {
  fs.mkdirSync(c.ctx.dir, { recursive: true });
  if (c.path.dest === 'existing') fs.writeFileSync(c.ctx.dest, OLD, { mode: 0o644 });
  c.path.setup?.(c.ctx);
}

/** The line the strace fixture prints when a case's write returned (its done marker). */
export function doneMarker(c: Case): string {
  return `[done ${c.key}]`;
}
