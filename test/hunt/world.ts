/**
 * The little world a hunter program runs in: one directory with a few files, and many names
 * for them — absolute and relative paths (the program runs with the directory as its working
 * directory), symlinks (relative, absolute, chained, to a directory), a hard link, `..` after
 * a symlink (which the kernel resolves after following the link), a dangling link, a path
 * whose directories do not exist yet, special files, and names of 210 bytes that share their
 * first 200.
 *
 * An alias names an *entry* of the model (a name in the directory, before the last component
 * is followed); the model follows symlinks itself, so that an entry that changes kind during
 * a program (a link replaced by a file with `symlinks: 'replace'`) is seen as the kernel sees it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { ClassName } from './config.js';

/** A name of the model: a path relative to the program's directory, without `.` or `..`. */
export type EntryName = string;

const LONG_PREFIX = 'L'.repeat(200);
export const LONG_1 = `${LONG_PREFIX}${'1'.repeat(10)}`;
export const LONG_2 = `${LONG_PREFIX}${'2'.repeat(10)}`;

export interface Alias {
  /** How the program prints it. */
  readonly name: string;
  /** The path argument, given the program's directory (absolute). */
  readonly path: (dir: string) => string | URL;
  /** The entry it names, before following its last component; or the error the kernel gives. */
  readonly entry: EntryName;
  /** For names the kernel refuses: the error code, given whether `f` exists as a file. */
  readonly kernelError?: (fIsFile: boolean) => string;
  /** The class whose switch must be on for the generator to use it. */
  readonly needs?: ClassName;
  /** Needs `mkdirs` (its directories do not exist at the start). */
  readonly deep?: boolean;
  /** Family for the generator's bookkeeping: entries that may be one file during a program. */
  readonly family: string;
}

const rel = (p: string) => (): string => p;
const abs =
  (p: string) =>
  (dir: string): string =>
    join(dir, p);

export const ALIASES: readonly Alias[] = [
  { name: '<dir>/f', path: abs('f'), entry: 'f', family: 'f' },
  { name: 'f', path: rel('f'), entry: 'f', family: 'f' },
  { name: './f', path: rel('./f'), entry: 'f', family: 'f' },
  { name: 'sub/../f', path: rel('sub/../f'), entry: 'f', family: 'f' },
  { name: 'dirlink/f', path: rel('dirlink/f'), entry: 'f', family: 'f' },
  {
    name: 'file://<dir>/f',
    path: (dir) => new URL(`file://${join(dir, 'f')}`),
    entry: 'f',
    family: 'f',
  },
  { name: 'link', path: rel('link'), entry: 'link', family: 'f' },
  { name: '<dir>/abs', path: abs('abs'), entry: 'abs', family: 'f' },
  { name: 'chain', path: rel('chain'), entry: 'chain', family: 'f' },
  { name: '<dir>/dirlink/link', path: abs('dirlink/link'), entry: 'link', family: 'f' },
  { name: 'h', path: rel('h'), entry: 'h', family: 'h' },
  { name: 'g', path: rel('g'), entry: 'g', family: 'g' },
  { name: 'dirlink/g', path: rel('dirlink/g'), entry: 'g', family: 'g' },
  { name: 'sub/f', path: rel('sub/f'), entry: 'sub/f', family: 'sub/f' },
  { name: 'dangling', path: rel('dangling'), entry: 'dangling', family: 'new' },
  { name: 'mk/a/f', path: rel('mk/a/f'), entry: 'mk/a/f', deep: true, family: 'mk/a/f' },
  // class 4: `..` after a symlink is the parent of the link's target, as the kernel sees it.
  { name: 'jump/../f', path: rel('jump/../f'), entry: 'sub/f', needs: 'dotdot', family: 'sub/f' },
  {
    name: 'f/.',
    path: rel('f/.'),
    entry: 'f',
    kernelError: (fIsFile) => (fIsFile ? 'ENOTDIR' : 'ENOENT'),
    needs: 'dotdot',
    family: 'f',
  },
  {
    name: 'nope/../f',
    path: rel('nope/../f'),
    entry: 'f',
    kernelError: () => 'ENOENT',
    needs: 'dotdot',
    family: 'f',
  },
  // class 3
  { name: 'fifo', path: rel('fifo'), entry: 'fifo', needs: 'special', family: 'fifo' },
  { name: 'fifolink', path: rel('fifolink'), entry: 'fifolink', needs: 'special', family: 'fifo' },
  { name: 'null', path: rel('null'), entry: 'null', needs: 'special', family: 'null' },
  // class 10: two long names sharing their first 200 bytes
  { name: 'L…1', path: rel(LONG_1), entry: LONG_1, needs: 'longNames', family: 'L1' },
  { name: 'L…2', path: rel(LONG_2), entry: LONG_2, needs: 'longNames', family: 'L2' },
];

export function aliasNamed(name: string): Alias {
  const found = ALIASES.find((alias) => alias.name === name);
  if (found === undefined) throw new Error(`no alias ${name}`);
  return found;
}

