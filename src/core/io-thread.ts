/**
 * The I/O thread. An atomic replace is about eight system calls; awaited one by one from the
 * event loop, each is a separate trip through libuv's threadpool. Sent here instead, the
 * whole plan runs as synchronous calls on one worker thread: one round trip per write, the
 * event loop never blocked. The thread starts on first use (writes made before it is
 * online run on the calling thread), is unreferenced while idle so it never keeps a process
 * alive, and is bypassed whenever the fs seam is patched (tests, the crash recorder) so that
 * every call stays observable. `ATOMIC_FS_IO_THREAD=0` turns it off. A thread that fails to
 * start (no descriptor or thread left at that moment) or dies is replaced after a backoff;
 * writes run on the calling thread meanwhile.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { IO_THREAD_RETRY_FIRST_MS, IO_THREAD_RETRY_MAX_MS } from './constants.js';
import { type SerializedError, deserializeError, ownError } from '../engine/errors.js';
import { gateMemory } from './exit-gate.js';
import { isPristine } from '../engine/fs.js';
import type { Inspection, Job } from './replace-plans.js';
import type { FinishItem, PrepareItem } from './batch-plans.js';

/**
 * The plans the I/O thread can run, with their arguments. Only whole plans that open and
 * close their own descriptors: Node tracks the descriptors a worker opens and closes them
 * when it exits, so a descriptor must never be opened on one thread and closed on another.
 */
export interface OffloadPlans {
  writeWhole: [job: Job, chunks: readonly Uint8Array[], inspected: Inspection | undefined];
  // toolkit (writeFiles): many files per message
  writeFilesPrepare: [items: readonly PrepareItem[], stopOnError: boolean];
  writeFilesFinish: [items: readonly FinishItem[], stopOnError: boolean];
}

export type OffloadRequest = {
  [K in keyof OffloadPlans]: { id: number; name: K; args: OffloadPlans[K] };
}[keyof OffloadPlans];

export type OffloadReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly dest: string;
}

type Status = 'idle' | 'starting' | 'ready' | 'off';

/** How a thread is made: `new Worker`, unless a test injects a failing start. */
export type ThreadFactory = (url: URL, options: WorkerOptions) => Worker;

const newThread: ThreadFactory = (url, options) => new Worker(url, options);

let status: Status = process.env.ATOMIC_FS_IO_THREAD === '0' ? 'off' : 'idle';
let worker: Worker | undefined;
let online: Promise<boolean> | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();
let factory: ThreadFactory = newThread;
/** When a thread may be started again after a failed start or a death (performance.now()). */
let retryAt = 0;
let backoff = IO_THREAD_RETRY_FIRST_MS;

/**
 * Make the I/O thread with `make` from now on (tests inject a failing start with it); no
 * argument puts `new Worker` back. A thread running now is stopped, and any backoff
 * forgotten, so that the next write starts a thread with `make`.
 */
export async function setThreadFactory(make?: ThreadFactory): Promise<void> {
  factory = make ?? newThread;
  const thread = worker;
  if (thread !== undefined) {
    stop(thread, new Error('the I/O thread was replaced'));
    await thread.terminate();
  }
  retryAt = 0;
  backoff = IO_THREAD_RETRY_FIRST_MS;
}

/**
 * The thread failed to start or died: reject what it was doing, and let a later write start
 * a new one, after a delay that doubles with every failure in a row (bounded): a transient
 * failure (EMFILE, a thread the system could not create) never turns the thread off for good.
 */
function stop(thread: Worker, reason: unknown): void {
  // Events of a thread already replaced are about nothing that is still running.
  if (worker !== thread) return;
  worker = undefined;
  online = undefined;
  retryLater();
  for (const [id, request] of pending) {
    pending.delete(id);
    request.reject(
      ownError(
        'ERR_ATOMIC_WORKER',
        'worker',
        request.dest,
        'the I/O thread stopped during the write; whether the new content was published is unknown',
        reason,
      ),
    );
  }
}

/** No thread now: the next one may start after the backoff, which doubles (bounded). */
function retryLater(): void {
  status = 'idle';
  retryAt = performance.now() + backoff;
  backoff = Math.min(backoff * 2, IO_THREAD_RETRY_MAX_MS);
}

