/**
 * The handle: write a file incrementally into its temp file, then `commit()` it into place
 * or `discard()` it. The handle owns its descriptor; the caller never sees or closes it.
 *
 * Defined outcomes: `commit()` again returns the same promise (the sync twin: a no-op);
 * `discard()` again, or after a commit, does nothing; `write()` or `commit()` after a
 * discard, and `write()` once a commit started, fail with `ERR_ATOMIC_CLOSED`; after a
 * failed write the temp file is already removed and `commit()` rejects with that failure.
 * A commit that is refused (from inside the `fn` of an update of the same file:
 * `ERR_ATOMIC_LOCK_REENTRANT`; the sync twin's while an asynchronous write of the file is
 * pending: `ERR_ATOMIC_SYNC_CONFLICT`) is a failed commit too: the temp file is removed.
 * `await using` / `using` discard an uncommitted handle.
 */
import { Writable } from 'node:stream';
import { HANDLE_BUFFER_BYTES } from './constants.js';
import {
  abortError,
  asError,
  AtomicFsError,
  ownError,
  throwIfAborted,
  wrapError,
} from '../engine/errors.js';
import { trackTemp, untrackTemp } from './exit-handler.js';
import { requireChunk, type Chunk } from './data.js';
import {
  type PreparedCall,
  commitAsync,
  discardAsync,
  discardedAsync,
  discardedSync,
  openTempAsync,
  pathQueue,
  prepareCall,
} from './call.js';
import { optionList } from '../engine/option-keys.js';
import { type WriteOptions, WRITE_KEYS } from './options.js';
import { runSync } from '../engine/executors.js';
import { keyNow } from './target.js';
import { BufferedWriter } from './buffered-writer.js';
import {
  type Job,
  type TempFile,
  commit as commitPlan,
  openTemp,
  withLeftover,
  writeChunks,
} from './replace-plans.js';

type State = 'open' | 'committing' | 'committed' | 'discarded' | 'failed';

/** A file being written; see `openAtomic`. */
export interface AtomicFile extends AsyncDisposable {
  /** The destination, as given. */
  readonly path: string;
  /** The temp file the data goes to until `commit()`. */
  readonly tempPath: string;
  /** Append a chunk (a string is encoded with `encoding`, default the handle's). */
  write(chunk: Chunk, encoding?: BufferEncoding): Promise<void>;
  /**
   * A Node Writable into the temp file, for `pipeline()`. Finishing it does not commit;
   * destroying it with an error discards the handle.
   */
  writable(): Writable;
  /** Publish the file atomically and durably (per the handle's options). */
  commit(): Promise<void>;
  /** Remove the temp file; nothing is published. */
  discard(): Promise<void>;
}

/** The synchronous handle; see `openAtomicSync`. */
export interface AtomicFileSync extends Disposable {
  readonly path: string;
  readonly tempPath: string;
  write(chunk: Chunk, encoding?: BufferEncoding): void;
  commit(): void;
  discard(): void;
}

function closedError(job: Job, what: string, state: State): AtomicFsError {
  return ownError(
    'ERR_ATOMIC_CLOSED',
    'state',
    job.dest,
    `cannot ${what}: the handle is already ${state === 'committing' ? 'committing' : state}`,
  );
}

