/** The defaults and tunables of the core write: durability, modes, temp names, the I/O thread. */

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
