/**
 * Looking inside: system calls per write under strace, a CPU profile of atomic-fs, and the
 * cost of one trip through libuv's threadpool and through a worker thread. Each probe runs
 * in a child process (or on a quiet loop) so that it does not disturb the timed workloads.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  MARK_END,
  MARK_START,
  type TracedCall,
  countByName,
  isFileCall,
  median,
  parseStrace,
} from './stats.js';
import { type ListedCall, listCalls } from './syscalls.js';

const CHILD = new URL('./child.js', import.meta.url).pathname;

/**
 * How the child drives the writer: awaited overwrites of one file (`async`), synchronous
 * ones (`sync`), a burst of un-awaited overwrites of one file (`burst`, like workload B), or
 * un-awaited writes each to its own new file (`concurrent`, like workload C).
 */
export type TraceMode = 'async' | 'sync' | 'burst' | 'concurrent';

export interface SyscallCount {
  readonly contender: string;
  readonly mode: TraceMode;
  readonly writes: number;
  /** Every system call of every thread, per write. */
  readonly total: number;
  /** File-system calls per write (on files and directories, not eventfds or pipes). */
  readonly file: number;
  /** File-system calls per write, by name, most frequent first. */
  readonly fileByName: readonly (readonly [string, number])[];
  /**
   * File-system calls per write made on the calling thread (the main thread, whose thread id
   * is the process id): each can block the event loop for as long as the file system takes.
   */
  readonly calling: number;
  readonly callingByName: readonly (readonly [string, number])[];
  /** The other calls per write (thread hand-offs, memory), most frequent first. */
  readonly otherByName: readonly (readonly [string, number])[];
  /**
   * Writes to an eventfd per write: each wakes an event loop, once per threadpool call that
   * completes and once per message between threads, so they count the thread hand-offs.
   */
  readonly wakeups: number;
  /** True if io_uring was used (it hides file-system calls from strace). */
  readonly ioUring: boolean;
}

export type Probe<T> = { ok: T } | { skipped: string };

