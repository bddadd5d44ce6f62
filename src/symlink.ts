/**
 * replaceSymlink: the deployment switch (`current -> releases/42`) done atomically and
 * durably. A new symlink is created under an exclusive temp name in the link's own directory
 * (symlink() fails with EEXIST rather than reuse a name), renamed over `linkPath` in one
 * step, and the directory is fsynced. Readers resolving `linkPath` at any moment find the
 * old target or the new one, never nothing.
 */
import {
  AtomicFsError,
  errorCode,
  invalidArgument,
  ownError,
  throwIfAborted,
  wrapError,
} from './errors.js';
import { trackTemp, untrackTemp } from './exit-cleanup.js';
import { seam } from './fs.js';
import { newJob, pathQueue } from './job.js';
import { type Durability, normalizeOptions, pathOf } from './options.js';
import { type Plan, call, runAsync } from './plan.js';
import { fsyncsDirectories, hasAtomicExchange, isUnsupportedExchange } from './platform.js';
import {
  type Job,
  discard,
  fsyncDirectory,
  makeParents,
  removeDirectories,
  renameRetrying,
  withLeftover,
} from './steps.js';
import { resolveTarget } from './target.js';
import { flag } from './directory.js';

/** Options of `replaceSymlink`. */
export interface ReplaceSymlinkOptions {
  /**
   * When the call may resolve. `'full'`: after the directory holding the link is fsynced
   * (the switch survives a power cut). `'file'` and `'none'`: without that fsync; the switch
   * is atomic, but a power cut may bring the previous link back.
   * @default 'full'
   * @example
   * import { replaceSymlink } from 'atomic-fs';
   * await replaceSymlink('releases/42', 'current', { durability: 'none' });
   */
  readonly durability?: Durability | undefined;

  /**
   * Replace what is at `linkPath` even when it is not a symlink: a file (or any other
   * non-directory) is replaced in one rename; an *empty* directory is exchanged atomically
   * with the new link and then removed (Linux and macOS). A non-empty directory is always
   * refused (`ENOTEMPTY`).
   * @default false
   * @example
   * import { replaceSymlink } from 'atomic-fs';
   * await replaceSymlink('releases/42', 'current', { force: true });
   */
  readonly force?: boolean | undefined;

  /**
   * Create missing parent directories of `linkPath` (each fsynced into its parent under
   * `'full'`).
   * @default false
   * @example
   * import { replaceSymlink } from 'atomic-fs';
   * await replaceSymlink('/srv/app/releases/42', '/srv/app/current', { mkdirs: true });
   */
  readonly mkdirs?: boolean | undefined;

  /**
   * Abort the switch. Aborted before the rename, nothing changes and the temp link is
   * removed; the call rejects with an `AbortError` (code `ABORT_ERR`).
   * @default undefined
   * @example
   * import { replaceSymlink } from 'atomic-fs';
   * await replaceSymlink('releases/42', 'current', { signal: AbortSignal.timeout(1000) });
   */
  readonly signal?: AbortSignal | undefined;
}

/** What is at the link's path before the switch. */
export type LinkPlace = 'none' | 'symlink' | 'directory' | 'other';

function refusal(job: Job, code: string, message: string): AtomicFsError {
  const error = Object.assign(new Error(`${code}: ${message}, rename '${job.target}'`), {
    code,
    syscall: 'rename',
    path: job.target,
  });
  return wrapError(error, 'resolve', job.dest);
}

/** Look at `linkPath` (never following it). */
function* inspectPlace(job: Job): Plan<LinkPlace> {
  let stats;
  try {
    stats = yield* call('lstat', job.target);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 'none';
    throw wrapError(error, 'resolve', job.dest);
  }
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isDirectory()) return 'directory';
  return 'other';
}

/** Refuse what `force` does not allow, before anything is created. */
function* checkPlace(job: Job, place: LinkPlace, force: boolean): Plan<void> {
  if (place === 'other' && !force) {
    throw refusal(job, 'EEXIST', 'not a symlink (pass force: true to replace it)');
  }
  if (place !== 'directory') return;
  if (!force) {
    throw refusal(job, 'EISDIR', 'a directory (pass force: true to replace an empty one)');
  }
  if (!hasAtomicExchange(seam.platform)) {
    throw ownError(
      'ERR_ATOMIC_NO_EXCHANGE',
      'resolve',
      job.dest,
      `${seam.platform} has no atomic exchange: a directory cannot be replaced by a symlink in one step`,
    );
  }
  let names;
  try {
    names = yield* call('readdir', job.target);
  } catch (error) {
    throw wrapError(error, 'resolve', job.dest);
  }
  if (names.length > 0) {
    throw refusal(job, 'ENOTEMPTY', 'a directory that is not empty');
  }
}

