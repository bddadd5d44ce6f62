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
  copyFile,
  openAtomic,
  openAtomicSync,
  replaceSymlink,
  update,
  updateJson,
  writeDirectory,
  writeFile,
  writeFileSync,
  writeFiles,
  writeJson,
  writeJsonSync,
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
  /** Prepare the old version when it is not a plain file at `file` (a tree, a link). */
  readonly setup?: (ctx: PathContext) => void;
  readonly run: (ctx: PathContext) => unknown;
  /**
   * What `durability: 'file'` may be flagged for. A directory exchange is flushed before the
   * previous tree is removed, so writeDirectory is clean at `'file'` too.
   * @default 'stale-after-done'
   */
  readonly atFile?: 'stale-after-done' | 'clean';
  /**
   * What `durability: 'none'` must be flagged for. A symlink switch cannot be torn (the
   * link's target is written with its directory entry): it is flagged stale after done.
   * @default 'torn'
   */
  readonly atNone?: 'torn' | 'stale-after-done';
  /**
   * Watch `file` explicitly. The default watch list is the existing files the run wrote or
   * replaced; a file inside a replaced directory, or reached through a switched link, is
   * neither, so the check is told which path to judge.
   */
  readonly watchExplicitly?: boolean;
  /**
   * `false` for a path whose calls run concurrently: the two front ends then see its
   * operations in different orders (the calling thread interleaves them, the I/O thread
   * does not), so it is left out of the front-end agreement test.
   * @default true
   */
  readonly deterministic?: boolean;
}

async function* chunks(): AsyncGenerator<Buffer> {
  for (let at = 0; at < NEW.length; at += 3000) {
    await Promise.resolve();
    yield NEW.subarray(at, at + 3000);
  }
}

export const selfPaths: Record<string, SelfPath> = {
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

/** OLD and NEW as JSON documents (same sizes as the plain versions, give or take). */
const OLD_JSON = { settings: OLD.toString('utf8') };
const NEW_JSON = { settings: NEW.toString('utf8') };

/** A directory tree whose `settings.json` is the watched file. */
function tree(content: Buffer): Record<string, Buffer> {
  return { 'settings.json': content, 'README.txt': Buffer.from('about the settings\n') };
}

Object.assign(selfPaths, {
  writeJson: {
    dest: 'existing',
    setup: (c: PathContext) => {
      fs.writeFileSync(c.dest, `${JSON.stringify(OLD_JSON)}\n`);
    },
    run: (c: PathContext) => writeJson(c.dest, NEW_JSON, c.options),
  },
  writeJsonSync: {
    dest: 'existing',
    setup: (c: PathContext) => {
      fs.writeFileSync(c.dest, `${JSON.stringify(OLD_JSON)}\n`);
    },
    run: (c: PathContext) => {
      writeJsonSync(c.dest, NEW_JSON, c.options);
    },
  },
  update: {
    dest: 'existing',
    run: (c: PathContext) => update(c.dest, () => NEW, c.options),
  },
  updateJson: {
    dest: 'existing',
    setup: (c: PathContext) => {
      fs.writeFileSync(c.dest, `${JSON.stringify(OLD_JSON)}\n`);
    },
    run: (c: PathContext) => updateJson(c.dest, () => NEW_JSON, c.options),
  },
  copyFile: {
    dest: 'existing',
    setup: (c: PathContext) => {
      fs.writeFileSync(c.dest, OLD);
      fs.writeFileSync(join(c.dir, 'source.json'), NEW);
    },
    run: (c: PathContext) => copyFile(join(c.dir, 'source.json'), c.dest, c.options),
  },
  // One file at a time: the same order of operations under both front ends.
  writeFiles: {
    dest: 'existing',
    setup: (c: PathContext) => {
      fs.writeFileSync(c.dest, OLD);
      fs.writeFileSync(join(c.dir, 'other.json'), OLD);
    },
    run: (c: PathContext) =>
      writeFiles(
        { [c.dest]: NEW, [join(c.dir, 'other.json')]: NEW },
        { ...c.options, concurrency: 1 },
      ),
  },
  'writeFiles (parallel)': {
    dest: 'existing',
    deterministic: false,
    setup: (c: PathContext) => {
      fs.writeFileSync(c.dest, OLD);
      for (const name of ['a.json', 'b.json', 'c.json']) fs.writeFileSync(join(c.dir, name), OLD);
    },
    run: (c: PathContext) =>
      writeFiles(
        Object.fromEntries(
          [c.dest, ...['a.json', 'b.json', 'c.json'].map((name) => join(c.dir, name))].map(
            (path) => [path, NEW],
          ),
        ),
        c.options,
      ),
  },
  writeDirectory: {
    dest: 'existing',
    file: 'conf/settings.json',
    watchExplicitly: true,
    atFile: 'clean',
    setup: (c: PathContext) => {
      fs.rmSync(join(c.dir, 'conf'), { recursive: true, force: true });
      fs.mkdirSync(join(c.dir, 'conf'));
      for (const [name, content] of Object.entries(tree(OLD))) {
        fs.writeFileSync(join(c.dir, 'conf', name), content);
      }
    },
    run: (c: PathContext) => writeDirectory(join(c.dir, 'conf'), tree(NEW), c.options),
  },
  replaceSymlink: {
    dest: 'existing',
    file: 'current/settings.json',
    watchExplicitly: true,
    atNone: 'stale-after-done',
    setup: (c: PathContext) => {
      fs.rmSync(join(c.dir, 'current'), { force: true });
      for (const [release, content] of [
        ['1', OLD],
        ['2', NEW],
      ] as const) {
        fs.mkdirSync(join(c.dir, 'releases', release), { recursive: true });
        fs.writeFileSync(join(c.dir, 'releases', release, 'settings.json'), content);
      }
      fs.symlinkSync('releases/1', join(c.dir, 'current'));
    },
    run: (c: PathContext) => replaceSymlink('releases/2', join(c.dir, 'current'), c.options),
  },
} satisfies Record<string, SelfPath>);

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
  if (c.path.setup !== undefined) c.path.setup(c.ctx);
  else if (c.path.dest === 'existing') fs.writeFileSync(c.ctx.dest, OLD, { mode: 0o644 });
}

/** The line the strace fixture prints when a case's write returned (its done marker). */
export function doneMarker(c: Case): string {
  return `[done ${c.key}]`;
}
