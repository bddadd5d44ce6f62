/**
 * Removing whole directory trees through the seam (so each step can be failed in a test and
 * both executors share it): the staging tree of a failed writeDirectory, the previous tree
 * after a swap, and staged trees left behind by a crashed writer.
 *
 * The walk never follows a symlink and never leaves the tree, whatever another process renames
 * meanwhile (the trees removed may belong to another user, who can change them during the
 * removal): each directory is opened through its parent's descriptor with O_NOFOLLOW and
 * pinned by its own (pinned-dir.ts), and every entry is unlinked or removed by its one name
 * in a pinned directory. A symlink found anywhere, or swapped in at any moment, is unlinked as
 * a link. A directory on another file system (a mount point) is not entered. Like `rm -r` and
 * Rust's `remove_dir_all`, a directory someone moves *into* the tree while it is removed (which
 * needs write permission on that directory) is removed with it.
 */
import { basename, dirname } from 'node:path';
import { errorCode } from '../engine/errors.js';
import {
  type Dir,
  type Identity,
  changed,
  entry,
  listing,
  openChild,
  openRoot,
  releaseDir,
  sameFile,
} from '../engine/pinned-dir.js';
import { seam } from '../engine/fs.js';
import { type Plan, call } from '../engine/executors.js';
import { parseStagingName, stagingName } from './temp-names.js';

/**
 * Codes of unlink() for a directory: EISDIR (Linux), EPERM (macOS, POSIX), ENOTEMPTY (Deno's
 * node:fs, whose unlink removes an empty directory and refuses any other).
 */
const UNLINK_DIRECTORY = new Set(['EISDIR', 'EPERM', 'ENOTEMPTY']);
/** Codes of a pinned open() for something that is not a directory (now). */
const NOT_A_DIRECTORY = new Set(['ENOTDIR', 'ELOOP']);

/**
 * Remove the entry `name` of `dir` and, for a directory, everything below it, best effort: a
 * failure does not stop the removal of the rest. A missing entry is not an error. Never
 * throws; returns the first error met.
 */
function* removeEntry(dir: Dir, name: string): Plan<unknown> {
  if (seam.platform === 'win32') return yield* removeEntryByType(dir, name);
  // unlink() first: it removes anything but a directory by its name, never following it (one
  // call per file instead of an lstat() and an unlink()); a directory makes it fail.
  try {
    yield* call('unlink', entry(dir, name));
    return undefined;
  } catch (error) {
    const code = errorCode(error) ?? '';
    if (code === 'ENOENT') return undefined;
    if (!UNLINK_DIRECTORY.has(code)) return error;
    const removed = yield* removeDirectoryOrNot(dir, name);
    // Not a directory after all: the unlink() failed for a reason of its own.
    return removed instanceof NotADirectory ? error : removed;
  }
}

/** What `removeDirectory` returns when the entry is not a directory (it removed nothing). */
class NotADirectory {
  constructor(readonly cause: unknown) {}
}

/** Windows: no directory descriptors, no EISDIR; look first. */
function* removeEntryByType(dir: Dir, name: string): Plan<unknown> {
  let stats;
  try {
    stats = yield* call('lstat', entry(dir, name));
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? undefined : error;
  }
  if (stats.isDirectory()) return yield* removeDirectory(dir, name);
  try {
    yield* call('unlink', entry(dir, name));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') return error;
  }
  return undefined;
}

/**
 * Remove the directory `name` of `dir` and everything below it (best effort, never throws,
 * returns the first error). With `expect`, only if it is one of those directories (else
 * `ERR_ATOMIC_PATH_CHANGED`, and nothing is removed). ENOTDIR or ELOOP: it is not a directory.
 */
export function* removeDirectory(
  dir: Dir,
  name: string,
  expect?: readonly Identity[],
): Plan<unknown> {
  const result = yield* removeDirectoryOrNot(dir, name, expect);
  return result instanceof NotADirectory ? result.cause : result;
}

