/**
 * Keeping the replaced file's extended attributes: its POSIX ACL (`system.posix_acl_access`),
 * its security label (`security.selinux`, `security.SMACK64`) and its `user.*` attributes
 * (which of them, per platform: `xattrRole` in platform.ts). Node has no API for them; the
 * seam's `listXattrs`/`getXattr`/`setXattr`/`removeXattr` work on descriptors (see fs.ts), so
 * every attribute is read from the file that was opened and set on the temp file the library
 * holds — never by a name that another process could swap meanwhile.
 *
 * The attributes are read before the temp file exists and given to it before its first byte
 * (core/replace-plans.ts `createTemp`): access rules must be final before anyone could open the temp.
 */
import { type AtomicFsError, errorCode, ownError, wrapError } from '../engine/errors.js';
import { flags, seam } from '../engine/fs.js';
import { type Plan, call, closeQuietly } from '../engine/executors.js';
import {
  POSIX_ACL_ACCESS,
  isSecurityLabel,
  isUnsettableXattr,
  isUnsupportedXattrs,
  xattrRole,
  xattrsCarryAccess,
} from '../engine/platform.js';

/** One attribute the new file must get. Plain data: it may cross to the I/O thread. */
export interface Attribute {
  readonly name: string;
  readonly value: Uint8Array;
  /** `'access'`: an access rule, which must be kept or the replace fails. */
  readonly role: 'access' | 'plain';
}

/**
 * What the new file's attributes must be: exactly `attributes` among those the library manages
 * (an ACL the temp inherited from the directory's default ACL, which the old file did not have,
 * is removed). `undefined` where they are not managed: a new file, `xattrs: false`, or a
 * platform or runtime where they cannot be read (see `readAttributes`).
 */
export type Wanted = readonly Attribute[] | undefined;

let warned = false;

/** Say once per process that attributes are not kept here (Bun, Deno), instead of silently. */
function warnUnavailable(error: unknown): void {
  if (warned) return;
  warned = true;
  const detail = error instanceof Error ? error.message : String(error);
  process.emitWarning(
    `atomic-fs cannot keep ACLs and extended attributes in this runtime; a replaced file gets only its mode and owner (${detail})`,
    { code: 'ATOMIC_FS_NO_XATTRS' },
  );
}

/**
 * A failure to list or read attributes that means "there is nothing to keep" (the file system
 * has none) or "they are never kept here" (the addon is not loaded by design in this runtime,
 * or this platform's attributes carry no access rules): `undefined`. Anything else — on Linux
 * the addon failing to load (a missing prebuild, EMFILE) included — must fail the replace, or an
 * ACL would be dropped silently.
 */
function unmanaged(error: unknown): boolean {
  const code = errorCode(error);
  if (isUnsupportedXattrs(code)) return true;
  if (code !== 'ERR_ATOMIC_NO_XATTRS') return false;
  const unavailable =
    typeof error === 'object' && error !== null && 'unavailable' in error
      ? error.unavailable
      : undefined;
  if (unavailable === 'runtime') {
    warnUnavailable(error);
    return true;
  }
  return !xattrsCarryAccess(seam.platform);
}

/** The error of a failed read of attributes that had to be kept. */
function readFailure(error: unknown, path: string): AtomicFsError {
  if (errorCode(error) !== 'ERR_ATOMIC_NO_XATTRS') return wrapError(error, 'xattrs', path);
  return ownError(
    'ERR_ATOMIC_NO_XATTRS',
    'xattrs',
    path,
    'the ACL and extended attributes cannot be read here, so they cannot be kept; nothing was changed (pass xattrs: false to write with the mode and owner only)',
    error,
  );
}

/** The kept attributes of the file open as `fd`, with their values. */
function* attributesOf(fd: number): Plan<Attribute[]> {
  const names = yield* call('listXattrs', fd);
  const kept: Attribute[] = [];
  for (const name of names) {
    const role = xattrRole(seam.platform, name);
    if (role === undefined) continue;
    const value = yield* call('getXattr', fd, name);
    // Removed between the list and the read: nothing to keep.
    if (value !== null) kept.push({ name, value, role });
  }
  return kept;
}

/**
 * Read the attributes to keep from the file being replaced, through a descriptor of its own
 * (read-only, O_NOFOLLOW, O_NONBLOCK). A file this process cannot open for reading cannot have
 * its attributes read: the replace fails with that EACCES unless `xattrs: false`.
 */
