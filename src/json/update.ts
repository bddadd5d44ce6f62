/**
 * Read-modify-write under a cross-process lock: `update` and `updateSync`. The current
 * content is read, handed to the caller's `fn`, and what `fn` returns is written with the
 * core atomic replace — all while holding the file's lock (lock.ts), so that concurrent
 * processes and concurrent calls in one process never lose each other's updates.
 */
import { type Chunk, chunkBytes } from '../core/data.js';
import {
  abortError,
  errnoError,
  errorCode,
  invalidArgument,
  ownError,
  wrapError,
} from '../engine/errors.js';
import { notRegularFile, specialKind } from '../engine/file-type.js';
import { flags } from '../engine/fs.js';
import { pathQueue, resolveCall, runWhole, validateCall } from '../core/call.js';
import {
  type LockOptions,
  type LockWait,
  lockWaitOf,
  syncLockRefusal,
  withLock,
  withLockSync,
} from './lock.js';
import {
  type OptionKeys,
  type OptionList,
  omitKeys,
  optionList,
  optionsObject,
} from '../engine/option-keys.js';
import { type Normalized, type WriteOptions, WRITE_KEYS } from '../core/options.js';
import { type Plan, call, closeQuietly, runAsync, runSync } from '../engine/executors.js';
import { type Job, writeWhole } from '../core/replace-plans.js';
import { nameIn } from '../core/target-dir.js';

/**
 * Options of `update` and `updateSync`: the write options (except `overwrite` and
 * `coalesce`: an update always replaces, and is never merged with another) and the lock's.
 */
export interface UpdateOptions
  extends Omit<WriteOptions, 'overwrite' | 'coalesce' | 'signal'>, LockOptions {}

/** The `fn` of `update`: new content, or `undefined` to leave the file as it is. */
export type UpdateFunction = (
  current: Buffer | undefined,
) => Chunk | undefined | PromiseLike<Chunk | undefined>;

/** The `fn` of `updateSync`. */
export type UpdateSyncFunction = (current: Buffer | undefined) => Chunk | undefined;

/** An update call, validated and resolved. */
export interface PreparedUpdate {
  readonly job: Job;
  readonly options: Normalized;
  readonly wait: LockWait;
}

/** What a transform decided: the bytes to write (none: leave the file), and the result. */
export interface Outcome<R> {
  readonly write: Uint8Array | undefined;
  readonly result: R;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' ? `an instance of ${name}` : 'object';
  }
  return `type ${typeof value}`;
}

function refusal(kind: string, path: string, dest: string): Error {
  return notRegularFile(kind, 'read', dest, path, 'the file', 'only regular files are read');
}

/** Refuse `path` if it is a special file (its open failed); else return, to report that. */
function* refuseSpecial(path: string, dest: string): Plan<void> {
  let kind: string | undefined;
  try {
    kind = specialKind(yield* call('stat', path));
  } catch {
    // The open's error is the one to report.
  }
  if (kind !== undefined) throw refusal(kind, path, dest);
}

/**
 * `overwrite` is a write option no update has: it always replaces the file. Said so, before
 * the unknown-option check would call it unknown.
 */
export function refuseOverwrite(options: unknown): void {
  if (typeof options !== 'object' || options === null) return;
  if ((options as { overwrite?: unknown }).overwrite === undefined) return;
  throw invalidArgument(
    'ERR_INVALID_ARG_VALUE',
    'The option "overwrite" cannot be used with an update: an update always replaces the file',
  );
}

/** The options of update and updateSync. */
export const UPDATE_KEYS: OptionKeys<UpdateOptions> = {
  ...omitKeys(WRITE_KEYS, 'overwrite', 'coalesce', 'signal'),
  timeoutMs: true,
  signal: true,
};

const UPDATE = optionList('update', UPDATE_KEYS);
const UPDATE_SYNC = optionList('updateSync', UPDATE_KEYS);

/**
 * Validate an update call (`fn`, path, options) and resolve where it lands; `list`: the
 * options the calling function accepts.
 */
