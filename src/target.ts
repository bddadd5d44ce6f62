/**
 * Where a write lands, and the key of its per-file queue. Resolved once, synchronously, when
 * the call is made, so that calls keep their order. The key is the identity (device and
 * inode) of the file's directory, and its name: two names for one file — symlinks, `..`, a
 * directory reached through a link — share one queue, and the key stays the same when a write
 * replaces the file (the file's own inode changes with every replace; keyed by it, a call
 * made just after one write's rename would not queue behind the writes still waiting). It
 * costs an lstat() of the file and a stat() of its directory. A file whose directory does not
 * exist yet (`mkdirs`) is keyed by its path until the writes queued for it are done.
 */
import { basename, dirname, resolve } from 'node:path';
import { MAX_SYMLINK_HOPS } from './constants.js';
import { errorCode, wrapError } from './errors.js';
import { type Stats, seam } from './fs.js';
import { pathQueue } from './queue.js';

export type SymlinkPolicy = 'follow' | 'replace';

export interface Target {
  /**
   * The file that will be replaced: absolute; with `'follow'`, at the end of any chain of
   * symlinks. Its directory may be named through symlinks: it is the same directory.
   */
  readonly target: string;
  /** Its directory: where the temp file is created and what is fsynced after the rename. */
  readonly dir: string;
  /** The per-file queue key: the identity of the file's directory, and its name. */
  readonly key: string;
  /** lstat() of `target` when something is there (read while resolving; `undefined`: nothing). */
  readonly stats?: Stats | undefined;
}

function fail(code: string, dest: string, path: string, message: string): never {
  const error = Object.assign(new Error(`${code}: ${message}, open '${path}'`), {
    code,
    syscall: 'open',
    path,
  });
  throw wrapError(error, 'resolve', dest);
}

function identity(stats: Stats): string {
  return `${stats.dev}:${stats.ino}`;
}

/** A file by its name in its directory: keyed by the directory's identity and the name. */
function named(path: string, dest: string, mkdirs = false): Target {
  const dir = dirname(path);
  // Directories still to be made: the path as written is the best identity there is.
  const byPath = `path:${path}`;
  // A write that is making this file's directories is keyed by the path. Calls made while it
  // is queued or running join its queue: keyed by a directory it has made meanwhile, they
  // would run beside it, and could finish before it.
  if (pathQueue.has(byPath)) return { target: path, dir, key: byPath };
  let stats: Stats;
  try {
    stats = seam.sync.stat(dir);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw wrapError(error, 'resolve', dest);
    if (mkdirs) return { target: path, dir, key: byPath };
    return fail('ENOENT', dest, dir, 'parent directory does not exist (pass mkdirs: true)');
  }
  if (!stats.isDirectory()) fail('ENOTDIR', dest, dir, 'not a directory');
  return { target: path, dir, key: `in:${identity(stats)}/${basename(path)}` };
}

/**
 * Resolve `dest`. With `'follow'`, a symlink (or a chain of them) is followed to the file it
 * names, and a dangling link resolves to the file it would create. With `'replace'`, `dest`
 * itself is the file replaced (a symlink there becomes a regular file).
 */
export function resolveTarget(dest: string, symlinks: SymlinkPolicy, mkdirs: boolean): Target {
  if (dest.endsWith('/') || (seam.platform === 'win32' && dest.endsWith('\\'))) {
    fail('EISDIR', dest, dest, 'illegal operation on a directory');
  }
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
    // A relative link is relative to the directory it is in, as the kernel sees it.
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
