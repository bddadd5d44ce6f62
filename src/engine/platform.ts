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
 * nothing better to do there; docs/guarantees.md says that `'full'` durability then rests on the
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

// Runtimes: Bun and Deno run the library through their Node compatibility.

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

// Extended attributes: what of them a replace keeps (see core/xattrs.ts and docs/guarantees.md).

/**
 * Where access rules live in extended attributes: on Linux (and Android) POSIX ACLs are
 * `system.posix_acl_access`, NFSv4 and SMB ACLs `system.nfs4_acl` / `system.cifs_acl`, and
 * SELinux and Smack labels `security.*`. Losing one there can widen access, so a replace that
 * cannot read or keep them fails rather than drop them. Elsewhere (macOS, the BSDs) ACLs are
 * not extended attributes and the attributes carry no access rules.
 */
export function xattrsCarryAccess(platform: NodeJS.Platform): boolean {
  return platform === 'linux' || platform === 'android';
}

/** Extended attributes that are access rules (Linux): kept, and a failure to keep one fails. */
const ACCESS_XATTRS = new Set([
  'system.posix_acl_access',
  'system.nfs4_acl',
  'system.cifs_acl',
  'system.smb3_acl',
  'security.selinux',
  'security.SMACK64',
]);

/**
 * What a replace does with the old file's extended attribute `name`:
 * - `'access'`: an access rule (an ACL, a security label): copied; failing to copy it fails
 *   the replace (nothing is published);
 * - `'plain'`: other metadata the file's users attach (`user.*`; on macOS any attribute but
 *   the resource fork): copied where the process may set it, else dropped;
 * - `undefined`: dropped. On Linux that is everything vouching for the old *content* or
 *   granting privileges: `security.capability` (file capabilities: copying them would give new
 *   content the old binary's privileges), `security.ima` / `security.evm` (hashes of the old
 *   content), `trusted.*` (file-system internals: overlayfs, GlusterFS, Lustre layouts, which
 *   must never be duplicated), `system.posix_acl_default` (directories only). On macOS, the
 *   resource fork (content) and `com.apple.provenance` (kept by the kernel).
 */
export function xattrRole(platform: NodeJS.Platform, name: string): 'access' | 'plain' | undefined {
  if (xattrsCarryAccess(platform)) {
    if (ACCESS_XATTRS.has(name)) return 'access';
    return name.startsWith('user.') ? 'plain' : undefined;
  }
  if (platform === 'darwin') {
    return name === 'com.apple.ResourceFork' || name === 'com.apple.provenance'
      ? undefined
      : 'plain';
  }
  return name.startsWith('user.') ? 'plain' : undefined;
}

/** The POSIX access ACL's attribute (Linux): its entries and mask decide group-class access. */
export const POSIX_ACL_ACCESS = 'system.posix_acl_access';

/**
 * Attributes a security module gives every new file (SELinux, Smack): a temp file gets its own
 * from the policy, and it must equal the old file's before anyone may open the temp.
 */
export function isSecurityLabel(name: string): boolean {
  return name === 'security.selinux' || name === 'security.SMACK64';
}

const UNSUPPORTED_XATTR_CODES = new Set(['ENOTSUP', 'EOPNOTSUPP']);

/** The file system keeps no extended attributes at all (vfat, some FUSE ones): none to keep. */
export function isUnsupportedXattrs(code: string | undefined): boolean {
  return code !== undefined && UNSUPPORTED_XATTR_CODES.has(code);
}

const UNSETTABLE_XATTR_CODES = new Set(['EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP']);

/** This process may not set that attribute here (a label without the privilege to relabel). */
export function isUnsettableXattr(code: string | undefined): boolean {
  return code !== undefined && UNSETTABLE_XATTR_CODES.has(code);
}

/**
 * Whether open files may be reached through their names in /proc/self/fd (magic links: each
 * reaches that open file or directory whatever happens to the names on its path). On Linux
 * and Android, except under Deno, whose permission model grants /proc/self paths to
 * `--allow-all` only: a program run with `--allow-read --allow-write` would fail every such
 * call, so there the library does as on a system without procfs.
 */
export function reachesByDescriptorLink(platform: NodeJS.Platform, runtime: Runtime): boolean {
  return (platform === 'linux' || platform === 'android') && runtime !== 'deno';
}

/**
 * The kernel copy can fill a temp file the library created itself, through the descriptor's
 * name in /proc/self/fd (see `reachesByDescriptorLink`). Elsewhere the kernel copy creates the
 * temp file itself.
 */
export function copiesIntoDescriptor(platform: NodeJS.Platform, runtime: Runtime): boolean {
  return reachesByDescriptorLink(platform, runtime);
}

/** Symlink hops followed before giving up with ELOOP (Linux's own limit is 40). */
export const MAX_SYMLINK_HOPS = 40;
