/**
 * Directories that writes of this thread are creating (`mkdirs`), or created and could not
 * make durable: their entry in their parent may not survive a power cut yet. A write whose
 * file lies in or below one of them fsyncs that parent itself before it resolves, so that
 * "resolved means durable" holds for every directory the write depends on, not only for
 * those it created itself: a second write that finds a directory the first one has just
 * made would otherwise resolve before that directory's entry is on disk.
 *
 * The registry lives on the calling thread: directories are created there (writes that must
 * create directories are not sent to the I/O thread), and calls are resolved there. A write
 * run on the I/O thread takes the answer its call was resolved with (`Job.unsynced`).
 */
import { dirname } from 'node:path';

/** Directory → number of writes creating it right now (between their mkdir and its fsync). */
const creating = new Map<string, number>();

/** Directories left in place by a failed write before their entry was made durable. */
const leftBehind = new Set<string>();

/** A write is about to mkdir `dir`: from the moment it can exist, its entry is not durable. */
export function creatingDirectory(dir: string): void {
  creating.set(dir, (creating.get(dir) ?? 0) + 1);
}

/**
 * The write that announced `dir` is done with it: its entry was made durable, or it was
 * removed again, or another writer had made it (`durable: true`); or it stays without a
 * durable entry (`durable: false`: a failure after its mkdir, and it could not be removed).
 */
export function createdDirectory(dir: string, durable: boolean): void {
  const count = (creating.get(dir) ?? 1) - 1;
  if (count > 0) creating.set(dir, count);
  else creating.delete(dir);
  if (!durable) leftBehind.add(dir);
}

/** A write fsynced the parent of `dir` after `dir` existed: its entry is durable now. */
export function directorySynced(dir: string): void {
  leftBehind.delete(dir);
}

/** `dir` and the directories above it whose entry in their parent may not be durable yet. */
export function unsyncedAt(dir: string): string[] {
  const found: string[] = [];
  if (creating.size === 0 && leftBehind.size === 0) return found;
  for (let at = dir; ; at = dirname(at)) {
    if (creating.has(at) || leftBehind.has(at)) found.push(at);
    if (dirname(at) === at) return found;
  }
}