/** symlink() at the temp name (exclusive by nature); with `mkdirs`, parents on ENOENT. */
function* createLink(job: Job, target: string): Plan<readonly string[]> {
  try {
    yield* call('symlink', target, job.tmp);
    return [];
  } catch (error) {
    if (!(job.settings.mkdirs && errorCode(error) === 'ENOENT')) {
      throw wrapError(error, 'create-temp', job.dest);
    }
  }
  const created = yield* makeParents(job);
  try {
    yield* call('symlink', target, job.tmp);
  } catch (error) {
    yield* removeDirectories(created);
    throw wrapError(error, 'create-temp', job.dest);
  }
  return created;
}

/**
 * Replace an empty directory by the new link: exchange them atomically, then remove the
 * directory (now under the temp name). If it was filled meanwhile, exchange back and refuse.
 */
function* exchangeDirectory(job: Job): Plan<void> {
  try {
    yield* call('swap', job.tmp, job.target);
  } catch (error) {
    if (isUnsupportedExchange(errorCode(error))) {
      throw ownError(
        'ERR_ATOMIC_NO_EXCHANGE',
        'rename',
        job.dest,
        'this kernel, file system or runtime has no atomic exchange: a directory cannot be replaced by a symlink in one step',
        error,
      );
    }
    throw wrapError(error, 'rename', job.dest);
  }
  try {
    yield* call('rmdir', job.tmp);
  } catch (error) {
    try {
      yield* call('swap', job.tmp, job.target);
    } catch {
      throw withLeftover(wrapError(error, 'remove-old', job.dest, { committed: true }), job.tmp);
    }
    throw wrapError(error, 'remove-old', job.dest);
  }
}

/** The whole switch, as one plan. */
export function* switchLink(
  job: Job,
  target: string,
  force: boolean,
  signal: AbortSignal | undefined,
): Plan<void> {
  const place = yield* inspectPlace(job);
  yield* checkPlace(job, place, force);
  throwIfAborted(signal, job.dest);
  const created = yield* createLink(job, target);
  try {
    throwIfAborted(signal, job.dest);
    if (place === 'directory') {
      yield* exchangeDirectory(job);
    } else {
      try {
        yield* renameRetrying(job.tmp, job.target);
      } catch (error) {
        throw wrapError(error, 'rename', job.dest);
      }
    }
  } catch (error) {
    if (error instanceof AtomicFsError && error.committed) throw error;
    throw withLeftover(error, yield* discard(job, undefined, created));
  }
  if (job.settings.durability === 'full' && fsyncsDirectories(seam.platform)) {
    try {
      yield* fsyncDirectory(job.dir);
    } catch (error) {
      throw wrapError(error, 'fsync-dir', job.dest, { committed: true });
    }
  }
}

interface SymlinkCall {
  readonly durability: Durability;
  readonly force: boolean;
  readonly mkdirs: boolean;
  readonly signal: AbortSignal | undefined;
}

function symlinkOptions(options: unknown): SymlinkCall {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "options" argument must be an object. Received type ${typeof options}`,
    );
  }
  const o = options as ReplaceSymlinkOptions;
  const common = normalizeOptions({ durability: o.durability, mkdirs: o.mkdirs, signal: o.signal });
  return {
    durability: common.settings.durability,
    force: flag('force', o.force),
    mkdirs: common.settings.mkdirs,
    signal: common.signal,
  };
}

/**
 * Point `linkPath` at `target` atomically and durably: readers resolving `linkPath` see the
 * old target or the new one, never an error; once the promise resolves (durability
 * `'full'`), the switch survives a power cut. `target` is stored as given (a relative target
 * is relative to the link's directory, as with `ln -s`) and need not exist. A symlink at
 * `linkPath` is replaced, never followed; anything else there is refused unless `force`.
 *
 * @example
 * import { replaceSymlink } from 'atomic-fs';
 * await replaceSymlink('releases/42', 'current');
 */
export async function replaceSymlink(
  target: string | URL,
  linkPath: string | URL,
  options?: ReplaceSymlinkOptions,
): Promise<void> {
  const text = pathOf(target, 'target');
  const dest = pathOf(linkPath, 'linkPath');
  const valid = symlinkOptions(options);
  throwIfAborted(valid.signal, dest);
  const resolved = resolveTarget(dest, 'replace', valid.mkdirs);
  const job = newJob(dest, resolved, {
    mode: undefined,
    chown: undefined,
    durability: valid.durability,
    overwrite: true,
    mkdirs: valid.mkdirs,
  });
  await pathQueue.add(job.key, undefined, async () => {
    trackTemp(job.tmp);
    try {
      await runAsync(switchLink(job, text, valid.force, valid.signal));
    } catch (error) {
      if (!(error instanceof AtomicFsError && error.leftover !== undefined)) untrackTemp(job.tmp);
      throw error;
    }
    untrackTemp(job.tmp);
  });
}