class Handle implements AtomicFile {
  readonly path: string;
  readonly tempPath: string;
  readonly #job: Job;
  readonly #temp: TempFile;
  readonly #signal: AbortSignal | undefined;
  readonly #encoding: BufferEncoding;
  readonly #writer: BufferedWriter;
  #fd: number | undefined;
  #state: State = 'open';
  #failure: AtomicFsError | undefined;
  #chain: Promise<void> = Promise.resolve();
  #committing: Promise<void> | undefined;
  #discarding: Promise<void> | undefined;
  readonly #onAbort = (): void => {
    // Nobody awaits this discard: a temp it cannot remove stays tracked for the exit handler,
    // and commit() rejects with the abort.
    this.discard().catch(() => undefined);
  };

  constructor(call: PreparedCall, temp: TempFile) {
    this.#job = call.job;
    this.#temp = temp;
    this.#fd = temp.fd;
    this.#signal = call.options.signal;
    this.#encoding = call.options.encoding;
    this.#writer = new BufferedWriter(call.job, temp.fd, call.options.signal);
    this.path = call.job.dest;
    this.tempPath = call.job.tmp;
    if (this.#signal?.aborted === true) this.#onAbort();
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  #refusal(what: string): Error | undefined {
    if (this.#signal?.aborted === true) {
      return abortError(this.#job.dest, this.#signal.reason);
    }
    if (this.#state === 'failed') return this.#failure;
    if (this.#state !== 'open') return closedError(this.#job, what, this.#state);
    return undefined;
  }

  /**
   * Reject with a refusal once a discard under way has settled: an aborted handle discards its
   * temp in the background, and whoever is told of the abort must find the temp gone (or be
   * told it is left).
   */
  #refuse(refusal: Error): Promise<never> {
    const discarding = this.#discarding;
    if (discarding === undefined) return Promise.reject(refusal);
    return discarding.then(
      () => Promise.reject(refusal),
      (error: unknown) =>
        Promise.reject(
          withLeftover(refusal, error instanceof AtomicFsError ? error.leftover : undefined),
        ),
    );
  }

  /** Run `step` after every earlier write; a failure discards the temp file once. */
  #enqueue(step: () => Promise<void>): Promise<void> {
    const result = this.#chain.then(async () => {
      if (this.#failure !== undefined) throw this.#failure;
      try {
        await step();
      } catch (error) {
        throw await this.#fail(error);
      }
    });
    this.#chain = result.catch(() => undefined);
    return result;
  }

  async #fail(error: unknown): Promise<unknown> {
    const fd = this.#fd;
    this.#fd = undefined;
    this.#state = 'failed';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const failure = withLeftover(error, await discardAsync(this.#job, fd, this.#temp.created));
    this.#failure = wrapError(failure, 'write', this.#job.dest);
    return this.#failure;
  }

  write(chunk: Chunk, encoding?: BufferEncoding): Promise<void> {
    const refusal = this.#refusal('write');
    if (refusal !== undefined) return this.#refuse(refusal);
    let bytes: Uint8Array;
    try {
      bytes = requireChunk(chunk, encoding ?? this.#encoding, 'chunk');
    } catch (error) {
      return Promise.reject(asError(error));
    }
    return this.#enqueue(() => this.#writer.add(bytes));
  }

  writable(): Writable {
    return new Writable({
      highWaterMark: HANDLE_BUFFER_BYTES,
      write: (chunk: Buffer, _encoding, callback) => {
        this.write(chunk).then(() => {
          callback();
        }, callback);
      },
      final: (callback) => {
        this.#chain.then(() => {
          callback(this.#failure);
        }, callback);
      },
      destroy: (error, callback) => {
        if (error === null) {
          callback(null);
          return;
        }
        this.discard().then(
          () => {
            callback(error);
          },
          () => {
            callback(error);
          },
        );
      },
    });
  }

  commit(): Promise<void> {
    if (this.#committing !== undefined) return this.#committing;
    const refusal = this.#refusal('commit');
    if (refusal !== undefined) return this.#refuse(refusal);
    this.#state = 'committing';
    this.#committing = this.#commit();
    return this.#committing;
  }

  async #commit(): Promise<void> {
    const job = this.#job;
    // Opened with mkdirs where the directory was missing: it exists now (the temp is in it),
    // and the writes called since it appeared queue by its identity.
    const key = keyNow(job.key, job.dir, job.target);
    // Refused (made from inside the fn of an update of this file, or closing a cycle): the
    // commit never runs, and the temp file is still the handle's to remove.
    const refused = pathQueue.refusal(key, job.dest);
    if (refused !== undefined) {
      await this.#chain;
      if (this.#failure !== undefined) throw this.#failure;
      throw await this.#fail(refused);
    }
    // The commit takes the file's place in its queue now, when commit() is called, as every
    // write does: a write called after commit() runs after it, even while the handle's last
    // bytes are still being flushed (they are flushed inside that place).
    const flushed = this.#flush();
    flushed.catch(() => undefined);
    const progress = { started: false };
    try {
      await pathQueue.add(
        key,
        undefined,
        async () => {
          await flushed;
          progress.started = true;
          this.#signal?.removeEventListener('abort', this.#onAbort);
          // Ownership of the descriptor moves to the commit plan, which closes it exactly once.
          this.#fd = undefined;
          await commitAsync(job, this.#temp, this.#signal);
        },
        { dest: job.dest },
      );
      this.#state = 'committed';
    } catch (error) {
      // A failed write or flush: the handle has already removed its temp file (#fail).
      if (!progress.started) throw this.#failure ?? error;
      const failure = wrapError(error, 'rename', job.dest);
      this.#state = failure.committed ? 'committed' : 'failed';
      this.#failure = failure;
      throw failure;
    }
  }

  /** Every write queued on the handle, then its staged bytes, written to the temp file. */
  async #flush(): Promise<void> {
    await this.#chain;
    if (this.#failure !== undefined) throw this.#failure;
    try {
      await this.#writer.flush();
    } catch (error) {
      throw await this.#fail(error);
    }
  }

  discard(): Promise<void> {
    if (this.#discarding !== undefined) return this.#discarding;
    switch (this.#state) {
      case 'committing':
        // Too late to take back: wait for the commit to settle, publish or not.
        return (this.#committing ?? Promise.resolve()).then(
          () => undefined,
          () => undefined,
        );
      case 'committed':
      case 'failed':
        return Promise.resolve();
      case 'open':
      case 'discarded':
        break;
    }
    this.#state = 'discarded';
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#discarding = this.#chain.then(async () => {
      const fd = this.#fd;
      this.#fd = undefined;
      // A temp file that could not be removed is named (leftover); the exit handler and
      // cleanupTemps still look for it.
      const { error } = await discardedAsync(this.#job, fd, this.#temp.created);
      if (error !== undefined) throw error;
    });
    return this.#discarding;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.discard();
  }
}

const OPEN_ATOMIC = optionList('openAtomic', WRITE_KEYS);
const OPEN_ATOMIC_SYNC = optionList('openAtomicSync', WRITE_KEYS);

/**
 * Open `path` for an atomic replace: the data goes to a temp file beside it, and nothing is
 * visible at `path` until `commit()`.
 *
 * @example
 * import { openAtomic } from 'atomic-fs';
 * await using file = await openAtomic('report.csv');
 * for (const row of rows) await file.write(`${row.join(',')}\n`);
 * await file.commit();
 */
export async function openAtomic(
  path: string | URL,
  options?: WriteOptions | BufferEncoding,
): Promise<AtomicFile> {
  const call = prepareCall(path, options, OPEN_ATOMIC);
  // Its commit would be refused (see `commit`): refuse before a temp file exists.
  const refused = pathQueue.refusal(call.job.key, call.job.dest);
  if (refused !== undefined) throw refused;
  const temp = await openTempAsync(call.job);
  return new Handle(call, temp);
}

class HandleSync implements AtomicFileSync {
  readonly path: string;
  readonly tempPath: string;
  readonly #job: Job;
  readonly #temp: TempFile;
  readonly #encoding: BufferEncoding;
  readonly #signal: AbortSignal | undefined;
  #fd: number | undefined;
  #state: State = 'open';
  #failure: unknown;

  constructor(call: PreparedCall, temp: TempFile) {
    this.#job = call.job;
    this.#temp = temp;
    this.#fd = temp.fd;
    this.#encoding = call.options.encoding;
    this.#signal = call.options.signal;
    this.path = call.job.dest;
    this.tempPath = call.job.tmp;
  }

  #check(what: string): void {
    if (this.#state === 'failed') throw this.#failure;
    if (this.#state !== 'open') throw closedError(this.#job, what, this.#state);
    throwIfAborted(this.#signal, this.#job.dest);
  }

  #fail(error: unknown): unknown {
    const fd = this.#fd;
    this.#fd = undefined;
    this.#state = 'failed';
    const { leftover } = discardedSync(this.#job, fd, this.#temp.created);
    this.#failure = withLeftover(error, leftover);
    return this.#failure;
  }

  write(chunk: Chunk, encoding?: BufferEncoding): void {
    this.#check('write');
    const bytes = requireChunk(chunk, encoding ?? this.#encoding, 'chunk');
    const fd = this.#fd;
    if (fd === undefined) throw closedError(this.#job, 'write', this.#state);
    try {
      runSync(writeChunks(this.#job, fd, [bytes], this.#signal));
    } catch (error) {
      throw this.#fail(error);
    }
  }

  commit(): void {
    if (this.#state === 'committed') return;
    this.#check('commit');
    const fd = this.#fd;
    if (fd === undefined) throw closedError(this.#job, 'commit', this.#state);
    // An asynchronous write of this file is pending: this commit would be overwritten by it.
    const key = keyNow(this.#job.key, this.#job.dir, this.#job.target);
    const refused = pathQueue.syncRefusal(key, this.#job.dest);
    if (refused !== undefined) throw this.#fail(refused);
    this.#fd = undefined;
    this.#state = 'committing';
    try {
      runSync(commitPlan(this.#job, this.#temp, undefined, this.#signal));
      this.#state = 'committed';
    } catch (error) {
      const failure = wrapError(error, 'rename', this.#job.dest);
      this.#state = failure.committed ? 'committed' : 'failed';
      this.#failure = failure;
      throw failure;
    } finally {
      if (this.#state === 'committed') untrackTemp(this.#job.tmp);
    }
  }

  discard(): void {
    if (this.#state !== 'open') return;
    this.#state = 'discarded';
    const fd = this.#fd;
    this.#fd = undefined;
    const { error } = discardedSync(this.#job, fd, this.#temp.created);
    if (error !== undefined) throw error;
  }

  [Symbol.dispose](): void {
    this.discard();
  }
}

/**
 * The synchronous twin of `openAtomic`.
 *
 * @example
 * import { openAtomicSync } from 'atomic-fs';
 * using file = openAtomicSync('out.txt');
 * file.write('hello\n');
 * file.commit();
 */
export function openAtomicSync(
  path: string | URL,
  options?: WriteOptions | BufferEncoding,
): AtomicFileSync {
  const call = prepareCall(path, options, OPEN_ATOMIC_SYNC);
  // Opened from inside the fn of an update of this file: refused as `openAtomic` is, before a
  // temp file exists.
  const refused = pathQueue.refusal(call.job.key, call.job.dest);
  if (refused !== undefined) throw refused;
  // The handle lives across turns of the event loop: a SIGINT between writes removes it.
  trackTemp(call.job.tmp);
  let temp: TempFile;
  try {
    temp = runSync(openTemp(call.job));
  } catch (error) {
    untrackTemp(call.job.tmp);
    throw error;
  }
  return new HandleSync(call, temp);
}
