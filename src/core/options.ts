/**
 * The common options of every write, their documentation, and their validation. The caller's
 * object is read once and never mutated.
 */
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_DURABILITY,
  DEFAULT_SYMLINKS,
  DURABILITIES,
  SYMLINK_POLICIES,
} from './constants.js';
import { describeValue, invalidArgument } from '../engine/errors.js';
import {
  type OptionKeys,
  type OptionList,
  optionList,
  optionsObject,
} from '../engine/option-keys.js';
import type { Durability, WriteSettings } from './replace-plans.js';
import type { SymlinkPolicy } from './target.js';

export type { Durability } from './replace-plans.js';
export type { SymlinkPolicy } from './target.js';

/** Options of `writeFile`, `writeFileSync`, `openAtomic` and every other write. */
export interface WriteOptions {
  /**
   * Encoding of string data.
   * @default 'utf8'
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('notes.txt', 'ŝuldo', { encoding: 'latin1' });
   */
  readonly encoding?: BufferEncoding | undefined;

  /**
   * Permission bits of the file (0 to 0o7777), applied exactly (the umask does not narrow
   * them). By default an existing file keeps its mode and a new file gets `0o666 & ~umask`.
   * The temp file is never more permissive than this while it is written.
   * @default the existing file's mode, else 0o666 & ~umask
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('secret.key', key, { mode: 0o600 });
   */
  readonly mode?: number | undefined;

  /**
   * Owner of the file: `{ uid, gid }` to set it (`-1` keeps that id), `false` to leave the
   * new file owned by the writing process. By default an existing file keeps its owner
   * (when the process may give it away, i.e. as root; otherwise the EPERM is ignored).
   * @default the existing file's owner
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('/etc/app.conf', text, { chown: { uid: 0, gid: 0 } });
   */
  readonly chown?: { readonly uid: number; readonly gid: number } | false | undefined;

  /**
   * Keep the replaced file's POSIX ACL, security label (SELinux, Smack) and `user.*` extended
   * attributes (macOS: its extended attributes). `false` gives the new file only its mode and
   * owner: an ACL's mask then becomes the group bits, as with every other writer. Where they
   * cannot be read or kept on Linux, the replace fails (nothing is changed) unless `false`.
   * @default true
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('scratch.bin', bytes, { xattrs: false });
   */
  readonly xattrs?: boolean | undefined;

  /**
   * When the call may resolve. `'full'`: after the file and its directory entry are on disk
   * (survives a power cut). `'file'`: after the file's data is on disk, but the rename may
   * still be lost by a power cut (the old content comes back, never a torn file). `'none'`:
   * no fsync; atomic against process crashes only.
   * @default 'full'
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('cache.bin', bytes, { durability: 'none' });
   */
  readonly durability?: Durability | undefined;

  /**
   * `false` makes the write create-only: it fails with `EEXIST` if anything exists at the
   * destination, atomically (via `link()`), even when two writers race.
   * @default true
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('lockfile', String(process.pid), { overwrite: false });
   */
  readonly overwrite?: boolean | undefined;

  /**
   * Create missing parent directories (each one fsynced into its parent under `'full'`).
   * @default false
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('state/2026/11/log.json', '{}', { mkdirs: true });
   */
  readonly mkdirs?: boolean | undefined;

  /**
   * As root, follow a symlink met on the way to the file although another user could have put
   * it there (it is an entry of a directory that user can write), instead of refusing with
   * `ERR_ATOMIC_SHARED_DIRECTORY`: that user chooses where root writes. Only root is refused.
   * @default false
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('/home/kim/.config/app.json', text, { unsafeSharedDirectories: true });
   */
  readonly unsafeSharedDirectories?: boolean | undefined;

  /**
   * When several writes of whole data to one file are queued behind one in flight, write only
   * the newest; every queued call settles when it is durable. `false` writes each in turn.
   * @default true
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('log.txt', line, { coalesce: false });
   */
  readonly coalesce?: boolean | undefined;

  /**
   * `'follow'`: a symlink at the destination stays and the file it points to is replaced (a
   * dangling link creates its target). `'replace'`: the symlink itself is replaced by a file.
   * @default 'follow'
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('current.conf', text, { symlinks: 'replace' });
   */
  readonly symlinks?: SymlinkPolicy | undefined;

  /**
   * Abort the write. Aborted before the rename, nothing is published and the temp file is
   * removed; the call rejects with an `AbortError` (code `ABORT_ERR`).
   * @default undefined
   * @example
   * import { writeFile } from 'atomic-fs';
   * await writeFile('big.bin', stream, { signal: AbortSignal.timeout(5000) });
   */
  readonly signal?: AbortSignal | undefined;
}

/** Everything a write needs from its options, validated. */
export interface Normalized {
  readonly settings: WriteSettings;
  readonly encoding: BufferEncoding;
  readonly coalesce: boolean;
  readonly symlinks: SymlinkPolicy;
  readonly signal: AbortSignal | undefined;
  /** Follow, as root, symlinks another user could have put on the way (see WriteOptions). */
  readonly unsafeShared: boolean;
}

