/**
 * Per-path ordering and coalescing. Jobs for one key run one at a time, in call order. A job
 * that may coalesce replaces a queued (not yet running) job with the same coalescing key:
 * when a burst of writes arrives while one is in flight, only the newest is written, and
 * every superseded caller settles with it once it is durable. A running job is never
 * replaced, and its callers settle with its own outcome only. If the newest data fails in a
 * way older data need not have (a write or fsync error, such as ENOSPC), the newest of the
 * superseded data is written in its place, and so on: a superseded caller only ever gets an
 * outcome its own data could have produced.
 *
 * No silent deadlock within this process, by construction. A job waits only for the jobs
 * ahead of it on its key; no job waits for another key's turn while it holds its own (a
 * writeFiles group takes each file's turn on its own), except a *holder*: a job that runs the
 * caller's code while it holds its key (`update` runs `fn`; a streamed write reads the
 * caller's source until it ends). A holder may wait for any job added from inside that code.
 * Those are the only edges a cycle can be made of, and each is made when a job is added from
 * inside a holder's code, so the queue checks each such add:
 * - re-entry: the key is held by that holder, or by a holder it was itself called from: the
 *   job would wait for a holder that waits for it. Refused with `ERR_ATOMIC_LOCK_REENTRANT`.
 * - a cycle through other keys: the job would wait (through the jobs ahead of it, and what
 *   holders among them wait for) for the holder it is called from. Refused with
 *   `ERR_ATOMIC_DEADLOCK`. This is conservative: code that would never await the job it
 *   added is refused all the same (the queue cannot know what the code will await).
 * A refused add runs nothing: the caller learns it before anything is opened.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type AtomicFsError, ownError } from '../engine/errors.js';

/** What a holder runs while it holds its key: `update`'s `fn`, or a streamed write's source. */
export type HolderKind = 'fn' | 'source';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** One caller's data for a job (a coalesced job has several, oldest first). */
interface Attempt {
  readonly run: () => Promise<void>;
  readonly waiters: Waiter[];
}

interface QueuedJob {
  readonly key: string;
  /** The destination as the caller named it, for errors. */
  readonly dest: string | undefined;
  readonly coalesce: string | undefined;
  readonly attempts: Attempt[];
  /** Whether a failure of the newest attempt is one older data would meet as well. */
  readonly shared: ((error: unknown) => boolean) | undefined;
  readonly holds: HolderKind | undefined;
  /** The live holder from whose code this job was added. */
  readonly origin: QueuedJob | undefined;
  /** Unsettled jobs added (or joined) from inside this holder's code. */
  readonly children: Set<QueuedJob>;
  /** The holders this job is a child of. */
  readonly parents: QueuedJob[];
  settled: boolean;
}

/** How a job is added. */
export interface AddOptions {
  /** The destination as this call named it: the path of a refusal's error. */
  readonly dest?: string | undefined;
  /** The job is a holder (see the module comment). */
  readonly holds?: HolderKind | undefined;
  /**
   * For a coalescing job: true when a failure of the newest data is one every superseded
   * caller's data would meet at the same step (then they share it); else the next older data
   * is written. Without it, older data is always tried.
   */
  readonly shared?: ((error: unknown) => boolean) | undefined;
  /**
   * Called once the job is accepted (never for a refused add), synchronously; for a holder,
   * inside its context: whatever it starts (reading a streamed write's source) is seen as the
   * holder's code. It must not throw.
   */
  readonly begin?: (() => void) | undefined;
}

/** The holder whose code the current asynchronous context is inside. */
const runningIn = new AsyncLocalStorage<QueuedJob>();

/** The innermost live holder of this context: a settled one's code is no longer awaited. */
function liveHolder(): QueuedJob | undefined {
  let job = runningIn.getStore();
  while (job?.settled === true) job = job.origin;
  return job;
}

function* holdersOut(from: QueuedJob | undefined): Generator<QueuedJob> {
  for (let job = from; job !== undefined; job = job.origin) {
    if (!job.settled) yield job;
  }
}

/** The error of a call that would wait for a holder that waits for it. */
export function reentrantError(dest: string, holds: HolderKind = 'fn'): AtomicFsError {
  return ownError(
    'ERR_ATOMIC_LOCK_REENTRANT',
    'lock',
    dest,
    holds === 'fn'
      ? "this file is being updated, and this call was made from inside that update's fn, which holds the file's lock until it returns: waiting would never end (make one update, or write after the update)"
      : 'this call was made from inside the data source of a write of this same file, which holds its place until the source ends: waiting would never end',
  );
}

/** The error of a call that would close a cycle of waits through other files. */
function deadlockError(dest: string, holder: QueuedJob): AtomicFsError {
  return ownError(
    'ERR_ATOMIC_DEADLOCK',
    'lock',
    dest,
    `this call, made from inside the ${holder.holds === 'source' ? 'data source of a write' : 'fn of an update'} of '${holder.dest ?? holder.key}', would wait for work on this file that itself waits, through calls made from inside other updates, for that ${holder.holds === 'source' ? 'write' : 'update'}: waiting would never end (take nested files in one order)`,
  );
}

/** The error of a synchronous write while an asynchronous one of the same file is pending. */
function syncConflictError(dest: string): AtomicFsError {
  return ownError(
    'ERR_ATOMIC_SYNC_CONFLICT',
    'lock',
    dest,
    'an asynchronous write of this file is queued or in progress in this process: a synchronous write cannot wait for it, and would be overwritten by it (await the asynchronous write first)',
  );
}

