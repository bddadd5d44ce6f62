/**
 * cleanupTemps: remove temp files left behind by writers that crashed (SIGKILL, power cut),
 * which no exit handler could remove. Only names this library makes are candidates: temp
 * files and the temp links of `replaceSymlink` (`parseTempName`; a link is unlinked, never
 * followed), and the trees `writeDirectory` stages (`parseStagingName`; renamed, then removed
 * without following links). Trees kept by `keepOld` (`.<name>.afs-old-…`) are never removed.
 * Each only when its writer is certainly gone:
 *
 * - a temp of this host (its host tag is ours) is removed when its process no longer exists
 *   (`kill(pid, 0)` answers ESRCH), whatever its age; a temp of a live process never is;
 * - a temp of another host (a shared or network file system) cannot be checked that way: it
 *   is removed when its last modification is older than `olderThanMs`.
 *
 * Limits, also in docs/api.md: pids are per pid namespace, and the host tag is a hash of the
 * host name. Two containers with the same host name but separate pid namespaces writing to
 * one directory could see each other's live writers as dead; so could two hosts whose names
 * hash to the same 16-bit tag. For such setups pass `byOwner: false` (age rule only). A
 * recycled pid keeps a dead writer's temp until that unrelated process ends.
 */
import { join } from 'node:path';
import { CLEANUP_OLDER_THAN_MS } from './constants.js';
import { errorCode, invalidArgument, throwIfAborted, wrapError } from '../engine/errors.js';
import { optionList, optionsObject } from '../engine/option-keys.js';
import { pathOf } from '../core/options.js';
import {
  type Dir,
  type DirStats,
  enteringRefusal,
  entry,
  listing,
  openChild,
  openRoot,
  releaseDir,
} from '../engine/pinned-dir.js';
import { type Plan, call, runAsync } from '../engine/executors.js';
import {
  HOST_TAG,
  type TempNameParts,
  parseStagingName,
  parseTempName,
} from '../core/temp-names.js';
import { reclaimStagedAt } from '../core/remove-tree.js';

/** Options of `cleanupTemps`. */
export interface CleanupOptions {
  /**
   * Also look in subdirectories, at any depth (symlinks to directories are not followed).
   * @default false
   * @example
   * import { cleanupTemps } from 'atomic-fs';
   * await cleanupTemps('/var/lib/app', { recursive: true });
   */
  readonly recursive?: boolean | undefined;

  /**
   * Age (since last modification) after which a temp whose writer cannot be checked — one
   * written from another host, or any temp with `byOwner: false` — is removed.
   * @default 3600000 (one hour)
   * @example
   * import { cleanupTemps } from 'atomic-fs';
   * await cleanupTemps('/mnt/shared/cache', { olderThanMs: 24 * 60 * 60 * 1000 });
   */
  readonly olderThanMs?: number | undefined;

  /**
   * Decide by owner for this host's temps: remove a temp when its process is gone, never while
   * it lives. `false` applies the age rule to every temp (for directories shared between
   * containers with separate pid namespaces but the same host name).
   * @default true
   * @example
   * import { cleanupTemps } from 'atomic-fs';
   * await cleanupTemps('/shared', { byOwner: false, olderThanMs: 6 * 60 * 60 * 1000 });
   */
  readonly byOwner?: boolean | undefined;

  /**
   * Remove nothing; return what would be removed.
   * @default false
   * @example
   * import { cleanupTemps } from 'atomic-fs';
   * console.log(await cleanupTemps('.', { dryRun: true }));
   */
  readonly dryRun?: boolean | undefined;

  /**
   * Where directories cannot be pinned by descriptor (macOS, Windows, Linux without /proc),
   * work as root below directories other users can write (a recursive sweep, a staged tree)
   * instead of refusing with `ERR_ATOMIC_SHARED_DIRECTORY`. Such a user could then rename an
   * entry during the sweep and redirect a removal to a directory of their choosing. Has no
   * effect on Linux with /proc.
   * @default false
   * @example
   * import { cleanupTemps } from 'atomic-fs';
   * await cleanupTemps('/Users', { recursive: true, unsafeSharedDirectories: true });
   */
  readonly unsafeSharedDirectories?: boolean | undefined;

  /**
   * Stop between two files with an `AbortError` (code `ABORT_ERR`); files already removed
   * stay removed.
   * @default undefined
   * @example
   * import { cleanupTemps } from 'atomic-fs';
   * await cleanupTemps('.', { signal: AbortSignal.timeout(1000) });
   */
  readonly signal?: AbortSignal | undefined;
}

