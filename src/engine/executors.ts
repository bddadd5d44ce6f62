/**
 * One plan of steps, two executors. An operation is written once, as a generator that
 * yields the file-system calls it needs (`yield* call('fsync', fd)`); `runSync` performs
 * them with the synchronous seam and `runAsync` with the asynchronous one. A failed call is
 * thrown back into the generator at the `yield`, so the plan's own `try`/`finally` does the
 * cleanup on both paths.
 */
import { seam, type OpName, type Ops } from './fs.js';

export interface Call {
  readonly name: OpName;
  readonly args: readonly unknown[];
}

export type Plan<R> = Generator<Call, R, unknown>;

/** Yield one seam operation and receive its result. */
export function* call<K extends OpName>(
  name: K,
  ...args: Parameters<Ops[K]>
): Generator<Call, ReturnType<Ops[K]>, unknown> {
  return (yield { name, args }) as ReturnType<Ops[K]>;
}

type AnyOp = (...args: readonly unknown[]) => unknown;

/**
 * Close a descriptor when an error is already on its way (or the descriptor was only read):
 * a failure to close is not reported, and the close is never retried, because descriptor
 * numbers are reused at once and a second close could close another file.
 */
export function* closeQuietly(fd: number): Plan<void> {
  try {
    yield* call('close', fd);
  } catch {
    // The error that made us stop, if any, is the one to report.
  }
}

export function runSync<R>(plan: Plan<R>): R {
  let step = plan.next();
  while (step.done !== true) {
    const { name, args } = step.value;
    let result: unknown;
    try {
      result = (seam.sync[name] as AnyOp)(...args);
    } catch (error) {
      step = plan.throw(error);
      continue;
    }
    step = plan.next(result);
  }
  return step.value;
}

export async function runAsync<R>(plan: Plan<R>): Promise<R> {
  let step = plan.next();
  while (step.done !== true) {
    const { name, args } = step.value;
    let result: unknown;
    try {
      result = await (seam.async[name] as (...a: readonly unknown[]) => Promise<unknown>)(...args);
    } catch (error) {
      step = plan.throw(error);
      continue;
    }
    step = plan.next(result);
  }
  return step.value;
}
