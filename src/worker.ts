/** The I/O thread's side of offload.ts: run each requested plan synchronously, reply. */
import { parentPort } from 'node:worker_threads';
import { serializeError } from './errors.js';
import type { OffloadReply, OffloadRequest } from './offload.js';
import { type Plan, runSync } from './plan.js';
import { commit, openTemp, writeWhole } from './steps.js';

function planOf(request: OffloadRequest): Plan<unknown> {
  switch (request.name) {
    case 'writeWhole':
      return writeWhole(...request.args);
    case 'openTemp':
      return openTemp(...request.args);
    case 'commit':
      return commit(...request.args);
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
