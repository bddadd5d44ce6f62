/**
 * Only regular files are replaced, read or copied. A FIFO, a socket or a device node at the
 * destination would otherwise be replaced by a regular file (`/dev/null` for a process run as
 * root), and opening one to read it can block forever (a FIFO with no writer) or act on a
 * device. Such a file is refused with one code, `ERR_ATOMIC_NOT_REGULAR_FILE`, naming its type.
 */
import { type AtomicFsError, type Phase, ownError } from './errors.js';
import type { Stats } from './fs.js';

const NOT_REGULAR_FILE = 'ERR_ATOMIC_NOT_REGULAR_FILE';

/** The kind of a special file, in words; `undefined` for a regular file, directory or symlink. */
export function specialKind(stats: Stats): string | undefined {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return undefined;
}

/**
 * The refusal of the special file `path` (of kind `kind`; `what` it is to the call, e.g. "the
 * destination"), for the call on `dest`.
 */
export function notRegularFile(
  kind: string,
  phase: Phase,
  dest: string,
  path: string,
  what: string,
  outcome: string,
): AtomicFsError {
  const where = path === dest ? '' : ` ('${path}')`;
  return ownError(
    NOT_REGULAR_FILE,
    phase,
    dest,
    `${what} is ${kind}${where}, not a regular file: ${outcome}`,
  );
}