export class PathQueue {
  readonly #lanes = new Map<string, QueuedJob[]>();

  /** Number of keys with work running or queued. */
  get size(): number {
    return this.#lanes.size;
  }

  /** Whether a job for `key` is running or queued. */
  has(key: string): boolean {
    return this.#lanes.has(key);
  }

  /**
   * Why adding a job for `key` from the current asynchronous context would be refused, or
   * `undefined` if it would be accepted. `add` refuses with the same error.
   */
  refusal(key: string, dest?: string): AtomicFsError | undefined {
    const holder = liveHolder();
    if (holder === undefined) return undefined;
    for (const outer of holdersOut(holder)) {
      if (outer.key === key) return reentrantError(dest ?? outer.dest ?? key, outer.holds);
    }
    const lane = this.#lanes.get(key);
    if (lane === undefined) return undefined;
    // The new job would wait for every job on `key`. Follow what each of those waits for: the
    // jobs ahead of it, and for a holder what its code added. Reaching `holder`: a cycle.
    const seen = new Set<QueuedJob>();
    const stack = [...lane];
    for (let job = stack.pop(); job !== undefined; job = stack.pop()) {
      if (job === holder) return deadlockError(dest ?? lane[0]?.dest ?? key, holder);
      if (seen.has(job) || job.settled) continue;
      seen.add(job);
      if (job.holds !== undefined) stack.push(...job.children);
      const own = this.#lanes.get(job.key) ?? [];
      const at = own.indexOf(job);
      if (at > 0) stack.push(...own.slice(0, at));
    }
    return undefined;
  }

  /**
   * Why a synchronous write of `key` must be refused now, or `undefined`: it cannot wait for
   * the asynchronous work queued or running on the key, and must not overtake it.
   */
  syncRefusal(key: string, dest: string): AtomicFsError | undefined {
    if (!this.#lanes.has(key)) return undefined;
    for (const outer of holdersOut(liveHolder())) {
      if (outer.key === key) return reentrantError(dest, outer.holds);
    }
    return syncConflictError(dest);
  }

  add(
    key: string,
    coalesce: string | undefined,
    run: () => Promise<void>,
    options: AddOptions = {},
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const refused = this.refusal(key, options.dest);
      if (refused !== undefined) {
        reject(refused);
        return;
      }
      const waiter = { resolve, reject };
      const holder = liveHolder();
      const lane = this.#lanes.get(key);
      const last = lane?.at(-1);
      // lane[0] is running; only a job queued behind it may be superseded.
      if (
        coalesce !== undefined &&
        lane !== undefined &&
        lane.length > 1 &&
        last?.coalesce === coalesce
      ) {
        last.attempts.push({ run, waiters: [waiter] });
        if (holder !== undefined) adopt(holder, last);
        return;
      }
      const job: QueuedJob = {
        key,
        dest: options.dest,
        coalesce,
        attempts: [{ run, waiters: [waiter] }],
        shared: options.shared,
        holds: options.holds,
        origin: holder,
        children: new Set(),
        parents: [],
        settled: false,
      };
      if (holder !== undefined) adopt(holder, job);
      if (lane === undefined) this.#lanes.set(key, [job]);
      else lane.push(job);
      // A holder's begin runs inside it; any other job's, in its caller's context.
      if (options.begin !== undefined) {
        if (job.holds === undefined) options.begin();
        else runningIn.run(job, options.begin);
      }
      if (lane === undefined) this.#start(job);
    });
  }

  #start(job: QueuedJob): void {
    // Started synchronously; a run() that throws instead of rejecting rejects all the same.
    void this.#run(job);
  }

  /** Run the newest attempt; fall back to older data while the failure is not shared. */
  async #run(job: QueuedJob): Promise<void> {
    const { attempts } = job;
    const outcomes: ({ ok: true } | { ok: false; error: unknown })[] = [];
    for (let i = attempts.length - 1; i >= 0; i -= 1) {
      const attempt = attempts[i];
      if (attempt === undefined) break;
      try {
        await new Promise<void>((resolve) => {
          resolve(job.holds === undefined ? attempt.run() : runningIn.run(job, attempt.run));
        });
      } catch (error) {
        if (i > 0 && job.shared?.(error) !== true) {
          outcomes[i] = { ok: false, error };
          continue;
        }
        for (let j = 0; j <= i; j += 1) outcomes[j] = { ok: false, error };
        break;
      }
      for (let j = 0; j <= i; j += 1) outcomes[j] = { ok: true };
      break;
    }
    job.settled = true;
    for (const parent of job.parents) parent.children.delete(job);
    job.children.clear();
    // In call order, as if each had been written in turn; the next job starts before any
    // caller resumes, so that a caller sees the key free if nothing else was queued.
    attempts.forEach((attempt, i) => {
      const outcome = outcomes[i];
      for (const waiter of attempt.waiters) {
        if (outcome === undefined || outcome.ok) waiter.resolve();
        else waiter.reject(outcome.error);
      }
    });
    this.#next(job.key);
  }

  #next(key: string): void {
    const lane = this.#lanes.get(key);
    if (lane === undefined) return;
    lane.shift();
    const next = lane[0];
    if (next === undefined) {
      this.#lanes.delete(key);
      return;
    }
    this.#start(next);
  }
}

/** `holder`'s code now waits (or may wait) for `job`. */
function adopt(holder: QueuedJob, job: QueuedJob): void {
  holder.children.add(job);
  job.parents.push(holder);
}

/** The process-wide per-path queue of asynchronous writes. */
export const pathQueue = new PathQueue();
