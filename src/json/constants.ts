/** The defaults of the JSON functions and of update's cross-process lock. */

/** Indentation of `writeJson` and `updateJson` output (as in `JSON.stringify`). */
export const DEFAULT_JSON_SPACES = 2;

/**
 * Marker of lock files: `update` locks `.<name>.afs-lock` beside the file. It can never match
 * a temp name (`….afs-<host>-<pid>-<random>.tmp`), so `cleanupTemps` never removes it.
 */
export const LOCK_TAG = 'afs-lock';

/** How long `update` waits for the lock by default: as long as it takes, like `flock(1)`. */
export const DEFAULT_LOCK_TIMEOUT_MS = Number.POSITIVE_INFINITY;

/**
 * With a `timeoutMs` or a `signal`, the lock is polled (a wait blocked in the kernel cannot be
 * cancelled): first after this many milliseconds, doubling up to `LOCK_POLL_MAX_MS`, with
 * jitter so that waiters do not poll in step.
 */
export const LOCK_POLL_FIRST_MS = 1;

/** Longest pause between two polls of a busy lock (also bounds how late an abort is seen). */
export const LOCK_POLL_MAX_MS = 25;

/**
 * After locking, the lock file must still be the one at its name (someone may have removed
 * or replaced it while we waited); if not, it is opened and locked again, at most this many
 * times in a row before `ERR_ATOMIC_LOCK_UNSTABLE`.
 */
export const LOCK_REOPEN_LIMIT = 100;
