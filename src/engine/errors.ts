/**
 * One error type for every failure, carrying where it happened (`phase`), what the kernel
 * said (`code`, `syscall`, `cause`) and whether the new content was already published
 * (`committed`).
 */
import { basename, dirname, parse } from 'node:path';

/** The step of an operation that failed. */
export type Phase =
  | 'resolve'
  | 'mkdirs'
  | 'create-temp'
  | 'chown'
  | 'chmod'
  | 'xattrs'
  | 'write'
  | 'read-source'
  | 'fsync'
  | 'close'
  | 'rename'
  | 'link'
  | 'unlink-temp'
  | 'fsync-dir'
  | 'abort'
  | 'state'
  | 'worker'
  // writeDirectory and replaceSymlink.
  | 'stage'
  | 'swap'
  | 'keep-old'
  | 'remove-old'
  // JSON and read-modify-write:
  | 'lock'
  | 'read'
  | 'parse'
  // toolkit (copyFile, download, cleanupTemps, writeFiles)
  | 'open-source'
  | 'copy'
  | 'fetch'
  | 'verify'
  | 'callback'
  | 'scan'
  | 'remove';

const PHASE_WORDS: Record<Phase, string> = {
  resolve: 'resolving the destination',
  mkdirs: 'creating parent directories',
  'create-temp': 'creating the temp file',
  chown: 'setting the owner of the temp file',
  chmod: 'setting the mode of the temp file',
  xattrs: 'keeping the ACL and extended attributes',
  write: 'writing the temp file',
  'read-source': 'reading the data source',
  fsync: 'flushing the temp file to disk',
  close: 'closing the temp file',
  rename: 'renaming the temp file over the destination',
  link: 'linking the temp file to the destination',
  'unlink-temp': 'removing the temp name after linking',
  'fsync-dir': 'flushing the directory to disk',
  abort: 'the operation was aborted',
  state: 'checking the handle state',
  worker: 'running on the I/O thread',
  stage: 'staging the new tree',
  swap: 'swapping the new tree into place',
  'keep-old': 'keeping the previous tree',
  'remove-old': 'removing the previous tree',
  lock: 'acquiring the lock',
  read: 'reading the current content',
  parse: 'parsing the JSON content',
  // toolkit (copyFile, download, cleanupTemps, writeFiles)
  'open-source': 'opening the source file',
  copy: 'copying into the temp file',
  fetch: 'fetching the URL',
  verify: 'verifying the downloaded bytes',
  callback: "running the caller's onProgress callback",
  scan: 'looking for temp files',
  remove: 'removing a temp file',
};

export interface AtomicFsErrorFields {
  readonly code: string;
  readonly phase: Phase;
  readonly path: string;
  readonly syscall?: string | undefined;
  readonly errno?: number | undefined;
  readonly committed?: boolean | undefined;
  readonly leftover?: string | undefined;
  readonly cause?: unknown;
}

export class AtomicFsError extends Error {
  /** errno code (`ENOSPC`, `EACCES`, …) or an own `ERR_ATOMIC_*` code. */
  readonly code: string;
  /** The step that failed. */
  readonly phase: Phase;
  /** The destination the caller named. */
  readonly path: string;
  /** The system call that failed, when one did. */
  readonly syscall: string | undefined;
  /** Negative errno, when the kernel gave one. */
  readonly errno: number | undefined;
  /**
   * `true` when the new content was already renamed into place but a later step (the
   * directory fsync) failed: the new content is visible, its durability is unknown.
   */
  readonly committed: boolean;
  /**
   * A temp file that could not be removed after the failure (the cleanup failed too). The
   * process tries again at exit, and `cleanupTemps` finds it later.
   */
  readonly leftover: string | undefined;

  constructor(message: string, fields: AtomicFsErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = fields.code === 'ABORT_ERR' ? 'AbortError' : 'AtomicFsError';
    this.code = fields.code;
    this.phase = fields.phase;
    this.path = fields.path;
    this.syscall = fields.syscall;
    this.errno = fields.errno;
    this.committed = fields.committed ?? false;
    this.leftover = fields.leftover;
  }
}

