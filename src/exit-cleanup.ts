/**
 * Temp files of writes still in flight are removed when the process exits normally or is
 * stopped by SIGINT, SIGTERM, SIGHUP (through the field-standard `signal-exit`). SIGKILL and
 * power cuts cannot be caught: `cleanupTemps` reclaims what they leave.
 */
import { onExit } from 'signal-exit';
import { seam } from './fs.js';
import { runSync } from './plan.js';
import { reclaimStaged } from './tree.js';

const live = new Set<string>();
/** Staged directory trees of writeDirectory calls in flight (issue 5). */
const liveTrees = new Set<string>();
let installed = false;

function removeLive(): void {
  for (const tmp of live) {
    try {
      seam.sync.unlink(tmp);
    } catch {
      // Already renamed, already gone, or not ours to fix now.
    }
  }
  live.clear();
  for (const tree of liveTrees) {
    // Claimed by a rename first: a swap of this name may be in flight on the threadpool.
    runSync(reclaimStaged(tree));
  }
  liveTrees.clear();
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

// writeDirectory (issue 5).

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
