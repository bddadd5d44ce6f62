/**
 * Directories pinned by their descriptors: how writeDirectory, replaceSymlink and cleanupTemps
 * reach every entry they create, chown, chmod, rename or remove, so that another user who can
 * write a directory on the way cannot redirect them with a rename or a symlink.
 *
 * Node has no openat(), mkdirat(), unlinkat() or renameat(). On Linux the kernel offers the
 * same through procfs: `/proc/self/fd/<fd>` is a "magic link" that resolves to the very
 * directory the descriptor holds — not to a path, so renaming that directory or any of its
 * ancestors, or putting a symlink at one of their names, changes nothing — and the single name
 * after it is looked up in that directory, as by an *at() call with that descriptor. So:
 *
 * - every name handed to `entry()` is one component (never a `/`, `.` or `..`), so nothing but
 *   that one name is looked up by name;
 * - a directory below is opened with O_RDONLY|O_DIRECTORY|O_NOFOLLOW through its parent's
 *   descriptor (a symlink or anything but a directory at its name makes the open fail), its
 *   identity read with fstat() and checked, and it is pinned by its own descriptor in turn;
 * - owners and modes are only ever set with fchown()/fchmod() on such descriptors, or on a file
 *   descriptor from an exclusive, O_NOFOLLOW creation.
 *
 * Whether procfs serves `/proc/self/fd` is checked, not assumed: a directory is only addressed
 * through its descriptor once stat() of `/proc/self/fd/<fd>` has shown the same device and
 * inode as fstat() of the descriptor.
 *
 * Where that cannot be had (macOS and other systems without /proc, Linux without /proc
 * mounted, Deno: see `reachesByDescriptorLink`), entries are named by path. A path is only as
 * safe as the names it passes through: anyone who can rename one of them (an entry of a
 * directory they can write, other than the last name) can put a symlink in its place between
 * two calls. So, as root (where a
 * redirected call does the most harm), the library refuses to pass through a name another
 * user could change — an entry of a directory another user can write, unless that directory
 * is sticky and it and the entry are root's (`/tmp/x`, made by root, is fine) — unless the
 * caller accepts that risk with `unsafeSharedDirectories: true`. Windows has no effective
 * user id to ask: there nothing is refused.
 */
import { dirname, join } from 'node:path';
import { errnoError, errorCode } from './errors.js';
import { type Stats, flags, pinFlags, seam } from './fs.js';
import { type Plan, call, closeQuietly } from './executors.js';
import { isUnsupportedDirectoryFsync, reachesByDescriptorLink, runtimeOf } from './platform.js';

/** The identity of a file: device and inode. */
export interface Identity {
  readonly dev: number;
  readonly ino: number;
}

