/**
 * Temp files of writes still in flight are removed when the process exits normally or is
 * stopped by SIGINT, SIGTERM, SIGHUP (through the field-standard `signal-exit`). SIGKILL and
 * power cuts cannot be caught: `cleanupTemps` reclaims what they leave.
 *
 * A temp may still be coming into existence when the exit handler runs: on the I/O thread,
 * which runs on while the handler does, and in an open() on libuv's threadpool, whose
 * callback will never run. The handler first closes the exit gate (exit-gate.ts): no I/O
 * thread creates a temp after that, and one being created is waited for. Then it removes
 * every tracked temp, and waits, bounded, for the names still being created on the threadpool
 * (process.exit() lets the threadpool finish its queue after the last JavaScript ran), removing
 * each as it appears.
 *
 * Every temp of an operation in flight is tracked here, and stays tracked after a failure that
 * may have left it behind (the error's `leftover`).
 */
import { basename } from 'node:path';
import { onExit } from 'signal-exit';
import { EXIT_CREATE_WAIT_MS } from './constants.js';
import { AtomicFsError, errorCode } from '../engine/errors.js';
import { closeGate } from './exit-gate.js';
import { creationsInFlight, seam } from '../engine/fs.js';
import { runSync } from '../engine/executors.js';
import { reclaimStaged } from './remove-tree.js';

const live = new Set<string>();
/** Staged directory trees of writeDirectory calls in flight. */
const liveTrees = new Set<string>();
let installed = false;

/** Remove a temp: false when nothing was at its name (not created yet, or already gone). */
function removeTemp(tmp: string): boolean {
  try {
    seam.sync.unlink(tmp);
  } catch (error) {
    // Already renamed, already gone, or not ours to fix now.
    return errorCode(error) !== 'ENOENT';
  }
  return true;
}

/** Remove a staged tree (claimed by a rename first: a swap of it may be on the threadpool). */
function removeTree(tree: string): void {
  runSync(reclaimStaged(tree));
}

function exists(path: string): boolean {
  try {
    seam.sync.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function removeLive(): void {
  const deadline = performance.now() + EXIT_CREATE_WAIT_MS;
  // From here on no I/O thread creates a temp; one it is creating now is waited for.
  closeGate(EXIT_CREATE_WAIT_MS);
  // Names whose creation is on the threadpool: each may appear after it was looked for. A
  // write names its temp through its pinned directory (`/proc/self/fd/<fd>/<temp>`, see
  // target-dir.ts): temp names are random (64 bits), so the last component tells them apart.
  const inFlight = new Set(creationsInFlight().map((name) => basename(name)));
  let waiting: { readonly path: string; readonly tree: boolean }[] = [];
  for (const tmp of live) {
    if (!removeTemp(tmp) && inFlight.has(basename(tmp))) waiting.push({ path: tmp, tree: false });
  }
  for (const tree of liveTrees) {
    if (inFlight.has(basename(tree)) && !exists(tree)) waiting.push({ path: tree, tree: true });
    else removeTree(tree);
  }
  live.clear();
  liveTrees.clear();
  while (waiting.length > 0 && performance.now() < deadline) {
    seam.sync.sleep(1);
    // A creation that failed never appears: only the deadline ends the wait for it.
    waiting = waiting.filter(({ path, tree }) => {
      if (!exists(path)) return true;
      if (tree) removeTree(path);
      else removeTemp(path);
      return false;
    });
  }
  for (const { path, tree } of waiting) {
    // Queued behind its creation on the threadpool, which process.exit() still lets run.
    void (tree ? seam.async.rmdir(path) : seam.async.unlink(path)).catch(() => undefined);
  }
}

function install(): void {
  if (!installed) {
    installed = true;
    onExit(removeLive, { alwaysLast: true });
  }
}

/** Remember a temp file until `untrackTemp`; it is removed if the process exits first. */
export function trackTemp(tmp: string): void {
  install();
  live.add(tmp);
}

export function untrackTemp(tmp: string): void {
  live.delete(tmp);
}

/** The temp files currently tracked (for tests of this module). */
export function trackedTemps(): readonly string[] {
  return [...live];
}

// writeDirectory's staged trees.

/** Remember a staged tree until `untrackTree`; it is reclaimed if the process exits first. */
export function trackTree(path: string): void {
  install();
  liveTrees.add(path);
}

export function untrackTree(path: string): void {
  liveTrees.delete(path);
}

/** The staged trees currently tracked (for tests of this module). */
export function trackedTrees(): readonly string[] {
  return [...liveTrees];
}

/** Whether a failure may have left its temp file behind. */
export function mayHaveLeft(error: unknown): boolean {
  return (
    error instanceof AtomicFsError &&
    (error.leftover !== undefined || error.code === 'ERR_ATOMIC_WORKER')
  );
}

/** Run `work` with `tmp` tracked; untrack it once it is renamed or removed. */
export async function withTrackedTemp<T>(tmp: string, work: () => Promise<T>): Promise<T> {
  trackTemp(tmp);
  let result: T;
  try {
    result = await work();
  } catch (error) {
    if (!mayHaveLeft(error)) untrackTemp(tmp);
    throw error;
  }
  untrackTemp(tmp);
  return result;
}