/** The fields of an AtomicFsError, to build a copy with one changed. */
export function fieldsOf(error: AtomicFsError): AtomicFsErrorFields {
  return {
    code: error.code,
    phase: error.phase,
    path: error.path,
    syscall: error.syscall,
    errno: error.errno,
    committed: error.committed,
    leftover: error.leftover,
    cause: error.cause,
  };
}

/** The `code` of any thrown value, without trusting its shape. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function field(error: unknown, name: 'syscall' | 'path' | 'message'): string | undefined {
  if (typeof error === 'object' && error !== null && name in error) {
    const value = (error as Record<string, unknown>)[name];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

function errnoOf(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && 'errno' in error) {
    const { errno } = error;
    if (typeof errno === 'number') return errno;
  }
  return undefined;
}

/**
 * What went wrong, from a system error's message: Node's `CODE: what, syscall 'path'` without
 * the code and the path, which the wrapped message says once each (a path can be 4 KiB long);
 * `second`: the other path of a rename or link.
 */
function describe(
  detail: string,
  code: string,
  syscall: string | undefined,
  where: string | undefined,
): { what: string; second?: string } {
  const what = detail.startsWith(`${code}: `) ? detail.slice(code.length + 2) : detail;
  if (syscall === undefined || where === undefined) return { what };
  const tail = `, ${syscall} '${where}'`;
  const at = what.lastIndexOf(tail);
  if (at < 0) return { what };
  const rest = what.slice(at + tail.length);
  if (rest === '') return { what: what.slice(0, at) };
  const other = /^ -> '(.*)'$/s.exec(rest);
  return other?.[1] === undefined ? { what } : { what: what.slice(0, at), second: other[1] };
}

/**
 * A path a system call used, as short as it can be said beside `dest`: an entry of a
 * directory pinned by its descriptor (`/proc/self/fd/<fd>/<name>`) or of the destination's
 * own directory by its name alone.
 */
function shortPath(path: string, dest: string): string {
  const pinned = /^\/proc\/self\/fd\/\d+\/([^/]+)$/.exec(path);
  if (pinned?.[1] !== undefined) return pinned[1];
  const dir = dirname(path);
  // Not for a name at the root or without a directory: there the name is the whole path.
  if (dir !== parse(path).root && dir !== '.' && dir === dirname(dest)) return basename(path);
  return path;
}

/** What a user can do about a failure, where the code alone does not say it. */
function hintFor(code: string, phase: Phase, what: string): string {
  if (code === 'EISDIR' && phase === 'resolve') {
    return '. The destination names the file itself, not a directory to put it in';
  }
  if (code === 'ENOENT' && what === 'parent directory does not exist') {
    return '; pass mkdirs: true to create it';
  }
  if ((code === 'EACCES' || code === 'EPERM') && phase === 'create-temp') {
    return ". The file's directory must be writable by this process: the new content is written to a temp file beside the file, then renamed over it";
  }
  return '';
}

/**
 * Wrap a failure of `phase` for destination `dest`. An AtomicFsError passes through
 * unchanged (it already names its phase); anything else becomes the `cause`.
 */
export function wrapError(
  error: unknown,
  phase: Phase,
  dest: string,
  extra?: { committed?: boolean },
): AtomicFsError {
  if (error instanceof AtomicFsError) {
    if (extra?.committed === true && !error.committed) {
      return new AtomicFsError(error.message, {
        ...fieldsOf(error),
        committed: true,
      });
    }
    return error;
  }
  const code = errorCode(error) ?? 'ERR_ATOMIC_UNKNOWN';
  const syscall = field(error, 'syscall');
  const where = field(error, 'path');
  const { what, second } = describe(field(error, 'message') ?? String(error), code, syscall, where);
  const committed = extra?.committed === true;
  const place =
    syscall === undefined || where === undefined || (where === dest && second === undefined)
      ? ''
      : `: ${syscall} '${shortPath(where, dest)}'${second === undefined ? '' : ` -> '${shortPath(second, dest)}'`}`;
  const message =
    `${code}: ${what} (while ${PHASE_WORDS[phase]} for '${dest}'${place})` +
    (committed ? ': the new content is in place, but its durability is unknown' : '') +
    hintFor(code, phase, what);
  return new AtomicFsError(message, {
    code,
    phase,
    path: dest,
    syscall,
    errno: errnoOf(error),
    committed,
    cause: error,
  });
}

