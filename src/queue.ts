/**
 * Per-path ordering and coalescing. Jobs for one key run one at a time, in call order. A job
 * that may coalesce replaces a queued (not yet running) job with the same coalescing key:
 * when a burst of writes arrives while one is in flight, only the newest is written, and
 * every superseded caller settles with it once it is durable. A running job is never
 * replaced, and its callers settle with its own outcome only.
 *
 * A job may declare itself exclusive of re-entry (read-modify-write: `update`): then a job
 * added for the same key from inside its own run — which would wait for the job that waits
 * for it — is refused at once with the error the running job provides, instead of hanging.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface QueuedJob {
  readonly coalesce: string | undefined;
  run: () => Promise<void>;
  readonly waiters: Waiter[];
  /** For a job that refuses re-entry: the error for a job added from inside its run. */
  readonly reentry?: (() => Error) | undefined;
}

/** The job whose run the current asynchronous context is inside, with its key. */
const runningIn = new AsyncLocalStorage<{ readonly key: string; readonly job: QueuedJob }>();

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

  add(
    key: string,
    coalesce: string | undefined,
    run: () => Promise<void>,
    reentry?: () => Error,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      const lane = this.#lanes.get(key);
      const outer = runningIn.getStore();
      if (
        outer?.key === key &&
        outer.job.reentry !== undefined &&
        lane?.[0] === outer.job // still running, not a leftover context
      ) {
        reject(outer.job.reentry());
        return;
      }
      if (lane === undefined) {
        const job = { coalesce, run, waiters: [waiter], reentry };
        this.#lanes.set(key, [job]);
        this.#start(key, job);
        return;
      }
      const last = lane.at(-1);
      // lane[0] is running; only a job queued behind it may be superseded.
      if (coalesce !== undefined && lane.length > 1 && last?.coalesce === coalesce) {
        last.run = run;
        last.waiters.push(waiter);
        return;
      }
      lane.push({ coalesce, run, waiters: [waiter], reentry });
    });
  }

  #start(key: string, job: QueuedJob): void {
    // Started synchronously; a run() that throws instead of rejecting rejects all the same.
    const outcome = new Promise<void>((resolve) => {
      resolve(job.reentry === undefined ? job.run() : runningIn.run({ key, job }, job.run));
    });
    outcome.then(
      () => {
        for (const waiter of job.waiters) waiter.resolve();
        this.#next(key);
      },
      (error: unknown) => {
        for (const waiter of job.waiters) waiter.reject(error);
        this.#next(key);
      },
    );
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
    this.#start(key, next);
  }
}

/** The process-wide per-path queue of asynchronous writes. */
export const pathQueue = new PathQueue();
