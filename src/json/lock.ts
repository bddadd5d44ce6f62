/**
 * The cross-process exclusive lock of `update` and `updateJson`.
 *
 * What is locked: a stable sidecar file `.<name>.afs-lock` in the destination's directory,
 * never the destination itself (every commit replaces the destination's inode, so a lock on
 * it would protect a file that is no longer there). The sidecar is created on first use,
 * also for a destination that does not exist yet, and is left in place afterwards: removing
 * a lock file races with processes that have it open and are about to lock it. Its name can
 * never match a temp name, so `cleanupTemps` never removes it, and it is one file's only: a
 * name too long to fit is cut and given a hash of the whole name, so two names that share
 * their first bytes never share a lock (one would wait for the other, or nest into it).
 *
 * How: kernel advisory locks (via `fs-native-extensions`; see fs.ts), which the kernel
 * releases when the holder dies, even by SIGKILL. They belong to an open file description
 * (Linux OFD locks, BSD `flock`, Windows `LockFileEx`), not to the process: two descriptors
 * of one process exclude each other exactly like two processes do, and closing some other
 * descriptor of the file never drops the lock (the classic POSIX `fcntl` pitfall).
 *
 * Within one process, callers queue in a per-file FIFO before they touch the kernel lock, so
 * concurrent `update` calls of one file run one after the other and lose nothing. The FIFO is
 * keyed like the per-file write queue (core/path-queue.ts): by the file, whatever name reaches it. A call
 * made from inside the `fn` of an update of the same file (nested), and a synchronous call
 * while an asynchronous update of the file is in flight, would wait for a holder that is
 * waiting for them: they fail at once with `ERR_ATOMIC_LOCK_REENTRANT` instead of hanging.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  LOCK_POLL_FIRST_MS,
  LOCK_POLL_MAX_MS,
  LOCK_REOPEN_LIMIT,
  LOCK_TAG,
} from './constants.js';
import { NEW_FILE_MODE, TEMP_BASE_MAX_BYTES } from '../core/constants.js';
import {
  type AtomicFsError,
  errnoError,
  errorCode,
  invalidArgument,
  ownError,
  throwIfAborted,
  wrapError,
} from '../engine/errors.js';
import { flags, seam } from '../engine/fs.js';
import { type Plan, call, closeQuietly, runAsync, runSync } from '../engine/executors.js';
import { hasPosixMetadata, isIgnorableChownError } from '../engine/platform.js';
import { reentrantError } from '../core/path-queue.js';
import { type Job, makeParents, mustPin } from '../core/replace-plans.js';
import { nameIn, pinTargetDir, releaseTargetDir } from '../core/target-dir.js';
import { truncateUtf8 } from '../core/temp-names.js';

/** Options of the lock taken by `update`, `updateJson` and their sync twins. */
export interface LockOptions {
  /**
   * How long to wait for the lock, in milliseconds, before failing with
   * `ERR_ATOMIC_LOCK_TIMEOUT` (the file is then untouched). `0` tries once. It bounds only the
   * wait for the lock, not `fn` or the write. With a finite value (or a `signal`) the lock is
   * polled every 1–25 ms instead of waited for in the kernel.
   * @default Infinity
   * @example
   * import { updateJson } from 'atomic-fs';
   * await updateJson('state.json', (s) => ({ ...s, runs: s.runs + 1 }), { timeoutMs: 5000 });
   */
  readonly timeoutMs?: number | undefined;

  /**
   * Abort the call: while waiting for the lock, or later before the rename. Nothing is
   * written; the call rejects with an `AbortError` (code `ABORT_ERR`).
   * @default undefined
   * @example
   * import { update } from 'atomic-fs';
   * await update('log.txt', (old) => `${old ?? ''}line\n`, { signal: AbortSignal.timeout(1000) });
   */
  readonly signal?: AbortSignal | undefined;
}

/** A validated wait: when to give up, and what may abort it. */
export interface LockWait {
  readonly timeoutMs: number;
  /** `performance.now()` value after which waiting fails; `Infinity` for none. */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
}

