/**
 * The workloads, and the harness that interleaves contenders over rounds in one process.
 * Every trial checks its contender's output (right bytes, no temp file left behind) outside
 * the timed region; a problem is recorded with the trial and shown in the report.
 */
import { mkdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Contender, Entry } from './contenders.js';
import { checkBytes, checkNames, checkPattern, patternSource, smallData } from './data.js';
import type { Place } from './places.js';
import { measureRss } from './probes.js';
import { rotation } from './stats.js';

/** One measurement of one contender. */
export interface Trial {
  /** The workload's headline number (ops/s, files/s, MiB/s, or ms for the burst). */
  readonly value: number;
  /** Per-operation latencies in µs, where the workload has operations. */
  readonly latencies?: readonly number[];
  /** Commits (renames onto the destination) seen by inotify, for the burst. */
  readonly commits?: number;
  /**
   * For the burst and C: ms until every call had returned its promise — the calling thread's
   * work of validating and queueing the calls, while no call can have completed yet.
   */
  readonly issuedMs?: number;
  /** Calls made in the timed region (for per-call figures). */
  readonly calls?: number;
  /** The event loop during the timed region (burst, C). */
  readonly loop?: LoopStats;
  /** Peak growth of the resident set during the write, in bytes. */
  readonly rssGrowth?: number;
  /** Peak resident set of the process during the write, in bytes (the peak-RSS run). */
  readonly peakRss?: number;
  /** The peak could not be reset before the writes: it is the child's since it started. */
  readonly peakSinceStart?: boolean;
  /** Correctness problems found in the output (empty: the output was right). */
  readonly problems: readonly string[];
}

export interface Series {
  readonly contender: Contender;
  readonly trials: Trial[];
  /** Why there are no (or fewer) trials: unavailable, or the error that stopped it. */
  failure: string | undefined;
}

export type Log = (line: string) => void;

/** How the calling thread's event loop fared while a trial ran. */
export interface LoopStats {
  /** Largest and 99th-percentile delay of a 1 ms timer (perf_hooks.monitorEventLoopDelay), ms. */
  readonly delayMaxMs: number;
  readonly delayP99Ms: number;
  /** Time the loop was busy (not waiting for events; performance.eventLoopUtilization), ms. */
  readonly busyMs: number;
  /** Timer samples taken (0: the trial was shorter than one timer period). */
  readonly samples: number;
}

/** The delay histogram's timer period, ms. */
const LOOP_PERIOD_MS = 1;

/**
 * Start watching the event loop; the returned function stops and reports. The delay
 * histogram's timer fires every millisecond, so a call that blocks the loop for longer than
 * that shows up as a delay of about its own length. The histogram records the time between
 * two firings, and nothing for the first firing: the watch starts only once the timer has
 * fired (the few samples of that wait are about zero), and the period is taken off every
 * delay.
 */
export async function watchLoop(): Promise<() => LoopStats> {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_PERIOD_MS });
  histogram.enable();
  // Not reset() after this: that forgets the last firing too, and the next delay with it.
  await sleep(3 * LOOP_PERIOD_MS);
  const before = performance.eventLoopUtilization();
  return () => {
    histogram.disable();
    const used = performance.eventLoopUtilization(before);
    const samples = histogram.count;
    const delay = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_PERIOD_MS);
    return {
      delayMaxMs: samples === 0 ? 0 : delay(histogram.max),
      delayP99Ms: samples === 0 ? 0 : delay(histogram.percentile(99)),
      busyMs: used.active,
      samples,
    };
  };
}

const WARMUP_MAX_TRIALS = 20;

