/**
 * The steps of an atomic replace, as plans (see engine/executors.ts). Each step wraps its failures in
 * an AtomicFsError naming its phase. Descriptors follow one ladder: a variable holds the
 * descriptor while it is owned, is set to `undefined` the moment close() is called (so a
 * failed close is never retried: descriptor numbers are reused at once), and cleanup
 * closes only what is still held.
 */
import { basename, dirname } from 'node:path';
import {
  MAX_WRITE_CHUNK,
  NEW_DIR_MODE,
  NEW_FILE_MODE,
  WINDOWS_RENAME_FIRST_DELAY_MS,
  WINDOWS_RENAME_RETRY_MS,
} from './constants.js';
import {
  type Phase,
  abortError,
  AtomicFsError,
  errnoError,
  errorCode,
  fieldsOf,
  ownError,
  wrapError,
} from '../engine/errors.js';
import { notRegularFile, specialKind } from '../engine/file-type.js';
import { type Stats, flags, seam } from '../engine/fs.js';
import { createdDirectory, creatingDirectory, directorySynced, unsyncedAt } from './new-dirs.js';
import {
  type Dir,
  type Identity,
  closeDir,
  entry,
  fsyncDescriptor,
  openChild,
  openExpected,
  releaseDir,
} from '../engine/pinned-dir.js';
import { type Plan, call, closeQuietly } from '../engine/executors.js';
import type { Top } from './target.js';
import {
  POSIX_ACL_ACCESS,
  fsyncsDirectories,
  hasPosixMetadata,
  isIgnorableChownError,
  isTransientRenameError,
} from '../engine/platform.js';
import {
  type Attribute,
  type Wanted,
  accessMatches,
  applyAttributes,
  readAttributes,
  tempAttributeNames,
} from './xattrs.js';
import {
  type DirSlot,
  canPin,
  fsyncTargetDir,
  isPinned,
  nameIn,
  pinTargetDir,
  releaseTargetDir,
  setTargetDir,
} from './target-dir.js';

export type Durability = 'full' | 'file' | 'none';

/** Normalised write options: plain data, so a job can cross to the I/O thread. */
export interface WriteSettings {
  readonly mode: number | undefined;
  readonly chown: { readonly uid: number; readonly gid: number } | false | undefined;
  readonly durability: Durability;
  readonly overwrite: boolean;
  readonly mkdirs: boolean;
  /** Keep the replaced file's ACL and extended attributes (see xattrs.ts); absent: true. */
  readonly xattrs?: boolean | undefined;
}

/** One replace of one destination. */
export interface Job {
  /** The destination as the caller named it (used in errors). */
  readonly dest: string;
  /** The file that will be replaced: `dest` with symlinks resolved per the policy. */
  readonly target: string;
  /** The directory of `target`, where the temp file lives. */
  readonly dir: string;
  /** The temp file's full path. */
  readonly tmp: string;
  /** The key of the per-file queue (see target.ts). */
  readonly key: string;
  readonly settings: WriteSettings;
  /**
   * With `mkdirs`, the directories that did not exist when the call was made, top first.
   * Such a write runs on the calling thread, where other writes can see what it creates.
   */
  readonly missing?: readonly string[] | undefined;
  /**
   * Directories above the file that another write was creating when the call was made (see
   * new-dirs.ts): their entries are fsynced into their parents too before the write resolves.
   */
  readonly unsynced?: readonly string[] | undefined;
  /** Queued behind a write that makes its directory (see target.ts): create nothing before. */
  readonly behind?: true;
  /** The identity of `dir` when the call was resolved (absent: it did not exist yet). */
  readonly dirId?: Identity | undefined;
  /**
   * When `dir` was missing as the call was made: the directory that existed, its identity, and
   * the directories below it down to `dir` (see target.ts).
   */
  readonly top?: Top | undefined;
  /**
   * Where the job keeps `dir` pinned during its turn (target-dir.ts); absent: its names go by
   * path (writeFiles).
   */
  readonly pin?: DirSlot | undefined;
}