function oneOf<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
    return value as T;
  throw invalidArgument(
    'ERR_INVALID_ARG_VALUE',
    `The option "${name}" must be one of ${allowed.map((a) => `'${a}'`).join(', ')}. Received ${describeValue(value)}`,
  );
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  throw invalidArgument(
    'ERR_INVALID_ARG_TYPE',
    `The option "${name}" must be of type boolean. Received ${describeValue(value)}`,
  );
}

function encodingOf(value: unknown): BufferEncoding {
  if (value === undefined || value === null) return 'utf8';
  if (typeof value === 'string' && Buffer.isEncoding(value)) return value;
  throw invalidArgument(
    'ERR_INVALID_ARG_VALUE',
    `The option "encoding" must be a Buffer encoding such as 'utf8'. Received ${describeValue(value)}`,
  );
}

/** Validate a mode: an integer from 0 to 0o7777. */
export function modeOf(value: unknown, name = 'mode'): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') {
    // write-file-atomic and atomically take `mode: false` for "not the existing file's mode".
    const instead =
      value === false
        ? `. Leave it out to keep the existing file's mode (a new file gets 0o666 & ~umask), or pass the mode to give, such as 0o644`
        : '';
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The option "${name}" must be of type number. Received ${describeValue(value)}${instead}`,
    );
  }
  if (!Number.isInteger(value) || value < 0 || value > 0o7777) {
    throw invalidArgument(
      'ERR_OUT_OF_RANGE',
      `The option "${name}" must be an integer from 0 to 0o7777. Received ${String(value)}`,
    );
  }
  return value;
}

function idOf(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -1 || value > 0xfffffffe) {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `The option "chown.${name}" must be an integer id (or -1 to keep it). Received ${describeValue(value)}`,
    );
  }
  return value;
}

function chownOf(value: unknown): WriteSettings['chown'] {
  if (value === undefined || value === false) return value;
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The option "chown" must be { uid, gid } or false. Received ${describeValue(value)}`,
    );
  }
  const { uid, gid } = value as { uid?: unknown; gid?: unknown };
  return { uid: idOf('uid', uid), gid: idOf('gid', gid) };
}

function signalOf(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value === 'object' &&
    value !== null &&
    'aborted' in value &&
    typeof (value as { addEventListener?: unknown }).addEventListener === 'function'
  ) {
    return value as AbortSignal;
  }
  throw invalidArgument(
    'ERR_INVALID_ARG_TYPE',
    `The option "signal" must be an AbortSignal. Received ${describeValue(value)}`,
  );
}

/** The options of writeFile, writeFileSync, openAtomic and openAtomicSync. */
export const WRITE_KEYS: OptionKeys<WriteOptions> = {
  encoding: true,
  mode: true,
  chown: true,
  xattrs: true,
  durability: true,
  overwrite: true,
  mkdirs: true,
  unsafeSharedDirectories: true,
  coalesce: true,
  symlinks: true,
  signal: true,
};

const WRITE_FILE = optionList('writeFile', WRITE_KEYS);

/**
 * Validate and normalise write options; a string is the encoding, as in `fs.writeFile`. Every
 * key must be one `list` accepts (the calling function's); the write options of it are read.
 */
export function normalizeOptions(
  options: WriteOptions | BufferEncoding | undefined,
  list: OptionList = WRITE_FILE,
): Normalized {
  if ((options as unknown) === undefined || (options as unknown) === null) options = {};
  if (typeof options === 'string') options = { encoding: options };
  if (typeof options !== 'object') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "options" argument of ${list.fn}() must be an object or an encoding string. Received ${describeValue(options)}`,
    );
  }
  const o = optionsObject<WriteOptions>(options, list);
  return {
    settings: {
      mode: modeOf(o.mode),
      chown: chownOf(o.chown),
      durability: oneOf('durability', o.durability, DURABILITIES, DEFAULT_DURABILITY),
      overwrite: bool('overwrite', o.overwrite, true),
      mkdirs: bool('mkdirs', o.mkdirs, false),
      xattrs: bool('xattrs', o.xattrs, true),
    },
    encoding: encodingOf(o.encoding),
    coalesce: bool('coalesce', o.coalesce, true),
    symlinks: oneOf('symlinks', o.symlinks, SYMLINK_POLICIES, DEFAULT_SYMLINKS),
    signal: signalOf(o.signal),
    unsafeShared: bool('unsafeSharedDirectories', o.unsafeSharedDirectories, false),
  };
}

/** Validate a path argument: a non-empty string or a `file:` URL, without NUL bytes. */
export function pathOf(value: unknown, name = 'path'): string {
  let path: string;
  if (typeof value === 'string') path = value;
  else if (value instanceof URL) {
    if (value.protocol !== 'file:') {
      throw invalidArgument(
        'ERR_INVALID_ARG_VALUE',
        `The "${name}" argument must be a file: URL. Received ${value.href}`,
      );
    }
    path = fileURLToPath(value);
  } else {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "${name}" argument must be of type string or an instance of URL. Received ${describeValue(value)}`,
    );
  }
  if (path === '') {
    throw invalidArgument('ERR_INVALID_ARG_VALUE', `The "${name}" argument must not be empty`);
  }
  if (path.includes('\u0000')) {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `The "${name}" argument must not contain null bytes. Received ${describeValue(path)}`,
    );
  }
  return path;
}
