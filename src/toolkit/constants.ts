/** The defaults and tunables of copyFile, download, cleanupTemps and writeFiles. */

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
