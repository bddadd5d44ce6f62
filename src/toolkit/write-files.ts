/**
 * writeFiles: many files, each replaced atomically on its own, committed as a group. Not
 * all-or-nothing: after a failure some files may be new and others old (see stopOnError).
 *
 * Each file takes its place in its per-path queue when the call is made (writes to one file
 * keep call order), but never waits for another file's turn while it holds its own: that
 * would be hold-and-wait, and with an `update` of one file whose `fn` writes another, a
 * deadlock. The files whose turns have come go together as a *round* (when nothing else is
 * queued for any of them: all of them, in one round), and a file's turn ends with its round.
 * Rounds run one after another. Each round has three phases:
 * 1. prepare — for each file: look at the destination (only now, when it is this file's turn:
 *    a write queued before has landed, and its mode is kept), create the temp exclusively,
 *    write, fchown/fchmod; then fsync it. The fsyncs run in parallel (bounded) on libuv's
 *    threadpool, so that the file system can put many files in one journal commit; the rest
 *    runs in batches of files per message on the library's I/O thread (plain synchronous
 *    system calls: no threadpool round trip per call), pipelined with the fsyncs.
 * 2. publish — close each prepared file and rename (or link, create-only) it into place, in
 *    entry order. One batch.
 * 3. durability — one fsync per distinct directory, after every rename into it. So every file
 *    is durable before its turn ends, and before the call resolves.
 *
 * The batch plans (core/batch-plans.ts) run on the calling thread instead, in `concurrency`
 * lanes, whenever the fs seam is patched (tests, the crash recorder) or a signal must be
 * watched: one set of plans, two executors.
 *
 * A failure in phase 1 or 2 fails that file alone (its temp removed); a directory fsync that
 * fails marks every file of the round renamed into that directory failed with
 * `committed: true`. With `stopOnError`, the first failure stops the group: nothing more is
 * published — in phase 1, the round publishes nothing (files already prepared are
 * discarded); in phase 2, files already renamed stay, the rest are discarded; files of
 * earlier rounds stay, and later rounds are skipped.
 */
import { dirname } from 'node:path';
import {
  WRITE_FILES_BATCH,
  WRITE_FILES_CONCURRENCY,
  WRITE_FILES_WAIT_FOR_IO_THREAD,
} from './constants.js';
import { type Chunk, chunkBytes } from '../core/data.js';
import { AtomicFsError, deserializeError, invalidArgument, wrapError } from '../engine/errors.js';
import { isPristine, seam } from '../engine/fs.js';
import { trackTemp, untrackTemp } from '../core/exit-handler.js';
import { pathQueue, resolveCall } from '../core/call.js';
import { canOffload, ioThreadReady, offload } from '../core/io-thread.js';
import { type OptionKeys, omitKeys, optionList, optionsObject } from '../engine/option-keys.js';
import {
  type Normalized,
  type WriteOptions,
  WRITE_KEYS,
  normalizeOptions,
  pathOf,
} from '../core/options.js';
import { runAsync } from '../engine/executors.js';
import { fsyncsDirectories } from '../engine/platform.js';
import { type Job, fsyncDirectory, unsyncedOf, withLeftover } from '../core/replace-plans.js';
import { mayHaveLeft } from '../core/exit-handler.js';
import {
  type FinishItem,
  type Finished,
  type PrepareItem,
  type Prepared,
  finishBatch,
  fsyncPrepared,
  prepareBatch,
} from '../core/batch-plans.js';

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
   * Stop at the first failure: nothing more is published. A failure while files are being
   * prepared publishes none of the files prepared with it (they are discarded); a failure
   * while renaming keeps the files renamed before it and discards the rest. When other writes
   * to some of the files are queued, those files go later, in a round of their own: files
   * published in an earlier round stay, later rounds are skipped. Files not published are
   * reported `'skipped'`.
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
  /** Its place in the call's entries (rounds publish in this order). */
  readonly index: number;
  readonly job: Job;
  readonly bytes: Uint8Array;
  state: State;
  /** The temp's descriptor, from prepare until finish closes it. */
  fd: number | undefined;
  created: readonly string[];
  error: AtomicFsError | undefined;
  leftover: string | undefined;
  /** Ends this file's turn in its per-path queue (set when the turn comes). */
  endTurn: (() => void) | undefined;
}