export type TrialFn = (contender: Contender, round: number) => Promise<Trial>;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function message(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

/** A directory-safe name for a contender. */
function slug(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * Run `trial` for every contender, `rounds` times, rotating the start each round (A B C,
 * B C A, C A B, …), after an untimed warm-up of each contender (its warm-up trial, repeated
 * for at least `warmupMs`). A contender whose trial throws
 * is dropped from later rounds, with the error kept for the report.
 */
export async function interleave(
  label: string,
  contenders: readonly Contender[],
  rounds: number,
  warmup: TrialFn | undefined,
  trial: TrialFn,
  log: Log,
  warmupMs = 300,
): Promise<Series[]> {
  const series: Series[] = contenders.map((contender) => ({
    contender,
    trials: [],
    failure: contender.unavailable,
  }));
  for (const entry of series) {
    if (entry.failure !== undefined || warmup === undefined) continue;
    try {
      // At least warmupMs: long enough for JIT tiers and for atomic-fs's I/O thread to come
      // online (until it has, writes run on the calling thread).
      const start = performance.now();
      for (let i = 0; i < WARMUP_MAX_TRIALS; i += 1) {
        await warmup(entry.contender, -1);
        if (performance.now() - start >= warmupMs) break;
      }
    } catch (error) {
      entry.failure = `failed: ${message(error)}`;
    }
  }
  for (let round = 0; round < rounds; round += 1) {
    for (const entry of rotation(series, round)) {
      if (entry.failure !== undefined) continue;
      gc();
      try {
        const result = await trial(entry.contender, round);
        entry.trials.push(result);
        const flag =
          result.problems.length > 0 ? `  WRONG OUTPUT: ${result.problems[0] ?? ''}` : '';
        log(
          `${label} ${entry.contender.name} round ${round + 1}/${rounds}: ${result.value.toFixed(1)}${flag}`,
        );
      } catch (error) {
        entry.failure = `failed: ${message(error)}`;
        log(`${label} ${entry.contender.name}: ${entry.failure}`);
      }
    }
  }
  return series;
}

function required<T>(value: T | undefined, contender: Contender, what: string): T {
  if (value === undefined) throw new Error(`${contender.name} has no ${what}`);
  return value;
}

/** A fresh, empty directory for one trial. */
function freshDir(place: Place, name: string): string {
  const dir = join(place.dir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** S: `ops` awaited writes of `size` bytes to one file (which exists after the warm-up). */
export function sequentialWrites(place: Place, ops: number, size: number): TrialFn {
  return async (contender, round) => {
    const write = required(contender.write, contender, 'async write');
    const dir = join(place.dir, `S-${slug(contender.name)}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'data.bin');
    const count = round < 0 ? Math.min(ops, 20) : ops;
    const writes = Array.from({ length: count }, (_, i) => smallData(size, contender.name, i));
    const latencies: number[] = [];
    const start = performance.now();
    for (const data of writes) {
      const begin = performance.now();
      await write(path, data);
      latencies.push((performance.now() - begin) * 1000);
    }
    const seconds = (performance.now() - start) / 1000;
    const last = writes.at(-1) ?? Buffer.alloc(0);
    const problems = [...checkBytes(path, last), ...checkNames(dir, ['data.bin'])];
    return { value: count / seconds, latencies, problems };
  };
}

/** Sync: `ops` synchronous writes of `size` bytes to one file. */
export function syncWrites(place: Place, ops: number, size: number): TrialFn {
  return (contender, round) => {
    const write = required(contender.writeSync, contender, 'sync write');
    const dir = join(place.dir, `Sync-${slug(contender.name)}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'data.bin');
    const count = round < 0 ? Math.min(ops, 20) : ops;
    const writes = Array.from({ length: count }, (_, i) => smallData(size, contender.name, i));
    const latencies: number[] = [];
    const start = performance.now();
    for (const data of writes) {
      const begin = performance.now();
      write(path, data);
      latencies.push((performance.now() - begin) * 1000);
    }
    const seconds = (performance.now() - start) / 1000;
    const last = writes.at(-1) ?? Buffer.alloc(0);
    const problems = [...checkBytes(path, last), ...checkNames(dir, ['data.bin'])];
    return Promise.resolve({ value: count / seconds, latencies, problems });
  };
}

/**
 * B: `burst` writes to one existing file, issued without awaiting, then all awaited.
 * The value is the total time in ms; commits are the renames onto the file seen by inotify.
 */
export function burstWrites(place: Place, burst: number, size: number): TrialFn {
  return async (contender, round) => {
    const write = required(contender.write, contender, 'async write');
    const dir = freshDir(place, `B-${slug(contender.name)}`);
    const path = join(dir, 'state.json');
    writeFileSync(path, smallData(size, 'initial', 0));
    contender.reset?.();
    const count = round < 0 ? Math.min(burst, 50) : burst;
    const writes = Array.from({ length: count }, (_, i) => smallData(size, contender.name, i));
    const name = basename(path);
    let commits = 0;
    const watcher = watch(dir, (event, filename) => {
      if (event === 'rename' && filename === name) commits += 1;
    });
    let settled: PromiseSettledResult<void>[];
    let elapsed: number;
    let issued: number;
    let loop: LoopStats;
    try {
      const stop = await watchLoop();
      const start = performance.now();
      const pending = writes.map((data) => write(path, data));
      issued = performance.now() - start;
      settled = await Promise.allSettled(pending);
      elapsed = performance.now() - start;
      loop = stop();
      // Let the last inotify events arrive (outside the timed region).
      await sleep(50);
    } finally {
      watcher.close();
    }
    const rejected = settled.filter((result) => result.status === 'rejected').length;
    const last = writes.at(-1) ?? Buffer.alloc(0);
    const problems = [
      ...(rejected > 0 ? [`${rejected} of ${count} writes rejected`] : []),
      ...checkBytes(path, last).map((problem) => `final content is not the last write: ${problem}`),
      ...checkNames(dir, [name]),
    ];
    contender.reset?.();
    rmSync(dir, { recursive: true, force: true });
    return { value: elapsed, commits, issuedMs: issued, calls: count, loop, problems };
  };
}

/** F and the file-count sweep: `files` new files of `size` bytes in one fresh directory. */
export function manyFiles(place: Place, files: number, size: number): TrialFn {
  return async (contender, round) => {
    const writeMany = required(contender.writeMany, contender, 'multi-file write');
    const dir = freshDir(place, `F-${slug(contender.name)}`);
    const count = round < 0 ? Math.min(files, 20) : files;
    const entries = newEntries(dir, count, size, contender.name);
    contender.reset?.();
    const start = performance.now();
    await writeMany(entries);
    const seconds = (performance.now() - start) / 1000;
    const problems = checkEntries(dir, entries);
    contender.reset?.();
    rmSync(dir, { recursive: true, force: true });
    return { value: count / seconds, problems };
  };
}

/** `count` new files of `size` bytes in `dir`, each naming its writer and index. */
export function newEntries(dir: string, count: number, size: number, tag: string): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    path: join(dir, `file-${String(i).padStart(5, '0')}.txt`),
    data: smallData(size, tag, i),
  }));
}

