/** The I/O thread's side of offload.ts: run each requested plan synchronously, reply. */
import { parentPort } from 'node:worker_threads';
import { serializeError } from './errors.js';
import type { OffloadReply, OffloadRequest } from './offload.js';
import { type Plan, runSync } from './plan.js';
import { writeWhole } from './steps.js';
import { finishBatch, prepareBatch } from './write-files-plans.js';

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

const port = parentPort;
port?.on('message', (request: OffloadRequest) => {
  let reply: OffloadReply;
  try {
    reply = { id: request.id, ok: true, value: runSync(planOf(request)) };
  } catch (error) {
    reply = { id: request.id, ok: false, error: serializeError(error) };
  }
  port.postMessage(reply);
});
// Every module is loaded: tell the caller this thread can take work.
port?.postMessage('ready');
