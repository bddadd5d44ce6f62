/**
 * writeFiles: many files, each replaced atomically on its own, committed as a group. Not
 * all-or-nothing: after a failure some files may be new and others old (see stopOnError).
 *
 * Three phases:
 * 1. prepare — for each file, with bounded parallelism on libuv's threadpool: look at the
 *    destination, create the temp exclusively, write, fchmod/fchown, fsync, close. Parallel
 *    fsyncs let the file system put many files in one journal commit.
 * 2. publish — rename (or link, create-only) each prepared file into place, in entry order,
 *    each once the per-path queue lets it (writes to one file keep call order).
 * 3. durability — one fsync per distinct directory, after every rename into it.
 *
 * A failure in phase 1 or 2 fails that file alone (its temp removed); a directory fsync that
 * fails marks every file renamed into that directory failed with `committed: true`. With
 * `stopOnError`, the first failure stops the group: in phase 1, nothing is published (files
 * already prepared are discarded); in phase 2, files already renamed stay, the rest are
 * discarded.
 */
import { WRITE_FILES_CONCURRENCY } from './constants.js';
import { type AtomicFsError, invalidArgument, throwIfAborted, wrapError } from './errors.js';
import { type Chunk, chunkBytes } from './data.js';
import { seam } from './fs.js';
import { trackTemp, untrackTemp } from './exit-cleanup.js';
import { type Normalized, type WriteOptions, normalizeOptions, pathOf } from './options.js';
import { pathQueue, resolveCall } from './job.js';
import { type Plan, runAsync } from './plan.js';
import { fsyncsDirectories } from './platform.js';
import {
  type Job,
  createTemp,
  discard,
  fsyncDirectory,
  inspectTarget,
  publishSealed,
  seal,
  withLeftover,
  writeChunks,
} from './steps.js';
import { mayHaveLeft } from './tracked.js';

/** Options of `writeFiles`: the common write options (except `coalesce`), plus these. */
export interface WriteFilesOptions extends Omit<WriteOptions, 'coalesce'> {
  /**
   * Files prepared at once (create, write, fsync, close).
   * @default 16
   * @example
   * import { writeFiles } from 'atomic-fs';
   * await writeFiles(files, { concurrency: 4 });
   */
  readonly concurrency?: number | undefined;

  /**
   * Stop at the first failure. A failure while files are being prepared publishes nothing
   * (prepared files are discarded); a failure while renaming keeps the files renamed before
   * it and discards the rest. Files not published are reported `'skipped'`.
   * @default false
   * @example
   * import { writeFiles } from 'atomic-fs';
   * const results = await writeFiles(files, { stopOnError: true });
   */
  readonly stopOnError?: boolean | undefined;
}

/** What happened to one file of a `writeFiles` call. */
export type WriteFilesOutcome =
  | { readonly path: string; readonly status: 'written' }
  | {
      readonly path: string;
      readonly status: 'failed';
      /** Why; `error.committed` means the new content is in place but its durability unknown. */
      readonly error: AtomicFsError;
    }
  | {
      readonly path: string;
      readonly status: 'skipped';
      /** A temp file that could not be removed (its cleanup failed); the process retries at exit. */
      readonly leftover?: string;
    };

/** The files for `writeFiles`: an object of path → data, or `[path, data]` pairs (a Map). */
export type WriteFilesEntries =
  Readonly<Record<string, Chunk>> | Iterable<readonly [string | URL, Chunk]>;

type State = 'pending' | 'prepared' | 'published' | 'failed' | 'skipped';

interface Entry {
  readonly job: Job;
  readonly bytes: Uint8Array;
  state: State;
  created: readonly string[];
  error: AtomicFsError | undefined;
  leftover: string | undefined;
}

interface Group {
  readonly entries: readonly Entry[];
  readonly options: Normalized;
  readonly concurrency: number;
  readonly stopOnError: boolean;
  stopped: boolean;
}