export function* readAttributes(dest: string, target: string): Plan<Wanted> {
  let fd: number;
  try {
    fd = yield* call('open', target, flags.readAttributes, 0);
  } catch (error) {
    // Gone since it was looked at: a new file, nothing to keep.
    if (errorCode(error) === 'ENOENT') return [];
    throw wrapError(error, 'xattrs', dest);
  }
  try {
    return yield* attributesOf(fd);
  } catch (error) {
    if (unmanaged(error)) return undefined;
    throw readFailure(error, dest);
  } finally {
    yield* closeQuietly(fd);
  }
}

/**
 * The source's POSIX ACL, read through its open descriptor (copyFile gives the copy the
 * source's permissions): its bytes, `null` when it has none, `undefined` where ACLs are not
 * managed.
 */
export function* aclOf(src: string, fd: number): Plan<Uint8Array | null | undefined> {
  if (!xattrsCarryAccess(seam.platform)) return undefined;
  try {
    return yield* call('getXattr', fd, POSIX_ACL_ACCESS);
  } catch (error) {
    if (unmanaged(error)) return undefined;
    throw readFailure(error, src);
  }
}

/**
 * The names of the temp file's own attributes (an ACL inherited from the directory's default
 * ACL, the policy's label). When the new file must have none, only an inherited POSIX ACL
 * matters, and one fgetxattr tells (flistxattr is two calls).
 */
export function* tempAttributeNames(
  dest: string,
  fd: number,
  wanted: readonly Attribute[],
): Plan<string[]> {
  try {
    if (wanted.length > 0) return yield* call('listXattrs', fd);
    const acl = yield* call('getXattr', fd, POSIX_ACL_ACCESS);
    return acl === null ? [] : [POSIX_ACL_ACCESS];
  } catch (error) {
    // No attributes here, or never managed in this runtime (Bun, Deno: warned once).
    if (unmanaged(error)) return [];
    throw wrapError(error, 'xattrs', dest);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** The temp's value of `name`, if it has one. */
function* tempValue(dest: string, fd: number, name: string): Plan<Uint8Array | null> {
  try {
    return yield* call('getXattr', fd, name);
  } catch (error) {
    throw wrapError(error, 'xattrs', dest);
  }
}

/**
 * Whether the temp file's access rules are already the wanted ones: it inherited no ACL that
 * the new file must not have, and its label (the policy gives every new file one) is the old
 * file's. If not, whoever they admit may have opened it: the caller drops it unless its mode
 * admitted nobody.
 */
export function* accessMatches(
  dest: string,
  fd: number,
  wanted: readonly Attribute[],
  names: readonly string[],
): Plan<boolean> {
  for (const attribute of wanted) {
    if (attribute.role !== 'access') continue;
    if (!names.includes(attribute.name)) return false;
    const value = yield* tempValue(dest, fd, attribute.name);
    if (value === null || !sameBytes(value, attribute.value)) return false;
  }
  for (const name of names) {
    if (xattrRole(seam.platform, name) !== 'access' || isSecurityLabel(name)) continue;
    if (!wanted.some((attribute) => attribute.name === name)) return false;
  }
  return true;
}

/**
 * Give the temp file exactly the wanted attributes: set each one it lacks or has with another
 * value, remove an inherited ACL the old file did not have. An access rule that cannot be set
 * fails the replace; so does any other failure but "this process may not set that one" for a
 * plain attribute (dropped), or for a label where the temp has none of its own (no security
 * module gives files labels here: the label rules nothing). Returns whether an access rule
 * changed (an ACL sets the group bits: the caller applies the mode after it).
 */
export function* applyAttributes(
  dest: string,
  fd: number,
  wanted: readonly Attribute[],
  names: readonly string[],
): Plan<boolean> {
  let changed = false;
  try {
    for (const name of names) {
      if (xattrRole(seam.platform, name) !== 'access' || isSecurityLabel(name)) continue;
      if (wanted.some((attribute) => attribute.name === name)) continue;
      yield* call('removeXattr', fd, name);
      changed = true;
    }
    for (const { name, value, role } of wanted) {
      if (names.includes(name)) {
        const current = yield* call('getXattr', fd, name);
        if (current !== null && sameBytes(current, value)) continue;
      }
      try {
        yield* call('setXattr', fd, name, value);
        if (role === 'access') changed = true;
      } catch (error) {
        const droppable =
          isUnsettableXattr(errorCode(error)) &&
          (role === 'plain' || (isSecurityLabel(name) && !names.includes(name)));
        if (!droppable) throw error;
      }
    }
  } catch (error) {
    throw wrapError(error, 'xattrs', dest);
  }
  return changed;
}
