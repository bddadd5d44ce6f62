/**
 * Every default and tunable of the library lives here, so the documentation, the option
 * normaliser and the tests read the same numbers.
 */

/** Durability levels, weakest last. */
export const DURABILITIES = ['full', 'file', 'none'] as const;

/** `'full'`: the file and its directory entry survive a power cut once a call resolves. */
export const DEFAULT_DURABILITY = 'full';

/** Symlink policies. */
export const SYMLINK_POLICIES = ['follow', 'replace'] as const;

/** `'follow'`: a symlink at the destination stays; the file it points to is replaced. */
export const DEFAULT_SYMLINKS = 'follow';

/** Mode passed to open() for a brand-new file without an explicit mode; the umask applies. */
export const NEW_FILE_MODE = 0o666;

/** Mode for directories created by `mkdirs`; the umask applies. */
export const NEW_DIR_MODE = 0o777;

/** Largest single write() issued; Linux caps one write at 0x7ffff000 bytes anyway. */
export const MAX_WRITE_CHUNK = 1 << 30;

/** Small chunks given to a handle are gathered up to this size before one write(). */
export const HANDLE_BUFFER_BYTES = 64 * 1024;

/**
 * Whole-buffer writes up to this size run as one request on the library's I/O thread
 * (one round trip instead of eight); larger ones are written from the calling thread, where
 * the copy into the worker would cost more than the round trips it saves (the benchmark
 * measured a 1 MiB write at 971 µs sent there, 773 µs written from here).
 */
export const OFFLOAD_MAX_BYTES = 256 * 1024;

/**
 * After the I/O thread failed to start or died, writes run on the calling thread for this
 * long before a new thread is started; the delay doubles with each failure in a row, up to
 * `IO_THREAD_RETRY_MAX_MS`, and starts again from here once a thread is online.
 */
export const IO_THREAD_RETRY_FIRST_MS = 100;
export const IO_THREAD_RETRY_MAX_MS = 30_000;

/**
 * How long the exit handler waits, at most, for temp files still being created (on the I/O
 * thread, or by an open() on libuv's threadpool) so that it can remove them too. A creation
 * is one system call: only a file system that hangs outlasts this.
 */
export const EXIT_CREATE_WAIT_MS = 500;

/** Symlink hops followed before giving up with ELOOP (Linux's own limit is 40). */
export const MAX_SYMLINK_HOPS = 40;

/** Marker in every temp file name: `.<name>.afs-<host>-<pid>-<random>.tmp`. */
export const TEMP_TAG = 'afs';

/** Bytes of the destination's name kept in a temp name, so the temp name fits in 255 bytes. */
export const TEMP_BASE_MAX_BYTES = 200;

/**
 * Windows only: a rename that fails with EPERM, EBUSY or EACCES (virus scanners and
 * indexers holding the file) is retried with exponential backoff for at most this long.
 */
export const WINDOWS_RENAME_RETRY_MS = 2000;

/** First backoff delay of the Windows rename retry; doubled each time, capped at 100 ms. */
export const WINDOWS_RENAME_FIRST_DELAY_MS = 5;

// writeDirectory (issue 5).

/**
 * Mode of a staged directory while it is filled, when its final mode is set explicitly
 * (`dirMode`, or the mode of the directory being replaced): owner-only, so the tree is never
 * more open than its final mode, yet writable by the writer even if the final mode is not.
 * The final mode is applied with fchmod() before the directory is fsynced.
 */
export const STAGING_DIR_MODE = 0o700;

/** Marker of a previous tree kept by `keepOld`: `.<name>.afs-old-<time>-<random>`. */
export const KEPT_TAG = `${TEMP_TAG}-old`;
// --- JSON and read-modify-write ---

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
// toolkit (copyFile, download, cleanupTemps, writeFiles)

/** copyFile's read/write loop (used when the kernel copy cannot be) moves this much per step. */
export const COPY_CHUNK_BYTES = 1024 * 1024;

/**
 * download gives up (ERR_ATOMIC_TIMEOUT) when the server sends nothing for this long: no
 * response headers, or no body bytes. A stall timeout rather than a deadline, so that a large
 * download on a slow but live connection is never cut off.
 */
export const DOWNLOAD_TIMEOUT_MS = 30_000;

/** download follows at most this many redirects (ERR_ATOMIC_TOO_MANY_REDIRECTS beyond). */
export const DOWNLOAD_MAX_REDIRECTS = 10;

/** cleanupTemps removes temps of other hosts (whose owners it cannot check) after this age. */
export const CLEANUP_OLDER_THAN_MS = 60 * 60 * 1000;

/**
 * writeFiles prepares at most this many files at once (create, write, fsync, close): enough
 * to keep libuv's threadpool busy and to let the file system batch the fsyncs into few
 * journal commits.
 */
export const WRITE_FILES_CONCURRENCY = 16;

/** writeFiles sends this many files per message to the I/O thread (pipelined with fsyncs). */
export const WRITE_FILES_BATCH = 32;

/**
 * A writeFiles group of at least this many files waits for the I/O thread to start (a few
 * tens of milliseconds, once per process) rather than run its batches on the calling thread.
 */
export const WRITE_FILES_WAIT_FOR_IO_THREAD = 64;
/** The package version, printed by `atomic-fs --version` (a test keeps it equal to package.json). */
export const VERSION = '0.1.0';

// ---- crash-state explorer (src/audit) ----

/** Crash states examined per audit, at most; the report says when the bound was reached. */
export const AUDIT_MAX_STATES = 20_000;

/** Up to this many unsynced operations at one crash point, every subset of them is tried. */
export const AUDIT_EXHAUSTIVE_UNSYNCED = 6;

/** Page size used to split writes that reach disk only in part. */
export const AUDIT_PAGE_BYTES = 4096;

/** Page boundaries tried per partially applied write (the first, middle and last ones). */
export const AUDIT_PARTIAL_BOUNDARIES = 3;

/** Largest audited directory snapshotted before a run: entries and bytes. */
export const AUDIT_SNAPSHOT_MAX_ENTRIES = 20_000;
export const AUDIT_SNAPSHOT_MAX_BYTES = 256 * 1024 * 1024;

/** Directories never snapshotted nor modelled (version control and dependencies). */
export const AUDIT_EXCLUDED_NAMES = ['.git', 'node_modules'] as const;

/** strace `-s`: bytes of each write's data shown in the trace (longer writes are read back). */
export const AUDIT_STRACE_STRING_BYTES = 16 * 1024 * 1024;

/** Time allowed to a `--check` command on one rebuilt crash state. */
export const AUDIT_CHECK_TIMEOUT_MS = 30_000;

// ---- command line (src/cli) ----

/**
 * `atomic-fs cp` draws its progress bar for sources of at least this size (or of unknown
 * size). Progress needs copyFile's read/write loop instead of the kernel copy (reflink,
 * copy_file_range), a price worth paying only when the copy takes long enough to watch.
 */
export const CLI_COPY_PROGRESS_MIN_BYTES = 32 * 1024 * 1024;
