/**
 * Platform rules, each a small named function with its own test. They take the platform as
 * an argument (the seam's `platform`), so the Windows and macOS paths run in Linux CI.
 */

/**
 * Directories can be opened and fsynced on POSIX systems; on Windows they cannot, and
 * NTFS journals the rename itself.
 */
export function fsyncsDirectories(platform: NodeJS.Platform): boolean {
  return platform !== 'win32';
}

/** POSIX owners and permission bits exist; on Windows only the read-only bit does. */
export function hasPosixMetadata(platform: NodeJS.Platform): boolean {
  return platform !== 'win32';
}

const TRANSIENT_RENAME_CODES = new Set(['EPERM', 'EBUSY', 'EACCES']);

/**
 * On Windows a rename fails for a moment while an antivirus scanner or the search indexer
 * holds the destination open. Only those codes, only there, are worth a bounded retry: on
 * POSIX the same codes mean a real permission problem and are reported at once.
 */
export function isTransientRenameError(
  platform: NodeJS.Platform,
  code: string | undefined,
): boolean {
  return platform === 'win32' && code !== undefined && TRANSIENT_RENAME_CODES.has(code);
}

/**
 * When the library only *preserves* an existing file's owner (the caller did not ask for
 * one), a non-root process cannot give the file away: that EPERM is expected and ignored,
 * exactly as `cp -p` does. An owner the caller asked for is never ignored.
 */
export function isIgnorableChownError(code: string | undefined, explicit: boolean): boolean {
  return !explicit && code === 'EPERM';
}

const UNSUPPORTED_DIR_FSYNC_CODES = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Some file systems (several FUSE and network ones) refuse fsync on a directory. There is
 * nothing better to do there; the README says that `'full'` durability then rests on the
 * file system's own ordering.
 */
export function isUnsupportedDirectoryFsync(code: string | undefined): boolean {
  return code !== undefined && UNSUPPORTED_DIR_FSYNC_CODES.has(code);
}

/**
 * An atomic exchange of two directory entries exists: renameat2(RENAME_EXCHANGE) on Linux
 * (3.15+) and renameatx_np(RENAME_SWAP) on macOS (10.12+). Windows has none (MoveFileEx
 * cannot replace a directory), nor do the BSDs.
 */
export function hasAtomicExchange(platform: NodeJS.Platform): boolean {
  return platform === 'linux' || platform === 'darwin';
}

const UNSUPPORTED_EXCHANGE_CODES = new Set(['ENOSYS', 'EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * The exchange failed because this kernel or file system does not offer it (an old kernel,
 * some FUSE and network file systems: ENOSYS or EINVAL), not because of the paths.
 */
export function isUnsupportedExchange(code: string | undefined): boolean {
  return code !== undefined && UNSUPPORTED_EXCHANGE_CODES.has(code);
}

// Runtimes (issue 7): Bun and Deno run the library through their Node compatibility.

/** The JavaScript runtime: Node itself, or Bun or Deno running Node's APIs. */
export type Runtime = 'node' | 'bun' | 'deno';

/** Which runtime `versions` (`process.versions`) describes. */
export function runtimeOf(versions: Readonly<Partial<Record<string, string>>>): Runtime {
  if (versions.bun !== undefined) return 'bun';
  if (versions.deno !== undefined) return 'deno';
  return 'node';
}

/**
 * Why `fs-native-extensions` (the locks, the atomic exchange) must not be loaded in this
 * runtime, or `undefined` where it may. It is an N-API addon that also calls libuv, and it
 * reports every error through libuv's `uv_translate_sys_error`. Bun and Deno implement N-API
 * but not that: the first error the addon meets — a lock another process holds, an exchange
 * the file system refuses — aborts the whole process (Bun panics; Deno dies on an undefined
 * symbol, and crashes in the addon's asynchronous calls too). A refused lock or exchange is a
 * clean error instead (`ERR_ATOMIC_LOCK_UNSUPPORTED`, `ERR_ATOMIC_NO_EXCHANGE`).
 */
export function nativeAddonRefusal(runtime: Runtime): string | undefined {
  if (runtime === 'node') return undefined;
  const name = runtime === 'bun' ? 'Bun' : 'Deno';
  return `fs-native-extensions reports its errors through libuv, which ${name} does not provide: a contended lock or a refused exchange would abort the process`;
}
