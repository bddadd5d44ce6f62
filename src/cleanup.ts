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
 * Limits, also in the README: pids are per pid namespace, and the host tag is a hash of the
 * host name. Two containers with the same host name but separate pid namespaces writing to
 * one directory could see each other's live writers as dead; so could two hosts whose names
 * hash to the same 16-bit tag. For such setups pass `byOwner: false` (age rule only). A
 * recycled pid keeps a dead writer's temp until that unrelated process ends.
 */
import { join } from 'node:path';
import { CLEANUP_OLDER_THAN_MS } from './constants.js';
import { errorCode, invalidArgument, throwIfAborted, wrapError } from './errors.js';
import { pathOf } from './options.js';
import { type Plan, call, runAsync } from './plan.js';
import { HOST_TAG, type TempNameParts, parseStagingName, parseTempName } from './temp.js';
import { reclaimStaged } from './tree.js';

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

function* sweepPlan(sweep: Sweep): Plan<string[]> {
  const found: string[] = [];
  const pending = [sweep.root];
  for (let dir = pending.shift(); dir !== undefined; dir = pending.shift()) {
    let names: string[];
    try {
      names = yield* call('readdir', dir);
    } catch (error) {
      // A subdirectory removed meanwhile, or not readable by us: not ours to clean.
      const code = errorCode(error) ?? '';
      if (dir !== sweep.root && (code === 'ENOENT' || code === 'ENOTDIR' || NOT_OURS.has(code))) {
        continue;
      }
      throw wrapError(error, 'scan', dir);
    }
    for (const name of names.sort()) {
      throwIfAborted(sweep.signal, sweep.root);
      // A temp file (or a replaceSymlink temp link), or a tree staged by writeDirectory.
      const temp = parseTempName(name);
      const staged = temp === undefined ? parseStagingName(name) : undefined;
      const parts = temp ?? staged;
      if (parts === undefined && !sweep.recursive) continue;
      const path = join(dir, name);
      let stats;
      try {
        stats = yield* call('lstat', path);
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
        if (sweep.recursive) pending.push(path);
        continue;
      }
      // Anything else named like a temp (a FIFO, a directory with a temp file's name) is not
      // ours; a symlink is only ever unlinked, never followed.
      if (!ours || !abandoned(parts, stats.mtimeMs, sweep)) continue;
      if (!sweep.dryRun) {
        // A staged tree is first renamed to a name of its own, so that a writer still
        // running cannot swap a half-removed tree in; then removed, never following links.
        const error = stats.isDirectory() ? yield* reclaimStaged(path) : yield* removeOne(path);
        if (error !== undefined) {
          const code = errorCode(error) ?? '';
          if (code === 'ENOENT' || NOT_OURS.has(code)) continue;
          throw wrapError(error, 'remove', path);
        }
      }
      found.push(path);
    }
  }
  return found;
}

function flag(name: string, value: unknown): boolean {
  if (value === undefined) return name === 'byOwner';
  if (typeof value === 'boolean') return value;
  throw invalidArgument(
    'ERR_INVALID_ARG_TYPE',
    `The option "${name}" must be of type boolean. Received type ${typeof value}`,
  );
}

function sweepOf(root: string, options: CleanupOptions | undefined): Sweep {
  if (options !== undefined && (typeof options !== 'object' || (options as unknown) === null)) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "options" argument must be an object. Received type ${typeof options}`,
    );
  }
  const olderThanMs = options?.olderThanMs ?? CLEANUP_OLDER_THAN_MS;
  if (typeof olderThanMs !== 'number' || Number.isNaN(olderThanMs) || olderThanMs < 0) {
    throw invalidArgument(
      typeof olderThanMs === 'number' ? 'ERR_OUT_OF_RANGE' : 'ERR_INVALID_ARG_TYPE',
      `The option "olderThanMs" must be a number >= 0 (Infinity: never by age). Received ${String(olderThanMs)}`,
    );
  }
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgument('ERR_INVALID_ARG_TYPE', 'The option "signal" must be an AbortSignal');
  }
  return {
    root,
    recursive: flag('recursive', options?.recursive),
    olderThanMs,
    byOwner: flag('byOwner', options?.byOwner),
    dryRun: flag('dryRun', options?.dryRun),
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