/** Problems with a directory that should hold exactly `entries` (at most a few reported). */
function checkEntries(dir: string, entries: readonly Entry[]): string[] {
  const problems = checkNames(
    dir,
    entries.map((entry) => basename(entry.path)),
  );
  for (const entry of entries) {
    if (problems.length >= 3) break;
    problems.push(...checkBytes(entry.path, entry.data));
  }
  return problems;
}

function rejections(settled: readonly PromiseSettledResult<unknown>[]): string[] {
  const rejected = settled.filter((result) => result.status === 'rejected');
  if (rejected.length === 0) return [];
  const first = rejected[0];
  const reason = first?.status === 'rejected' ? message(first.reason) : '';
  return [`${rejected.length} of ${settled.length} writes rejected (${reason})`];
}

/**
 * C: `files` writes, each to its own new file in one fresh directory, all issued at once and
 * then awaited together (`Promise.all`). Value: files/s; also the time until the last call
 * returned and the event loop meanwhile.
 */
export function concurrentFiles(place: Place, files: number, size: number): TrialFn {
  return async (contender, round) => {
    const write = required(contender.write, contender, 'async write');
    const dir = freshDir(place, `C-${slug(contender.name)}`);
    const count = round < 0 ? Math.min(files, 20) : files;
    const entries = newEntries(dir, count, size, contender.name);
    contender.reset?.();
    const stop = await watchLoop();
    const start = performance.now();
    const pending = entries.map((entry) => write(entry.path, entry.data));
    const issued = performance.now() - start;
    const settled = await Promise.allSettled(pending);
    const seconds = (performance.now() - start) / 1000;
    const loop = stop();
    const problems = [...rejections(settled), ...checkEntries(dir, entries)];
    contender.reset?.();
    rmSync(dir, { recursive: true, force: true });
    return { value: count / seconds, issuedMs: issued, calls: count, loop, problems };
  };
}

