/**
 * writeFile and writeFileSync: the core of the library. See docs/design.md for what they
 * guarantee; every step is in core/replace-plans.ts.
 */
import { AtomicFsError, ownError, throwIfAborted } from '../engine/errors.js';
import {
  type Data,
  chunkBytes,
  chunkSource,
  invalidData,
  requireChunk,
  viewBytes,
} from './data.js';
import {
  type PreparedCall,
  coalesceKey,
  commitAsync,
  discardAsync,
  openTempAsync,
  pathQueue,
  resolveCall,
  runWhole,
  validateCall,
} from './call.js';
import { optionList } from '../engine/option-keys.js';
import { type WriteOptions, WRITE_KEYS } from './options.js';
import { runSync } from '../engine/executors.js';
import { BufferedWriter } from './buffered-writer.js';
import {
  type Job,
  type TempFile,
  inspectionOf,
  withLeftover,
  writeWhole,
} from './replace-plans.js';

/** Read a streaming source into the temp file; on any failure the temp file is removed. */
async function fill(
  call: PreparedCall,
  source: AsyncIterable<unknown> | Iterable<unknown>,
): Promise<TempFile> {
  const { job, options } = call;
  const temp = await openTempAsync(job);
  const writer = new BufferedWriter(job, temp.fd, options.signal);
  try {
    let reading = true;
    try {
      for await (const chunk of source) {
        reading = false;
        throwIfAborted(options.signal, job.dest);
        await writer.add(requireChunk(chunk, options.encoding, 'chunk read from the data source'));
        reading = true;
      }
    } catch (error) {
      if (!reading || error instanceof AtomicFsError || error instanceof TypeError) throw error;
      throw ownError(
        'ERR_ATOMIC_SOURCE',
        'read-source',
        job.dest,
        `the data source failed: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    }
    await writer.flush();
    throwIfAborted(options.signal, job.dest);
  } catch (error) {
    throw withLeftover(error, await discardAsync(job, temp.fd, temp.created));
  }
  return temp;
}

/**
 * Whether a failure of the newest of several coalesced writes is one the older data would meet
 * at the same step too: then the superseded callers share it. Not so for the steps whose
 * outcome depends on the data (writing it, flushing it: ENOSPC, EDQUOT, EFBIG; a close may
 * report a deferred write error), nor for a lost I/O thread: then the older data is written
 * itself. A failure after the rename (`committed`) is shared: the newest data is in place.
 */
function sharedFailure(error: unknown): boolean {
  if (!(error instanceof AtomicFsError)) return true;
  if (error.committed) return true;
  return !['write', 'fsync', 'close', 'worker'].includes(error.phase);
}

/**
 * Take the file's turn for data that is filled in meanwhile (a streamed source, a download),
 * and publish it when the turn comes. `fill` starts only once the turn is taken: a refused
 * call opens nothing. It starts inside the job's context, so that a write made from inside
 * the source is seen as one (the job holds its place until the source ends). Behind a write
 * that makes the file's directory (`job.behind`) it starts only in its turn, once that
 * directory exists.
 */
export function publishFilled(
  job: Job,
  signal: AbortSignal | undefined,
  fill: () => Promise<TempFile>,
  holds?: 'source',
): Promise<void> {
  let filled: Promise<TempFile> | undefined;
  return pathQueue.add(
    job.key,
    undefined,
    async () => {
      // `begin` has run: the queue calls it before it starts the job.
      await commitAsync(job, await (filled ?? fill()), signal);
    },
    {
      dest: job.dest,
      holds,
      ...(job.behind === true
        ? {}
        : {
            begin: () => {
              filled = fill();
              // A failed fill removed its own temp; the run reports the failure.
              filled.catch(() => undefined);
            },
          }),
    },
  );
}

const WRITE_FILE = optionList('writeFile', WRITE_KEYS);
const WRITE_FILE_SYNC = optionList('writeFileSync', WRITE_KEYS);

/**
 * Replace `path` atomically and durably with `data`.
 *
 * Readers see the old content or the new, never a mix; after a power cut at any moment the
 * file is old or new; once the promise resolves (durability `'full'`) the new content, mode
 * and owner survive a power cut. On failure nothing at `path` has changed and no temp file
 * is left. Writes to one file keep call order; a burst is coalesced.
 *
 * @param data A string, Buffer, TypedArray, DataView or ArrayBuffer; or an iterable, async
 * iterable, Node Readable or web ReadableStream of those (read with backpressure, in
 * bounded memory).
 * @example
 * import { writeFile } from 'atomic-fs';
 * await writeFile('config.json', JSON.stringify(config));
 */
export async function writeFile(
  path: string | URL,
  data: Data,
  options?: WriteOptions | BufferEncoding,
): Promise<void> {
  const valid = validateCall(path, options, WRITE_FILE);
  const bytes = chunkBytes(data, valid.options.encoding);
  const source = bytes === undefined ? chunkSource(data) : undefined;
  if (bytes === undefined && source === undefined) throw invalidData(data, false);
  const call = resolveCall(valid);
  const { job } = call;
  const { signal } = call.options;
  if (bytes !== undefined) {
    // Run at once (nothing queued for this file): what resolving saw is still current, and
    // the plan need not look again.
    let now = true;
    const written = pathQueue.add(
      job.key,
      coalesceKey(call.options, job.target),
      // `bytes` is this call's own copy (see chunkBytes): it may move to the I/O thread.
      () => runWhole(job, [bytes], signal, now ? inspectionOf(job, call.stats) : undefined, true),
      { dest: job.dest, shared: sharedFailure },
    );
    now = false;
    return written;
  }
  // Reading starts now; publishing waits for the writes called before this one.
  return publishFilled(job, signal, () => fill(call, source ?? []), 'source');
}

/**
 * The synchronous twin of `writeFile`, for strings and bytes. It cannot wait for asynchronous
 * writes of the same file queued or in flight in this process, and would be overwritten by
 * them: it fails at once with `ERR_ATOMIC_SYNC_CONFLICT` then (`ERR_ATOMIC_LOCK_REENTRANT` from
 * inside the `fn` of an asynchronous update of the file), and writes nothing.
 *
 * @example
 * import { writeFileSync } from 'atomic-fs';
 * writeFileSync('state.json', JSON.stringify(state));
 */
export function writeFileSync(
  path: string | URL,
  data: string | NodeJS.ArrayBufferView | ArrayBuffer,
  options?: WriteOptions | BufferEncoding,
): void {
  const valid = validateCall(path, options, WRITE_FILE_SYNC);
  // Written before this returns: no copy needed to capture it.
  const bytes = viewBytes(data, valid.options.encoding);
  if (bytes === undefined) throw invalidData(data, true);
  const call = resolveCall(valid);
  const refused = pathQueue.syncRefusal(call.job.key, call.job.dest);
  if (refused !== undefined) throw refused;
  runSync(writeWhole(call.job, [bytes], call.options.signal, inspectionOf(call.job, call.stats)));
}