function pairsOf(entries: unknown): [unknown, unknown][] {
  if (typeof entries !== 'object' || entries === null) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "entries" argument must be an object of path → data or an iterable of [path, data]. Received ${entries === null ? 'null' : `type ${typeof entries}`}`,
    );
  }
  if (Symbol.iterator in entries && typeof entries[Symbol.iterator] === 'function') {
    return Array.from(entries as Iterable<unknown>, (pair, index) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw invalidArgument(
          'ERR_INVALID_ARG_VALUE',
          `The "entries" argument must yield [path, data] pairs; entry ${index} is not one`,
        );
      }
      return [pair[0], pair[1]] as [unknown, unknown];
    });
  }
  return Object.entries(entries);
}

function settingsOf(options: WriteFilesOptions | undefined): {
  concurrency: number;
  stopOnError: boolean;
} {
  const concurrency = options?.concurrency ?? WRITE_FILES_CONCURRENCY;
  if (typeof concurrency !== 'number') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The option "concurrency" must be of type number. Received type ${typeof concurrency}`,
    );
  }
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024) {
    throw invalidArgument(
      'ERR_OUT_OF_RANGE',
      `The option "concurrency" must be an integer from 1 to 1024. Received ${String(concurrency)}`,
    );
  }
  const stopOnError = options?.stopOnError ?? false;
  if (typeof stopOnError !== 'boolean') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The option "stopOnError" must be of type boolean. Received type ${typeof stopOnError}`,
    );
  }
  return { concurrency, stopOnError };
}

/** Validate everything and resolve every destination before anything is touched. */
function entriesOf(pairs: readonly [unknown, unknown][], options: Normalized): Entry[] {
  const checked = pairs.map(([path, data], index) => {
    const dest = pathOf(path, `entries[${index}] path`);
    const bytes = chunkBytes(data, options.encoding);
    if (bytes === undefined) {
      throw invalidArgument(
        'ERR_INVALID_ARG_TYPE',
        `The data for '${dest}' must be a string, Buffer, TypedArray, DataView or ArrayBuffer (writeFiles takes no streams)`,
      );
    }
    return { dest, bytes };
  });
  const targets = new Map<string, string>();
  return checked.map(({ dest, bytes }) => {
    const { job } = resolveCall({ dest, options });
    const earlier = targets.get(job.target);
    if (earlier !== undefined) {
      throw invalidArgument(
        'ERR_INVALID_ARG_VALUE',
        `The "entries" argument names one file twice: '${earlier}' and '${dest}'`,
      );
    }
    targets.set(job.target, dest);
    return { job, bytes, state: 'pending', created: [], error: undefined, leftover: undefined };
  });
}

function fail(group: Group, entry: Entry, error: unknown, phase: 'write' | 'rename'): void {
  entry.state = 'failed';
  entry.error = wrapError(error, phase, entry.job.dest);
  if (!mayHaveLeft(entry.error)) untrackTemp(entry.job.tmp);
  if (group.stopOnError) group.stopped = true;
}

/** Phase 1 for one file: everything up to a closed, fsynced temp file. */
function* preparePlan(
  job: Job,
  bytes: Uint8Array,
  signal: AbortSignal | undefined,
): Plan<readonly string[]> {
  const inspection = yield* inspectTarget(job);
  throwIfAborted(signal, job.dest);
  const temp = yield* createTemp(job, inspection);
  try {
    yield* writeChunks(job, temp.fd, [bytes], signal);
  } catch (error) {
    throw withLeftover(error, yield* discard(job, temp.fd, temp.created));
  }
  yield* seal(job, temp.fd, temp.created, inspection);
  return temp.created;
}

async function prepareAll(group: Group): Promise<void> {
  const { entries, options } = group;
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let entry = entries[next]; entry !== undefined; entry = entries[next]) {
      next += 1;
      if (group.stopped) return;
      trackTemp(entry.job.tmp);
      try {
        entry.created = await runAsync(preparePlan(entry.job, entry.bytes, options.signal));
        entry.state = 'prepared';
      } catch (error) {
        fail(group, entry, error, 'write');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(group.concurrency, entries.length) }, lane));
}

async function publishAll(group: Group): Promise<void> {
  const { options } = group;
  for (const entry of group.entries) {
    if (entry.state !== 'prepared') continue;
    if (group.stopped) {
      // Prepared but not to be published: remove its temp file.
      entry.leftover = await runAsync(discard(entry.job, undefined, entry.created));
      if (entry.leftover === undefined) untrackTemp(entry.job.tmp);
      entry.state = 'skipped';
      continue;
    }
    try {
      await runAsync(publishSealed(entry.job, entry.created, options.signal));
      entry.state = 'published';
      untrackTemp(entry.job.tmp);
    } catch (error) {
      const failure = wrapError(error, 'rename', entry.job.dest);
      if (failure.committed) {
        // Linked into place, but the temp name could not be dropped (create-only).
        entry.state = 'published';
        entry.error = failure;
        if (group.stopOnError) group.stopped = true;
      } else {
        fail(group, entry, failure, 'rename');
      }
    }
  }
}

async function syncDirectories(group: Group): Promise<void> {
  if (group.options.settings.durability !== 'full' || !fsyncsDirectories(seam.platform)) return;
  const byDir = new Map<string, Entry[]>();
  for (const entry of group.entries) {
    if (entry.state !== 'published') continue;
    const list = byDir.get(entry.job.dir);
    if (list === undefined) byDir.set(entry.job.dir, [entry]);
    else list.push(entry);
  }
  const dirs = [...byDir];
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let item = dirs[next]; item !== undefined; item = dirs[next]) {
      next += 1;
      const [dir, published] = item;
      try {
        await runAsync(fsyncDirectory(dir));
      } catch (error) {
        for (const entry of published) {
          entry.error = wrapError(error, 'fsync-dir', entry.job.dest, { committed: true });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(group.concurrency, dirs.length) }, lane));
}

function outcomeOf(entry: Entry): WriteFilesOutcome {
  const path = entry.job.dest;
  if (entry.error !== undefined && entry.state !== 'skipped') {
    return { path, status: 'failed', error: entry.error };
  }
  if (entry.state === 'published') return { path, status: 'written' };
  return entry.leftover === undefined
    ? { path, status: 'skipped' }
    : { path, status: 'skipped', leftover: entry.leftover };
}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

function deferred(): Deferred {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/**
 * Write many files, each atomically and durably on its own, committed as a group: the files
 * are prepared in parallel (their fsyncs overlap), renamed into place in entry order, and
 * each directory is fsynced once after all renames into it. It is **not** all-or-nothing:
 * resolves with one outcome per entry, in entry order — `'written'`, `'failed'` (with the
 * error) or `'skipped'` (only with `stopOnError`). It rejects only for invalid arguments or
 * a signal aborted before the call.
 *
 * @example
 * import { writeFiles } from 'atomic-fs';
 * const results = await writeFiles({ 'out/a.json': a, 'out/b.json': b });
 * const failed = results.filter((r) => r.status !== 'written');
 */
export async function writeFiles(
  entries: WriteFilesEntries,
  options?: WriteFilesOptions,
): Promise<WriteFilesOutcome[]> {
  const pairs = pairsOf(entries);
  if (options !== undefined && (typeof options !== 'object' || (options as unknown) === null)) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "options" argument must be an object. Received type ${typeof options}`,
    );
  }
  const { concurrency, stopOnError } = settingsOf(options);
  const normalized = normalizeOptions(options);
  const list = entriesOf(pairs, normalized);
  const group: Group = {
    entries: list,
    options: normalized,
    concurrency,
    stopOnError,
    stopped: false,
  };
  // Take every file's place in the per-path queue now, in one synchronous step: calls keep
  // their order per file, and two groups can never wait on each other in a cycle.
  const release = deferred();
  const turns = list.map((entry) => {
    const turn = deferred();
    void pathQueue.add(entry.job.target, undefined, () => {
      turn.resolve();
      return release.promise;
    });
    return turn.promise;
  });
  try {
    await prepareAll(group);
    await Promise.all(turns);
    await publishAll(group);
    await syncDirectories(group);
  } finally {
    release.resolve();
  }
  return list.map((entry) => {
    if (entry.state === 'pending') entry.state = 'skipped';
    return outcomeOf(entry);
  });
}