/**
 * The concurrency sweep: `files` new files in one fresh directory, written by `writers`
 * concurrent loops, each awaiting its own writes one after another (each loop writes its own
 * files: no two writers share a file). Value: files/s.
 */
export function concurrentWriters(
  place: Place,
  files: number,
  writers: number,
  size: number,
): TrialFn {
  return async (contender, round) => {
    const write = required(contender.write, contender, 'async write');
    const dir = freshDir(place, `W-${slug(contender.name)}`);
    const count = round < 0 ? Math.min(files, Math.max(writers, 16)) : files;
    const entries = newEntries(dir, count, size, contender.name);
    const loops = Math.min(writers, count);
    const shares = Array.from({ length: loops }, (_, w) =>
      entries.filter((_, i) => i % loops === w),
    );
    contender.reset?.();
    const start = performance.now();
    const settled = await Promise.allSettled(
      shares.map(async (share) => {
        for (const entry of share) await write(entry.path, entry.data);
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const problems = [...rejections(settled), ...checkEntries(dir, entries)];
    contender.reset?.();
    rmSync(dir, { recursive: true, force: true });
    return { value: count / seconds, calls: count, problems };
  };
}

/**
 * The peak-RSS run: `files` new files of `size` bytes through a multi-file contender, in a
 * fresh child process (so the figure is the writer's, not this process's heap of results).
 * Value: files/s; also the child's peak resident set and its growth over the writes.
 */
export function peakRss(place: Place, files: number, size: number): TrialFn {
  return (contender) => {
    const dir = freshDir(place, `R-${slug(contender.name)}`);
    try {
      const report = measureRss(contender.name, dir, files, size);
      const problems = checkEntries(dir, newEntries(dir, files, size, contender.name));
      return Promise.resolve({
        value: files / (report.ms / 1000),
        peakRss: report.peak,
        rssGrowth: report.peak - report.before,
        peakSinceStart: !report.reset,
        calls: files,
        problems,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/**
 * L: `total` bytes streamed from an async generator of `chunk`-byte views into a new file.
 * Value: MiB/s. The resident set is sampled before every 16th chunk and at the end.
 */
export function largeStream(place: Place, total: number, chunk: number): TrialFn {
  return async (contender, round) => {
    const stream = required(contender.stream, contender, 'streaming write');
    const dir = join(place.dir, `L-${slug(contender.name)}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'large.bin');
    rmSync(path, { force: true });
    const size = round < 0 ? Math.min(total, 16 * chunk) : total;
    gc();
    const base = process.memoryUsage.rss();
    let peak = base;
    const sample = (index: number): void => {
      if (index % 16 !== 0) return;
      const rss = process.memoryUsage.rss();
      if (rss > peak) peak = rss;
    };
    const start = performance.now();
    await stream(path, patternSource(size, chunk, sample));
    const seconds = (performance.now() - start) / 1000;
    sample(0);
    const problems = [...checkPattern(path, size), ...checkNames(dir, ['large.bin'])];
    rmSync(path, { force: true });
    return { value: size / 2 ** 20 / seconds, rssGrowth: peak - base, problems };
  };
}

/**
 * Size sweep: `writes` whole-buffer writes of `data` (the first bytes of the large-content
 * pattern, see data.ts) to one file; value MiB/s.
 */
export function sizedWrites(place: Place, data: Uint8Array, writes: number): TrialFn {
  return async (contender, round) => {
    const write = required(contender.write, contender, 'async write');
    const dir = join(place.dir, `size-${slug(contender.name)}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'data.bin');
    const count = round < 0 ? 1 : writes;
    const start = performance.now();
    for (let i = 0; i < count; i += 1) await write(path, data);
    const seconds = (performance.now() - start) / 1000;
    const problems = [...checkPattern(path, data.byteLength), ...checkNames(dir, ['data.bin'])];
    rmSync(path, { force: true });
    return { value: (data.byteLength * count) / 2 ** 20 / seconds, problems };
  };
}
