/**
 * Temp files of writes still in flight are removed when the process exits normally or is
 * stopped by SIGINT, SIGTERM, SIGHUP (through the field-standard `signal-exit`). SIGKILL and
 * power cuts cannot be caught: `cleanupTemps` reclaims what they leave.
 */
import { onExit } from 'signal-exit';
import { seam } from './fs.js';

const live = new Set<string>();
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
}

/** Remember a temp file until `untrackTemp`; it is removed if the process exits first. */
export function trackTemp(tmp: string): void {
  if (!installed) {
    installed = true;
    onExit(removeLive, { alwaysLast: true });
  }
  live.add(tmp);
}

export function untrackTemp(tmp: string): void {
  live.delete(tmp);
}

/** The temp files currently tracked (for tests of this module). */
export function trackedTemps(): readonly string[] {
  return [...live];
}
