/**
 * replaceSymlink: the deployment switch (`current -> releases/42`) done atomically and
 * durably. A new symlink is created under an exclusive temp name in the link's own directory
 * (symlink() fails with EEXIST rather than reuse a name), renamed over `linkPath` in one
 * step, and the directory is fsynced. Readers resolving `linkPath` at any moment find the
 * old target or the new one, never nothing.
 */
import {
  AtomicFsError,
  errnoError,
  errorCode,
  ownError,
  throwIfAborted,
  wrapError,
} from '../engine/errors.js';
import { trackTemp, untrackTemp } from '../core/exit-handler.js';
import { seam } from '../engine/fs.js';
import { newJob, pathQueue } from '../core/call.js';
import { optionList, optionsObject } from '../engine/option-keys.js';
import { type Durability, normalizeOptions, pathOf } from '../core/options.js';
import { type Plan, call, runAsync } from '../engine/executors.js';
import { basename } from 'node:path';
import { type Dir, entry, openRoot, releaseDir } from '../engine/pinned-dir.js';
import {
  hasAtomicExchange,
  isUnsupportedDirectoryFsync,
  isUnsupportedExchange,
} from '../engine/platform.js';
import {
  type Job,
  makeParents,
  removeDirectories,
  renameRetrying,
  withLeftover,
} from '../core/replace-plans.js';
import { resolveTarget } from '../core/target.js';
import { flag } from './write-directory.js';

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
   * Where directories cannot be pinned by descriptor (macOS, Windows, Linux without /proc),
   * switch the link as root even when a directory above the link's own can be written by
   * another user, instead of refusing with `ERR_ATOMIC_SHARED_DIRECTORY` (such a user could
   * rename that directory between two calls and redirect the switch). The link's own
   * directory may always be shared: only names in it are used. No effect on Linux with /proc.
   * @default false
   * @example
   * import { replaceSymlink } from 'atomic-fs';
   * await replaceSymlink('releases/42', '/Users/kim/app/current', { unsafeSharedDirectories: true });
   */
  readonly unsafeSharedDirectories?: boolean | undefined;

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
type LinkPlace = 'none' | 'symlink' | 'directory' | 'other';

function refusal(job: Job, code: string, message: string): AtomicFsError {
  return wrapError(errnoError(code, 'rename', job.target, message), 'resolve', job.dest);
}

/** Look at `linkPath` (never following it), by its name in the pinned directory. */
function* inspectPlace(job: Job, dir: Dir): Plan<LinkPlace> {
  let stats;
  try {
    stats = yield* call('lstat', entry(dir, basename(job.target)));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 'none';
    throw wrapError(error, 'resolve', job.dest);
  }
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isDirectory()) return 'directory';
  return 'other';
}

/** Refuse what `force` does not allow, before anything is created. */
function* checkPlace(job: Job, dir: Dir, place: LinkPlace, force: boolean): Plan<void> {
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
    // Only a first look: the rmdir() after the exchange is what proves it empty.
    names = yield* call('readdir', entry(dir, basename(job.target)));
  } catch (error) {
    throw wrapError(error, 'resolve', job.dest);
  }
  if (names.length > 0) {
    throw refusal(job, 'ENOTEMPTY', 'a directory that is not empty');
  }
}

/** The link's directory, pinned; and with `mkdirs`, the directories made for it (top first). */
interface LinkDir {
  readonly dir: Dir;
  readonly created: readonly string[];
}

/**
 * Open and pin the link's directory: from here on, every call names the link, its temp link
 * and nothing else, by one name in it. With `mkdirs`, missing parents are made first.
 */
function* pinLinkDir(job: Job, unsafeShared: boolean): Plan<LinkDir> {
  const options = { unsafeShared, descend: false };
  try {
    return { dir: yield* openRoot(job.dir, options), created: [] };
  } catch (error) {
    if (!(job.settings.mkdirs && errorCode(error) === 'ENOENT')) {
      throw wrapError(error, 'resolve', job.dest);
    }
  }
  const created = yield* makeParents(job);
  try {
    return { dir: yield* openRoot(job.dir, options), created };
  } catch (error) {
    yield* removeDirectories(created);
    throw wrapError(error, 'mkdirs', job.dest);
  }
}

/** symlink() at the temp name (exclusive by nature), in the pinned directory. */
function* createLink(job: Job, dir: Dir, target: string): Plan<void> {
  try {
    yield* call('symlink', target, entry(dir, basename(job.tmp)));
  } catch (error) {
    throw wrapError(error, 'create-temp', job.dest);
  }
}

