/** The bounds of the crash-state explorer. */

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
