/**
 * What each file-system call of one write is for. A traced call is classified by what it
 * does (open, lstat, fstat, fsync, …, whatever the kernel's name for it: statx, newfstatat
 * and lstat are all an lstat when they do not follow the last link) and what it acts on
 * (the destination, a temp name beside it, its directory), and the pair is looked up in
 * REASONS. The report lists one atomic-fs overwrite call by call with these reasons, so
 * that it stays true when the sequence changes: a call with no entry here is shown as
 * "unexplained" (and `test/bench/syscalls.test.ts` fails on it). Pure: no I/O.
 */
import { dirname, isAbsolute, join } from 'node:path';
import { type TracedCall, isFileCall } from './stats.js';

/**
 * What a call acts on, relative to the file being written. `descriptor link`: the directory's
 * own `/proc/self/fd/<fd>`, looked at to know that names through it reach that directory.
 */
type Target = 'destination' | 'temp' | 'directory' | 'descriptor link' | 'other';

/** Why a call of this kind, on this target, is made. Keyed by `<operation> <target>`. */
export const REASONS: Readonly<Record<string, string>> = {
  'lstat destination':
    "what is at the destination, without following it: a symlink to follow (the link's target is replaced, the link stays), a directory to refuse, create-only's check, and the mode and owner that the new file keeps",
  'stat directory':
    "the directory's identity (device and inode), which with the file's name keys the per-file queue: writes through different names for one file (symlinks, `..`, a directory reached through a link) keep their call order and coalesce; a missing parent, or one that is not a directory, fails here before any temp file exists",
  'open temp':
    'create the temp file beside the destination: O_CREAT|O_EXCL|O_NOFOLLOW, an unpredictable name, permissions no wider than the final mode',
  'write temp': 'the new bytes (a short write is continued)',
  'fstat temp':
    "the temp file's mode and owner as created, compared with the ones to keep, so that fchmod and fchown are made only when they differ: one call in place of two on an ordinary overwrite",
  'chmod temp': 'give the temp file its final mode, on the descriptor, before the fsync',
  'chown temp': "give the temp file the replaced file's owner (or the requested one)",
  'fsync temp': 'make the new bytes and metadata durable before the rename can publish them',
  'fdatasync temp': 'make the new bytes durable before the rename can publish them',
  'close temp': "release the temp file's descriptor before publishing it",
  'rename temp': 'publish: one atomic rename over the destination',
  'link temp':
    'create-only: publish with link(), which fails with EEXIST if anything is there, even under a race',
  'unlink temp': 'drop the temp name (after a create-only link, or when a write fails)',
  'open directory':
    "pin the directory for the write's turn: from here on every name is looked up in it alone (`/proc/self/fd/<fd>/<name>`), so that nobody can redirect the write by renaming a directory above it or putting a symlink in its place; the same descriptor is fsynced after the rename",
  'fstat directory':
    'the pinned directory must be the one the call resolved (device and inode): if another took its place since, nothing is written (`ERR_ATOMIC_PATH_CHANGED`)',
  'stat descriptor link':
    "procfs serves `/proc/self/fd`: the directory's descriptor link names that very directory (same device and inode), so names through it are looked up there",
  'fsync directory': 'make the rename itself durable: resolved means durable',
  'close directory': "release the directory's descriptor",
  'readlink other':
    "realpath() of the destination's directory (glibc reads each component as a possible symlink): the directory as the kernel resolves it, `..` after a symlink included, so that the file written is the one `fs.writeFile` would write",
  'readlink directory':
    "realpath() of the destination's directory, its last component: the physical directory where the temp file is created and which is fsynced",
  'open destination':
    'a read-only descriptor of the replaced file (O_NOFOLLOW, O_NONBLOCK), to read the extended attributes to keep (POSIX ACL, SELinux label, user.*) — not made with `xattrs: false`',
  'close destination': "release the replaced file's descriptor once its attributes are read",
  'lstat directory':
    "as root, the directory's own entry, walked component by component (no realpath()) to see every symlink on the way; with mkdirs, finding the nearest parent that exists",
  'lstat other':
    'as root, each directory above the file, walked component by component (no realpath()): a symlink on the way that another user could have put there is not followed (`ERR_ATOMIC_SHARED_DIRECTORY`)',
  'mkdir directory': 'mkdirs: create a missing parent',
};

