/**
 * The directory a single-file write works in, pinned by its descriptor for the write's turn
 * (pinned-dir.ts says why a descriptor pins a directory, and how `/proc/self/fd/<fd>/<name>`
 * names one entry of it).
 *
 * A write looks at its destination, creates its temp file, renames it over the destination
 * and fsyncs the directory: each a look-up of a name in one directory. Named by path, each
 * look-up walks every directory above it again, and a user who can rename one of them (root
 * writing below a user's home, an installer in a directory its user owns) could put a symlink
 * in its place between two calls: root would create the temp file, give it the destination's
 * owner and rename it into a directory of that user's choosing. Pinned, the directory is
 * looked up by path once, when the write's turn begins, and must be the very directory the
 * call resolved (same device and inode); from then on every name is looked up in it alone, and
 * the directory fsync goes through the same descriptor. Directories made by `mkdirs` are made
 * one name at a time through the pinned directory above them (core/replace-plans.ts `makeParents`).
 *
 * The pin costs an fstat() and a stat() of `/proc/self/fd/<fd>` (the open and the close are
 * the directory fsync's, moved to the start), and one descriptor for the turn; a handle holds
 * it from its open to its commit or discard. Where directories cannot be pinned
 * (`reachesByDescriptorLink`: macOS, Windows, Deno), names go by path, as they always did.
 */
import { basename } from 'node:path';
import { errorCode, wrapError } from '../engine/errors.js';
import { seam } from '../engine/fs.js';
import type { Plan } from '../engine/executors.js';
import { reachesByDescriptorLink, runtimeOf } from '../engine/platform.js';
import type { Top } from './target.js';
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

/** Where a job keeps its pinned directory once its turn has come (`undefined` until then). */
export interface DirSlot {
  dir: Dir | undefined;
}

/** What of a job pinning needs (core/replace-plans.ts `Job`). */
export interface PinnableJob {
  readonly dest: string;
  readonly dir: string;
  /** The identity of `dir` when the call was resolved; absent when it did not exist yet. */
  readonly dirId?: Identity | undefined;
  /** When it did not: where it was to appear (target.ts `Top`). */
  readonly top?: Top | undefined;
  /** Absent: this job's names go by path (writeFiles, whose plans span two messages). */
  readonly pin?: DirSlot | undefined;
}

/** Whether this platform and runtime can pin directories at all. */
export function canPin(): boolean {
  return reachesByDescriptorLink(seam.platform, runtimeOf(process.versions));
}

/**
 * Pin the job's directory, unless already pinned or the job names by path. A directory that is
 * missing is left unpinned (ENOENT, ENOTDIR: the write fails creating its temp file, as by
 * path, or `mkdirs` makes it and pins it then); one that is not the directory the call
 * resolved fails `ERR_ATOMIC_PATH_CHANGED`, phase `resolve`, before anything is written.
 */
export function* pinTargetDir(job: PinnableJob): Plan<void> {
  const slot = job.pin;
  if (slot === undefined || slot.dir !== undefined || !canPin()) return;
  if (job.dirId === undefined && job.top !== undefined) {
    slot.dir = yield* descend(job, job.top);
    return;
  }
  slot.dir = yield* openIfThere(job, job.dir, job.dirId);
}

/**
 * `openExpected` for a job's turn (phase `resolve`); `undefined` when nothing is at `path`
 * (ENOENT, ENOTDIR).
 */
function* openIfThere(
  job: PinnableJob,
  path: string,
  expected: Identity | undefined,
): Plan<Dir | undefined> {
  try {
    return yield* openExpected(path, expected, { unsafeShared: true, descend: false });
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw wrapError(error, 'resolve', job.dest);
  }
}

/**
 * A directory that was missing when the call was made, and may exist now (made by another
 * write, or by the one this job queued behind): reached from the directory the call saw
 * (`top`, identity checked) one name at a time, each opened with O_NOFOLLOW|O_DIRECTORY
 * through the one above it — never through a symlink put at one of their names since.
 * `undefined` while a name on the way is still missing (`mkdirs` makes it, or the write fails
 * with ENOENT creating its temp).
 */
function* descend(job: PinnableJob, top: Top): Plan<Dir | undefined> {
  let parent = yield* openIfThere(job, top.path, top.id);
  if (parent === undefined || !parent.pinned) return parent;
  for (const path of top.names) {
    let child: Dir;
    try {
      child = yield* openChild(parent, basename(path));
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') {
        yield* releaseDir(parent);
        throw wrapError(error, 'resolve', job.dest);
      }
      // Still missing: nothing is pinned.
      try {
        yield* closeDir(parent);
      } catch (closing) {
        throw wrapError(closing, 'resolve', job.dest);
      }
      return undefined;
    }
    try {
      yield* closeDir(parent);
    } catch (error) {
      yield* releaseDir(child);
      throw wrapError(error, 'resolve', job.dest);
    }
    parent = { ...child, path, base: path };
  }
  return parent;
}

/**
 * How to name `path` — the job's temp file or destination, an entry of its directory — in a
 * system call: through the pinned directory when there is one, else by path.
 */
export function nameIn(job: PinnableJob, path: string): string {
  const dir = job.pin?.dir;
  return dir !== undefined && isPinned(job) ? entry(dir, basename(path)) : path;
}

/** Whether the job's names go through a pinned directory right now. */
export function isPinned(job: PinnableJob): boolean {
  const dir = job.pin?.dir;
  return dir !== undefined && dir.pinned && dir.fd !== undefined;
}

/**
 * fsync the job's directory through its pinned descriptor and release it (exactly once).
 * Returns `false` when none is held: the caller fsyncs the directory by path.
 */
export function* fsyncTargetDir(job: PinnableJob): Plan<boolean> {
  const dir = takeTargetDir(job);
  if (dir?.fd === undefined) return false;
  try {
    yield* fsyncDescriptor(dir.fd);
  } catch (error) {
    yield* releaseDir(dir);
    throw error;
  }
  yield* closeDir(dir);
  return true;
}

/** Release the job's pinned directory, if held (exactly once), ignoring a failed close. */
export function* releaseTargetDir(job: PinnableJob): Plan<void> {
  const dir = takeTargetDir(job);
  if (dir !== undefined) yield* releaseDir(dir);
}

/** The job's pinned directory, taken out of its slot (the caller releases it). */
function takeTargetDir(job: PinnableJob): Dir | undefined {
  const dir = job.pin?.dir;
  if (job.pin !== undefined) job.pin.dir = undefined;
  return dir;
}

/** Give the job the directory `makeParents` made and pinned last (see core/replace-plans.ts). */
export function setTargetDir(job: PinnableJob, dir: Dir): void {
  if (job.pin === undefined) throw new Error('internal error: this job names by path');
  job.pin.dir = dir;
}
