/**
 * Where a write lands, and the key of its per-file queue. Resolved once, synchronously, when
 * the call is made, so that calls keep their order.
 *
 * The path is walked as the kernel walks it (path_lookupat on Linux), so that a call writes
 * exactly the file `fs.writeFile` would, or fails with the error it would: component by
 * component from the working directory (or `/`); a symlink met on the way — in any
 * component — is followed (a relative one from its own directory, an absolute one from
 * `/`), at most 40 in all (then ELOOP); `..` goes to the parent of the physical directory
 * reached, never lexically back over a symlink; a component that is not a directory but is
 * used as one is ENOTDIR; a path that ends in `/`, `.` or `..` names a directory (EISDIR).
 * With the policy `'replace'`, only a symlink at the last component is not followed.
 *
 * The result is physical: `target` and `dir` name no symlink, no `.` and no `..`, so joining
 * a temp name to `dir` or taking `dirname` of them is exact. (Windows resolves `.` and `..`
 * lexically itself, before any symlink: there the path is resolved that way.)
 *
 * The queue key is the identity (device and inode) of the file's directory, and its name:
 * two names for one file — symlinks, `..` through symlinks, a relative path after chdir() —
 * share one queue, and the key stays the same when a write replaces the file (the file's own
 * inode changes with every replace; keyed by it, a call made just after one write's rename
 * would not queue behind the writes still waiting). A file whose directory does not exist yet
 * (`mkdirs`) is keyed by its path until the writes queued for it are done.
 *
 * The walk is a plan (engine/executors.ts) of lstat/readlink/stat calls — for the common path, a
 * realpath() of the directory (exactly the kernel's resolution of an existing directory),
 * a stat() of it and an lstat() of the name — run here with the synchronous seam; it makes
 * no change to the file system.
 */
import { basename, dirname, resolve } from 'node:path';
import { MAX_SYMLINK_HOPS } from '../engine/platform.js';
import { errnoError, errorCode, wrapError } from '../engine/errors.js';
import { type Stats, seam } from '../engine/fs.js';
import { unsyncedAt } from './new-dirs.js';
import { type Plan, call, runSync } from '../engine/executors.js';
import { type Identity, linkRefusal, stableName, statsOf } from '../engine/pinned-dir.js';
import { pathQueue } from './path-queue.js';

export type SymlinkPolicy = 'follow' | 'replace';

/** The directory a missing one is to appear in (see `Target.top`). */
export interface Top {
  readonly path: string;
  readonly id: Identity;
  readonly names: readonly string[];
}

export interface Target {
  /**
   * The file that will be replaced: absolute and physical (no symlink, `.` or `..` in it);
   * with `'follow'`, at the end of any chain of symlinks.
   */
  readonly target: string;
  /** Its directory: where the temp file is created and what is fsynced after the rename. */
  readonly dir: string;
  /** The per-file queue key: the identity of the file's directory, and its name. */
  readonly key: string;
  /** lstat() of `target` when something is there (read while resolving; `undefined`: nothing). */
  readonly stats?: Stats | undefined;
  /**
   * With `mkdirs`: the directories that did not exist when the call was made, top first
   * (`dir` and perhaps some above it). Absent when `dir` exists.
   */
  readonly missing?: readonly string[] | undefined;
  /**
   * `dir` and directories above it that another write of this process was creating, or left
   * without a durable entry, when the call was made: the write fsyncs their parents too.
   */
  readonly unsynced?: readonly string[] | undefined;
  /**
   * Its directory is missing, and a write of the same file queued before it makes it
   * (`behindMkdirs`): nothing of this write may be created before its turn.
   */
  readonly behind?: true;
  /** The identity of `dir` when it exists (the job's pinned directory must be this one). */
  readonly dirId?: Identity | undefined;
  /**
   * When `dir` was missing (`mkdirs`, or `behind`): the directory that existed, its identity,
   * and the directories below it down to `dir` (top first).
   */
  readonly top?: Top | undefined;
}

/** The longest path the kernel takes, in bytes with the terminating NUL (PATH_MAX). */
const PATH_MAX: Partial<Record<NodeJS.Platform, number>> = {
  linux: 4096,
  android: 4096,
  darwin: 1024,
  freebsd: 1024,
  openbsd: 1024,
};

function failure(code: string, path: string, message: string): Error {
  return errnoError(code, 'open', path, message);
}

function fail(code: string, dest: string, path: string, message: string): never {
  throw wrapError(failure(code, path, message), 'resolve', dest);
}

function identity(stats: Stats): string {
  return `${stats.dev}:${stats.ino}`;
}