/**
 * Replace an empty directory by the new link: exchange them atomically, then remove the
 * directory (now under the temp name). If it was filled meanwhile, exchange back and refuse.
 */
function* exchangeDirectory(job: Job, dir: Dir): Plan<void> {
  const tmp = entry(dir, basename(job.tmp));
  const link = entry(dir, basename(job.target));
  try {
    yield* call('swap', tmp, link);
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
    yield* call('rmdir', tmp);
  } catch (error) {
    try {
      yield* call('swap', tmp, link);
    } catch {
      throw withLeftover(wrapError(error, 'remove-old', job.dest, { committed: true }), job.tmp);
    }
    throw wrapError(error, 'remove-old', job.dest);
  }
}

/**
 * Undo the temp link (by its name in the pinned directory) and the directories made for it.
 * Never throws; returns the temp path if it could not be removed.
 */
function* discardLink(job: Job, dir: Dir, created: readonly string[]): Plan<string | undefined> {
  let leftover: string | undefined;
  try {
    yield* call('unlink', entry(dir, basename(job.tmp)));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') leftover = job.tmp;
  }
  yield* removeDirectories(created);
  return leftover;
}

/** The whole switch, as one plan. */
function* switchLink(
  job: Job,
  target: string,
  force: boolean,
  signal: AbortSignal | undefined,
  unsafeShared = false,
): Plan<void> {
  const { dir, created } = yield* pinLinkDir(job, unsafeShared);
  try {
    yield* switchPinned(job, dir, created, target, force, signal);
  } finally {
    // A directory opened for reading: nothing is lost if closing it fails.
    yield* releaseDir(dir);
  }
}

function* switchPinned(
  job: Job,
  dir: Dir,
  created: readonly string[],
  target: string,
  force: boolean,
  signal: AbortSignal | undefined,
): Plan<void> {
  let place: LinkPlace;
  try {
    place = yield* inspectPlace(job, dir);
    yield* checkPlace(job, dir, place, force);
    throwIfAborted(signal, job.dest);
    yield* createLink(job, dir, target);
  } catch (error) {
    yield* removeDirectories(created);
    throw error;
  }
  try {
    throwIfAborted(signal, job.dest);
    if (place === 'directory') {
      yield* exchangeDirectory(job, dir);
    } else {
      try {
        yield* renameRetrying(entry(dir, basename(job.tmp)), entry(dir, basename(job.target)));
      } catch (error) {
        throw wrapError(error, 'rename', job.dest);
      }
    }
  } catch (error) {
    if (error instanceof AtomicFsError && error.committed) throw error;
    throw withLeftover(error, yield* discardLink(job, dir, created));
  }
  // Windows: no directory descriptor, and no directory fsync to make.
  if (job.settings.durability === 'full' && dir.fd !== undefined) {
    try {
      yield* call('fsync', dir.fd);
    } catch (error) {
      if (!isUnsupportedDirectoryFsync(errorCode(error))) {
        throw wrapError(error, 'fsync-dir', job.dest, { committed: true });
      }
    }
  }
}

interface SymlinkCall {
  readonly durability: Durability;
  readonly force: boolean;
  readonly mkdirs: boolean;
  readonly unsafeShared: boolean;
  readonly signal: AbortSignal | undefined;
}

const REPLACE_SYMLINK = optionList<ReplaceSymlinkOptions>('replaceSymlink', {
  durability: true,
  force: true,
  mkdirs: true,
  unsafeSharedDirectories: true,
  signal: true,
});

function symlinkOptions(options: unknown): SymlinkCall {
  const o = optionsObject<ReplaceSymlinkOptions>(options, REPLACE_SYMLINK);
  const common = normalizeOptions({ durability: o.durability, mkdirs: o.mkdirs, signal: o.signal });
  return {
    durability: common.settings.durability,
    force: flag('force', o.force),
    mkdirs: common.settings.mkdirs,
    unsafeShared: flag('unsafeSharedDirectories', o.unsafeSharedDirectories),
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
  // Where the link lands is checked by its own pinned-directory rules (pinned-dir.ts).
  const resolved = resolveTarget(dest, 'replace', valid.mkdirs, true);
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
      await runAsync(switchLink(job, text, valid.force, valid.signal, valid.unsafeShared));
    } catch (error) {
      if (!(error instanceof AtomicFsError && error.leftover !== undefined)) untrackTemp(job.tmp);
      throw error;
    }
    untrackTemp(job.tmp);
  });
}
