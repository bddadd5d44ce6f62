/**
 * Temp files of operations in flight are tracked for removal at exit (exit-cleanup.ts). A temp
 * stays tracked after a failure that may have left it behind (the error's `leftover`).
 */
import { AtomicFsError } from './errors.js';
import { trackTemp, untrackTemp } from './exit-cleanup.js';

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