/** Whether strace can run here, or why not. */
export function straceAvailable(): string | undefined {
  if (process.platform !== 'linux') return `strace needs Linux (${process.platform})`;
  const probe = spawnSync('strace', ['-V'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) return 'strace is not installed';
  return undefined;
}

function perWrite(counts: Map<string, number>, writes: number): [string, number][] {
  return [...counts.entries()]
    .map(([name, count]): [string, number] => [name, count / writes])
    .filter(([, value]) => value >= 0.05)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** The calls of a traced child between its two markers, and its calling thread's id. */
interface TracedWindow {
  readonly calls: TracedCall[];
  /** The thread that made the marker calls: the main thread (its id is the process id). */
  readonly mainPid: number;
}

/**
 * Run the child (child.ts) with `args` under `strace -f -y` (UV_USE_IO_URING=0, so libuv's
 * io_uring cannot hide calls) and keep the calls between its two markers.
 */
function traceChild(args: readonly string[], dir: string): Probe<TracedWindow> {
  const log = join(dir, `strace-${process.pid}.log`);
  const run = spawnSync(
    'strace',
    ['-f', '-qq', '-y', '-o', log, process.execPath, CHILD, ...args],
    {
      encoding: 'utf8',
      env: { ...process.env, UV_USE_IO_URING: '0' },
      timeout: 300_000,
    },
  );
  try {
    if (run.status !== 0) {
      return {
        skipped: `child exited with ${String(run.status)}: ${run.stderr.trim().slice(0, 200)}`,
      };
    }
    const calls = parseStrace(fs.readFileSync(log, 'utf8'));
    const start = calls.findIndex((call) => call.args.includes(MARK_START));
    const end = calls.findIndex((call) => call.args.includes(MARK_END));
    const marker = calls[start];
    if (marker === undefined || end < start) {
      return { skipped: 'markers not found in the strace log' };
    }
    return { ok: { calls: calls.slice(start + 1, end), mainPid: marker.pid } };
  } finally {
    fs.rmSync(log, { force: true });
  }
}

function workDirFor(dir: string, contender: string, mode: string): string {
  const workDir = join(dir, `strace-${contender.replace(/[^a-z0-9]+/gi, '-')}-${mode}`);
  fs.mkdirSync(workDir, { recursive: true });
  return workDir;
}

/** Count the system calls of `writes` writes by one contender, per write and per thread. */
export function countSyscalls(
  contender: string,
  mode: TraceMode,
  dir: string,
  writes: number,
  size: number,
): Probe<SyscallCount> {
  const workDir = workDirFor(dir, contender, mode);
  try {
    const traced = traceChild([contender, mode, workDir, String(writes), String(size)], dir);
    if (!('ok' in traced)) return traced;
    const window = traced.ok.calls;
    const file = window.filter(isFileCall);
    const calling = file.filter((call) => call.pid === traced.ok.mainPid);
    const other = window.filter((call) => !isFileCall(call));
    return {
      ok: {
        contender,
        mode,
        writes,
        total: window.length / writes,
        file: file.length / writes,
        fileByName: perWrite(countByName(file), writes),
        calling: calling.length / writes,
        callingByName: perWrite(countByName(calling), writes),
        otherByName: perWrite(countByName(other), writes),
        wakeups:
          window.filter(
            (call) => call.name === 'write' && call.args.includes('<anon_inode:[eventfd]>'),
          ).length / writes,
        ioUring: window.some((call) => call.name.startsWith('io_uring')),
      },
    };
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** One overwrite, call by call. */
export interface SyscallListing {
  readonly contender: string;
  readonly mode: 'async' | 'sync';
  readonly calls: readonly ListedCall[];
}

/**
 * The file-system calls of one overwrite of a 1 KiB file (after a warm-up), in the order
 * they started, with the thread that made each and its reason (see syscalls.ts).
 */
export function listOneWrite(
  contender: string,
  mode: 'async' | 'sync',
  dir: string,
  size: number,
): Probe<SyscallListing> {
  const workDir = workDirFor(dir, contender, `${mode}-one`);
  try {
    const traced = traceChild([contender, mode, workDir, '1', String(size)], dir);
    if (!('ok' in traced)) return traced;
    const dest = join(workDir, 'data.bin');
    return { ok: { contender, mode, calls: listCalls(traced.ok.calls, traced.ok.mainPid, dest) } };
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** What the child of the peak-RSS run reports. */
export interface RssReport {
  /** ms of the timed writes. */
  readonly ms: number;
  /** Resident set right before the writes, bytes. */
  readonly before: number;
  /** Peak resident set during the writes, bytes. */
  readonly peak: number;
  /**
   * Whether the kernel's high-water mark was reset right before the writes (Linux
   * /proc/self/clear_refs); if not, the peak is the process's since it started.
   */
  readonly reset: boolean;
}

/** Run `files` new files of `size` bytes through one multi-file contender in a fresh child. */
export function measureRss(contender: string, dir: string, files: number, size: number): RssReport {
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', CHILD, 'rss', contender, dir, String(files), String(size)],
    { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 20 },
  );
  if (run.status !== 0) {
    throw new Error(
      `child exited with ${String(run.status ?? run.signal)}: ${run.stderr.trim().slice(0, 300)}`,
    );
  }
  const line = run.stdout.split('\n').find((text) => text.startsWith('rss '));
  if (line === undefined) throw new Error('the child printed no report');
  return JSON.parse(line.slice(4)) as RssReport;
}

interface ProfileEntry {
  readonly name: string;
  /** Share of the thread's sampled time that was not idle, 0..1. */
  readonly share: number;
  readonly ms: number;
}

export interface ThreadProfile {
  readonly thread: string;
  readonly busyMs: number;
  readonly wallMs: number;
  readonly top: readonly ProfileEntry[];
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
  }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function shortUrl(url: string, root: string): string {
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  return path.startsWith(root) ? path.slice(root.length + 1) : path;
}

/**
 * Self time by function of one `.cpuprofile`, top `limit`, idle excluded, counting only the
 * samples taken between `from` and `to` (µs on V8's monotonic clock, the one
 * `process.hrtime` reads), so start-up and shut-down do not count.
 */
function summarizeProfile(
  profile: CpuProfile,
  root: string,
  limit: number,
  from = -Infinity,
  to = Infinity,
): { busyMs: number; wallMs: number; top: ProfileEntry[] } {
  const selfMs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let time = profile.startTime;
  let first = Infinity;
  let last = -Infinity;
  for (let i = 0; i < samples.length; i += 1) {
    const id = samples[i];
    // timeDeltas[i] is the time since the previous sample: the interval this sample stands for.
    const delta = deltas[i] ?? 0;
    time += delta;
    if (id === undefined || time < from || time > to) continue;
    first = Math.min(first, time - delta);
    last = Math.max(last, time);
    selfMs.set(id, (selfMs.get(id) ?? 0) + delta / 1000);
  }
  const byName = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || ms === 0) continue;
    busy += ms;
    const where = url === '' ? '' : ` ${shortUrl(url, root)}:${lineNumber + 1}`;
    const name = `${functionName === '' ? '(anonymous)' : functionName}${where}`;
    byName.set(name, (byName.get(name) ?? 0) + ms);
  }
  const top = [...byName.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, ms]) => ({ name, ms, share: busy > 0 ? ms / busy : 0 }));
  return { busyMs: busy, wallMs: last > first ? (last - first) / 1000 : 0, top };
}

/** A CPU profile (`node --cpu-prof`, every thread) of `writes` atomic-fs overwrites. */
export function profileAtomicFs(
  dir: string,
  mode: 'async' | 'sync',
  writes: number,
  root: string,
): Probe<ThreadProfile[]> {
  const profDir = join(dir, `cpu-prof-${mode}`);
  const workDir = join(dir, `cpu-prof-work-${mode}`);
  fs.mkdirSync(profDir, { recursive: true });
  fs.mkdirSync(workDir, { recursive: true });
  try {
    const run = spawnSync(
      process.execPath,
      [
        '--cpu-prof',
        '--cpu-prof-dir',
        profDir,
        '--cpu-prof-interval',
        '100',
        CHILD,
        'atomic-fs',
        mode,
        workDir,
        String(writes),
        '1024',
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    if (run.status !== 0) return { skipped: `profiled child exited with ${String(run.status)}` };
    const [from, to] = (/window (\d+) (\d+)/.exec(run.stdout) ?? []).slice(1).map(Number);
    if (from === undefined || to === undefined) return { skipped: 'no time window from the child' };
    const files = fs.readdirSync(profDir).filter((name) => name.endsWith('.cpuprofile'));
    const threads = files
      .map((name) => {
        // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
        const thread = name.split('.').at(-3) === '0' ? 'main thread' : 'I/O worker thread';
        const profile = JSON.parse(fs.readFileSync(join(profDir, name), 'utf8')) as CpuProfile;
        return { thread, ...summarizeProfile(profile, root, 12, from, to) };
      })
      .sort((a, b) => a.thread.localeCompare(b.thread));
    return { ok: threads };
  } finally {
    fs.rmSync(profDir, { recursive: true, force: true });
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

export interface RoundTrips {
  /** fstat on a descriptor: synchronous, µs. */
  readonly syncCallUs: number;
  /** The same fstat through libuv's threadpool (callback API), awaited one by one, µs. */
  readonly threadpoolCallUs: number;
  /** A message to a worker thread and its reply, µs (a job-sized message: ~1 KiB). */
  readonly workerRoundTripUs: number;
}

async function timeEach(count: number, run: () => Promise<void> | void): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    await run();
    samples.push((performance.now() - start) * 1000);
  }
  return median(samples);
}

/** What one hand-off costs on this machine: a sync call, a threadpool trip, a worker trip. */
export async function measureRoundTrips(dir: string, count: number): Promise<RoundTrips> {
  const path = join(dir, 'round-trip-probe');
  fs.writeFileSync(path, 'x');
  const fd = fs.openSync(path, 'r');
  const worker = new Worker(
    "const { parentPort } = require('node:worker_threads');" +
      'parentPort.on("message", (m) => parentPort.postMessage({ id: m.id, ok: true, value: undefined }));',
    { eval: true },
  );
  try {
    await new Promise((resolve) => worker.once('online', resolve));
    const syncCallUs = await timeEach(count, () => {
      fs.fstatSync(fd);
    });
    const threadpoolCallUs = await timeEach(
      count,
      () =>
        new Promise<void>((resolve, reject) => {
          fs.fstat(fd, (error) => {
            if (error === null) resolve();
            else reject(error);
          });
        }),
    );
    const job = {
      dest: path,
      target: path,
      dir,
      tmp: `${path}.afs-tmp`,
      settings: { mode: undefined, chown: undefined, durability: 'full', overwrite: true },
    };
    const chunk = new Uint8Array(1024);
    let id = 0;
    const workerRoundTripUs = await timeEach(
      count,
      () =>
        new Promise<void>((resolve) => {
          id += 1;
          worker.once('message', () => {
            resolve();
          });
          worker.postMessage({ id, name: 'writeWhole', args: [job, [chunk]] });
        }),
    );
    return { syncCallUs, threadpoolCallUs, workerRoundTripUs };
  } finally {
    await worker.terminate();
    fs.closeSync(fd);
    fs.rmSync(path, { force: true });
  }
}