/** An own error (no kernel errno behind it). */
export function ownError(
  code: string,
  phase: Phase,
  dest: string,
  message: string,
  cause?: unknown,
): AtomicFsError {
  return new AtomicFsError(`${code}: ${message} ('${dest}')`, { code, phase, path: dest, cause });
}

/** The AbortError (code `ABORT_ERR`) of a call to `dest` stopped by its signal's `reason`. */
export function abortError(dest: string, reason: unknown): AtomicFsError {
  return ownError('ABORT_ERR', 'abort', dest, 'the operation was aborted', reason);
}

/** Throws an AbortError (code `ABORT_ERR`) when `signal` is aborted; the reason is the cause. */
export function throwIfAborted(signal: AbortSignal | undefined, dest: string): void {
  if (signal?.aborted === true) throw abortError(dest, signal.reason);
}

/** An error shaped like the ones node:fs throws, for a condition the library finds itself. */
export function errnoError(
  code: string,
  syscall: string,
  path: string,
  message: string,
): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, ${syscall} '${path}'`), {
    code,
    syscall,
    path,
  });
}

/** `value` if it is an Error, else an Error carrying it as its cause. */
export function asError(value: unknown): Error {
  return value instanceof Error
    ? value
    : new Error('a non-Error value was thrown', { cause: value });
}

/** A value as an argument error names it: `null`, `"text"`, `number 42`, `an instance of Map`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'object' || typeof value === 'function') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? `an instance of ${name}` : typeof value;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`;
  }
  return typeof value;
}

/** A Node-style argument error: a TypeError or RangeError with a `code`. */
export function invalidArgument(
  code:
    | 'ERR_INVALID_ARG_TYPE'
    | 'ERR_INVALID_ARG_VALUE'
    | 'ERR_OUT_OF_RANGE'
    | 'ERR_INVALID_RETURN_VALUE',
  message: string,
  cause?: unknown,
): TypeError {
  const options = cause === undefined ? undefined : { cause };
  const error =
    code === 'ERR_OUT_OF_RANGE'
      ? new RangeError(message, options)
      : new TypeError(message, options);
  Object.defineProperty(error, 'code', { value: code, enumerable: true });
  return error;
}

/** Plain-data form of an error, for crossing from the I/O thread back to the caller. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string | undefined;
  readonly errno?: number | undefined;
  readonly syscall?: string | undefined;
  readonly path?: string | undefined;
  readonly phase?: Phase | undefined;
  readonly committed?: boolean | undefined;
  readonly leftover?: string | undefined;
  readonly cause?: SerializedError | undefined;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof AtomicFsError) {
    return {
      name: error.name,
      message: error.message,
      code: error.code,
      errno: error.errno,
      syscall: error.syscall,
      path: error.path,
      phase: error.phase,
      committed: error.committed,
      leftover: error.leftover,
      cause: error.cause === undefined ? undefined : serializeError(error.cause),
    };
  }
  return {
    name: error instanceof Error ? error.name : 'Error',
    message: field(error, 'message') ?? String(error),
    code: errorCode(error),
    errno: errnoOf(error),
    syscall: field(error, 'syscall'),
    path: field(error, 'path'),
  };
}

export function deserializeError(data: SerializedError): Error {
  const cause = data.cause === undefined ? undefined : deserializeError(data.cause);
  if (data.phase !== undefined && data.code !== undefined && data.path !== undefined) {
    return new AtomicFsError(data.message, {
      code: data.code,
      phase: data.phase,
      path: data.path,
      syscall: data.syscall,
      errno: data.errno,
      committed: data.committed,
      leftover: data.leftover,
      cause,
    });
  }
  const error = new Error(data.message, cause === undefined ? undefined : { cause });
  error.name = data.name;
  Object.assign(error, {
    code: data.code,
    errno: data.errno,
    syscall: data.syscall,
    path: data.path,
  });
  return error;
}