/** The copy source: never written by a program. */
export const SOURCE = { name: 'src', content: 'source-bytes\n', mode: 0o640 } as const;

/** How a program's world starts. */
export interface Init {
  /** Mode of `f` at the start, or `undefined`: `f` does not exist. */
  readonly f: number | undefined;
  /** `h` is a hard link of `f` (when `f` exists). */
  readonly hard: boolean;
  readonly g: boolean;
  readonly subf: boolean;
}

/** The kinds of entries the model knows. */
export type Entry =
  | { readonly kind: 'file'; readonly ino: number }
  | { readonly kind: 'link'; readonly to: EntryName }
  | { readonly kind: 'dir' }
  | { readonly kind: 'fifo' }
  | { readonly kind: 'chr' };

interface Inode {
  readonly content: string;
  readonly mode: number;
}

/** The state of the world, as the model keeps it. */
export interface State {
  readonly entries: Map<EntryName, Entry>;
  readonly inodes: Map<number, Inode>;
  nextIno: number;
}

export function initialState(init: Init, special: boolean, longNames: boolean): State {
  const entries = new Map<EntryName, Entry>();
  const inodes = new Map<number, Inode>();
  let ino = 1;
  const file = (name: EntryName, content: string, mode: number): void => {
    inodes.set(ino, { content, mode });
    entries.set(name, { kind: 'file', ino });
    ino += 1;
  };
  entries.set('sub', { kind: 'dir' });
  entries.set('sub/deep', { kind: 'dir' });
  if (init.f !== undefined) {
    file('f', 'init-f', init.f);
    if (init.hard) entries.set('h', { kind: 'file', ino: ino - 1 });
  }
  if (init.g) file('g', 'init-g', 0o644);
  if (init.subf) file('sub/f', 'init-subf', 0o644);
  file(SOURCE.name, SOURCE.content, SOURCE.mode);
  entries.set('link', { kind: 'link', to: 'f' });
  entries.set('abs', { kind: 'link', to: 'f' });
  entries.set('chain', { kind: 'link', to: 'link' });
  entries.set('dangling', { kind: 'link', to: 'new' });
  if (special) {
    entries.set('fifo', { kind: 'fifo' });
    entries.set('null', { kind: 'chr' });
    entries.set('fifolink', { kind: 'link', to: 'fifo' });
  }
  if (longNames) {
    file(LONG_1, 'init-L1', 0o644);
    file(LONG_2, 'init-L2', 0o644);
  }
  return { entries, inodes, nextIno: ino };
}

/** Names the model never tracks (links to directories, which no program writes). */
const FIXED_LINKS: Readonly<Record<string, string>> = { dirlink: '.', jump: 'sub/deep' };

/** Make the world on disk, as `initialState` describes it. */
export function buildWorld(dir: string, state: State): void {
  const names = [...state.entries.keys()].sort((a, b) => a.length - b.length);
  const made = new Map<number, string>();
  for (const name of names) {
    const entry = state.entries.get(name);
    const path = join(dir, name);
    switch (entry?.kind) {
      case 'dir':
        fs.mkdirSync(path);
        break;
      case 'file': {
        const first = made.get(entry.ino);
        if (first !== undefined) {
          fs.linkSync(first, path);
          break;
        }
        const inode = state.inodes.get(entry.ino);
        if (inode === undefined) throw new Error(`no inode ${entry.ino}`);
        fs.writeFileSync(path, inode.content);
        fs.chmodSync(path, inode.mode);
        made.set(entry.ino, path);
        break;
      }
      case 'link':
        fs.symlinkSync(name === 'abs' ? join(dir, entry.to) : entry.to, path);
        break;
      case 'fifo':
        run('mkfifo', [path]);
        break;
      case 'chr':
        // The null device's numbers, under our own name: writing it is harmless.
        run('mknod', [path, 'c', '1', '3']);
        break;
      case undefined:
        break;
    }
  }
  for (const [name, to] of Object.entries(FIXED_LINKS)) fs.symlinkSync(to, join(dir, name));
}

function run(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
}

/** What is on disk at an entry name, in the model's terms (file content and mode read). */
export type Seen =
  | { readonly kind: 'file'; readonly content: string; readonly mode: number; readonly ino: number }
  | { readonly kind: 'link'; readonly to: string }
  | { readonly kind: 'dir' | 'fifo' | 'chr' | 'other' }
  | { readonly kind: 'missing' };

export function look(dir: string, name: EntryName): Seen {
  const path = join(dir, name);
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(path);
  } catch {
    return { kind: 'missing' };
  }
  if (stats.isFile()) {
    return {
      kind: 'file',
      content: fs.readFileSync(path, 'latin1'),
      mode: stats.mode & 0o7777,
      ino: stats.ino,
    };
  }
  if (stats.isSymbolicLink()) return { kind: 'link', to: fs.readlinkSync(path) };
  if (stats.isDirectory()) return { kind: 'dir' };
  if (stats.isFIFO()) return { kind: 'fifo' };
  if (stats.isCharacterDevice()) return { kind: 'chr' };
  return { kind: 'other' };
}