export function prepareUpdate(
  path: unknown,
  fn: unknown,
  options: unknown,
  list: OptionList,
): PreparedUpdate {
  if (typeof fn !== 'function') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "fn" argument must be of type function. Received ${typeName(fn)}`,
    );
  }
  refuseOverwrite(options);
  const o = optionsObject<WriteOptions & LockOptions>(options, list);
  const valid = validateCall(path, o, list);
  const wait = lockWaitOf(o.timeoutMs, valid.options.signal);
  const { job, options: normalized } = resolveCall(valid);
  return { job, options: normalized, wait };
}

/**
 * Read a whole file: its bytes, or `undefined` if it does not exist (when `missingOk`).
 * Only a regular file is read: the open never blocks (O_NONBLOCK: a FIFO with no writer would
 * block it forever, holding the lock), and anything but a regular file is refused with
 * `ERR_ATOMIC_NOT_REGULAR_FILE` before a byte is read. Every descriptor is closed exactly
 * once; failures are in phase `read`.
 */
export function* readCurrent(
  path: string,
  dest: string,
  missingOk = true,
): Plan<Buffer | undefined> {
  let fd: number;
  try {
    fd = yield* call('open', path, flags.read, 0);
  } catch (error) {
    if (missingOk && errorCode(error) === 'ENOENT') return undefined;
    // A socket cannot be opened at all (ENXIO): say what it is.
    if (errorCode(error) === 'ENXIO') yield* refuseSpecial(path, dest);
    throw wrapError(error, 'read', dest);
  }
  let open: number | undefined = fd;
  try {
    const stats = yield* call('fstat', fd);
    if (stats.isDirectory()) {
      throw errnoError('EISDIR', 'read', path, 'illegal operation on a directory');
    }
    const kind = specialKind(stats);
    if (kind !== undefined) throw refusal(kind, path, dest);
    // The size is a hint: the file may grow or shrink while it is read.
    let buffer = Buffer.allocUnsafe(Math.max(stats.size + 1, 4096));
    let length = 0;
    for (;;) {
      if (length === buffer.byteLength) {
        const larger = Buffer.allocUnsafe(buffer.byteLength * 2);
        buffer.copy(larger, 0, 0, length);
        buffer = larger;
      }
      const count = yield* call('read', fd, buffer, length, buffer.byteLength - length, null);
      if (count === 0) break;
      length += count;
    }
    open = undefined;
    yield* call('close', fd);
    return buffer.subarray(0, length);
  } catch (error) {
    throw wrapError(error, 'read', dest);
  } finally {
    // The read error is the one to report.
    if (open !== undefined) yield* closeQuietly(open);
  }
}

/**
 * Under the lock: read, transform, write what the transform decided. The whole
 * read-modify-write takes one place in this process's per-file queue when it is called, so
 * it sees every write called before it and is seen by every write called after it. While it
 * waits there, its `timeoutMs` and `signal` apply as they do to the lock.
 */
export function runUpdate<R>(
  { job, options, wait }: PreparedUpdate,
  transform: (current: Buffer | undefined) => Promise<Outcome<R>>,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let started = false;
    let gaveUp = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopWatching = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      wait.signal?.removeEventListener('abort', onAbort);
    };
    const giveUp = (error: Error): void => {
      // Once started, the lock's own wait honours the deadline and the signal.
      if (started) return;
      gaveUp = true;
      stopWatching();
      reject(error);
    };
    const onAbort = (): void => {
      giveUp(abortError(job.dest, wait.signal?.reason));
    };
    const remaining = wait.deadline - performance.now();
    if (remaining !== Number.POSITIVE_INFINITY) {
      timer = setTimeout(
        () => {
          giveUp(
            ownError(
              'ERR_ATOMIC_LOCK_TIMEOUT',
              'lock',
              job.dest,
              `waited ${wait.timeoutMs} ms behind earlier writes of this file in this process; nothing was written`,
            ),
          );
        },
        Math.max(0, remaining),
      );
    }
    wait.signal?.addEventListener('abort', onAbort, { once: true });
    let result: R;
    pathQueue
      .add(
        job.key,
        undefined,
        async () => {
          if (gaveUp) return;
          started = true;
          stopWatching();
          // withLock pins the file's directory: the read and the write go through it too.
          result = await withLock(job, wait, async () => {
            const current = await runAsync(readCurrent(nameIn(job, job.target), job.dest));
            const outcome = await transform(current);
            if (outcome.write !== undefined) await runWhole(job, [outcome.write], options.signal);
            return outcome.result;
          });
        },
        // fn runs while this job holds the file's turn: what fn adds is checked for cycles.
        { dest: job.dest, holds: 'fn' },
      )
      .then(
        () => {
          resolve(result);
        },
        (error: unknown) => {
          stopWatching();
          // fn's own error passes through as it is, whatever fn threw.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(error);
        },
      );
  });
}

/**
 * The synchronous twin of `runUpdate`. It cannot wait for asynchronous work on the file in
 * this process: an update holding the lock is `ERR_ATOMIC_LOCK_REENTRANT` (as a nested call
 * is), any other queued or running write `ERR_ATOMIC_SYNC_CONFLICT`.
 */
export function runUpdateSync<R>(
  { job, options, wait }: PreparedUpdate,
  transform: (current: Buffer | undefined) => Outcome<R>,
): R {
  const refused = syncLockRefusal(job) ?? pathQueue.syncRefusal(job.key, job.dest);
  if (refused !== undefined) throw refused;
  return withLockSync(job, wait, () => {
    const current = runSync(readCurrent(nameIn(job, job.target), job.dest));
    const outcome = transform(current);
    if (outcome.write !== undefined) runSync(writeWhole(job, [outcome.write], options.signal));
    return outcome.result;
  });
}

/** True for a promise or any other thenable (which a synchronous `fn` must not return). */
export function isThenable(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** A copy for `fn`, which may change it: the original stays for the comparison. */
function copyOf(current: Buffer | undefined): Buffer | undefined {
  return current === undefined ? undefined : Buffer.from(current);
}

function decide(
  current: Buffer | undefined,
  returned: unknown,
  encoding: BufferEncoding,
  sync: boolean,
): Outcome<Buffer | undefined> {
  if (returned === undefined) return { write: undefined, result: current };
  const bytes = chunkBytes(returned, encoding);
  if (bytes === undefined || (sync && isThenable(returned))) {
    throw invalidArgument(
      'ERR_INVALID_RETURN_VALUE',
      `Expected fn to return a string, Buffer, TypedArray, DataView, ArrayBuffer or undefined${
        sync ? '' : ' (or a promise of one)'
      }. Received ${isThenable(returned) ? 'a promise (use update, not updateSync)' : typeName(returned)}`,
    );
  }
  const result = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The same bytes: nothing to write.
  if (current?.equals(bytes) === true) return { write: undefined, result: current };
  return { write: bytes, result };
}

/**
 * Read-modify-write `path` under a cross-process exclusive lock. `fn` receives the current
 * content (a Buffer, or `undefined` if the file does not exist) and returns the new content;
 * returning `undefined` or the same bytes writes nothing. If `fn` throws, nothing is written
 * and its error is rethrown as it is. Resolves with the content now in the file.
 *
 * @example
 * import { update } from 'atomic-fs';
 * await update('visits.log', (old) => `${old ?? ''}${new Date().toISOString()}\n`);
 */
export async function update(
  path: string | URL,
  fn: UpdateFunction,
  options?: UpdateOptions,
): Promise<Buffer | undefined> {
  const prepared = prepareUpdate(path, fn, options, UPDATE);
  const { encoding } = prepared.options;
  return runUpdate(prepared, async (current) =>
    decide(current, await fn(copyOf(current)), encoding, false),
  );
}

/**
 * The synchronous twin of `update`. It blocks the thread while it waits for the lock; it
 * fails with `ERR_ATOMIC_LOCK_REENTRANT` if an asynchronous update of the same file is in
 * flight in this process (waiting for it would block it forever), and with
 * `ERR_ATOMIC_SYNC_CONFLICT` if another asynchronous write of it is queued or in progress (it
 * would land after this update and overwrite it).
 *
 * @example
 * import { updateSync } from 'atomic-fs';
 * updateSync('counter.txt', (old) => String(Number(old ?? 0) + 1));
 */
export function updateSync(
  path: string | URL,
  fn: UpdateSyncFunction,
  options?: UpdateOptions,
): Buffer | undefined {
  const prepared = prepareUpdate(path, fn, options, UPDATE_SYNC);
  const { encoding } = prepared.options;
  return runUpdateSync(prepared, (current) => decide(current, fn(copyOf(current)), encoding, true));
}
