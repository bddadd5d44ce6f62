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
 * (one round trip instead of eight); larger ones are written from the calling thread,
 * where the copy into the worker would cost more than the round trips it saves.
 */
export const OFFLOAD_MAX_BYTES = 1024 * 1024;

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