export const UNEXPLAINED = 'unexplained';

/** The operation a system call performs, independent of the kernel's name for it. */
export function operationOf(call: TracedCall): string {
  const { name, args } = call;
  switch (name) {
    case 'open':
    case 'openat':
    case 'openat2':
    case 'creat':
      return 'open';
    case 'statx':
    case 'newfstatat':
    case 'fstatat64':
      if (/\bAT_EMPTY_PATH\b/.test(args) && /^[^,]*,\s*""/.test(args)) return 'fstat';
      return /\bAT_SYMLINK_NOFOLLOW\b/.test(args) ? 'lstat' : 'stat';
    case 'stat':
    case 'lstat':
    case 'fstat':
      return name;
    case 'read':
    case 'pread64':
    case 'readv':
    case 'preadv':
    case 'preadv2':
      return 'read';
    case 'write':
    case 'pwrite64':
    case 'writev':
    case 'pwritev':
    case 'pwritev2':
      return 'write';
    case 'rename':
    case 'renameat':
    case 'renameat2':
      return 'rename';
    case 'link':
    case 'linkat':
      return 'link';
    case 'unlink':
    case 'unlinkat':
      return /\bAT_REMOVEDIR\b/.test(args) ? 'rmdir' : 'unlink';
    case 'mkdir':
    case 'mkdirat':
      return 'mkdir';
    case 'chmod':
    case 'fchmod':
    case 'fchmodat':
      return 'chmod';
    case 'chown':
    case 'fchown':
    case 'fchownat':
    case 'lchown':
      return 'chown';
    case 'getdents64':
      return 'readdir';
    case 'readlinkat':
      return 'readlink';
    default:
      return name;
  }
}

const FD = /^(-?\d+|AT_FDCWD)<([^>]*)>/;
const QUOTED = /"((?:[^"\\]|\\.)*)"/;

/** Calls whose first argument is a descriptor and that take no path (a string is data). */
const DESCRIPTOR_CALLS = new Set([
  'read',
  'pread64',
  'readv',
  'preadv',
  'preadv2',
  'write',
  'pwrite64',
  'writev',
  'pwritev',
  'pwritev2',
  'close',
  'fsync',
  'fdatasync',
  'sync_file_range',
  'fstat',
  'fchmod',
  'fchown',
  'ftruncate',
  'fallocate',
  'lseek',
  'getdents64',
  'ioctl',
  'fcntl',
  'flock',
  'copy_file_range',
  'sendfile',
]);

/** The path a call acts on first: its path argument, or the file its descriptor names. */
export function pathOf(call: TracedCall): string | undefined {
  const args = call.args;
  const fd = FD.exec(args);
  if (DESCRIPTOR_CALLS.has(call.name)) return fd?.[1] === 'AT_FDCWD' ? undefined : fd?.[2];
  const rest = fd === null ? args : args.slice(fd[0].length);
  // A path argument comes first (open, rename) or right after the directory descriptor (the
  // *at calls); an empty one (AT_EMPTY_PATH) means the descriptor itself.
  const quoted = /^\s*,?\s*"/.test(rest) ? QUOTED.exec(rest) : null;
  const path = quoted?.[1];
  if (path !== undefined && path !== '') {
    if (isAbsolute(path)) return path;
    return fd === null ? path : join(fd[2] ?? '', path);
  }
  return fd?.[1] === 'AT_FDCWD' ? undefined : fd?.[2];
}

/**
 * `path` with a directory descriptor's link (`/proc/self/fd/<fd>/…`) spelled as the path that
 * descriptor was opened with (`open`: descriptor → path, from the results traced so far).
 */
