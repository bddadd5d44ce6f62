/**
 * Where a write lands. Resolved once, synchronously, when the call is made: the result is
 * both the file to replace and the key of the per-path queue, so two names for one file
 * (symlinks, `..`) share one queue and calls keep their order. On a local disk this costs one
 * realpath() of a few microseconds.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { MAX_SYMLINK_HOPS } from './constants.js';
import { errorCode, wrapError } from './errors.js';
import { seam } from './fs.js';

export type SymlinkPolicy = 'follow' | 'replace';

export interface Target {
  /** The file that will be replaced (absolute, symlinks resolved per the policy). */
  readonly target: string;
  /** Its directory: where the temp file is created and what is fsynced after the rename. */
  readonly dir: string;
}

function fail(code: string, dest: string, path: string, message: string): never {
  const error = Object.assign(new Error(`${code}: ${message}, open '${path}'`), {
    code,
    syscall: 'open',
    path,
  });
  throw wrapError(error, 'resolve', dest);
}

/** `path` as a file in its directory, the directory resolved to its real path. */
function inDirectory(path: string, dest: string, mkdirs: boolean): Target {
  const parent = dirname(path);
  let dir: string;
  try {
    dir = seam.sync.realpath(parent);
  } catch (error) {
    if (errorCode(error) === 'ENOENT' && mkdirs) {
      dir = parent;
    } else if (errorCode(error) === 'ENOENT') {
      fail('ENOENT', dest, parent, 'parent directory does not exist (pass mkdirs: true)');
    } else {
      throw wrapError(error, 'resolve', dest);
    }
  }
  return { target: join(dir, basename(path)), dir };
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
  if (symlinks === 'replace') return inDirectory(current, dest, mkdirs);
  for (let hops = 0; hops <= MAX_SYMLINK_HOPS; hops += 1) {
    try {
      const real = seam.sync.realpath(current);
      return { target: real, dir: dirname(real) };
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw wrapError(error, 'resolve', dest);
    }
    let isLink: boolean;
    try {
      isLink = seam.sync.lstat(current).isSymbolicLink();
    } catch (error) {
      if (errorCode(error) !== 'ENOENT' && errorCode(error) !== 'ENOTDIR') {
        throw wrapError(error, 'resolve', dest);
      }
      isLink = false;
    }
    if (!isLink) return inDirectory(current, dest, mkdirs);
    current = resolve(dirname(current), seam.sync.readlink(current));
  }
  return fail('ELOOP', dest, dest, 'too many symbolic links encountered');
}