/** `name` in the physical directory `dir`, without any lexical folding. */
function child(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/**
 * `path` made absolute against `cwd` without folding `.` or `..`: on POSIX systems the
 * kernel resolves those after the symlinks before them, and so does the walk here. Windows
 * folds them lexically itself: there this is `path.resolve`.
 */
export function absolutePath(path: string, cwd: string = process.cwd()): string {
  if (seam.platform === 'win32') return resolve(cwd, path);
  return path.startsWith('/') ? path : child(cwd, path);
}

/** One component still to walk; `''` marks a trailing slash (the name before it is a directory). */
interface Part {
  readonly name: string;
  /** Named by a symlink's body rather than by the caller (mkdirs never creates those). */
  readonly fromLink: boolean;
}

function partsOf(text: string, fromLink: boolean): Part[] {
  const parts = text
    .split('/')
    .filter((name) => name !== '')
    .map((name) => ({ name, fromLink }));
  if (text.endsWith('/') && parts.length > 0) parts.push({ name: '', fromLink });
  return parts;
}

/** Where the walk ended: the last component, in the physical directory `dir`. */
interface Walked {
  readonly dir: string;
  readonly name: string;
  /** lstat() of `dir`/`name`; `undefined`: nothing is there. */
  readonly stats: Stats | undefined;
  /** stat() of `dir` (its identity); `undefined` when it does not exist yet (`missing`). */
  readonly dirStats: Stats | undefined;
  /** Directories to create (`mkdirs`), top first; `dir` is the last of them. */
  readonly missing: readonly string[];
  /** With `missing`: stat() of the directory they are made in. */
  readonly topStats?: Stats | undefined;
}

/**
 * `guarded`: as root, refuse to follow a symlink that another user could have put there (an
 * entry of a directory that user can write, unless sticky and it and the link are root's;
 * pinned-dir.ts `stableName`). Everything after the walk goes through the directory it found,
 * pinned and checked (target-dir.ts); only a symlink followed here can redirect the call.
 */
function* checkLink(
  dir: string,
  seen: ReadonlyMap<string, Stats>,
  link: Stats,
  path: string,
): Plan<void> {
  const holder = seen.get(dir) ?? (yield* call('stat', dir));
  if (!stableName(statsOf(holder), link.uid)) throw linkRefusal(path);
}

/**
 * Walk `path` as the kernel does for `open(path, O_CREAT)`, from `cwd` if it is relative. The
 * errors thrown are the kernel's (a failed lstat as it came) or shaped like them.
 */
function* walk(
  path: string,
  cwd: string,
  symlinks: SymlinkPolicy,
  mkdirs: boolean,
  guarded = false,
): Plan<Walked> {
  let dir = path.startsWith('/') ? '/' : cwd;
  // Directories looked at on the way, so that `..` back into one needs no new look.
  const seen = new Map<string, Stats>();
  const missing: string[] = [];
  let topStats: Stats | undefined;
  // The components still to walk, the next one last; a symlink's body takes its place.
  const pending = partsOf(path, false).reverse();
  let names = pending.filter((part) => part.name !== '').length;
  let hops = 0;
  for (;;) {
    const part = pending.pop();
    // Only a path with no name in it at all ('/', or a symlink to it at the end) gets here.
    if (part === undefined) throw failure('EISDIR', dir, 'illegal operation on a directory');
    if (part.name === '') continue; // a trailing slash inside a link's body: a directory anyway
    names -= 1;
    const last = names === 0;
    if (part.name === '.' || part.name === '..') {
      if (part.name === '..') {
        // mkdirs creates the directories the file lands in, not ones the path passes through.
        if (missing.length > 0) throw failure('ENOENT', dir, 'no such file or directory');
        dir = dirname(dir);
      }
      if (last) throw failure('EISDIR', dir, 'illegal operation on a directory');
      continue;
    }
    // A trailing slash: the kernel refuses to create a file there before it looks.
    if (last && pending.length > 0) {
      throw failure('EISDIR', child(dir, part.name), 'illegal operation on a directory');
    }
    const next = child(dir, part.name);
    if (missing.length > 0) {
      // Inside a directory still to be created: nothing is there yet.
      if (last) {
        return { dir, name: part.name, stats: undefined, dirStats: undefined, missing, topStats };
      }
      missing.push(next);
      dir = next;
      continue;
    }
    let stats: Stats;
    try {
      stats = yield* call('lstat', next);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
      if (last) return { dir, name: part.name, stats: undefined, dirStats: seen.get(dir), missing };
      if (!mkdirs) {
        throw failure('ENOENT', next, 'parent directory does not exist');
      }
      // As `mkdir -p`: never a directory that a symlink names (a dangling link stays dangling).
      if (part.fromLink) throw failure('ENOENT', next, 'a symlink names a missing directory');
      topStats = seen.get(dir) ?? (yield* call('stat', dir));
      missing.push(next);
      dir = next;
      continue;
    }
    if (stats.isSymbolicLink() && !(last && symlinks === 'replace')) {
      if (guarded) yield* checkLink(dir, seen, stats, next);
      hops += 1;
      if (hops > MAX_SYMLINK_HOPS) throw failure('ELOOP', next, 'too many symbolic links');
      const body = yield* call('readlink', next);
      // Linux refuses to create an empty symlink; a file system from elsewhere may hold one.
      if (body === '') throw failure('ENOENT', next, 'empty symbolic link');
      if (body.startsWith('/')) dir = '/';
      const parts = partsOf(body, true);
      for (let i = parts.length - 1; i >= 0; i -= 1) {
        const linked = parts[i];
        if (linked === undefined) continue;
        pending.push(linked);
        if (linked.name !== '') names += 1;
      }
      continue;
    }
    if (last) return { dir, name: part.name, stats, dirStats: seen.get(dir), missing };
    if (!stats.isDirectory()) throw failure('ENOTDIR', next, 'not a directory');
    seen.set(next, stats);
    dir = next;
  }
}

/** Errors of a path itself, which the walk reports exactly as the kernel does. */
const PATH_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EACCES']);

function* orWalk<R>(plan: Plan<R>): Plan<R | undefined> {
  try {
    return yield* plan;
  } catch (error) {
    if (PATH_ERRORS.has(errorCode(error) ?? '')) return undefined;
    throw error;
  }
}

/**
 * `walk`, in fewer calls for the common path: one whose last component is a plain name. Its
 * directory is resolved by realpath() — exactly the kernel's resolution of an existing
 * directory, `..` after symlinks included — then the name is looked at in it. Whatever this
 * cannot settle (a symlink to follow, a directory missing, a path error) is walked.
 */
function* locate(
  path: string,
  cwd: string,
  symlinks: SymlinkPolicy,
  mkdirs: boolean,
  guarded = false,
): Plan<Walked> {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  // Guarded (see `checkLink`), every symlink on the way must be seen: no realpath().
  if (!guarded && name !== '' && name !== '.' && name !== '..') {
    // Without its trailing slash: glibc's realpath() checks a path ending in `/` with one more
    // call (faccessat), and the directory is checked by the stat() below anyway.
    let head = slash === 0 ? '/' : path.slice(0, slash);
    if (slash === -1) head = cwd;
    else if (!head.startsWith('/')) head = child(cwd, head);
    const dir = slash === -1 ? cwd : yield* orWalk(call('realpath', head));
    const dirStats = dir === undefined ? undefined : yield* orWalk(call('stat', dir));
    if (dir !== undefined && dirStats?.isDirectory() === true) {
      try {
        const stats = yield* call('lstat', child(dir, name));
        if (!stats.isSymbolicLink() || symlinks === 'replace') {
          return { dir, name, stats, dirStats, missing: [] };
        }
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ENOENT') return { dir, name, stats: undefined, dirStats, missing: [] };
        if (!PATH_ERRORS.has(code ?? '')) throw error;
      }
    }
  }
  const walked = yield* walk(path, cwd, symlinks, mkdirs, guarded);
  // The directory's identity, for the queue key (a directory still to be made has none).
  if (walked.missing.length > 0 || walked.dirStats !== undefined) return walked;
  return { ...walked, dirStats: yield* call('stat', walked.dir) };
}

/**
 * Resolve `dest` (see the top of this file). With `'follow'`, a symlink (or a chain of them)
 * is followed to the file it names, and a dangling link resolves to the file it would create.
 * With `'replace'`, a symlink at the last component is itself the file replaced.
 */
export function resolveTarget(
  dest: string,
  symlinks: SymlinkPolicy,
  mkdirs: boolean,
  unsafeShared = false,
): Target {
  if (seam.platform === 'win32') return lexicalTarget(dest, symlinks, mkdirs);
  const guarded = !unsafeShared && seam.geteuid() === 0;
  const limit = PATH_MAX[seam.platform];
  if (limit !== undefined && Buffer.byteLength(dest) >= limit) {
    fail('ENAMETOOLONG', dest, dest, 'file name too long');
  }
  let walked: Walked;
  // process.cwd() is the kernel's getcwd(): a physical path, as the walk needs.
  const cwd = dest.startsWith('/') ? '/' : process.cwd();
  try {
    walked = runSync(locate(dest, cwd, symlinks, mkdirs, guarded));
  } catch (error) {
    const queued = mkdirs ? undefined : behindMkdirs(dest, cwd, symlinks, error, guarded);
    if (queued !== undefined) return queued;
    throw wrapError(error, 'resolve', dest);
  }
  const { dir, name, stats, missing } = walked;
  const target = child(dir, name);
  const unsynced = unsyncedAt(missing[0] === undefined ? dir : dirname(missing[0]));
  const top = topOf(walked);
  const extra = {
    ...(missing.length > 0 ? { missing } : {}),
    ...(unsynced.length > 0 ? { unsynced } : {}),
    ...(top === undefined ? {} : { top }),
  };
  // Directories still to be made (no identity yet): the path is the best identity there is.
  // A call made while a write that makes them is queued or running joins its queue: keyed by
  // a directory that write has made meanwhile, it would run beside it, and could finish first.
  const byPath = `path:${target}`;
  const { dirStats } = walked;
  if (dirStats === undefined) return { target, dir, key: byPath, stats, ...extra };
  const dirId = { dev: dirStats.dev, ino: dirStats.ino };
  if (pathQueue.has(byPath)) return { target, dir, key: byPath, stats, dirId, ...extra };
  return { target, dir, key: `in:${identity(dirStats)}/${name}`, stats, dirId, ...extra };
}

/** `Target.top` of a walk that met missing directories. */
function topOf(walked: Walked): Top | undefined {
  const { missing, topStats } = walked;
  const first = missing[0];
  if (first === undefined || topStats === undefined) return undefined;
  return { path: dirname(first), id: { dev: topStats.dev, ino: topStats.ino }, names: missing };
}

/**
 * The queue key of a job whose directory was missing when it was made (keyed by its path), for
 * a step it takes later, once that directory may exist: a handle's commit. As for a call made
 * now: the path's queue while writes queued by the path remain, else the identity of the
 * directory there now (where the calls made since it appeared queue).
 */
export function keyNow(key: string, dir: string, target: string): string {
  if (!key.startsWith('path:') || pathQueue.has(key)) return key;
  try {
    const stats = seam.sync.stat(dir);
    return stats.isDirectory() ? `in:${identity(stats)}/${basename(target)}` : key;
  } catch {
    return key;
  }
}

/**
 * A file whose directory is missing, while a write of that same file that makes its
 * directories (`mkdirs`) is queued or running: in call order the directories exist when this
 * write's turn comes, so it queues behind that write (keyed by the path, as that write is)
 * instead of failing now. In its turn it finds them, or fails as the kernel would then
 * (ENOENT creating the temp file) if that write did not make them. Any other failure stands.
 */
function behindMkdirs(
  dest: string,
  cwd: string,
  symlinks: SymlinkPolicy,
  error: unknown,
  guarded: boolean,
): Target | undefined {
  if (errorCode(error) !== 'ENOENT') return undefined;
  let walked: Walked;
  try {
    walked = runSync(walk(dest, cwd, symlinks, true, guarded));
  } catch {
    return undefined;
  }
  if (walked.missing.length === 0) return undefined;
  const target = child(walked.dir, walked.name);
  const key = `path:${target}`;
  if (!pathQueue.has(key)) return undefined;
  const top = topOf(walked);
  return { target, dir: walked.dir, key, behind: true, ...(top === undefined ? {} : { top }) };
}

// ---- Windows: `.` and `..` are folded lexically, as the Win32 path functions do ----

/** A file by its name in its directory: keyed by the directory's identity and the name. */
function named(path: string, dest: string, mkdirs = false): Target {
  const dir = dirname(path);
  const byPath = `path:${path}`;
  if (pathQueue.has(byPath)) return { target: path, dir, key: byPath };
  let stats: Stats;
  try {
    stats = seam.sync.stat(dir);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw wrapError(error, 'resolve', dest);
    if (mkdirs) return { target: path, dir, key: byPath };
    return fail('ENOENT', dest, dir, 'parent directory does not exist');
  }
  if (!stats.isDirectory()) fail('ENOTDIR', dest, dir, 'not a directory');
  return { target: path, dir, key: `in:${identity(stats)}/${basename(path)}` };
}

function lexicalTarget(dest: string, symlinks: SymlinkPolicy, mkdirs: boolean): Target {
  if (/[\\/]$/.test(dest)) fail('EISDIR', dest, dest, 'illegal operation on a directory');
  let current = resolve(dest);
  for (let hops = 0; hops <= MAX_SYMLINK_HOPS; hops += 1) {
    let stats: Stats;
    try {
      stats = seam.sync.lstat(current);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return named(current, dest, mkdirs);
      throw wrapError(error, 'resolve', dest);
    }
    if (!stats.isSymbolicLink() || symlinks === 'replace') {
      return { ...named(current, dest), stats };
    }
    let parent: string;
    try {
      parent = seam.sync.realpath(dirname(current));
    } catch (error) {
      throw wrapError(error, 'resolve', dest);
    }
    current = resolve(parent, seam.sync.readlink(current));
  }
  return fail('ELOOP', dest, dest, 'too many symbolic links encountered');
}