function start(): Promise<boolean> {
  status = 'starting';
  let thread: Worker;
  try {
    // Descriptors opened here are handed to the calling thread, which closes them: the worker
    // must not track them (it would warn on reuse, and close them again when it exits).
    thread = factory(new URL('./io-thread-worker.js', import.meta.url), {
      trackUnmanagedFds: false,
      workerData: { gate: gateMemory() },
    });
  } catch {
    // A bundler or runtime without worker_threads, or a failure of the moment: everything
    // stays on the calling thread until the next attempt.
    retryLater();
    return Promise.resolve(false);
  }
  worker = thread;
  const ready = new Promise<boolean>((resolve) => {
    // One listener for everything: on a Worker, adding a 'message' listener refs it again.
    thread.on('message', (reply: OffloadReply | 'ready') => {
      if (worker !== thread) return;
      if (reply === 'ready') {
        // Every module is loaded (not merely started): the thread can take work.
        if (status === 'starting') status = 'ready';
        backoff = IO_THREAD_RETRY_FIRST_MS;
        resolve(status === 'ready');
        return;
      }
      const request = pending.get(reply.id);
      if (request === undefined) return;
      pending.delete(reply.id);
      if (pending.size === 0) thread.unref();
      if (reply.ok) request.resolve(reply.value);
      else request.reject(deserializeError(reply.error));
    });
    thread.on('error', (error) => {
      stop(thread, error);
      resolve(false);
    });
    thread.on('exit', (code) => {
      stop(thread, new Error(`I/O thread exited with code ${code}`));
      resolve(false);
    });
  });
  // Unreferenced only after the listeners are attached: the thread never keeps a process alive.
  thread.unref();
  return ready;
}

/** Whether a thread may be started now (not turned off, none running, no backoff pending). */
function mayStart(): boolean {
  return status === 'idle' && performance.now() >= retryAt;
}

/**
 * True when a plan may be sent to the I/O thread now. The first call starts the thread (and
 * a call after it failed to start or died starts it again, see `stop`); until it is online
 * the answer is false and the caller runs the plan itself.
 */
export function canOffload(): boolean {
  if (status === 'ready') return isPristine();
  if (mayStart() && isPristine()) online = start();
  return false;
}

/** Start the I/O thread and wait until it can take work (tests use this to be deterministic). */
export async function ioThreadReady(): Promise<boolean> {
  if (mayStart()) online = start();
  const thread = worker;
  if (online === undefined || thread === undefined) return status === 'ready';
  // Someone is waiting for the thread: it keeps the process alive until it is ready.
  thread.ref();
  try {
    return await online;
  } finally {
    if (pending.size === 0) thread.unref();
  }
}

/** Run a plan on the I/O thread. Only call after `canOffload()` returned true. */
export function offload<K extends keyof OffloadPlans>(
  name: K,
  dest: string,
  ...args: OffloadPlans[K]
): Promise<unknown> {
  return send(name, dest, args, []);
}

/**
 * Like `offload`, but the buffers in `moved` go to the I/O thread instead of being copied
 * there: they are unusable here afterwards, so only for memory nobody else holds.
 */
export function offloadMoving<K extends keyof OffloadPlans>(
  moved: readonly ArrayBuffer[],
  name: K,
  dest: string,
  ...args: OffloadPlans[K]
): Promise<unknown> {
  return send(name, dest, args, moved);
}

function send<K extends keyof OffloadPlans>(
  name: K,
  dest: string,
  args: OffloadPlans[K],
  moved: readonly ArrayBuffer[],
): Promise<unknown> {
  const thread = worker;
  if (thread === undefined) {
    return Promise.reject(
      ownError('ERR_ATOMIC_WORKER', 'worker', dest, 'the I/O thread is not running'),
    );
  }
  const id = (nextId += 1);
  return new Promise((resolve, reject) => {
    // Posted first: a message that cannot be sent rejects here and leaves nothing pending.
    try {
      thread.postMessage({ id, name, args }, [...moved]);
    } catch (error) {
      // A runtime may refuse to move a buffer it owns: Node 22+ one marked untransferable
      // (Buffer's pool, buffers Node made itself) with a DataCloneError, Deno one with its own
      // detach key with a TypeError. A refused transfer detaches nothing, so the data is
      // copied instead, as postMessage does without a list; an error that copying does not
      // avoid is thrown by the second call.
      if (moved.length === 0) throw error;
      thread.postMessage({ id, name, args });
    }
    if (pending.size === 0) thread.ref();
    pending.set(id, { resolve, reject, dest });
  });
}
