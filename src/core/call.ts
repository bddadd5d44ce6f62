/**
 * From a call's arguments to a job: validate, resolve the destination, name the temp file,
 * and run the job's plans on the I/O thread or the calling thread.
 */
import { basename, join } from 'node:path';
import { OFFLOAD_MAX_BYTES } from './constants.js';
import { throwIfAborted } from '../engine/errors.js';
import { mayHaveLeft, trackTemp, untrackTemp } from './exit-handler.js';
import { canOffload, offloadMoving } from './io-thread.js';
import type { OptionList } from '../engine/option-keys.js';
import { type Normalized, type WriteOptions, normalizeOptions, pathOf } from './options.js';
import { runAsync, runSync } from '../engine/executors.js';
import { pathQueue } from './path-queue.js';
import {
  type Inspection,
  type Job,
  type Discarded,
  type TempFile,
  type WriteSettings,
  commit,
  discardTemp,
  openTemp,
  refuseSpecialFile,
  writeWhole,
} from './replace-plans.js';
import { type Target, resolveTarget } from './target.js';
import type { Stats } from '../engine/fs.js';
import { tempName } from './temp-names.js';

export { pathQueue };

export interface PreparedCall {
  readonly job: Job;
  readonly options: Normalized;
  /** What was at the destination when the call was made (see `inspectionOf`). */
  readonly stats: Stats | undefined;
}

export interface ValidCall {
  readonly dest: string;
  readonly options: Normalized;
}

/**
 * Validate a write call's path and options (nothing is touched yet); `list`: the options the
 * calling function accepts.
 */
export function validateCall(
  path: unknown,
  options: WriteOptions | BufferEncoding | undefined,
  list: OptionList,
): ValidCall {
  return { dest: pathOf(path), options: normalizeOptions(options, list) };
}

/**
 * Resolve where a validated call lands (synchronously, so calls keep their order). `pinned`:
 * the job pins its directory in its turn (target-dir.ts); writeFiles' jobs name by path.
 */
export function resolveCall({ dest, options }: ValidCall, pinned = true): PreparedCall {
  throwIfAborted(options.signal, dest);
  const where = resolveTarget(
    dest,
    options.symlinks,
    options.settings.mkdirs,
    options.unsafeShared,
  );
  const job = newJob(dest, where, options.settings, pinned);
  // Refused at once, before the call queues or takes a lock (and again when it runs).
  if (where.stats !== undefined) refuseSpecialFile(job, where.stats);
  return { job, options, stats: where.stats };
}

/** Validate a write call and resolve where it lands. */
export function prepareCall(
  path: unknown,
  options: WriteOptions | BufferEncoding | undefined,
  list: OptionList,
): PreparedCall {
  return resolveCall(validateCall(path, options, list));
}

/**
 * A job for `target` with a fresh temp name beside it; `pinned`: with a slot for its pinned
 * directory (target-dir.ts).
 */
export function newJob(dest: string, where: Target, settings: WriteSettings, pinned = false): Job {
  const { target, dir, key, missing, unsynced, behind, dirId, top } = where;
  return {
    dest,
    target,
    dir,
    key,
    tmp: join(dir, tempName(basename(target))),
    settings,
    ...(missing === undefined ? {} : { missing }),
    ...(unsynced === undefined ? {} : { unsynced }),
    ...(behind === undefined ? {} : { behind }),
    ...(dirId === undefined ? {} : { dirId }),
    ...(top === undefined ? {} : { top }),
    ...(pinned ? { pin: { dir: undefined } } : {}),
  };
}

/** Key under which queued whole-data writes of equal settings may coalesce. */
export function coalesceKey(options: Normalized, target: string): string | undefined {
  const { settings } = options;
  if (!options.coalesce || options.signal !== undefined || !settings.overwrite) return undefined;
  // The target too: two hard links share a queue, but a write to one is not one to the other.
  return JSON.stringify([
    target,
    settings.mode,
    settings.chown,
    settings.durability,
    settings.mkdirs,
    settings.xattrs,
  ]);
}

function afterFailure(tmp: string, error: unknown): void {
  // Keep tracking a temp that may still exist, so the exit handler removes it.
  if (!mayHaveLeft(error)) untrackTemp(tmp);
}

