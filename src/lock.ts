/**
 * The cross-process exclusive lock of `update` and `updateJson`.
 *
 * What is locked: a stable sidecar file `.<name>.afs-lock` in the destination's directory,
 * never the destination itself (every commit replaces the destination's inode, so a lock on
 * it would protect a file that is no longer there). The sidecar is created on first use,
 * also for a destination that does not exist yet, and is left in place afterwards: removing
 * a lock file races with processes that have it open and are about to lock it. Its name can
 * never match a temp name, so `cleanupTemps` never removes it.
 *
 * How: kernel advisory locks (via `fs-native-extensions`; see fs.ts), which the kernel
 * releases when the holder dies, even by SIGKILL. They belong to an open file description
 * (Linux OFD locks, BSD `flock`, Windows `LockFileEx`), not to the process: two descriptors
 * of one process exclude each other exactly like two processes do, and closing some other
 * descriptor of the file never drops the lock (the classic POSIX `fcntl` pitfall).
 *
 * Within one process, callers queue in a per-file FIFO before they touch the kernel lock, so
 * concurrent `update` calls of one file run one after the other and lose nothing. A call made
 * from inside the `fn` of an update of the same file (nested), and a synchronous call while an
 * asynchronous update of the file is in flight, would wait for a holder that is waiting for
 * them: they fail at once with `ERR_ATOMIC_LOCK_REENTRANT` instead of hanging.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { basename, join } from 'node:path';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  LOCK_POLL_FIRST_MS,
  LOCK_POLL_MAX_MS,
  LOCK_REOPEN_LIMIT,
  LOCK_TAG,
  NEW_FILE_MODE,
  TEMP_BASE_MAX_BYTES,
} from './constants.js';
import {
  type AtomicFsError,
  errorCode,
  invalidArgument,
  ownError,
  throwIfAborted,
  wrapError,
} from './errors.js';
import { flags, seam } from './fs.js';
import { type Plan, call, runAsync, runSync } from './plan.js';
import { hasPosixMetadata, isIgnorableChownError } from './platform.js';
import { type Job, makeParents } from './steps.js';
import { truncateUtf8 } from './temp.js';

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

/** The lock file of a job's destination: `.<name>.afs-lock` in the same directory. */
export function lockPathOf(job: Job): string {
  return join(job.dir, `.${truncateUtf8(basename(job.target), TEMP_BASE_MAX_BYTES)}.${LOCK_TAG}`);
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
 * A lock file gets the mode and owner the destination has (or will have), so that whoever may
 * write the file may also lock it — also after `sudo`. Never executable. Read before the lock
 * file is created, so that it is created with that mode: never, not even for a moment, more
 * open than the file it guards (a descriptor opened on it meanwhile would outlive a later
 * fchmod, and could hold the lock forever).
 */
function* lockFileMetadata(job: Job): Plan<LockFileMetadata> {
  const { chown } = job.settings;
  if (!hasPosixMetadata(seam.platform)) {
    return { mode: undefined, owner: undefined, explicitOwner: false };
  }
  let existing: { readonly mode: number; readonly uid: number; readonly gid: number } | undefined;
  try {
    const stats = yield* call('lstat', job.target);
    if (stats.isFile()) existing = { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') throw error;
  }
  const mode = job.settings.mode ?? existing?.mode;
  return {
    mode: mode === undefined ? undefined : mode & 0o666,
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

/** Open the lock file, creating it (and, with `mkdirs`, its directory) if needed. */
function* openLockFile(job: Job, path: string): Plan<number> {
  let madeParents = false;
  for (;;) {
    try {
      return yield* call('open', path, flags.lockFile, 0);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
    const metadata = yield* lockFileMetadata(job);
    let fd: number;
    try {
      fd = yield* call('open', path, flags.createLockFile, metadata.mode ?? NEW_FILE_MODE);
    } catch (error) {
      const code = errorCode(error);
      // Another process created it between our two opens: open theirs.
      if (code === 'EEXIST') continue;
      if (code !== 'ENOENT' || !job.settings.mkdirs || madeParents) throw error;
      // The directories stay even if the update fails later: the lock file lives in them.
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

function* closeQuietly(fd: number): Plan<void> {
  try {
    yield* call('close', fd);
  } catch {
    // The descriptor is released whatever close() reports, and with it the lock.
  }
}

/** Acquire the kernel lock of `path`; returns the descriptor that holds it. */
export function* acquire(job: Job, path: string, wait: LockWait): Plan<number> {
  for (let reopened = 0; ; reopened += 1) {
    let fd: number | undefined;
    try {
      fd = yield* openLockFile(job, path);
      yield* lockDescriptor(job, path, fd, wait);
      if (yield* stillNamed(path, fd)) {
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
export function* release(fd: number): Plan<void> {
  try {
    yield* call('unlock', fd);
  } catch {
    // close() below releases it all the same.
  }
  yield* closeQuietly(fd);
}

// ---------------------------------------------------------------------------------------------
// In-process ordering: one FIFO per lock file, and nested calls detected by async context.

interface Hold {
  readonly key: string;
  active: boolean;
}

interface Lane {
  /** Callers waiting for their turn; the lane exists while someone holds it. */
  readonly waiting: (() => void)[];
}

const lanes = new Map<string, Lane>();
const holding = new AsyncLocalStorage<readonly Hold[]>();

/** Lock files held or waited for by this thread (for tests of this module). */
export function heldLocks(): string[] {
  return [...lanes.keys()];
}

function isNested(key: string): boolean {
  return holding.getStore()?.some((hold) => hold.active && hold.key === key) ?? false;
}

/**
 * The error for a call that would wait for a holder that waits for it: a call made from
 * inside the `fn` of an update of the same file (`nested`, the default), or a synchronous
 * call while an asynchronous update of the file is in flight.
 */
export function reentrant(job: Job, nested = true): AtomicFsError {
  return ownError(
    'ERR_ATOMIC_LOCK_REENTRANT',
    'lock',
    job.dest,
    nested
      ? "this file is being updated, and this call was made from inside that update's fn, which holds the file's lock until it returns: waiting would never end (make one update, or write after the update)"
      : 'an asynchronous update of this file is in progress in this process and holds its lock; a synchronous call cannot wait for it without blocking it forever',
  );
}

function enterSync(job: Job, path: string): Hold {
  if (lanes.has(path)) throw reentrant(job, isNested(path));
  lanes.set(path, { waiting: [] });
  return { key: path, active: true };
}

function enterAsync(job: Job, path: string, wait: LockWait): Promise<Hold> {
  if (isNested(path)) return Promise.reject(reentrant(job));
  const lane = lanes.get(path);
  if (lane === undefined) {
    lanes.set(path, { waiting: [] });
    return Promise.resolve({ key: path, active: true });
  }
  return new Promise<Hold>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopWaiting = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      wait.signal?.removeEventListener('abort', onAbort);
      const index = lane.waiting.indexOf(turn);
      if (index !== -1) lane.waiting.splice(index, 1);
    };
    const turn = (): void => {
      stopWaiting();
      resolve({ key: path, active: true });
    };
    const giveUp = (error: AtomicFsError): void => {
      stopWaiting();
      reject(error);
    };
    const onAbort = (): void => {
      giveUp(
        ownError('ABORT_ERR', 'abort', job.dest, 'the operation was aborted', wait.signal?.reason),
      );
    };
    const remaining = wait.deadline - performance.now();
    if (remaining <= 0) {
      reject(timeoutError(job, path, wait, 'another update of this file in this process'));
      return;
    }
    lane.waiting.push(turn);
    wait.signal?.addEventListener('abort', onAbort, { once: true });
    if (remaining !== Number.POSITIVE_INFINITY) {
      timer = setTimeout(() => {
        giveUp(timeoutError(job, path, wait, 'another update of this file in this process'));
      }, remaining);
    }
  });
}

function leave(hold: Hold): void {
  hold.active = false;
  const lane = lanes.get(hold.key);
  const next = lane?.waiting[0];
  if (next === undefined) lanes.delete(hold.key);
  else next();
}

function within(hold: Hold): Hold[] {
  return [...(holding.getStore() ?? []).filter((held) => held.active), hold];
}

/**
 * Run `body` holding the exclusive lock of `job`'s destination: first this process's turn,
 * then the kernel lock. The lock is released however `body` ends.
 */
export async function withLock<R>(job: Job, wait: LockWait, body: () => Promise<R>): Promise<R> {
  throwIfAborted(wait.signal, job.dest);
  const path = lockPathOf(job);
  const hold = await enterAsync(job, path, wait);
  try {
    const fd = await runAsync(acquire(job, path, wait));
    try {
      return await holding.run(within(hold), body);
    } finally {
      await runAsync(release(fd));
    }
  } finally {
    leave(hold);
  }
}

/** The synchronous twin of `withLock`: it blocks this thread while it waits. */
export function withLockSync<R>(job: Job, wait: LockWait, body: () => R): R {
  throwIfAborted(wait.signal, job.dest);
  const path = lockPathOf(job);
  const hold = enterSync(job, path);
  try {
    const fd = runSync(acquire(job, path, wait));
    try {
      return holding.run(within(hold), body);
    } finally {
      runSync(release(fd));
    }
  } finally {
    leave(hold);
  }
}
