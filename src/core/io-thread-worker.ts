/** The I/O thread's side of core/io-thread.ts: run each requested plan synchronously, reply. */
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../engine/errors.js';
import { enterCreate, joinGate, leaveCreate } from './exit-gate.js';
import { openFlagBits } from '../engine/fs.js';
import type { OffloadReply, OffloadRequest } from './io-thread.js';
import { type Call, type Plan, call, runSync } from '../engine/executors.js';
import { errnoError } from '../engine/errors.js';
import { writeWhole } from './replace-plans.js';
import { finishBatch, prepareBatch } from './batch-plans.js';

function planOf(request: OffloadRequest): Plan<unknown> {
  switch (request.name) {
    case 'writeWhole': {
      const [job, chunks, inspected] = request.args;
      return writeWhole(job, chunks, undefined, inspected);
    }
    // toolkit (writeFiles)
    case 'writeFilesPrepare':
      return prepareBatch(...request.args);
    case 'writeFilesFinish':
      return finishBatch(...request.args);
  }
}

/** The calls that create a file: open() with O_CREAT (the temp files of every plan here). */
function creates(step: Call): string | undefined {
  if (step.name !== 'open') return undefined;
  const [path, flags] = step.args as [string, number];
  return (flags & openFlagBits.O_CREAT) !== 0 ? path : undefined;
}

function exiting(path: string): Error {
  return errnoError('ECANCELED', 'open', path, 'the process is exiting');
}

/**
 * Run `plan`, creating files only through the exit gate (exit-gate.ts): once the process's
 * exit handler has run, a creation fails (the plan cleans up as after any failed open), and a
 * creation the exit handler stopped waiting for is undone here.
 */
function* gated<R>(plan: Plan<R>): Plan<R> {
  let step = plan.next();
  while (step.done !== true) {
    const path = creates(step.value);
    if (path !== undefined && !enterCreate()) {
      step = plan.throw(exiting(path));
      continue;
    }
    let result: unknown;
    try {
      result = yield step.value;
    } catch (error) {
      if (path !== undefined) leaveCreate();
      step = plan.throw(error);
      continue;
    }
    if (path !== undefined && !leaveCreate()) {
      // The exit handler may have looked for this temp before it existed: remove it now.
      try {
        yield* call('close', result as number);
      } catch {
        // Closed all the same (a close is never retried).
      }
      try {
        yield* call('unlink', path);
      } catch {
        // Nothing more can be done while the process exits.
      }
      step = plan.throw(exiting(path));
      continue;
    }
    step = plan.next(result);
  }
  return step.value;
}

const gate = (workerData as { gate?: SharedArrayBuffer } | null)?.gate;
if (gate !== undefined) joinGate(gate);

const port = parentPort;
port?.on('message', (request: OffloadRequest) => {
  let reply: OffloadReply;
  try {
    reply = { id: request.id, ok: true, value: runSync(gated(planOf(request))) };
  } catch (error) {
    reply = { id: request.id, ok: false, error: serializeError(error) };
  }
  port.postMessage(reply);
});
// Every module is loaded: tell the caller this thread can take work.
port?.postMessage('ready');