/** Metadata of the file being replaced. */
export interface Existing {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** What is known about the destination before replacing it. */
export interface Inspection {
  /** Mode and owner to preserve; `undefined` for a new file (or a symlink being replaced). */
  readonly existing: Existing | undefined;
  /** Device and inode of the existing file (copyFile refuses to copy a file onto itself). */
  readonly identity?: { readonly dev: number; readonly ino: number } | undefined;
  /**
   * The POSIX ACL the new file must get instead of the existing file's: its bytes, or `null`
   * for none (copyFile: the copy gets the source's permissions). Absent: the existing file's.
   */
  readonly acl?: Uint8Array | null | undefined;
}

/** Run `plan`, wrapping its failures as failures of `phase` for `dest`. */
export function* inPhase<R>(phase: Phase, dest: string, plan: Plan<R>): Plan<R> {
  try {
    return yield* plan;
  } catch (error) {
    throw wrapError(error, phase, dest);
  }
}

/**
 * Refuse a FIFO, socket or device at the destination (after following symlinks): only regular
 * files are replaced. The check is made before anything is written; the rename replaces
 * whatever is at the name at that moment (a special file planted in between is replaced).
 */
export function refuseSpecialFile(job: Job, stats: Stats): void {
  const kind = specialKind(stats);
  if (kind === undefined) return;
  throw notRegularFile(
    kind,
    'resolve',
    job.dest,
    job.target,
    'the destination',
    'only regular files are replaced; nothing was changed',
  );
}

/**
 * What the destination's lstat() (`undefined`: nothing there) means for a replace: refuse a
 * directory or a special file, honour create-only, read what to preserve.
 */
export function inspectionOf(job: Job, stats: Stats | undefined): Inspection {
  if (stats === undefined) return { existing: undefined };
  if (stats.isDirectory()) {
    throw wrapError(
      errnoError('EISDIR', 'open', job.target, 'illegal operation on a directory'),
      'resolve',
      job.dest,
    );
  }
  refuseSpecialFile(job, stats);
  if (!job.settings.overwrite) {
    throw wrapError(
      errnoError('EEXIST', 'link', job.target, 'file already exists'),
      'link',
      job.dest,
    );
  }
  if (stats.isSymbolicLink()) return { existing: undefined };
  return {
    existing: { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid },
    identity: { dev: stats.dev, ino: stats.ino },
  };
}

/**
 * Whether the job must pin its directory before it names anything in it, and has not: the
 * directory was missing when its turn began (target-dir.ts). Nothing is then named by path:
 * by path, a symlink put at the directory's name meanwhile would be followed.
 */
export function mustPin(job: Job): boolean {
  return job.pin !== undefined && job.pin.dir === undefined && canPin();
}

/** Look at the destination (see `inspectionOf`). */
export function* inspectTarget(job: Job): Plan<Inspection> {
  // Its directory was missing when the turn began: so was the file.
  if (mustPin(job)) return { existing: undefined };
  let stats: Stats;
  try {
    stats = yield* call('lstat', nameIn(job, job.target));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return { existing: undefined };
    throw wrapError(error, 'resolve', job.dest);
  }
  return inspectionOf(job, stats);
}

/** The mode the new file must end up with, when one is known. */
function wantedMode(job: Job, inspection: Inspection): number | undefined {
  return job.settings.mode ?? inspection.existing?.mode;
}

/**
 * Create every missing directory above the temp file, top down. Under `'full'` each new
 * directory's entry is fsynced into its parent; until then other writes of this process know
 * it may not be durable (new-dirs.ts). Returns the directories created, top first.
 *
 * Where directories can be pinned (target-dir.ts), the deepest directory that exists is
 * opened by path, and each missing one is made by its one name in the pinned directory above
 * it, then opened with O_NOFOLLOW and checked (pinned-dir.ts `openChild`: where someone else
 * can write the parent, the new directory must be ours and empty) and pinned in turn: a
 * directory swapped for a symlink meanwhile redirects nothing. The last one becomes the job's
 * pinned directory.
 */
export function* makeParents(job: Job): Plan<string[]> {
  const missing: string[] = [];
  for (let dir = job.dir; ;) {
    try {
      yield* call('lstat', dir);
      break;
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw wrapError(error, 'mkdirs', job.dest);
    }
    missing.unshift(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const full = job.settings.durability === 'full' && fsyncsDirectories(seam.platform);
  const created: string[] = [];
  // created[0 .. synced) have durable entries.
  let synced = 0;
  // The directory above the next one to make, while pinned.
  let parent: Dir | undefined;
  try {
    const nearest = missing[0];
    if (nearest !== undefined && job.pin !== undefined && canPin()) {
      yield* releaseTargetDir(job);
      // From the directory the call saw them missing in, if it did: opened by path (where the
      // call's path was resolved) and checked to be the same directory. A name on the way
      // that exists now is entered only if it is a directory (O_NOFOLLOW below), never
      // followed: a look by path (above) would follow a symlink put there since.
      const { top } = job;
      const fromCall = top !== undefined;
      if (fromCall) missing.splice(0, missing.length, ...top.names);
      const base = fromCall ? top.path : dirname(nearest);
      const opened = yield* openExpected(base, fromCall ? top.id : undefined, {
        unsafeShared: true,
        descend: false,
        noFollow: !fromCall,
      });
      if (opened.pinned) parent = opened;
      else yield* releaseDir(opened);
    }
    for (const dir of missing) {
      // Announced before the mkdir: from the moment it can exist, its entry is not durable.
      if (full) creatingDirectory(dir);
      let made = false;
      try {
        yield* call(
          'mkdir',
          parent === undefined ? dir : entry(parent, basename(dir)),
          NEW_DIR_MODE,
        );
        made = true;
        created.push(dir);
      } catch (error) {
        // Made by another writer meanwhile (which announced it itself), or a failure.
        if (full) createdDirectory(dir, true);
        if (errorCode(error) !== 'EEXIST') throw error;
      }
      if (parent === undefined) continue;
      const child = yield* openChild(parent, basename(dir), made ? { created: true } : {});
      try {
        if (made && full && parent.fd !== undefined) {
          yield* fsyncDescriptor(parent.fd);
          createdDirectory(dir, true);
          synced += 1;
        }
        yield* closeDir(parent);
      } catch (error) {
        yield* releaseDir(child);
        throw error;
      }
      parent = child;
    }
    if (full) {
      for (const dir of created.slice(synced)) {
        yield* fsyncDirectory(dirname(dir));
        createdDirectory(dir, true);
        synced += 1;
      }
    }
  } catch (error) {
    if (parent !== undefined) yield* releaseDir(parent);
    for (let i = created.length - 1; i >= 0; i -= 1) {
      const dir = created[i] ?? '';
      let removed = false;
      try {
        yield* call('rmdir', dir);
        removed = true;
      } catch {
        // Another writer may have put something there; leave it.
      }
      if (full && i >= synced) createdDirectory(dir, removed);
    }
    throw wrapError(error, 'mkdirs', job.dest);
  }
  if (parent !== undefined) setTargetDir(job, parent);
  return created;
}

/** Remove directories this call created, deepest first; failures are ignored. */
export function* removeDirectories(created: readonly string[]): Plan<void> {
  for (const dir of [...created].reverse()) {
    try {
      yield* call('rmdir', dir);
    } catch {
      // Another writer may have put something there; leave it.
    }
  }
}

/**
 * The directories above `job`'s file whose entry in their parent may not be durable yet,
 * because another write of this process is creating them (or left them so): seen when the
 * call was made, and seen now (on the calling thread).
 */
export function unsyncedOf(job: Job): string[] {
  return [...new Set([...(job.unsynced ?? []), ...unsyncedAt(job.dir)])];
}

/** fsync the parent of each directory of `unsyncedOf(job)` (after the file's own directory). */
function* syncNewParents(job: Job): Plan<void> {
  for (const dir of unsyncedOf(job)) {
    yield* fsyncDirectory(dirname(dir));
    directorySynced(dir);
  }
}

export interface TempFile {
  readonly fd: number;
  /** Directories created for it by `mkdirs`, top first. */
  readonly created: readonly string[];
  /**
   * Opened ahead of its commit (`openTemp`): owner-only until then, and `mode` is the mode it
   * gets if the destination gives none at the commit (the mode it had when the temp was
   * opened, or the one a new file gets there; `undefined` on Windows).
   */
  readonly ahead?: { readonly mode: number | undefined };
}

/**
 * Open the temp file exclusively; with `mkdirs`, make missing parents on the first ENOENT (or
 * at once, when the directory was missing as the turn began: see `mustPin`).
 */
function* openExclusive(
  job: Job,
  mode: number,
  made: readonly string[],
): Plan<{ fd: number; created: readonly string[] }> {
  let created = made;
  if (mustPin(job)) {
    if (!job.settings.mkdirs || created.length > 0) {
      yield* removeDirectories(created);
      throw wrapError(
        errnoError('ENOENT', 'open', job.tmp, 'no such file or directory'),
        'create-temp',
        job.dest,
      );
    }
    created = yield* makeParents(job);
  }
  try {
    return { fd: yield* call('open', nameIn(job, job.tmp), flags.createTemp, mode), created };
  } catch (error) {
    if (!(job.settings.mkdirs && created.length === 0 && errorCode(error) === 'ENOENT')) {
      yield* removeDirectories(created);
      throw wrapError(error, 'create-temp', job.dest);
    }
  }
  created = yield* makeParents(job);
  try {
    return { fd: yield* call('open', nameIn(job, job.tmp), flags.createTemp, mode), created };
  } catch (error) {
    yield* removeDirectories(created);
    throw wrapError(error, 'create-temp', job.dest);
  }
}

/** What the temp file must be before its first byte. */
interface Final {
  /** Its mode; `undefined`: the one it is created with (a new file: `0o666 & ~umask`). */
  readonly mode: number | undefined;
  /** Its owner; `undefined`: the creator (an id of -1: that id as created). */
  readonly owner: { readonly uid: number; readonly gid: number } | undefined;
  /** The owner was asked for: an EPERM giving it is an error, not a preserving best effort. */
  readonly explicitOwner: boolean;
  /** Its managed attributes (see xattrs.ts); `undefined`: not managed. */
  readonly attributes: Wanted;
}

/** The attributes the new file must get: the existing file's, with copyFile's ACL if given. */
function* wantedAttributes(job: Job, inspection: Inspection): Plan<Wanted> {
  if (job.settings.xattrs === false) return undefined;
  let read: Wanted = [];
  if (inspection.existing !== undefined) {
    read = yield* readAttributes(job.dest, nameIn(job, job.target));
    if (read === undefined) return undefined;
  }
  const { acl } = inspection;
  if (acl === undefined) return inspection.existing === undefined ? undefined : read;
  const rest = read.filter((attribute) => attribute.name !== POSIX_ACL_ACCESS);
  return acl === null
    ? rest
    : [...rest, { name: POSIX_ACL_ACCESS, value: acl, role: 'access' } satisfies Attribute];
}

function* finalOf(job: Job, inspection: Inspection): Plan<Final> {
  const { chown } = job.settings;
  return {
    mode: wantedMode(job, inspection),
    owner: ownerOf(chown, inspection.existing),
    explicitOwner: chown !== undefined && chown !== false,
    attributes: yield* wantedAttributes(job, inspection),
  };
}

function ownerMatches(
  stats: { readonly uid: number; readonly gid: number },
  owner: Final['owner'],
): boolean {
  if (owner === undefined) return true;
  return (
    (owner.uid === -1 || stats.uid === owner.uid) && (owner.gid === -1 || stats.gid === owner.gid)
  );
}

/**
 * Give the temp file its final owner (fchown on the descriptor). A failure to *preserve* an
 * owner as non-root (EPERM) is ignored, as `cp -p` does. Returns whether the owner changed.
 */
function* chownTemp(job: Job, fd: number, final: Final): Plan<boolean> {
  const { owner } = final;
  if (owner === undefined) return false;
  try {
    yield* call('fchown', fd, owner.uid, owner.gid);
    return true;
  } catch (error) {
    if (!isIgnorableChownError(errorCode(error), final.explicitOwner)) {
      throw wrapError(error, 'chown', job.dest);
    }
    return false;
  }
}

/**
 * Finish a temp created with its final permission bits, before its first byte. Its owner and
 * group come from the kernel (the writer's, or the directory's group in a set-group-ID
 * directory), and a default ACL or the security policy gives it access rules: if they are not
 * the final ones while its mode let anyone but its owner open it, someone may hold it open
 * already, so it must not receive a byte — the result is `false` (with the mode it got, for a
 * new file whose mode is the creation's). Otherwise it is made final in place: `true`.
 */
function* finishInPlace(
  job: Job,
  fd: number,
  final: Final,
): Plan<{ dropped: false } | { dropped: true; mode: number }> {
  const { mode, owner, attributes } = final;
  if (owner === undefined && attributes === undefined) {
    // A new file of the writer: its owner, group and inherited ACL are the final ones.
    if (mode !== undefined) yield* inPhase('chmod', job.dest, call('fchmod', fd, mode));
    return { dropped: false };
  }
  const stats = yield* inPhase('chmod', job.dest, call('fstat', fd));
  const current = stats.mode & 0o7777;
  const names = attributes === undefined ? [] : yield* tempAttributeNames(job.dest, fd, attributes);
  const accessFinal =
    attributes === undefined || (yield* accessMatches(job.dest, fd, attributes, names));
  const ownerFinal = ownerMatches(stats, owner);
  if ((current & 0o077) !== 0 && !(ownerFinal && accessFinal)) {
    return { dropped: true, mode: mode ?? current };
  }
  // Nobody but its owner could open it so far (or it is already final): finish it in place.
  const chowned = ownerFinal ? false : yield* chownTemp(job, fd, final);
  const aclChanged =
    attributes === undefined ? false : yield* applyAttributes(job.dest, fd, attributes, names);
  if (mode !== undefined && (chowned || aclChanged || current !== mode)) {
    yield* inPhase('chmod', job.dest, call('fchmod', fd, mode));
  }
  return { dropped: false };
}

/**
 * Finish a temp created owner-only, before its first byte: owner first (a chown clears the
 * set-user-ID bits), then the access rules (its group-class bits are still empty, so a named
 * user of an inherited ACL is masked out), then the final mode. Only its owner — the writer,
 * then the final owner — could ever open it before.
 */
function* finishOwnerOnly(job: Job, fd: number, final: Final, mode: number): Plan<void> {
  yield* chownTemp(job, fd, final);
  if (final.attributes !== undefined) {
    const names = yield* tempAttributeNames(job.dest, fd, final.attributes);
    yield* applyAttributes(job.dest, fd, final.attributes, names);
  }
  yield* inPhase('chmod', job.dest, call('fchmod', fd, mode));
}

/**
 * Close and remove a temp that must not be used (see `finishInPlace`): no byte was written
 * to it, so whoever opened it holds an empty, nameless file.
 */
function* dropTemp(job: Job, fd: number): Plan<void> {
  // Released all the same; nothing was written through it.
  yield* closeQuietly(fd);
  try {
    yield* call('unlink', nameIn(job, job.tmp));
  } catch (error) {
    throw withLeftover(wrapError(error, 'create-temp', job.dest), job.tmp);
  }
}

let euidSeen: { readonly uid: number | undefined } | undefined;

/**
 * The process's effective uid, read once: it only predicts which way `createTemp` takes (a
 * stale value after `process.seteuid()` costs a dropped temp, never safety: the fstat decides).
 */
function effectiveUid(): number | undefined {
  euidSeen ??= { uid: process.geteuid?.() };
  return euidSeen.uid;
}

/** Only the owner's bits: only the writer (then the final owner) may open it meanwhile. */
function ownerOnly(mode: number): number {
  return mode & 0o700;
}

/**
 * Create the temp file exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) and make its owner, group, mode
 * and access rules final before its first byte: nobody but the final owner can ever open it
 * with more access than the final file gives — not the directory's group in a set-group-ID
 * directory, not a named user of the directory's default ACL. It is created with its final
 * permission bits when its owner will likely come out final (no extra call: the fstat that
 * compares is needed anyway); if its owner, group or access rules (an inherited default ACL,
 * a security label, an ACL to keep) do not come out final while its mode let others open it,
 * it is dropped before any byte and created again owner-only (mode & 0o700), given its owner
 * (fchown), access rules and then its mode (fchmod). With `mkdirs`, missing parents are
 * created on the first ENOENT. Set-user-ID bits a write clears are given back after the data
 * (`applyMetadata`).
 */
export function* createTemp(job: Job, inspection: Inspection): Plan<TempFile> {
  if (!hasPosixMetadata(seam.platform)) {
    // Windows: only the read-only attribute exists; it is set after the data (applyMetadata).
    const mode = wantedMode(job, inspection);
    return yield* openExclusive(job, mode === undefined ? NEW_FILE_MODE : mode & 0o777, []);
  }
  const { chown } = job.settings;
  const owner = ownerOf(chown, inspection.existing);
  const explicitOwner = chown !== undefined && chown !== false;
  let mode = wantedMode(job, inspection);
  let created: readonly string[] = [];
  // Read once the temp exists: a writer that may not create files there is told that first.
  let attributes: Wanted | 'unread' = 'unread';
  const euid = effectiveUid();
  const ownerLikely =
    owner === undefined || owner.uid === -1 || euid === undefined || owner.uid === euid;
  if (mode === undefined || ownerLikely) {
    const temp = yield* openExclusive(
      job,
      mode === undefined ? NEW_FILE_MODE : mode & 0o777,
      created,
    );
    created = temp.created;
    let outcome;
    try {
      attributes = yield* wantedAttributes(job, inspection);
      outcome = yield* finishInPlace(job, temp.fd, { mode, owner, explicitOwner, attributes });
    } catch (error) {
      throw withLeftover(error, yield* discard(job, temp.fd, created));
    }
    if (!outcome.dropped) return temp;
    try {
      yield* dropTemp(job, temp.fd);
    } catch (error) {
      yield* removeDirectories(created);
      throw error;
    }
    mode = outcome.mode;
  }
  const temp = yield* openExclusive(job, ownerOnly(mode), created);
  try {
    if (attributes === 'unread') attributes = yield* wantedAttributes(job, inspection);
    yield* finishOwnerOnly(job, temp.fd, { mode, owner, explicitOwner, attributes }, mode);
  } catch (error) {
    throw withLeftover(error, yield* discard(job, temp.fd, temp.created));
  }
  return temp;
}

/**
 * Make final a temp file the kernel copy created and filled itself (outside Linux; only for an
 * owner-only source, so nobody else could open it): owner, attributes, mode.
 */
export function* finishCopied(job: Job, fd: number, inspection: Inspection): Plan<void> {
  const final = yield* finalOf(job, inspection);
  const mode = final.mode ?? NEW_FILE_MODE;
  yield* finishOwnerOnly(job, fd, final, mode);
}

/** Write every byte of every chunk, looping over short writes. */
export function* writeChunks(
  job: Job,
  fd: number,
  chunks: readonly Uint8Array[],
  signal?: AbortSignal,
): Plan<void> {
  for (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (signal?.aborted === true) {
        throw abortError(job.dest, signal.reason);
      }
      const length = Math.min(chunk.byteLength - offset, MAX_WRITE_CHUNK);
      const written = yield* inPhase('write', job.dest, call('write', fd, chunk, offset, length));
      if (written <= 0) {
        throw ownError('EIO', 'write', job.dest, 'write() made no progress');
      }
      offset += written;
    }
  }
}

/**
 * The owner the new file must end up with: the caller's (an id of -1 keeps the existing
 * file's id), else the existing file's, else none to set.
 */
function ownerOf(
  chown: WriteSettings['chown'],
  existing: Existing | undefined,
): { uid: number; gid: number } | undefined {
  if (chown === false) return undefined;
  if (chown === undefined) return existing;
  return {
    uid: chown.uid === -1 && existing !== undefined ? existing.uid : chown.uid,
    gid: chown.gid === -1 && existing !== undefined ? existing.gid : chown.gid,
  };
}

/**
 * After the last byte. The temp's metadata was made final before the first (`createTemp`),
 * but a write by a process without CAP_FSETID clears the set-user-ID and set-group-ID bits:
 * they are given back. `ahead`: the temp was opened ahead of its commit (`openTemp`: a handle,
 * streamed data), owner-only, and the destination was looked at again just now: it gets the
 * owner and mode the destination has now.
 */
export function* applyMetadata(
  job: Job,
  fd: number,
  inspection: Inspection,
  ahead?: TempFile['ahead'],
): Plan<void> {
  const { settings } = job;
  const mode = wantedMode(job, inspection) ?? ahead?.mode;
  if (!hasPosixMetadata(seam.platform)) {
    // Windows: fchmod only toggles the read-only attribute; owners do not apply.
    if (settings.mode !== undefined) {
      yield* inPhase('chmod', job.dest, call('fchmod', fd, settings.mode));
    }
    return;
  }
  if (ahead === undefined) {
    if (mode !== undefined && (mode & 0o6000) !== 0) {
      yield* inPhase('chmod', job.dest, call('fchmod', fd, mode));
    }
    return;
  }
  const explicitOwner = settings.chown !== undefined && settings.chown !== false;
  const owner = ownerOf(settings.chown, inspection.existing);
  if (mode === undefined && owner === undefined) return;
  const stats = yield* inPhase('chmod', job.dest, call('fstat', fd));
  const current = { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
  let chowned = false;
  if (owner !== undefined && !ownerMatches(current, owner)) {
    chowned = yield* chownTemp(job, fd, { mode, owner, explicitOwner, attributes: undefined });
  }
  if (mode !== undefined && (chowned || current.mode !== mode || (mode & 0o6000) !== 0)) {
    yield* inPhase('chmod', job.dest, call('fchmod', fd, mode));
  }
}

/**
 * rename() with the bounded Windows retry (see platform.ts); elsewhere exactly one attempt.
 * Throws the last error as the kernel gave it.
 */
export function* renameRetrying(from: string, to: string): Plan<void> {
  let delay = WINDOWS_RENAME_FIRST_DELAY_MS;
  let waited = 0;
  for (;;) {
    try {
      yield* call('rename', from, to);
      return;
    } catch (error) {
      const retry =
        isTransientRenameError(seam.platform, errorCode(error)) &&
        waited + delay <= WINDOWS_RENAME_RETRY_MS;
      if (!retry) throw error;
    }
    yield* call('sleep', delay);
    waited += delay;
    delay = Math.min(delay * 2, 100);
  }
}

/** Rename the temp file over the destination, with the bounded Windows retry. */
function* renameWithRetry(job: Job): Plan<void> {
  yield* inPhase('rename', job.dest, renameRetrying(nameIn(job, job.tmp), nameIn(job, job.target)));
}

/**
 * Put the temp file in place: rename over the destination, or, create-only, link() it to
 * the destination (fails with EEXIST if anything is there, even under a race) and drop the
 * temp name. From here on the temp name is never unlinked again.
 */
function* publish(job: Job): Plan<void> {
  if (job.settings.overwrite) {
    yield* renameWithRetry(job);
    return;
  }
  yield* inPhase('link', job.dest, call('link', nameIn(job, job.tmp), nameIn(job, job.target)));
  try {
    yield* call('unlink', nameIn(job, job.tmp));
  } catch (error) {
    throw withLeftover(wrapError(error, 'unlink-temp', job.dest, { committed: true }), job.tmp);
  }
}

/** fsync a directory through its own short-lived descriptor. */
export function* fsyncDirectory(dir: string): Plan<void> {
  const fd = yield* call('open', dir, flags.directory, 0);
  let open: number | undefined = fd;
  try {
    yield* fsyncDescriptor(fd);
    open = undefined;
    yield* call('close', fd);
  } finally {
    // The fsync error is the one to report.
    if (open !== undefined) yield* closeQuietly(open);
  }
}

/**
 * Everything after the last byte: owner and mode, fsync, close, publish, directory fsync.
 * Takes ownership of `fd`: it is closed exactly once whatever happens. On any failure before
 * the publish, the temp file is removed.
 */
export function* commit(
  job: Job,
  temp: TempFile,
  inspected: Inspection | undefined,
  signal?: AbortSignal,
): Plan<void> {
  const { fd, created, ahead } = temp;
  try {
    let inspection = inspected;
    if (inspection === undefined) {
      // A handle may be committed long after it was opened: look at the destination again.
      try {
        inspection = yield* inspectTarget(job);
      } catch (error) {
        throw withLeftover(error, yield* discard(job, fd, created));
      }
    }
    yield* seal(job, fd, created, inspection, inspected === undefined ? ahead : undefined);
    yield* publishSealed(job, created, signal);
    if (job.settings.durability === 'full' && fsyncsDirectories(seam.platform)) {
      try {
        // Through the pinned directory's own descriptor, if the job holds one.
        if (!(yield* fsyncTargetDir(job))) yield* fsyncDirectory(job.dir);
        yield* syncNewParents(job);
      } catch (error) {
        throw wrapError(error, 'fsync-dir', job.dest, { committed: true });
      }
    }
  } finally {
    yield* releaseTargetDir(job);
  }
}

/**
 * The first half of `commit`: the bits a write clears (or, `ahead`, owner and mode as the
 * destination has them now), fsync, close. The temp file is then complete
 * (and durable, unless durability is `'none'`) but not published. Takes ownership of `fd`;
 * on failure the temp file is removed. writeFiles seals many files before publishing any.
 */
function* seal(
  job: Job,
  fd: number,
  created: readonly string[],
  inspection: Inspection,
  ahead?: TempFile['ahead'],
): Plan<void> {
  let open: number | undefined = fd;
  try {
    yield* applyMetadata(job, fd, inspection, ahead);
    if (job.settings.durability !== 'none') {
      yield* inPhase('fsync', job.dest, call('fsync', fd));
    }
    open = undefined;
    yield* inPhase('close', job.dest, call('close', fd));
  } catch (error) {
    throw withLeftover(error, yield* discard(job, open, created));
  }
}

/**
 * The second half of `commit` without the directory fsync: publish a sealed temp file (rename,
 * or create-only link). On a failure before the publish the temp file is removed. The caller
 * fsyncs the directory (writeFiles does it once per directory for a whole group).
 */
export function* publishSealed(
  job: Job,
  created: readonly string[],
  signal?: AbortSignal,
): Plan<void> {
  try {
    if (signal?.aborted === true) {
      throw abortError(job.dest, signal.reason);
    }
    yield* publish(job);
  } catch (error) {
    if (error instanceof AtomicFsError && error.committed) throw error;
    throw withLeftover(error, yield* discard(job, undefined, created));
  }
}

/**
 * Note, on an error, a temp file that could not be removed. Errors that are not the
 * library's own (a TypeError for a bad chunk) pass through as they are.
 */
export function withLeftover<E>(error: E, leftover: string | undefined): E | AtomicFsError {
  if (leftover === undefined || !(error instanceof AtomicFsError)) return error;
  return new AtomicFsError(error.message, { ...fieldsOf(error), leftover });
}

/**
 * Whether a temp file whose name is gone (unlink: ENOENT) may still exist under another path:
 * its directory was renamed, or it was moved. With its descriptor still held, the kernel says
 * (a link count above zero); without one, only a directory still at its path means it is gone.
 */
function* livesOn(job: Job, fd: number | undefined): Plan<boolean> {
  try {
    if (fd !== undefined) return (yield* call('fstat', fd)).nlink > 0;
    // Unlinked in the very directory it was created in: it is gone from there.
    if (isPinned(job)) return false;
    return !(yield* call('stat', job.dir)).isDirectory();
  } catch {
    // Cannot tell: report it rather than claim it is gone.
    return true;
  }
}

/**
 * Undo a temp file: unlink it, close it if still held (after the unlink, so that a name that
 * is gone can be told from a file that lives on elsewhere), remove directories made for it.
 * Never throws. Returns the temp path if it could not be removed, or may still exist elsewhere
 * (the process tries again at exit, and `cleanupTemps` finds it later), else `undefined`.
 */
export function* discard(
  job: Job,
  fd: number | undefined,
  created: readonly string[],
): Plan<string | undefined> {
  return (yield* discardTemp(job, fd, created)).leftover;
}

/** What removing a temp file came to: the temp if it is left, and why (`discardTemp`). */
export interface Discarded {
  readonly leftover: string | undefined;
  readonly error?: AtomicFsError;
}

/**
 * `discard`, also telling why the temp file is left: an error of phase `unlink-temp` naming it
 * as `leftover` (a handle's `discard()` rejects with it; nothing else failed before it).
 */
export function* discardTemp(
  job: Job,
  fd: number | undefined,
  created: readonly string[],
): Plan<Discarded> {
  let leftover: string | undefined;
  let failure: AtomicFsError | undefined;
  try {
    yield* call('unlink', nameIn(job, job.tmp));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT' || (yield* livesOn(job, fd))) {
      leftover = job.tmp;
      failure = withLeftover(wrapError(error, 'unlink-temp', job.dest), leftover);
    }
  }
  // The error that made us discard is the one to report.
  if (fd !== undefined) yield* closeQuietly(fd);
  yield* releaseTargetDir(job);
  yield* removeDirectories(created);
  return failure === undefined ? { leftover } : { leftover, error: failure };
}

/** The whole replace with the data in hand: pin, inspect, create, write, commit. */
export function* writeWhole(
  job: Job,
  chunks: readonly Uint8Array[],
  signal?: AbortSignal,
  inspected?: Inspection,
): Plan<void> {
  try {
    yield* pinTargetDir(job);
    // Looked at when the call was made, if it runs at once (see core/call.ts); else now.
    const inspection = inspected ?? (yield* inspectTarget(job));
    if (signal?.aborted === true) {
      throw abortError(job.dest, signal.reason);
    }
    const temp = yield* createTemp(job, inspection);
    try {
      yield* writeChunks(job, temp.fd, chunks, signal);
    } catch (error) {
      throw withLeftover(error, yield* discard(job, temp.fd, temp.created));
    }
    yield* commit(job, temp, inspection, signal);
  } finally {
    yield* releaseTargetDir(job);
  }
}

/**
 * Make final what a temp opened ahead of its commit can be final in before its first byte:
 * its owner and access rules (an ACL's named users stay masked out by its empty group bits).
 * Its mode stays owner-only (`mode & 0o700`) until the commit.
 */
function* finishAhead(job: Job, fd: number, final: Final, mode: number): Plan<void> {
  const chowned = yield* chownTemp(job, fd, final);
  let aclChanged = false;
  if (final.attributes !== undefined) {
    const names = yield* tempAttributeNames(job.dest, fd, final.attributes);
    aclChanged = yield* applyAttributes(job.dest, fd, final.attributes, names);
  }
  // A chown clears set-user-ID bits (there are none yet); an ACL sets the group bits.
  if (chowned || aclChanged) yield* inPhase('chmod', job.dest, call('fchmod', fd, ownerOnly(mode)));
}

/**
 * The mode a new file gets here, as the kernel gives it (the umask, or the directory's default
 * ACL, which replaces the umask): read off a probe created with 0o666 at the temp's name, then
 * removed before any byte (whoever opened it holds an empty, nameless file). process.umask()
 * cannot tell: reading it sets it, for every thread, for a moment.
 */
function* newFileMode(job: Job): Plan<{ mode: number; created: readonly string[] }> {
  const probe = yield* openExclusive(job, NEW_FILE_MODE, []);
  let mode: number;
  try {
    mode = (yield* inPhase('chmod', job.dest, call('fstat', probe.fd))).mode & 0o777;
  } catch (error) {
    throw withLeftover(error, yield* discard(job, probe.fd, probe.created));
  }
  try {
    yield* dropTemp(job, probe.fd);
  } catch (error) {
    yield* removeDirectories(probe.created);
    throw error;
  }
  return { mode, created: probe.created };
}

/**
 * Open a temp file ahead of its commit (a handle, streamed data, a download). Until the commit
 * the destination may change — a write queued ahead of this one may narrow its mode or give it
 * another owner — so the temp is owner-only until then: nobody but its owner can open it,
 * whatever mode the file ends up with. Its owner and access rules are made final now, as the
 * destination has them; `commit` looks again and applies the owner and mode it has then.
 */
export function* openTemp(job: Job): Plan<TempFile> {
  // Pinned until the commit or discard (which release it).
  yield* pinTargetDir(job);
  try {
    const inspection = yield* inspectTarget(job);
    if (!hasPosixMetadata(seam.platform)) {
      // Windows: the only permission is the read-only attribute, set after the data.
      return { ...(yield* createTemp(job, inspection)), ahead: { mode: undefined } };
    }
    let mode = wantedMode(job, inspection);
    let created: readonly string[] = [];
    if (mode === undefined) ({ mode, created } = yield* newFileMode(job));
    const temp = yield* openExclusive(job, ownerOnly(mode), created);
    try {
      const final = yield* finalOf(job, inspection);
      yield* finishAhead(job, temp.fd, final, mode);
    } catch (error) {
      throw withLeftover(error, yield* discard(job, temp.fd, temp.created));
    }
    return { ...temp, ahead: { mode } };
  } catch (error) {
    yield* releaseTargetDir(job);
    throw error;
  }
}