function* removeDirectoryOrNot(
  dir: Dir,
  name: string,
  expect?: readonly Identity[],
): Plan<unknown> {
  let child: Dir;
  try {
    child = yield* openChild(dir, name, { expect, sameDevice: true });
  } catch (error) {
    const code = errorCode(error) ?? '';
    if (code === 'ENOENT') return undefined;
    return NOT_A_DIRECTORY.has(code) ? new NotADirectory(error) : error;
  }
  let first: unknown;
  try {
    first = yield* removeContents(child);
  } finally {
    // A directory opened for reading: nothing is lost if closing it fails.
    yield* releaseDir(child);
  }
  try {
    yield* call('rmdir', entry(dir, name));
  } catch (error) {
    const code = errorCode(error);
    // Something that is not a directory was put at the name meanwhile (the directory emptied
    // was moved away): it is in the tree, and is unlinked as itself.
    if (code === 'ENOTDIR') first ??= yield* unlinkQuietly(dir, name);
    else if (code !== 'ENOENT') first ??= error;
  }
  return first;
}

function* unlinkQuietly(dir: Dir, name: string): Plan<unknown> {
  try {
    yield* call('unlink', entry(dir, name));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') return error;
  }
  return undefined;
}

/** Remove everything in the directory `dir` holds (best effort; returns the first error). */
function* removeContents(dir: Dir): Plan<unknown> {
  let names: string[] = [];
  let first: unknown;
  try {
    names = yield* call('readdir', listing(dir));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') first = error;
  }
  for (const name of names) {
    const error = yield* removeEntry(dir, name);
    first ??= error;
  }
  return first;
}

/**
 * Run `work` in the pinned parent of `path`; a parent that is gone means nothing to remove.
 * Never throws.
 */
function* inParent(
  path: string,
  unsafeShared: boolean,
  work: (parent: Dir, name: string) => Plan<unknown>,
): Plan<unknown> {
  let parent: Dir;
  try {
    parent = yield* openRoot(dirname(path), { unsafeShared, descend: true });
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? undefined : error;
  }
  try {
    return yield* work(parent, basename(path));
  } finally {
    yield* releaseDir(parent);
  }
}

/**
 * Remove `path` and everything below it (see `removeEntry`): a symlink at `path` is unlinked,
 * not descended into. Never throws; returns the first error met, or `undefined` when `path`
 * is gone.
 */
export function* removeTree(path: string, unsafeShared = false): Plan<unknown> {
  return yield* inParent(path, unsafeShared, removeEntry);
}

/**
 * The directories this process staged, by path: the staged tree, and after the swap the
 * previous tree under the same name. Reclaiming such a path at exit removes only one of
 * those, whatever another process put at the name meanwhile.
 */
const ownTrees = new Map<string, readonly Identity[]>();

/** Remember which directories may be at `path` (a staging name of this process). */
export function expectTree(path: string, identities: readonly Identity[]): void {
  ownTrees.set(path, identities);
}

export function forgetTree(path: string): void {
  ownTrees.delete(path);
}

/**
 * Reclaim the entry `name` of `dir`, a staging name that may belong to a writer still running
 * (this process at exit, or another one): first claim it by renaming it to a fresh staging
 * name of our own, then remove it. The claim is what makes this safe: a writer's swap of the
 * old name either happened before it (the claimed tree is then the previous tree, which the
 * writer was about to remove anyway) or fails with ENOENT after it (and the live directory is
 * untouched). Removing under the writer's own name instead could let it swap a half-removed
 * tree into place. With `expect`, only one of those directories is removed (a symlink or a
 * directory put at the name after it was looked at is not). Never throws; returns the first
 * error met.
 */
export function* reclaimStagedAt(
  dir: Dir,
  name: string,
  expect?: readonly Identity[],
): Plan<unknown> {
  const claimed = stagingName(parseStagingName(name)?.base ?? name);
  try {
    yield* call('rename', entry(dir, name), entry(dir, claimed));
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? undefined : error;
  }
  if (expect === undefined) return yield* removeEntry(dir, claimed);
  return yield* removeDirectory(dir, claimed, expect);
}

/**
 * `reclaimStagedAt` for a path. A tree this process staged must be one of its own, and is
 * looked at before the claim too: something else at the name is left as it is, not renamed.
 */
export function* reclaimStaged(path: string): Plan<unknown> {
  const expect = ownTrees.get(path);
  return yield* inParent(path, false, function* (parent, name) {
    if (expect !== undefined) {
      let stats;
      try {
        stats = yield* call('lstat', entry(parent, name));
      } catch (error) {
        return errorCode(error) === 'ENOENT' ? undefined : error;
      }
      if (!expect.some((id) => sameFile(id, stats))) return changed(path, 'not a tree of ours');
    }
    return yield* reclaimStagedAt(parent, name, expect);
  });
}