function total(chunks: readonly Uint8Array[]): number {
  let sum = 0;
  for (const chunk of chunks) sum += chunk.byteLength;
  return sum;
}

/** Whether `chunk` is the whole of its own ArrayBuffer (not a view into a larger one). */
function whole(chunk: Uint8Array): boolean {
  return (
    chunk.byteOffset === 0 &&
    chunk.byteLength === chunk.buffer.byteLength &&
    chunk.buffer instanceof ArrayBuffer
  );
}

/**
 * Write whole data: the full plan, on the I/O thread when it is worth it. `owned`: nobody else
 * holds the chunks' memory (a copy made for this call), so it may be moved to the I/O thread
 * instead of being copied there once more.
 */
export async function runWhole(
  job: Job,
  chunks: readonly Uint8Array[],
  signal: AbortSignal | undefined,
  inspected?: Inspection,
  owned = false,
): Promise<void> {
  trackTemp(job.tmp);
  try {
    // With a signal, every step checks it on this thread.
    // A write that creates directories stays here, where other writes see them (new-dirs.ts).
    // So does one whose directory this thread holds already (an update's, opened for its lock
    // and its read), pinned or not (without /proc it is a plain descriptor): the write uses it
    // and closes it here, where it was opened, never a second time on the I/O thread.
    const here = signal !== undefined || job.missing !== undefined || job.pin?.dir !== undefined;
    if (!here && total(chunks) <= OFFLOAD_MAX_BYTES && canOffload()) {
      // A view into a larger buffer (e.g. Buffer's 8 KiB pool) is copied out first: the copy
      // is ours to move, and the larger buffer never crosses.
      const sent = chunks.map((chunk) => (whole(chunk) ? chunk : chunk.slice()));
      const moved = new Set<ArrayBuffer>();
      sent.forEach((chunk, i) => {
        if (owned || chunk !== chunks[i]) moved.add(chunk.buffer as ArrayBuffer);
      });
      await offloadMoving([...moved], 'writeWhole', job.dest, job, sent, inspected);
    } else {
      await runAsync(writeWhole(job, chunks, signal, inspected));
    }
  } catch (error) {
    afterFailure(job.tmp, error);
    throw error;
  }
  untrackTemp(job.tmp);
}

/** Create the temp file for streamed data or a handle. */
export async function openTempAsync(job: Job): Promise<TempFile> {
  trackTemp(job.tmp);
  try {
    // A descriptor is opened and closed on the same thread (Node tracks the descriptors a
    // worker opens and closes them when it exits): handles stay on the calling thread.
    return await runAsync(openTemp(job));
  } catch (error) {
    afterFailure(job.tmp, error);
    throw error;
  }
}

/** Commit a filled temp file; owns `fd` from here on. */
export async function commitAsync(
  job: Job,
  temp: TempFile,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await runAsync(commit(job, temp, undefined, signal));
  } catch (error) {
    afterFailure(job.tmp, error);
    throw error;
  }
  untrackTemp(job.tmp);
}

/**
 * Remove a temp file (closing `fd` if still held), and stop tracking it for the exit handler
 * once it is gone; returns it (`leftover`, and why) if it could not be removed.
 */
export async function discardedAsync(
  job: Job,
  fd: number | undefined,
  created: readonly string[],
): Promise<Discarded> {
  return untracked(job, await runAsync(discardTemp(job, fd, created)));
}

/** `discardedAsync` with the synchronous seam. */
export function discardedSync(
  job: Job,
  fd: number | undefined,
  created: readonly string[],
): Discarded {
  return untracked(job, runSync(discardTemp(job, fd, created)));
}

function untracked(job: Job, result: Discarded): Discarded {
  if (result.leftover === undefined) untrackTemp(job.tmp);
  return result;
}

/** Remove a temp file (see `discardedAsync`); returns it if it could not be removed. */
export async function discardAsync(
  job: Job,
  fd: number | undefined,
  created: readonly string[],
): Promise<string | undefined> {
  return (await discardedAsync(job, fd, created)).leftover;
}
