/**
 * Progress reports of copyFile and download. The caller's callback runs synchronously between
 * two steps; if it throws, the operation stops (nothing is published) and rejects with
 * ERR_ATOMIC_CALLBACK carrying the thrown value as its cause.
 */
import { invalidArgument, ownError } from '../engine/errors.js';

/** How far a copy or download got. */
export interface Progress {
  /** Bytes written to the temp file so far. */
  readonly bytes: number;
  /** Bytes expected in all (the source's size, or Content-Length), when known. */
  readonly total: number | undefined;
}

export type ProgressCallback = (progress: Progress) => void;

/** Validate an `onProgress` option. */
export function progressOf(value: unknown): ProgressCallback | undefined {
  if (value === undefined || typeof value === 'function') {
    return value as ProgressCallback | undefined;
  }
  throw invalidArgument(
    'ERR_INVALID_ARG_TYPE',
    `The option "onProgress" must be a function. Received type ${typeof value}`,
  );
}

/** Call `onProgress`, turning a throw into an AtomicFsError. */
export function report(
  onProgress: ProgressCallback | undefined,
  dest: string,
  bytes: number,
  total: number | undefined,
): void {
  if (onProgress === undefined) return;
  try {
    onProgress({ bytes, total });
  } catch (error) {
    throw ownError(
      'ERR_ATOMIC_CALLBACK',
      'callback',
      dest,
      `onProgress threw: ${error instanceof Error ? error.message : String(error)}`,
      error,
    );
  }
}