/** What is known of a directory from the fstat() made when it was pinned. */
export interface DirStats extends Identity {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/** A directory in use. */
export interface Dir {
  /** The directory as the caller would name it (errors, results). */
  readonly path: string;
  /** The path entries are named under when the directory is not pinned. */
  readonly base: string;
  /** Its descriptor while held; `undefined` once closed (and on Windows, which has none). */
  fd: number | undefined;
  readonly stats: DirStats;
  /** Entries are named through the descriptor (`/proc/self/fd/<fd>/<name>`). */
  readonly pinned: boolean;
  /** The caller accepted named paths through directories other users can write. */
  readonly unsafeShared: boolean;
  /** The effective user id when the operation began (`undefined` on Windows). */
  readonly user: number | undefined;
}

/**
 * A directory was not the one expected: renamed, replaced or filled by someone else while in
 * use. Nothing was done in it.
 */
export function changed(path: string, what: string): Error {
  return errnoError(
    'ERR_ATOMIC_PATH_CHANGED',
    'open',
    path,
    `${what} (another process renamed or replaced it while it was in use)`,
  );
}

function sharedRefusal(path: string): Error {
  return errnoError(
    'ERR_ATOMIC_SHARED_DIRECTORY',
    'open',
    path,
    'refusing to work as root below a directory another user can write: this platform ' +
      'cannot pin directories by descriptor (/proc/self/fd), so that user could rename an ' +
      'entry between two calls and redirect a chown, chmod, unlink or write; pass ' +
      'unsafeSharedDirectories: true to accept that risk',
  );
}

/**
 * As root, a symlink on the way to a file that another user could have put there (see
 * `stableName`): following it would let that user choose the file root writes.
 */
export function linkRefusal(path: string): Error {
  return errnoError(
    'ERR_ATOMIC_SHARED_DIRECTORY',
    'open',
    path,
    'refusing to follow, as root, a symlink that another user could have put there (it is ' +
      'in a directory that user can write): that user would choose the file written; pass ' +
      'unsafeSharedDirectories: true to accept that risk',
  );
}

/** The effective user id, where the platform has one. */
function euid(): number | undefined {
  return seam.platform === 'win32' ? undefined : seam.geteuid();
}

/**
 * Whether anyone but this process's user could add, rename or remove entries in a directory:
 * another owner (an owner can always change the mode of its own directory), or write
 * permission for the group or others (which POSIX ACLs granting write to anyone show in the
 * group bits, as the ACL mask).
 */
export function writableByOthers(
  stats: { uid: number; mode: number },
  user: number | undefined,
): boolean {
  return stats.uid !== user || (stats.mode & 0o022) !== 0;
}

/**
 * Whether the name of an entry owned by `childUid` in a directory with `stats` can be changed
 * by nobody but root: the directory is writable by nobody else, or it is sticky and owned by
 * root, and so is the entry (in a sticky directory only the entry's owner, the directory's
 * owner and root may rename or remove an entry, and nobody can create one at a name in use).
 */
export function stableName(stats: DirStats, childUid: number): boolean {
  if (!writableByOthers(stats, 0)) return true;
  return (stats.mode & 0o1000) !== 0 && stats.uid === 0 && childUid === 0;
}

/** Named paths through `dir` are checked (and refused where unstable): root, path mode. */
function checksPaths(dir: Dir): boolean {
  return !dir.pinned && !dir.unsafeShared && dir.user === 0;
}

/**
 * The refusal to enter, below `parent` by named paths, a directory with these owner and mode
 * bits whose own entries will be entered too (see the header), or `undefined` when it may be.
 */
export function enteringRefusal(
  parent: Dir,
  path: string,
  stats: { uid: number; mode: number },
): Error | undefined {
  if (!checksPaths(parent)) return undefined;
  if (stableName(parent.stats, stats.uid) && !writableByOthers(stats, 0)) return undefined;
  return sharedRefusal(path);
}

/** What of a stat() result a directory's checks need. */
export function statsOf(stats: Stats): DirStats {
  return {
    dev: stats.dev,
    ino: stats.ino,
    uid: stats.uid,
    gid: stats.gid,
    mode: stats.mode & 0o7777,
  };
}

export function sameFile(a: Identity, b: Identity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

function checkName(name: string): void {
  // Never reached with names from readdir(), validated segments or names made here.
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw new Error(`internal error: '${name}' is not a single name`);
  }
}

/** How to name the entry `name` of `dir` in a system call: one component below `dir`. */
export function entry(dir: Dir, name: string): string {
  checkName(name);
  if (dir.pinned && dir.fd !== undefined) return `/proc/self/fd/${dir.fd}/${name}`;
  return join(dir.base, name);
}

/** How to name `dir` itself to list it. */
export function listing(dir: Dir): string {
  return dir.pinned && dir.fd !== undefined ? `/proc/self/fd/${dir.fd}` : dir.base;
}

/** Codes meaning "procfs does not serve /proc/self/fd here". */
const NO_PROCFS = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'ELOOP']);

/**
 * fsync a directory through the descriptor that pins it; a file system that cannot sync
 * directories is no error.
 */
export function* fsyncDescriptor(fd: number): Plan<void> {
  try {
    yield* call('fsync', fd);
  } catch (error) {
    if (!isUnsupportedDirectoryFsync(errorCode(error))) throw error;
  }
}

/** Release `dir`'s descriptor, if still held (exactly once). */
export function* closeDir(dir: Dir): Plan<void> {
  const fd = dir.fd;
  if (fd === undefined) return;
  dir.fd = undefined;
  yield* call('close', fd);
}

/** Release `dir`'s descriptor, if still held, ignoring a failure. */
export function* releaseDir(dir: Dir): Plan<void> {
  const fd = dir.fd;
  if (fd === undefined) return;
  dir.fd = undefined;
  yield* closeQuietly(fd);
}

export interface RootOptions {
  /** The caller accepted named paths through directories other users can write. */
  readonly unsafeShared: boolean;
  /** Directories below `path` will be entered (not only its own entries used). */
  readonly descend: boolean;
  /** Refuse a symlink at `path`'s last component (O_NOFOLLOW): ELOOP or ENOTDIR. */
  readonly noFollow?: boolean;
}

/**
 * Where named paths are used as root: every name on the way to the directory must be one that
 * nobody but root can change (it is looked up again at each call), so its real path is checked
 * component by component, and used from then on.
 */
