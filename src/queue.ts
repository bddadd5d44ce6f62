/**
 * Per-path ordering and coalescing. Jobs for one key run one at a time, in call order. A job
 * that may coalesce replaces a queued (not yet running) job with the same coalescing key:
 * when a burst of writes arrives while one is in flight, only the newest is written, and
 * every superseded caller settles with it once it is durable. A running job is never
 * replaced, and its callers settle with its own outcome only.
 */

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface QueuedJob {
  readonly coalesce: string | undefined;
  run: () => Promise<void>;
  readonly waiters: Waiter[];
}

export class PathQueue {
  readonly #lanes = new Map<string, QueuedJob[]>();

  /** Number of keys with work running or queued. */
  get size(): number {
    return this.#lanes.size;
  }

  add(key: string, coalesce: string | undefined, run: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      const lane = this.#lanes.get(key);
      if (lane === undefined) {
        const job = { coalesce, run, waiters: [waiter] };
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
      lane.push({ coalesce, run, waiters: [waiter] });
    });
  }

  #start(key: string, job: QueuedJob): void {
    // Started synchronously; a run() that throws instead of rejecting rejects all the same.
    const outcome = new Promise<void>((resolve) => {
      resolve(job.run());
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