interface Sweep {
  readonly root: string;
  readonly recursive: boolean;
  readonly olderThanMs: number;
  readonly byOwner: boolean;
  readonly dryRun: boolean;
  readonly unsafeShared: boolean;
  readonly signal: AbortSignal | undefined;
  readonly now: number;
}

/** Errors that mean "not ours to look at or remove": skipped below the root. */
const NOT_OURS = new Set(['EACCES', 'EPERM']);

/** Whether process `pid` of this host exists; `undefined` when that cannot be told. */
export function processExists(pid: number): boolean | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) return undefined;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ESRCH') return false;
    // EPERM: it exists, owned by someone else.
    return code === 'EPERM' ? true : undefined;
  }
}

/** Whether a temp file's writer is certainly gone, by owner or by age. */
function abandoned(parts: TempNameParts, mtimeMs: number, sweep: Sweep): boolean {
  if (sweep.byOwner && parts.host === HOST_TAG) {
    const exists = processExists(parts.pid);
    if (exists !== undefined) return !exists;
  }
  return sweep.now - mtimeMs > sweep.olderThanMs;
}

/** Unlink one temp file or link; returns the error instead of throwing it. */
function* removeOne(path: string): Plan<unknown> {
  try {
    yield* call('unlink', path);
    return undefined;
  } catch (error) {
    return error;
  }
}

/**
 * Whether a staged tree found in `holder` may be reclaimed. Its name says nothing about who put
 * it there: anyone who can rename entries of the directory can give any directory a dead
 * writer's staging name, and reclaiming would then remove a tree they could never remove
 * themselves. So only where nobody but the tree's owner (and root) can rename entries of the
 * directory: owned by root or by the tree's owner, and either writable by no one else or
 * sticky (where only an entry's owner, the directory's owner and root can rename it).
 */
function reclaimable(holder: DirStats, tree: { uid: number }): boolean {
  if (holder.uid !== 0 && holder.uid !== tree.uid) return false;
  return (holder.mode & 0o1000) !== 0 || (holder.mode & 0o022) === 0;
}

/** One path found, with where its directory comes in breadth-first order. */
interface Found {
  /** Sibling indices from the root down to the entry's directory. */
  readonly order: readonly number[];
  readonly path: string;
}

function breadthFirst(a: Found, b: Found): number {
  if (a.order.length !== b.order.length) return a.order.length - b.order.length;
  for (let i = 0; i < a.order.length; i += 1) {
    const delta = (a.order[i] ?? 0) - (b.order[i] ?? 0);
    if (delta !== 0) return delta;
  }
  return 0;
}

/** Errors of entering a subdirectory that mean it is not there (or not one) any more. */
const GONE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

/**
 * Sweep one pinned directory: its temps first, then each subdirectory (recursive), entered
 * through this directory's descriptor and never through a symlink. Depth first, so that at
 * most one descriptor per level is held; `found` is put in breadth-first order at the end.
 */
function* sweepDir(sweep: Sweep, dir: Dir, order: readonly number[], found: Found[]): Plan<void> {
  let names: string[];
  try {
    names = yield* call('readdir', listing(dir));
  } catch (error) {
    // A subdirectory removed meanwhile, or not readable by us: not ours to clean.
    const code = errorCode(error) ?? '';
    if (order.length > 0 && (GONE.has(code) || NOT_OURS.has(code))) return;
    throw wrapError(error, 'scan', dir.path);
  }
  const subdirs: string[] = [];
  for (const name of names.sort()) {
    throwIfAborted(sweep.signal, sweep.root);
    // A temp file (or a replaceSymlink temp link), or a tree staged by writeDirectory.
    const temp = parseTempName(name);
    const staged = temp === undefined ? parseStagingName(name) : undefined;
    const parts = temp ?? staged;
    if (parts === undefined && !sweep.recursive) continue;
    const path = join(dir.path, name);
    let stats;
    try {
      stats = yield* call('lstat', entry(dir, name));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') continue; // renamed into place, or removed meanwhile
      throw wrapError(error, 'scan', path);
    }
    const ours =
      parts !== undefined &&
      (temp !== undefined
        ? stats.isFile() || stats.isSymbolicLink()
        : stats.isDirectory() || stats.isFile());
    if (stats.isDirectory() && !ours) {
      if (sweep.recursive) subdirs.push(name);
      continue;
    }
    // Anything else named like a temp (a FIFO, a directory with a temp file's name) is not
    // ours; a symlink is only ever unlinked, never followed.
    if (!ours || !abandoned(parts, stats.mtimeMs, sweep)) continue;
    if (stats.isDirectory()) {
      if (!reclaimable(dir.stats, stats)) continue;
      // Removing it will enter it: refused before the claim, where that would be.
      const refusal = enteringRefusal(dir, path, stats);
      if (refusal !== undefined) throw wrapError(refusal, 'remove', path);
    }
    if (!sweep.dryRun) {
      // A staged tree is first renamed to a name of its own, so that a writer still
      // running cannot swap a half-removed tree in; then removed, never following links,
      // and only if it is still the directory looked at.
      const error = stats.isDirectory()
        ? yield* reclaimStagedAt(dir, name, [{ dev: stats.dev, ino: stats.ino }])
        : yield* removeOne(entry(dir, name));
      if (error !== undefined) {
        const code = errorCode(error) ?? '';
        if (code === 'ENOENT' || code === 'ERR_ATOMIC_PATH_CHANGED' || NOT_OURS.has(code)) {
          continue;
        }
        throw wrapError(error, 'remove', path);
      }
    }
    found.push({ order, path });
  }
  for (const [index, name] of subdirs.entries()) {
    let child: Dir;
    try {
      child = yield* openChild(dir, name);
    } catch (error) {
      const code = errorCode(error) ?? '';
      if (GONE.has(code) || NOT_OURS.has(code)) continue;
      throw wrapError(error, 'scan', join(dir.path, name));
    }
    try {
      yield* sweepDir(sweep, child, [...order, index], found);
    } finally {
      // A directory opened for reading: nothing is lost if closing it fails.
      yield* releaseDir(child);
    }
  }
}