interface Group {
  readonly options: Normalized;
  readonly concurrency: number;
  readonly stopOnError: boolean;
  /** Run the batch plans on the I/O thread (else on this thread); decided before round 1. */
  offloaded: boolean;
  stopped: boolean;
  /** Entries whose turn has come, not yet in a round. */
  readonly ready: Entry[];
  /** While the call takes its places: the turns that come at once make the first round. */
  adding: boolean;
  flushing: boolean;
  /** The rounds so far, one after another. */
  rounds: Promise<void>;
  /** A round that threw (a bug): the call rejects with it. */
  crashed: { readonly error: unknown } | undefined;
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
  return checked.map(({ dest, bytes }, index) => {
    // By path: its plans span two messages to the I/O thread, and a descriptor must stay on one.
    const { job } = resolveCall({ dest, options }, false);
    const earlier = targets.get(job.key);
    if (earlier !== undefined) {
      throw invalidArgument(
        'ERR_INVALID_ARG_VALUE',
        `The "entries" argument names one file twice: '${earlier}' and '${dest}'`,
      );
    }
    targets.set(job.key, dest);
    return {
      index,
      job,
      bytes,
      state: 'pending',
      fd: undefined,
      created: [],
      error: undefined,
      leftover: undefined,
      endTurn: undefined,
    };
  });
}

function fail(group: Group, entry: Entry, error: AtomicFsError): void {
  entry.state = 'failed';
  entry.error = error;
  if (group.stopOnError) group.stopped = true;
}

