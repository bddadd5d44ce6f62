/**
 * `npm run bench [-- --quick] [-- --only=S,B] [-- --fs=disk|tmpfs] [-- --out=FILE] [-- --charts=DIR]`
 *
 * Runs atomic-fs, write-file-atomic, atomically, steno and hand-written durable references
 * side by side in one process, interleaved over rounds, on the project's disk and on a
 * tmpfs; checks every output; counts system calls under strace (per thread); profiles
 * atomic-fs; draws the growth curves as SVG charts; and writes BENCHMARKS.md with its charts
 * in bench/charts/ (a quick run writes build/BENCHMARKS.quick.md and build/charts/).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ATOMICALLY,
  ATOMIC_FS,
  CONCURRENT,
  type Contender,
  FLOOR,
  STENO,
  SYNC_FLOOR,
  WORKER_FLOOR,
  WRITE_FILE_ATOMIC,
  batchContenders,
  ioThreadOnline,
} from './contenders.js';
import { type Figure, figures, writeFigures } from './figures.js';
import { type Config, FULL, QUICK, type WorkloadId, sweepBudget, sweepWrites } from './config.js';
import { patternBuffer } from './data.js';
import { type Place, closePlace, diskPlace, mountTmpfs } from './places.js';
import {
  type Probe,
  type RoundTrips,
  type SyscallCount,
  type SyscallListing,
  type ThreadProfile,
  type TraceMode,
  countSyscalls,
  listOneWrite,
  measureRoundTrips,
  profileAtomicFs,
  straceAvailable,
} from './probes.js';
import { renderReport } from './report.js';
import { fmtBytes } from './stats.js';
import {
  type Series,
  burstWrites,
  concurrentFiles,
  concurrentWriters,
  interleave,
  peakRss,
  largeStream,
  manyFiles,
  sequentialWrites,
  sizedWrites,
  syncWrites,
} from './workloads.js';

export interface WorkloadResult {
  readonly id: WorkloadId;
  readonly place: Place;
  readonly params: string;
  readonly series: Series[];
}

export interface SweepPoint {
  readonly param: number;
  readonly label: string;
  readonly series: Series[];
}

export interface SweepResult {
  readonly kind: 'size' | 'count' | 'writers';
  readonly place: Place;
  readonly params: string;
  readonly points: SweepPoint[];
}

export interface RunResult {
  readonly config: Config;
  readonly root: string;
  readonly places: Place[];
  readonly skipped: string[];
  readonly workloads: WorkloadResult[];
  readonly sweeps: SweepResult[];
  /** The peak-RSS run: many files, each contender in a fresh child process. */
  readonly rss: { place: Place; files: number; params: string; series: Series[] }[];
  syscalls: Probe<SyscallCount>[] | { skipped: string };
  /** One overwrite, call by call (atomic-fs and the floors). */
  listings: Probe<SyscallListing>[];
  readonly profiles: { mode: 'async' | 'sync'; place: Place; result: Probe<ThreadProfile[]> }[];
  readonly roundTrips: { place: Place; value: RoundTrips }[];
  readonly machine: Record<string, string>;
  /** 1-minute load average, sampled before each workload. */
  readonly loads: number[];
  /** CPU pressure (PSI "some avg10", % of time runnable tasks waited for a CPU), same samples. */
  readonly pressure: number[];
  readonly startedAt: Date;
  seconds: number;
}

interface Args {
  readonly config: Config;
  readonly only: ReadonlySet<string> | undefined;
  readonly fs: ReadonlySet<string>;
  readonly out: string | undefined;
  readonly charts: string | undefined;
}