/** Validate `timeoutMs` (a number ≥ 0, `Infinity` allowed) and start the clock. */
export function lockWaitOf(timeoutMs: unknown, signal: AbortSignal | undefined): LockWait {
  if (timeoutMs === undefined) {
    return { timeoutMs: DEFAULT_LOCK_TIMEOUT_MS, deadline: Number.POSITIVE_INFINITY, signal };
  }
  if (typeof timeoutMs !== 'number') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The option "timeoutMs" must be of type number. Received type ${typeof timeoutMs}`,
    );
  }
  if (Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw invalidArgument(
      'ERR_OUT_OF_RANGE',
      `The option "timeoutMs" must be a number of milliseconds >= 0 (Infinity allowed). Received ${String(timeoutMs)}`,
    );
  }
  return { timeoutMs, deadline: performance.now() + timeoutMs, signal };
}

/**
 * The lock file of a job's destination: `.<name>.afs-lock` in the same directory. A name of
 * more than 200 bytes is cut to 200 and followed by 16 hex digits of its SHA-256, so that the
 * sidecar's name fits and stays the file's own. (A name of at most 200 bytes never looks like
 * a cut one: that one's middle part is longer than 200 bytes.)
 */
function lockPathOf(job: Job): string {
  const name = basename(job.target);
  const kept = truncateUtf8(name, TEMP_BASE_MAX_BYTES);
  const unique =
    kept === name
      ? name
      : `${kept}.${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
  return join(job.dir, `.${unique}.${LOCK_TAG}`);
}

function timeoutError(job: Job, path: string, wait: LockWait, holder: string): AtomicFsError {
  return ownError(
    'ERR_ATOMIC_LOCK_TIMEOUT',
    'lock',
    job.dest,
    `the lock '${path}' was not free within ${wait.timeoutMs} ms (${holder} holds it); nothing was written`,
  );
}

// ---------------------------------------------------------------------------------------------
// The kernel lock, as plans (run by both executors; every call goes through the fs seam).

/** The mode and owner a lock file must have, when this call is the one that creates it. */
interface LockFileMetadata {
  readonly mode: number | undefined;
  readonly owner: { readonly uid: number; readonly gid: number } | undefined;
  /** The caller asked for this owner (a failure to give it is then an error). */
  readonly explicitOwner: boolean;
}

/**
 * A lock file gets the group and other bits and the owner the destination has (or will have),
 * so that whoever may write the file may also lock it — also after `sudo`. Never executable.
 * Its owner may always read and write it: the lock is taken through a read-write descriptor,
 * and a file kept read-only (0444) is still replaced by its owner (a rename needs only the
 * directory), so a read-only sidecar would lock its owner out from the second update on.
 * Read before the lock file is created, so that it is created with that mode: never, not even
 * for a moment, more open to group or others than the file it guards (a descriptor opened on
 * it meanwhile would outlive a later fchmod, and could hold the lock forever).
 */
function* lockFileMetadata(job: Job): Plan<LockFileMetadata> {
  const { chown } = job.settings;
  if (!hasPosixMetadata(seam.platform)) {
    return { mode: undefined, owner: undefined, explicitOwner: false };
  }
  let existing: { readonly mode: number; readonly uid: number; readonly gid: number } | undefined;
  try {
    const stats = yield* call('lstat', nameIn(job, job.target));
    if (stats.isFile()) existing = { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
  const mode = job.settings.mode ?? existing?.mode;
  return {
    mode: mode === undefined ? undefined : (mode & 0o066) | 0o600,
    owner: chown === false ? undefined : (chown ?? existing),
    explicitOwner: chown !== undefined && chown !== false,
  };
}

/** Give a lock file this call created its owner, and its mode exactly (the umask aside). */
function* giveLockFileMetadata(fd: number, metadata: LockFileMetadata): Plan<void> {
  const { owner, mode } = metadata;
  if (owner !== undefined) {
    try {
      yield* call('fchown', fd, owner.uid, owner.gid);
    } catch (error) {
      if (!isIgnorableChownError(errorCode(error), metadata.explicitOwner)) throw error;
    }
  }
  if (mode !== undefined) yield* call('fchmod', fd, mode);
}

/**
 * Open the lock file, creating it (and, with `mkdirs`, its directory) if needed: through the
 * job's pinned directory, which withLock pinned before it (below), so that no rename or
 * symlink put at a directory above it can make root lock, create or read a file elsewhere.
 */
function* openLockFile(job: Job, path: string): Plan<number> {
  let madeParents = false;
  if (mustPin(job)) {
    // The directory was not there to pin when the turn began: never go on by path, where a
    // symlink put at a missing name since would be followed. Make it (pinned), or fail as
    // the open would.
    if (job.settings.mkdirs) {
      yield* makeParents(job);
      madeParents = true;
    }
    if (mustPin(job)) throw errnoError('ENOENT', 'open', path, 'no such file or directory');
  }
  for (;;) {
    try {
      return yield* call('open', nameIn(job, path), flags.lockFile, 0);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
    const metadata = yield* lockFileMetadata(job);
    let fd: number;
    try {
      fd = yield* call(
        'open',
        nameIn(job, path),
        flags.createLockFile,
        metadata.mode ?? NEW_FILE_MODE,
      );
    } catch (error) {
      const code = errorCode(error);
      // Another process created it between our two opens: open theirs.
      if (code === 'EEXIST') continue;
      if (code !== 'ENOENT' || !job.settings.mkdirs || madeParents) throw error;
      // The directories stay even if the update fails later: the lock file lives in them.
      // Each is made through the one above it, and the last stays pinned for the lock file,
      // the read and the write.
      yield* makeParents(job);
      madeParents = true;
      continue;
    }
    try {
      yield* giveLockFileMetadata(fd, metadata);
    } catch (error) {
      yield* closeQuietly(fd);
      throw error;
    }
    return fd;
  }
}

/** Take the lock of `fd`: at once if free, else in the kernel, or by polling until the deadline. */
function* lockDescriptor(job: Job, path: string, fd: number, wait: LockWait): Plan<void> {
  if (yield* call('tryLock', fd)) return;
  if (wait.deadline === Number.POSITIVE_INFINITY && wait.signal === undefined) {
    // Nothing can cancel this wait, and nothing needs to: block until the holder lets go.
    yield* call('waitForLock', fd);
    return;
  }
  let delay = LOCK_POLL_FIRST_MS;
  for (;;) {
    throwIfAborted(wait.signal, job.dest);
    const remaining = wait.deadline - performance.now();
    if (remaining <= 0) throw timeoutError(job, path, wait, 'another process');
    yield* call('sleep', Math.max(1, Math.min(remaining, delay * (0.5 + Math.random()))));
    delay = Math.min(delay * 2, LOCK_POLL_MAX_MS);
    if (yield* call('tryLock', fd)) return;
  }
}

/**
 * True when `path` still names the file locked through `fd`. A lock file removed or replaced
 * while we waited on it locks nothing: whoever opens the name now gets another file.
 */
function* stillNamed(path: string, fd: number): Plan<boolean> {
  const held = yield* call('fstat', fd);
  let named;
  try {
    named = yield* call('lstat', path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
  return named.dev === held.dev && named.ino === held.ino;
}

/** Acquire the kernel lock of `path`; returns the descriptor that holds it. */
function* acquire(job: Job, path: string, wait: LockWait): Plan<number> {
  for (let reopened = 0; ; reopened += 1) {
    let fd: number | undefined;
    try {
      fd = yield* openLockFile(job, path);
      yield* lockDescriptor(job, path, fd, wait);
      if (yield* stillNamed(nameIn(job, path), fd)) {
        const held = fd;
        fd = undefined;
        return held;
      }
    } catch (error) {
      throw wrapError(error, 'lock', job.dest);
    } finally {
      if (fd !== undefined) yield* closeQuietly(fd);
    }
    if (reopened + 1 >= LOCK_REOPEN_LIMIT) {
      throw ownError(
        'ERR_ATOMIC_LOCK_UNSTABLE',
        'lock',
        job.dest,
        `the lock file '${path}' was replaced or removed each of ${LOCK_REOPEN_LIMIT} times it was locked (or this file system reports unstable inode numbers)`,
      );
    }
  }
}

/**
 * Release the lock and close its descriptor. Never throws: the update is already committed,
 * and a failure here cannot keep the lock (closing the descriptor releases it).
 */
function* release(fd: number): Plan<void> {
  try {
    yield* call('unlock', fd);
  } catch {
    // close() below releases it all the same.
  }
  yield* closeQuietly(fd);
}

// ---------------------------------------------------------------------------------------------
// In-process exclusion: which files this thread holds the lock of, and nested calls detected by
// async context. Keyed as the write queue is (core/path-queue.ts): by the file, whatever name reaches it,
// not by the sidecar's name. Asynchronous updates of one file already take turns in that
// queue (an update holds its file's turn while it holds the lock), so a held file here means a
// caller that must not wait: a nested call, or a synchronous one.

interface Hold {
  readonly key: string;
  active: boolean;
}

const held = new Set<string>();
const holding = new AsyncLocalStorage<readonly Hold[]>();

/** Files (by their queue key) whose lock this thread holds (for tests). */
export function heldLocks(): string[] {
  return [...held];
}

function isNested(key: string): boolean {
  return holding.getStore()?.some((hold) => hold.active && hold.key === key) ?? false;
}

/**
 * The error for a call that would wait for a holder that waits for it: a call made from
 * inside the `fn` of an update of the same file (`nested`, the default), or a synchronous
 * call while an asynchronous update of the file is in flight.
 */
function reentrant(job: Job, nested = true): AtomicFsError {
  if (nested) return reentrantError(job.dest);
  return ownError(
    'ERR_ATOMIC_LOCK_REENTRANT',
    'lock',
    job.dest,
    'an asynchronous update of this file is in progress in this process and holds its lock; a synchronous call cannot wait for it without blocking it forever',
  );
}

/** Why an update of `job`'s file cannot take its lock now, or `undefined`. */
export function syncLockRefusal(job: Job): AtomicFsError | undefined {
  return held.has(job.key) ? reentrant(job, isNested(job.key)) : undefined;
}

function enter(job: Job): Hold {
  // Asynchronously: the file's turn in the write queue excludes every other asynchronous
  // update of it, so a holder is one whose fn this call is made from (a synchronous update),
  // or one that cannot be waited for without blocking it.
  const refused = syncLockRefusal(job);
  if (refused !== undefined) throw refused;
  held.add(job.key);
  return { key: job.key, active: true };
}

function leave(hold: Hold): void {
  hold.active = false;
  held.delete(hold.key);
}

function within(hold: Hold): Hold[] {
  return [...(holding.getStore() ?? []).filter((other) => other.active), hold];
}

/**
 * Run `body` holding the exclusive lock of `job`'s destination: this process's hold, then the
 * kernel lock. The destination's directory is pinned first (core/target-dir.ts) and stays
 * pinned while `body` runs, so that the lock file, and what `body` reads and writes, are
 * entries of the directory the call resolved, whatever is renamed above it meanwhile. The
 * lock is released however `body` ends. Called from the file's turn in the
 * per-file write queue, which orders the asynchronous updates of one file in this process.
 */
export async function withLock<R>(job: Job, wait: LockWait, body: () => Promise<R>): Promise<R> {
  throwIfAborted(wait.signal, job.dest);
  const path = lockPathOf(job);
  const hold = enter(job);
  try {
    await runAsync(pinTargetDir(job));
    try {
      const fd = await runAsync(acquire(job, path, wait));
      try {
        return await holding.run(within(hold), body);
      } finally {
        await runAsync(release(fd));
      }
    } finally {
      await runAsync(releaseTargetDir(job));
    }
  } finally {
    leave(hold);
  }
}

/** The synchronous twin of `withLock`: it blocks this thread while it waits. */
export function withLockSync<R>(job: Job, wait: LockWait, body: () => R): R {
  throwIfAborted(wait.signal, job.dest);
  const path = lockPathOf(job);
  const hold = enter(job);
  try {
    runSync(pinTargetDir(job));
    try {
      const fd = runSync(acquire(job, path, wait));
      try {
        return holding.run(within(hold), body);
      } finally {
        runSync(release(fd));
      }
    } finally {
      runSync(releaseTargetDir(job));
    }
  } finally {
    leave(hold);
  }
}
