/** The command line's own constants. */

/** The package version, printed by `atomic-fs --version` (a test keeps it equal to package.json). */
export const VERSION = '0.1.0';

/**
 * `atomic-fs cp` draws its progress bar for sources of at least this size (or of unknown
 * size). Progress needs copyFile's read/write loop instead of the kernel copy (reflink,
 * copy_file_range), a price worth paying only when the copy takes long enough to watch.
 */
export const CLI_COPY_PROGRESS_MIN_BYTES = 32 * 1024 * 1024;