function* checkedBase(path: string): Plan<string> {
  const real = yield* call('realpath', path);
  const chain: string[] = [];
  for (let dir = real; ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  let above: DirStats | undefined;
  for (const dir of chain) {
    const stats = statsOf(yield* call('lstat', dir));
    if (above !== undefined && !stableName(above, stats.uid)) throw sharedRefusal(dirname(dir));
    above = stats;
  }
  return real;
}

/**
 * `openRoot` of a directory that must be `expected` (when given): another one at its path
 * (renamed or replaced since it was looked at) fails `ERR_ATOMIC_PATH_CHANGED`, released.
 */
export function* openExpected(
  path: string,
  expected: Identity | undefined,
  options: RootOptions,
): Plan<Dir> {
  const dir = yield* openRoot(path, options);
  if (expected !== undefined && !sameFile(dir.stats, expected)) {
    yield* releaseDir(dir);
    throw changed(path, 'not the directory the call resolved');
  }
  return dir;
}

/**
 * Open the directory `path` of an operation (the caller's path, symlinks resolved as the kernel
 * resolves them now) and pin it. Everything the operation does below it goes through the
 * returned Dir. The caller owns the descriptor (`closeDir`).
 */
export function* openRoot(path: string, options: RootOptions): Plan<Dir> {
  const { unsafeShared } = options;
  const user = euid();
  if (seam.platform === 'win32') {
    // Windows cannot open directories; nothing there is refused (no user id to ask).
    const stats = statsOf(yield* call('stat', path));
    return { path, base: path, fd: undefined, stats, pinned: false, unsafeShared, user };
  }
  const fd = yield* call(
    'open',
    path,
    options.noFollow === true ? pinFlags.directory : flags.directory,
    0,
  );
  try {
    const stats = statsOf(yield* call('fstat', fd));
    let pinned = false;
    if (reachesByDescriptorLink(seam.platform, runtimeOf(process.versions))) {
      try {
        pinned = sameFile(statsOf(yield* call('stat', `/proc/self/fd/${fd}`)), stats);
      } catch (error) {
        if (!NO_PROCFS.has(errorCode(error) ?? '')) throw error;
      }
    }
    const dir: Dir = { path, base: path, fd, stats, pinned, unsafeShared, user };
    if (!checksPaths(dir)) return dir;
    // Below it, directories of root's own will be made or entered first.
    if (options.descend && !stableName(stats, 0)) throw sharedRefusal(path);
    return { ...dir, base: yield* checkedBase(path) };
  } catch (error) {
    yield* closeQuietly(fd);
    throw error;
  }
}

export interface ChildOptions {
  /**
   * The directory was just created by this call (mkdir). Where someone else could have put
   * another one at its name, it must be empty, ours and on the same file system.
   */
  readonly created?: boolean;
  /** It must be exactly one of these directories. */
  readonly expect?: readonly Identity[] | undefined;
  /** It must be on the parent's file system (a tree being removed never crosses a mount). */
  readonly sameDevice?: boolean;
}

/**
 * Open the subdirectory `name` of `parent` and pin it in turn: O_NOFOLLOW|O_DIRECTORY through
 * the parent's descriptor, then fstat() to check what was opened. Throws ENOTDIR (or ELOOP)
 * when `name` is not a directory, `ERR_ATOMIC_PATH_CHANGED` when it is not the one expected.
 */
export function* openChild(parent: Dir, name: string, options: ChildOptions = {}): Plan<Dir> {
  const path = join(parent.path, name);
  const base = join(parent.base, name);
  const { unsafeShared, user } = parent;
  if (seam.platform === 'win32') {
    const found = yield* call('lstat', base);
    if (!found.isDirectory()) throw errnoError('ENOTDIR', 'lstat', base, 'not a directory');
    const stats = statsOf(found);
    return { path, base, fd: undefined, stats, pinned: false, unsafeShared, user };
  }
  const fd = yield* call('open', entry(parent, name), pinFlags.directory, 0);
  try {
    const stats = statsOf(yield* call('fstat', fd));
    const dir: Dir = { path, base, fd, stats, pinned: parent.pinned, unsafeShared, user };
    // By named paths its entries would be reached through its name in the parent.
    if (checksPaths(parent) && !stableName(parent.stats, stats.uid)) throw sharedRefusal(path);
    if (options.expect !== undefined && !options.expect.some((id) => sameFile(id, stats))) {
      throw changed(path, 'not the directory expected');
    }
    if (
      (options.sameDevice === true || options.created === true) &&
      stats.dev !== parent.stats.dev
    ) {
      throw errnoError('EXDEV', 'open', path, 'a mount point is not entered');
    }
    if (options.created === true && writableByOthers(parent.stats, user)) {
      // Another user could have renamed our new directory away and put one of theirs, or a
      // directory they could rename (a sibling), at its name before the open.
      if (stats.uid !== user) throw changed(path, 'the directory just created is not ours');
      const names = yield* call('readdir', listing(dir));
      if (names.length > 0) throw changed(path, 'the directory just created is not empty');
    }
    return dir;
  } catch (error) {
    yield* closeQuietly(fd);
    throw error;
  }
}