function parseArgs(argv: readonly string[]): Args {
  let config = FULL;
  let only: Set<string> | undefined;
  let fsKinds = new Set(['disk', 'tmpfs']);
  let out: string | undefined;
  let charts: string | undefined;
  for (const arg of argv) {
    const [key, value = ''] = arg.split('=', 2);
    if (arg === '--quick') config = QUICK;
    else if (key === '--only') only = new Set(value.split(','));
    else if (key === '--fs') fsKinds = new Set(value.split(','));
    else if (key === '--out') out = value;
    else if (key === '--charts') charts = value;
    else
      throw new Error(
        `unknown argument ${arg} (use --quick, --only=S,Sync,B,C,F,L,sweep,writers,rss,strace,profile, --fs=disk,tmpfs, --out=FILE, --charts=DIR)`,
      );
  }
  return { config, only, fs: fsKinds, out, charts };
}

/** Record how busy the machine is (other users' work adds noise to every number). */
function sampleLoad(result: RunResult): void {
  result.loads.push(loadavg()[0] ?? 0);
  try {
    const psi = /some avg10=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (psi?.[1] !== undefined) result.pressure.push(Number(psi[1]));
  } catch {
    // No PSI on this kernel or platform.
  }
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function version(name: string, root: string): string {
  try {
    const text = readFileSync(`${root}/node_modules/${name}/package.json`, 'utf8');
    return (JSON.parse(text) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function machine(root: string): Record<string, string> {
  const cpu = cpus();
  return {
    cpu: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    os: `${process.platform} ${readFirstLine('/proc/sys/kernel/osrelease')}`,
    node: process.version,
    'scheduling priority (nice)': String(getPriority()),
    'atomic-fs': `${readVersion(root)} (this checkout)`,
    'write-file-atomic': version('write-file-atomic', root),
    atomically: version('atomically', root),
    steno: version('steno', root),
  };
}

function readVersion(root: string): string {
  try {
    return (JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

function readFirstLine(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n')[0] ?? '';
  } catch {
    return '';
  }
}

const SEQUENTIAL: readonly Contender[] = [
  ATOMIC_FS,
  WRITE_FILE_ATOMIC,
  ATOMICALLY,
  STENO,
  FLOOR,
  SYNC_FLOOR,
  WORKER_FLOOR,
];

async function runWorkloads(
  config: Config,
  place: Place,
  wanted: (id: string) => boolean,
  result: RunResult,
): Promise<void> {
  const tag = `[${place.kind}]`;
  const ops = config.ops[place.kind];
  const size = config.smallSize;
  if (wanted('S')) {
    sampleLoad(result);
    result.workloads.push({
      id: 'S',
      place,
      params: `${ops} awaited overwrites of ${fmtBytes(size)} per trial, ${config.rounds} rounds`,
      series: await interleave(
        `${tag} S`,
        SEQUENTIAL,
        config.rounds,
        sequentialWrites(place, ops, size),
        sequentialWrites(place, ops, size),
        log,
        config.warmupMs,
      ),
    });
  }
  if (wanted('Sync')) {
    sampleLoad(result);
    const contenders = [ATOMIC_FS, SYNC_FLOOR, WRITE_FILE_ATOMIC, ATOMICALLY];
    result.workloads.push({
      id: 'Sync',
      place,
      params: `${ops} synchronous overwrites of ${fmtBytes(size)} per trial, ${config.rounds} rounds`,
      series: await interleave(
        `${tag} Sync`,
        contenders,
        config.rounds,
        syncWrites(place, ops, size),
        syncWrites(place, ops, size),
        log,
        config.warmupMs,
      ),
    });
  }
  if (wanted('B')) {
    sampleLoad(result);
    const contenders = [ATOMIC_FS, WRITE_FILE_ATOMIC, ATOMICALLY, STENO];
    result.workloads.push({
      id: 'B',
      place,
      params: `${config.burst} un-awaited writes of ${fmtBytes(size)} to one file, ${config.burstRounds} rounds`,
      series: await interleave(
        `${tag} B`,
        contenders,
        config.burstRounds,
        burstWrites(place, config.burst, size),
        burstWrites(place, config.burst, size),
        log,
        config.warmupMs,
      ),
    });
  }
  if (wanted('C')) {
    sampleLoad(result);
    result.workloads.push({
      id: 'C',
      place,
      params: `${config.concurrent} writes of ${fmtBytes(size)} issued at once (\`Promise.all\`), each to its own new file in one fresh directory, ${config.concurrentRounds} rounds`,
      series: await interleave(
        `${tag} C`,
        CONCURRENT,
        config.concurrentRounds,
        concurrentFiles(place, config.concurrent, size),
        concurrentFiles(place, config.concurrent, size),
        log,
        config.warmupMs,
      ),
    });
  }
  if (wanted('F')) {
    sampleLoad(result);
    const [batch, ...parallel] = batchContenders();
    const contenders = [...(batch === undefined ? [] : [batch]), ...SEQUENTIAL, ...parallel];
    result.workloads.push({
      id: 'F',
      place,
      params: `${config.files} new files of ${fmtBytes(size)} in one fresh directory, ${config.filesRounds} rounds`,
      series: await interleave(
        `${tag} F`,
        contenders,
        config.filesRounds,
        manyFiles(place, config.files, size),
        manyFiles(place, config.files, size),
        log,
        config.warmupMs,
      ),
    });
  }
  if (wanted('L')) {
    sampleLoad(result);
    const contenders = [ATOMIC_FS, FLOOR, SYNC_FLOOR, ATOMICALLY];
    result.workloads.push({
      id: 'L',
      place,
      params: `${fmtBytes(config.largeBytes)} from an async generator of ${fmtBytes(config.chunk)} chunks into a new file, ${config.largeRounds} rounds`,
      series: await interleave(
        `${tag} L`,
        contenders,
        config.largeRounds,
        largeStream(place, config.largeBytes, config.chunk),
        largeStream(place, config.largeBytes, config.chunk),
        log,
        config.warmupMs,
      ),
    });
  }
}

async function runSweeps(config: Config, place: Place, result: RunResult): Promise<void> {
  const tag = `[${place.kind}]`;
  sampleLoad(result);
  const sizePoints: SweepPoint[] = [];
  for (const size of config.sizes) {
    const data = patternBuffer(size);
    const writes = sweepWrites(config, size);
    const label = `${fmtBytes(size)} ×${writes}`;
    sizePoints.push({
      param: size,
      label,
      series: await interleave(
        `${tag} size ${label}`,
        config.sizePeers
          ? [ATOMIC_FS, FLOOR, SYNC_FLOOR, WRITE_FILE_ATOMIC, ATOMICALLY, STENO]
          : [ATOMIC_FS, FLOOR, SYNC_FLOOR],
        config.sweepRounds,
        // A warm-up writes the size once: skipped for the largest sizes, where it costs seconds.
        size <= 32 * 2 ** 20 ? sizedWrites(place, data, writes) : undefined,
        sizedWrites(place, data, writes),
        log,
        config.warmupMs,
      ),
    });
  }
  result.sweeps.push({
    kind: 'size',
    place,
    params: `whole-buffer writes (\`writeFile(path, buffer)\`), about ${fmtBytes(sweepBudget(config).bytes)} or ${sweepBudget(config).writes} writes per trial, ${config.sweepRounds} rounds`,
    points: sizePoints,
  });
  sampleLoad(result);
  const countPoints: SweepPoint[] = [];
  const [batch] = batchContenders();
  for (const count of config.counts) {
    const contenders: Contender[] = [];
    if (batch !== undefined) contenders.push(batch);
    if (count <= config.sequentialCountMax) contenders.push(ATOMIC_FS, FLOOR);
    if (count <= config.peerCountMax) contenders.push(WRITE_FILE_ATOMIC, ATOMICALLY, STENO);
    countPoints.push({
      param: count,
      label: `${count} files`,
      series: await interleave(
        `${tag} count ${count}`,
        contenders,
        config.sweepRounds,
        manyFiles(place, count, config.smallSize),
        manyFiles(place, count, config.smallSize),
        log,
        config.warmupMs,
      ),
    });
  }
  result.sweeps.push({
    kind: 'count',
    place,
    params: `${fmtBytes(config.smallSize)} files into a fresh directory, ${config.sweepRounds} rounds; one-by-one writers (each write awaited before the next) up to ${config.sequentialCountMax} files, the peers up to ${config.peerCountMax}`,
    points: countPoints,
  });
}

/** Files/s against the number of concurrent writers, each writing its own new files. */
async function runWriters(config: Config, place: Place, result: RunResult): Promise<void> {
  const tag = `[${place.kind}]`;
  sampleLoad(result);
  const points: SweepPoint[] = [];
  for (const writers of config.writers) {
    points.push({
      param: writers,
      label: `${writers} writers`,
      series: await interleave(
        `${tag} writers ${writers}`,
        CONCURRENT,
        config.writersRounds,
        concurrentWriters(place, config.writersFiles, writers, config.smallSize),
        concurrentWriters(place, config.writersFiles, writers, config.smallSize),
        log,
        config.warmupMs,
      ),
    });
  }
  result.sweeps.push({
    kind: 'writers',
    place,
    params: `${config.writersFiles} new files of ${fmtBytes(config.smallSize)} per trial in one fresh directory, shared among N concurrent loops, each awaiting its own writes one after another; ${config.writersRounds} rounds`,
    points,
  });
}

/** Many new files through the multi-file contenders, each trial in a fresh child process. */
async function runRss(config: Config, place: Place, result: RunResult): Promise<void> {
  sampleLoad(result);
  const series = await interleave(
    `[${place.kind}] rss ${config.rssFiles}`,
    batchContenders(),
    config.rssRounds,
    undefined,
    peakRss(place, config.rssFiles, config.smallSize),
    log,
    config.warmupMs,
  );
  result.rss.push({
    place,
    files: config.rssFiles,
    params: `${config.rssFiles} new files of ${fmtBytes(config.smallSize)} in one fresh directory, each trial in a fresh child process (after a warm-up there) whose kernel high-water mark of resident memory is reset right before the writes; ${config.rssRounds} rounds`,
    series,
  });
}

function runSyscalls(config: Config, place: Place, result: RunResult): void {
  const missing = straceAvailable();
  if (missing !== undefined) {
    result.syscalls = { skipped: missing };
    result.listings = [{ skipped: missing }];
    return;
  }
  const runs: [string, TraceMode][] = [
    ['atomic-fs', 'async'],
    ['atomic-fs', 'sync'],
    ['floor: fs/promises', 'async'],
    ['floor: sync calls', 'sync'],
    ['floor: sync calls on a worker', 'async'],
    ['write-file-atomic', 'async'],
    ['write-file-atomic', 'sync'],
    ['atomically', 'async'],
    ['atomically', 'sync'],
    ['steno', 'async'],
  ];
  // Un-awaited calls (a burst to one file, many new files at once): the calling thread's
  // share of the work when calls pile up, as in workloads B and C.
  for (const contender of CONCURRENT) {
    runs.push([contender.name, 'burst'], [contender.name, 'concurrent']);
  }
  // A quick run counts atomic-fs (every mode) and the floors' overwrites only: each count is
  // a child under strace.
  const quick = (name: string, mode: TraceMode): boolean =>
    name === 'atomic-fs' ||
    (name === 'floor: fs/promises' && mode === 'async') ||
    (name === 'floor: sync calls' && mode === 'sync');
  const chosen = config.quick ? runs.filter(([name, mode]) => quick(name, mode)) : runs;
  result.syscalls = chosen.map(([name, mode]) => {
    log(`[${place.kind}] strace ${name} (${mode})`);
    return countSyscalls(name, mode, place.dir, config.straceWrites, config.smallSize);
  });
  const listed: [string, 'async' | 'sync'][] = [
    ['atomic-fs', 'async'],
    ['atomic-fs', 'sync'],
    ['floor: fs/promises', 'async'],
    ['floor: sync calls', 'sync'],
  ];
  result.listings = listed.map(([name, mode]) => {
    log(`[${place.kind}] strace one write of ${name} (${mode})`);
    return listOneWrite(name, mode, place.dir, config.smallSize);
  });
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const { config } = args;
  const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
  const wanted = (id: string): boolean => args.only === undefined || args.only.has(id);
  const started = performance.now();
  const result: RunResult = {
    config,
    root,
    places: [],
    skipped: [],
    workloads: [],
    sweeps: [],
    rss: [],
    syscalls: { skipped: 'not run (--only)' },
    listings: [],
    profiles: [],
    roundTrips: [],
    machine: machine(root),
    loads: [],
    pressure: [],
    startedAt: new Date(),
    seconds: 0,
  };
  sampleLoad(result);
  result.machine['atomic-fs I/O thread'] = await ioThreadOnline();
  const places: Place[] = [];
  const onSignal = (): void => {
    for (const place of places) closePlace(place);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (args.fs.has('disk')) places.push(diskPlace(root));
    if (args.fs.has('tmpfs')) {
      // Room for a large file, its temp, and the size sweep's largest file.
      const mounted = mountTmpfs(root, Math.ceil((3 * config.largeBytes) / 2 ** 20) + 512);
      if ('place' in mounted) places.push(mounted.place);
      else {
        result.skipped.push(`tmpfs: skipped — ${mounted.skipped}`);
        log(`tmpfs skipped: ${mounted.skipped}`);
      }
    }
    result.places.push(...places);
    for (const place of places) {
      log(
        `[${place.kind}] ${place.dir} (${place.fsType} on ${place.device}), load ${loadavg()[0]?.toFixed(2) ?? '?'}`,
      );
      await runWorkloads(config, place, wanted, result);
    }
    for (const place of places) {
      if (wanted('sweep')) await runSweeps(config, place, result);
      if (wanted('writers')) await runWriters(config, place, result);
      if (wanted('rss')) await runRss(config, place, result);
    }
    for (const place of places) {
      result.roundTrips.push({
        place,
        value: await measureRoundTrips(place.dir, config.roundTripSamples),
      });
    }
    const disk = places.find((place) => place.kind === 'disk');
    if (disk !== undefined && wanted('strace')) runSyscalls(config, disk, result);
    const tmpfs = places.find((place) => place.kind === 'tmpfs') ?? disk;
    if (tmpfs !== undefined && wanted('profile') && config.profileWrites > 0) {
      for (const mode of ['async', 'sync'] as const) {
        log(`[${tmpfs.kind}] cpu profile of atomic-fs (${mode})`);
        result.profiles.push({
          mode,
          place: tmpfs,
          result: profileAtomicFs(tmpfs.dir, mode, config.profileWrites, root),
        });
      }
    }
  } finally {
    for (const place of places) closePlace(place);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  sampleLoad(result);
  result.seconds = (performance.now() - started) / 1000;
  const out =
    args.out ?? (config.quick ? `${root}/build/BENCHMARKS.quick.md` : `${root}/BENCHMARKS.md`);
  // The charts sit beside the report: bench/charts/ for BENCHMARKS.md, else charts/ next to it.
  const chartDir =
    args.charts ??
    (args.out === undefined && !config.quick
      ? join(root, 'bench', 'charts')
      : join(dirname(out), 'charts'));
  const drawn: Figure[] = figures(result);
  const written = writeFigures(drawn, chartDir);
  const links = written.map((figure) => ({
    ...figure,
    href: relative(dirname(out), figure.file).split('\\').join('/'),
  }));
  const markdown = renderReport(result, links);
  writeFileSync(out, markdown);
  log(`wrote ${written.length} charts to ${chartDir}`);
  log(`\nwrote ${out} after ${result.seconds.toFixed(0)} s`);
  process.stdout.write(markdown);
  const checked = [
    ...result.workloads.flatMap((workload) => workload.series),
    ...result.rss.flatMap((entry) => entry.series),
  ];
  const broken = checked.some(
    (series) =>
      series.contender.role !== 'peer' &&
      (series.trials.some((trial) => trial.problems.length > 0) ||
        (series.failure !== undefined && series.contender.unavailable === undefined)),
  );
  return broken ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
