/**
 * The batch plans of writeFiles, kept apart from write-files.ts so that the I/O thread
 * (core/io-thread-worker.ts) can load them without the rest of the library. Each plan handles a list of
 * files and reports one result per file as plain data (errors serialized), so the same plan
 * runs on the I/O thread (one message for many files, synchronous calls) or on the calling
 * thread with `runAsync` (when the seam is patched, or a signal must be watched).
 */
import {
  type SerializedError,
  serializeError,
  throwIfAborted,
  wrapError,
} from '../engine/errors.js';
import { type Plan, call } from '../engine/executors.js';
import {
  type Job,
  applyMetadata,
  createTemp,
  discard,
  inPhase,
  inspectTarget,
  publishSealed,
  withLeftover,
  writeChunks,
} from './replace-plans.js';

/** One file to prepare. */
export interface PrepareItem {
  readonly job: Job;
  readonly bytes: Uint8Array;
}

/** A prepared file: temp created, written, owner and mode applied, descriptor still open. */
export type Prepared =
  | { readonly ok: true; readonly fd: number; readonly created: readonly string[] }
  | { readonly ok: false; readonly error: SerializedError }
  | { readonly ok: false; readonly skipped: true };

/** One file to finish: close and publish it, or only discard it. */
export interface FinishItem {
  readonly job: Job;
  readonly fd: number | undefined;
  readonly created: readonly string[];
  readonly publish: boolean;
}

export type Finished =
  | { readonly status: 'published'; readonly error?: SerializedError | undefined }
  | { readonly status: 'failed'; readonly error: SerializedError }
  | { readonly status: 'discarded'; readonly leftover: string | undefined };

/** Inspect, create the temp exclusively, write, apply owner and mode. Owns the temp on failure. */
function* prepareOne(
  job: Job,
  bytes: Uint8Array,
  signal: AbortSignal | undefined,
): Plan<{ fd: number; created: readonly string[] }> {
  const inspection = yield* inspectTarget(job);
  throwIfAborted(signal, job.dest);
  const temp = yield* createTemp(job, inspection);
  try {
    yield* writeChunks(job, temp.fd, [bytes], signal);
    yield* applyMetadata(job, temp.fd, inspection);
  } catch (error) {
    throw withLeftover(error, yield* discard(job, temp.fd, temp.created));
  }
  return { fd: temp.fd, created: temp.created };
}

/**
 * Prepare each file in turn. With `stopOnError`, the files after the first failure are not
 * started (reported skipped).
 */
export function* prepareBatch(
  items: readonly PrepareItem[],
  stopOnError: boolean,
  signal?: AbortSignal,
): Plan<Prepared[]> {
  const results: Prepared[] = [];
  let stopped = false;
  for (const { job, bytes } of items) {
    if (stopped) {
      results.push({ ok: false, skipped: true });
      continue;
    }
    try {
      results.push({ ok: true, ...(yield* prepareOne(job, bytes, signal)) });
    } catch (error) {
      results.push({ ok: false, error: serializeError(wrapError(error, 'write', job.dest)) });
      stopped = stopOnError;
    }
  }
  return results;
}

/** fsync one prepared file; on failure the descriptor stays open for `finishBatch` to close. */
export function* fsyncPrepared(job: Job, fd: number): Plan<void> {
  yield* inPhase('fsync', job.dest, call('fsync', fd));
}

/**
 * Close every descriptor first (a failed close fails its file, and with `stopOnError` stops
 * the group before anything is published), then in entry order publish each file (rename,
 * or link when create-only) or discard it. No directory fsync (the caller does one per
 * directory). With `stopOnError`, the first failure turns every later publish into a discard.
 */
export function* finishBatch(
  items: readonly FinishItem[],
  stopOnError: boolean,
  signal?: AbortSignal,
): Plan<Finished[]> {
  const results: (Finished | undefined)[] = items.map(() => undefined);
  let stopped = false;
  for (const [i, { job, fd, created, publish }] of items.entries()) {
    if (!publish || fd === undefined) continue;
    try {
      yield* inPhase('close', job.dest, call('close', fd));
    } catch (error) {
      // Closed all the same (a close is never retried): only the temp file is left.
      const failure = withLeftover(
        wrapError(error, 'close', job.dest),
        yield* discard(job, undefined, created),
      );
      results[i] = { status: 'failed', error: serializeError(failure) };
      stopped ||= stopOnError;
    }
  }
  for (const [i, { job, fd, created, publish }] of items.entries()) {
    if (results[i] !== undefined) continue;
    if (!publish || stopped) {
      // Not published: close the descriptor if this pass still holds it, remove the temp.
      results[i] = {
        status: 'discarded',
        leftover: yield* discard(job, publish ? undefined : fd, created),
      };
      continue;
    }
    try {
      yield* publishSealed(job, created, signal);
      results[i] = { status: 'published' };
    } catch (error) {
      const failure = wrapError(error, 'rename', job.dest);
      // committed: linked into place (create-only), but the temp name could not be dropped.
      results[i] = failure.committed
        ? { status: 'published', error: serializeError(failure) }
        : { status: 'failed', error: serializeError(failure) };
      stopped ||= stopOnError;
    }
  }
  return results.map((result) => result ?? { status: 'discarded', leftover: undefined });
}