/** Copies that do not drag a larger backing buffer (Buffer's 8 KiB pool) to the I/O thread. */
function compact(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

async function prepare(group: Group, batch: readonly Entry[]): Promise<Prepared[]> {
  const items: PrepareItem[] = batch.map((entry) => ({
    job: entry.job,
    bytes: group.offloaded ? compact(entry.bytes) : entry.bytes,
  }));
  if (group.offloaded) {
    return (await offload(
      'writeFilesPrepare',
      items[0]?.job.dest ?? '',
      items,
      group.stopOnError,
    )) as Prepared[];
  }
  return runAsync(prepareBatch(items, group.stopOnError, group.options.signal));
}

async function finish(group: Group, items: readonly FinishItem[]): Promise<Finished[]> {
  if (group.offloaded) {
    return (await offload(
      'writeFilesFinish',
      items[0]?.job.dest ?? '',
      items,
      group.stopOnError,
    )) as Finished[];
  }
  return runAsync(finishBatch(items, group.stopOnError, group.options.signal));
}

function errorOf(data: Parameters<typeof deserializeError>[0], dest: string): AtomicFsError {
  return wrapError(deserializeError(data), 'write', dest);
}

/** Run `tasks` with at most `limit` at once. */
async function bounded(limit: number, tasks: readonly (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let task = tasks[next]; task !== undefined; task = tasks[next]) {
      next += 1;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
}

/** Phase 1: prepare in batches; fsync each prepared file as soon as its batch is back. */
async function prepareAll(group: Group, entries: readonly Entry[]): Promise<void> {
  const { options } = group;
  const size = group.offloaded
    ? WRITE_FILES_BATCH
    : Math.max(1, Math.ceil(entries.length / group.concurrency));
  const batches: Entry[][] = [];
  for (let i = 0; i < entries.length; i += size) batches.push(entries.slice(i, i + size));
  const fsyncs: Promise<void>[] = [];
  // The fsyncs share one bound: a queue that batches feed as they come back.
  const waiting: Entry[] = [];
  let running = 0;
  const pump = (): void => {
    while (running < group.concurrency && waiting.length > 0) {
      const entry = waiting.shift();
      if (entry === undefined) break;
      running += 1;
      fsyncs.push(
        fsyncOne(group, entry).finally(() => {
          running -= 1;
          pump();
        }),
      );
    }
  };
  const durable = options.settings.durability !== 'none';
  await bounded(
    // On the I/O thread the batches run one after another anyway: keep one queued behind the
    // one running, so a stopOnError failure wastes at most one batch.
    group.offloaded ? 2 : group.concurrency,
    batches.map((batch) => async () => {
      if (group.stopped) return;
      let results: Prepared[];
      try {
        results = await prepare(group, batch);
      } catch (error) {
        // The I/O thread died: whether temps were created is unknown (they stay tracked).
        for (const entry of batch) fail(group, entry, wrapError(error, 'worker', entry.job.dest));
        return;
      }
      batch.forEach((entry, i) => {
        const result = results[i];
        if (result === undefined || !result.ok) {
          if (result !== undefined && 'error' in result) {
            fail(group, entry, errorOf(result.error, entry.job.dest));
          }
          return; // skipped: stays pending
        }
        entry.state = 'prepared';
        entry.fd = result.fd;
        entry.created = result.created;
        if (durable) {
          waiting.push(entry);
          pump();
        }
      });
    }),
  );
  // fsyncs started by the last batches may still run; new ones are only started by them.
  for (let i = 0; i < fsyncs.length; i += 1) await fsyncs[i];
}

async function fsyncOne(group: Group, entry: Entry): Promise<void> {
  const fd = entry.fd;
  // Once a stopOnError group stopped, prepared files are discarded: no need to fsync them.
  if (fd === undefined || entry.state !== 'prepared' || group.stopped) return;
  try {
    await runAsync(fsyncPrepared(entry.job, fd));
  } catch (error) {
    // The descriptor stays with the entry: finish closes it and removes the temp.
    fail(group, entry, wrapError(error, 'fsync', entry.job.dest));
  }
}

/** Phase 2: close and publish every prepared file in entry order; discard the rest. */
async function publishAll(group: Group, entries: readonly Entry[]): Promise<void> {
  const batch = entries.filter(
    (entry) => entry.state === 'prepared' || (entry.state === 'failed' && entry.fd !== undefined),
  );
  if (batch.length === 0) return;
  const items: FinishItem[] = batch.map((entry) => ({
    job: entry.job,
    fd: entry.fd,
    created: entry.created,
    publish: entry.state === 'prepared' && !group.stopped,
  }));
  let results: Finished[];
  try {
    results = await finish(group, items);
  } catch (error) {
    for (const entry of batch) {
      entry.fd = undefined;
      fail(group, entry, wrapError(error, 'worker', entry.job.dest));
    }
    return;
  }
  batch.forEach((entry, i) => {
    const result = results[i];
    entry.fd = undefined;
    if (result === undefined) return;
    switch (result.status) {
      case 'published':
        entry.state = 'published';
        if (result.error !== undefined) {
          entry.error = errorOf(result.error, entry.job.dest);
          if (group.stopOnError) group.stopped = true;
        }
        break;
      case 'failed':
        fail(group, entry, errorOf(result.error, entry.job.dest));
        break;
      case 'discarded':
        if (entry.state === 'failed') {
          entry.error = withLeftover(entry.error, result.leftover);
        } else {
          entry.state = 'skipped';
          entry.leftover = result.leftover;
        }
        break;
    }
  });
}

async function syncDirectories(group: Group, entries: readonly Entry[]): Promise<void> {
  if (group.options.settings.durability !== 'full' || !fsyncsDirectories(seam.platform)) return;
  const byDir = new Map<string, Entry[]>();
  for (const entry of entries) {
    if (entry.state !== 'published') continue;
    // Its directory, and the parents of directories above it that other writes just made.
    for (const dir of [entry.job.dir, ...unsyncedOf(entry.job).map((made) => dirname(made))]) {
      const list = byDir.get(dir);
      if (list === undefined) byDir.set(dir, [entry]);
      else list.push(entry);
    }
  }
  await bounded(
    group.concurrency,
    [...byDir].map(([dir, published]) => async () => {
      try {
        await runAsync(fsyncDirectory(dir));
      } catch (error) {
        for (const entry of published) {
          entry.error = wrapError(error, 'fsync-dir', entry.job.dest, { committed: true });
        }
      }
    }),
  );
}

/** Whether the batches may run on the I/O thread (starting it for a large group). */
async function offloadable(count: number, signal: AbortSignal | undefined): Promise<boolean> {
  // With a signal, every step checks it on this thread.
  if (signal !== undefined) return false;
  if (canOffload()) return true;
  if (count < WRITE_FILES_WAIT_FOR_IO_THREAD || !isPristine()) return false;
  return (await ioThreadReady()) && canOffload();
}

function settleTracking(entry: Entry): void {
  const mayBeLeft =
    entry.state === 'pending'
      ? false
      : entry.leftover !== undefined || (entry.error !== undefined && mayHaveLeft(entry.error));
  if (!mayBeLeft) untrackTemp(entry.job.tmp);
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

/** One round: the files whose turns have come, prepared, published and made durable. */
async function runRound(group: Group, entries: readonly Entry[]): Promise<void> {
  // After a stopOnError failure nothing more is published: these stay pending (skipped).
  if (group.stopped) return;
  await prepareAll(group, entries);
  await publishAll(group, entries);
  await syncDirectories(group, entries);
}

/** Start a round with every entry whose turn has come (after the rounds before it). */
function flush(group: Group): void {
  group.flushing = false;
  const entries = group.ready.splice(0).sort((a, b) => a.index - b.index);
  if (entries.length === 0) return;
  group.rounds = group.rounds
    .then(() => runRound(group, entries))
    .catch((error: unknown) => {
      group.crashed ??= { error };
    })
    .finally(() => {
      for (const entry of entries) entry.endTurn?.();
    });
}

/** `entry`'s turn has come: it goes with the next round; its turn ends with that round. */
function turn(group: Group, entry: Entry): Promise<void> {
  return new Promise<void>((resolve) => {
    entry.endTurn = resolve;
    group.ready.push(entry);
    // Turns that come in one go (the call's own, or those one finished write frees) share a
    // round; the call's own are flushed once it has taken every place.
    if (!group.adding && !group.flushing) {
      group.flushing = true;
      queueMicrotask(() => {
        flush(group);
      });
    }
  });
}

const WRITE_FILES = optionList('writeFiles', {
  ...omitKeys(WRITE_KEYS, 'coalesce'),
  concurrency: true,
  stopOnError: true,
} satisfies OptionKeys<WriteFilesOptions>);

/**
 * Write many files, each atomically and durably on its own, committed as a group: the files
 * are prepared in parallel (their fsyncs overlap), renamed into place in entry order, and
 * each directory is fsynced once after all renames into it. Each file keeps its place among
 * the other writes to it in this process; a file with writes queued ahead of it is written
 * when its turn comes, in a later round with its own renames and directory fsyncs, while the
 * others go ahead. It is **not** all-or-nothing: resolves, once every file is written and
 * durable, with one outcome per entry, in entry order — `'written'`, `'failed'` (with the
 * error) or `'skipped'` (only with `stopOnError`). It rejects only for invalid arguments, a
 * destination that cannot be resolved, a signal aborted before the call, or a call that could
 * never be served: from inside the `fn` of an update of one of the files
 * (`ERR_ATOMIC_LOCK_REENTRANT`), or closing a cycle of nested updates (`ERR_ATOMIC_DEADLOCK`).
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
  const o = optionsObject<WriteFilesOptions>(options, WRITE_FILES);
  const { concurrency, stopOnError } = settingsOf(o);
  const normalized = normalizeOptions(o, WRITE_FILES);
  const list = entriesOf(pairs, normalized);
  // A file whose turn could never come (this call is made from inside the fn of an update of
  // it, or would close a cycle): refuse the call before anything is touched.
  for (const { job } of list) {
    const refused = pathQueue.refusal(job.key, job.dest);
    if (refused !== undefined) throw refused;
  }
  const group: Group = {
    options: normalized,
    concurrency,
    stopOnError,
    offloaded: false,
    stopped: false,
    ready: [],
    adding: true,
    flushing: false,
    rounds: offloadable(list.length, normalized.signal).then(
      (offloaded) => {
        // A group that creates directories stays on this thread, where other writes see them.
        group.offloaded = offloaded && list.every((entry) => entry.job.missing === undefined);
      },
      () => undefined,
    ),
    crashed: undefined,
  };
  for (const entry of list) trackTemp(entry.job.tmp);
  // Take every file's place in its per-path queue now, in one synchronous step, so that calls
  // keep their order per file. Each place is held only while its own file is written.
  const turns = list.map((entry) =>
    pathQueue.add(entry.job.key, undefined, () => turn(group, entry), { dest: entry.job.dest }),
  );
  group.adding = false;
  flush(group);
  await Promise.all(turns);
  await group.rounds;
  if (group.crashed !== undefined) throw group.crashed.error;
  return list.map((entry) => {
    settleTracking(entry);
    if (entry.state === 'pending') entry.state = 'skipped';
    return outcomeOf(entry);
  });
}
