/**
 * The workloads, and the harness that interleaves contenders over rounds in one process.
 * Every trial checks its contender's output (right bytes, no temp file left behind) outside
 * the timed region; a problem is recorded with the trial and shown in the report.
 */
import { mkdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Contender, Entry } from './contenders.js';
import { checkBytes, checkNames, checkPattern, patternSource, smallData } from './data.js';
import type { Place } from './places.js';
import { rotation } from './stats.js';

/** One measurement of one contender. */
export interface Trial {
  /** The workload's headline number (ops/s, files/s, MiB/s, or ms for the burst). */
  readonly value: number;
  /** Per-operation latencies in µs, where the workload has operations. */
  readonly latencies?: readonly number[];
  /** Commits (renames onto the destination) seen by inotify, for the burst. */
  readonly commits?: number;
  /** For the burst: ms until every call had returned its promise (work on the calling thread). */
  readonly issuedMs?: number;
  /** Peak growth of the resident set during the write, in bytes. */
  readonly rssGrowth?: number;
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

const WARMUP_MAX_TRIALS = 20;

export type TrialFn = (contender: Contender, round: number) => Promise<Trial>;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function message(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : String(error);
}

/** A directory-safe name for a contender. */
export function slug(name: string): string {
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
    try {
      const start = performance.now();
      const pending = writes.map((data) => write(path, data));
      issued = performance.now() - start;
      settled = await Promise.allSettled(pending);
      elapsed = performance.now() - start;
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
    return { value: elapsed, commits, issuedMs: issued, problems };
  };
}

/** F and the file-count sweep: `files` new files of `size` bytes in one fresh directory. */
export function manyFiles(place: Place, files: number, size: number): TrialFn {
  return async (contender, round) => {
    const writeMany = required(contender.writeMany, contender, 'multi-file write');
    const dir = freshDir(place, `F-${slug(contender.name)}`);
    const count = round < 0 ? Math.min(files, 20) : files;
    const entries: Entry[] = Array.from({ length: count }, (_, i) => ({
      path: join(dir, `file-${String(i).padStart(5, '0')}.txt`),
      data: smallData(size, contender.name, i),
    }));
    contender.reset?.();
    const start = performance.now();
    await writeMany(entries);
    const seconds = (performance.now() - start) / 1000;
    const problems = checkNames(
      dir,
      entries.map((entry) => basename(entry.path)),
    );
    for (const entry of entries) {
      if (problems.length >= 3) break;
      problems.push(...checkBytes(entry.path, entry.data));
    }
    contender.reset?.();
    rmSync(dir, { recursive: true, force: true });
    return { value: count / seconds, problems };
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