function throughDescriptor(path: string | undefined, open: ReadonlyMap<string, string>) {
  const match = path === undefined ? null : /^\/proc\/self\/fd\/(\d+)(\/.*)?$/.exec(path);
  if (match === null) return path;
  const dir = open.get(match[1] ?? '');
  if (dir === undefined) return path;
  return match[2] === undefined ? `${dir}\0link` : `${dir}${match[2]}`;
}

/** What `path` is to a write of `dest`. */
function targetOf(path: string | undefined, dest: string): Target {
  if (path === undefined) return 'other';
  if (path.endsWith('\0link')) return 'descriptor link';
  const dir = dirname(dest);
  if (path === dest) return 'destination';
  if (path === dir) return 'directory';
  if (dirname(path) === dir) return 'temp';
  return 'other';
}

/** The REASONS key of a call (`open`: see `throughDescriptor`). */
export function kindOf(
  call: TracedCall,
  dest: string,
  open: ReadonlyMap<string, string> = new Map(),
): string {
  return `${operationOf(call)} ${targetOf(throughDescriptor(pathOf(call), open), dest)}`;
}

/**
 * Note each descriptor → path that strace (-y) shows in `call` (`22</dir>`): an open's result
 * may be on a line of its own (`<... resumed>`), but the calls made on the descriptor (fstat,
 * fsync, close) show it too. Later calls overwrite earlier ones: numbers are reused.
 */
function notePaths(call: TracedCall, paths: Map<string, string>): void {
  for (const [, fd = '', path = ''] of call.args.matchAll(/\b(\d+)<([^>]+)>/g)) {
    paths.set(fd, path);
  }
}

/**
 * The call as strace shows it, shortened for a table: the directory as `<dir>`, the paths
 * that `-y` adds to descriptors, structures and data elided, and the result.
 */
export function shorten(call: TracedCall, dest: string): string {
  const dir = dirname(dest);
  const result = / = (.*)$/.exec(call.args);
  const outcome = (result?.[1] ?? '').replace(/<[^>]*>/g, '').trim();
  const head = (result === null ? call.args : call.args.slice(0, result.index))
    .trimEnd()
    .replace(/(AT_FDCWD|\b\d+)<[^>]*>/g, '$1')
    .replace(/\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}/g, '{…}')
    .replace(/"(?:[^"\\]|\\.)*"\.\.\./g, '"…"')
    .split(dir)
    .join('<dir>');
  return `${call.name}(${head}${outcome === '' ? '' : ` = ${outcome}`}`;
}

export interface ListedCall {
  /** The calling (main) thread, or another one (the I/O thread, libuv's threadpool). */
  readonly thread: 'calling' | 'other';
  readonly name: string;
  /** The REASONS key: operation and target. */
  readonly kind: string;
  readonly text: string;
  /** The reason from REASONS, or UNEXPLAINED. */
  readonly reason: string;
}

/**
 * The file-system calls of one write of `dest` in the order they started, each with its
 * thread, kind and reason (`mainPid`: the calling thread's id, which is the process id).
 */
export function listCalls(
  calls: readonly TracedCall[],
  mainPid: number,
  dest: string,
): ListedCall[] {
  const open = new Map<string, string>();
  return calls.filter(isFileCall).map((call) => {
    const kind = kindOf(call, dest, open);
    notePaths(call, open);
    return {
      thread: call.pid === mainPid ? 'calling' : 'other',
      name: call.name,
      kind,
      text: shorten(call, dest),
      reason: REASONS[kind] ?? UNEXPLAINED,
    };
  });
}

/**
 * For each call of `mine`, whether `floor` makes a call of the same kind (each floor call
 * matches one call of `mine` at most, in order): the calls left unmatched are what `mine`
 * makes beyond the floor.
 */
export function matchFloor(mine: readonly ListedCall[], floor: readonly ListedCall[]): boolean[] {
  const left = new Map<string, number>();
  for (const call of floor) left.set(call.kind, (left.get(call.kind) ?? 0) + 1);
  return mine.map((call) => {
    const count = left.get(call.kind) ?? 0;
    if (count === 0) return false;
    left.set(call.kind, count - 1);
    return true;
  });
}