function* sweepPlan(sweep: Sweep): Plan<string[]> {
  let root: Dir;
  try {
    root = yield* openRoot(sweep.root, {
      unsafeShared: sweep.unsafeShared,
      descend: sweep.recursive,
    });
  } catch (error) {
    throw wrapError(error, 'scan', sweep.root);
  }
  const found: Found[] = [];
  try {
    yield* sweepDir(sweep, root, [], found);
  } finally {
    yield* releaseDir(root);
  }
  // Array.prototype.sort is stable: within a directory, names stay sorted.
  return found.sort(breadthFirst).map((item) => item.path);
}

function flag(name: string, value: unknown): boolean {
  if (value === undefined) return name === 'byOwner';
  if (typeof value === 'boolean') return value;
  throw invalidArgument(
    'ERR_INVALID_ARG_TYPE',
    `The option "${name}" must be of type boolean. Received type ${typeof value}`,
  );
}

const CLEANUP_TEMPS = optionList<CleanupOptions>('cleanupTemps', {
  recursive: true,
  olderThanMs: true,
  byOwner: true,
  dryRun: true,
  unsafeSharedDirectories: true,
  signal: true,
});

function sweepOf(root: string, given: unknown): Sweep {
  const options = optionsObject<CleanupOptions>(given, CLEANUP_TEMPS);
  const olderThanMs = options.olderThanMs ?? CLEANUP_OLDER_THAN_MS;
  if (typeof olderThanMs !== 'number' || Number.isNaN(olderThanMs) || olderThanMs < 0) {
    throw invalidArgument(
      typeof olderThanMs === 'number' ? 'ERR_OUT_OF_RANGE' : 'ERR_INVALID_ARG_TYPE',
      `The option "olderThanMs" must be a number >= 0 (Infinity: never by age). Received ${String(olderThanMs)}`,
    );
  }
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgument('ERR_INVALID_ARG_TYPE', 'The option "signal" must be an AbortSignal');
  }
  return {
    root,
    recursive: flag('recursive', options.recursive),
    olderThanMs,
    byOwner: flag('byOwner', options.byOwner),
    dryRun: flag('dryRun', options.dryRun),
    unsafeShared: flag('unsafeSharedDirectories', options.unsafeSharedDirectories),
    signal,
    now: Date.now(),
  };
}

/**
 * Remove the temp files of this library that crashed writers left in `dir`: those whose
 * process on this host is gone, and those from other hosts older than `olderThanMs`. Never
 * touches a file whose name this library would not make, nor a temp of a live writer on
 * this host. Resolves with the paths removed (with `dryRun`, that would be removed),
 * directory by directory (breadth first), names sorted within each.
 *
 * @example
 * import { cleanupTemps } from 'atomic-fs';
 * const removed = await cleanupTemps('/var/lib/app', { recursive: true });
 */
export async function cleanupTemps(dir: string | URL, options?: CleanupOptions): Promise<string[]> {
  const sweep = sweepOf(pathOf(dir, 'dir'), options);
  throwIfAborted(sweep.signal, sweep.root);
  return runAsync(sweepPlan(sweep));
}
