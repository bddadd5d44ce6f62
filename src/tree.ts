/**
 * Removing whole directory trees through the seam (so each step can be failed in a test and
 * both executors share it): the staging tree of a failed writeDirectory, the previous tree
 * after a swap, and staged trees left behind by a crashed writer.
 */
import { basename, dirname, join } from 'node:path';
import { errorCode } from './errors.js';
import { type Plan, call } from './plan.js';
import { parseStagingName, stagingName } from './temp.js';

/**
 * Remove `path` and everything below it, best effort: a failure does not stop the removal of
 * the rest. Symlinks are removed, never followed (each entry is lstat()ed first; the root
 * too, so a symlink planted at `path` is unlinked, not descended into). A missing entry is
 * not an error. Never throws; returns the first error met, or `undefined` when `path` is
 * gone.
 */
export function* removeTree(path: string): Plan<unknown> {
  let stats;
  try {
    stats = yield* call('lstat', path);
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? undefined : error;
  }
  if (!stats.isDirectory()) return yield* removeEntry(path);
  let first: unknown;
  let names: string[] = [];
  try {
    names = yield* call('readdir', path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') first = error;
  }
  for (const name of names) {
    const error = yield* removeTree(join(path, name));
    first ??= error;
  }
  try {
    yield* call('rmdir', path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') first ??= error;
  }
  return first;
}

function* removeEntry(path: string): Plan<unknown> {
  try {
    yield* call('unlink', path);
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') return error;
  }
  return undefined;
}

/**
 * Reclaim a tree under a staging name that may belong to a writer still running (this
 * process at exit, or another one): first claim it by renaming it to a fresh staging name of
 * our own, then remove it. The claim is what makes this safe: a writer's swap of the old name
 * either happened before it (the claimed tree is then the previous tree, which the writer
 * was about to remove anyway) or fails with ENOENT after it (and the live directory is
 * untouched). Removing under the writer's own name instead could let it swap a half-removed
 * tree into place. Never throws; returns the first error met.
 */
export function* reclaimStaged(path: string): Plan<unknown> {
  const name = basename(path);
  const claimed = join(dirname(path), stagingName(parseStagingName(name)?.base ?? name));
  try {
    yield* call('rename', path, claimed);
  } catch (error) {
    return errorCode(error) === 'ENOENT' ? undefined : error;
  }
  return yield* removeTree(claimed);
}
