/**
 * BENCHMARKS.md from one run: machine and versions, what each contender guarantees, the
 * issue's targets with measured ratios, a table per workload and file system, the growth
 * sweeps, system calls per write, and where atomic-fs's time goes.
 */
import { ATOMICALLY, DURABILITY_TEXT, STENO, WRITE_FILE_ATOMIC } from './contenders.js';
import type { WorkloadId } from './config.js';
import type { PlaceKind } from './places.js';
import type { SyscallCount } from './probes.js';
import type { RunResult, SweepResult, WorkloadResult } from './run.js';
import { fmt, fmtBytes, fmtRatio, median, quantile, ratio, table } from './stats.js';
import type { Series } from './workloads.js';

const FLOOR_NAME = 'floor: fs/promises';
const SYNC_FLOOR_NAME = 'floor: sync calls';
const WORKER_FLOOR_NAME = 'floor: sync calls on a worker';
const PARALLEL_FLOOR_NAME = 'floor: fs/promises ×N, Promise.all';

const TITLES: Readonly<Record<WorkloadId, string>> = {
  S: 'S — 1 KiB to one file, sequential, awaited',
  Sync: 'Sync — 1 KiB to one file with the synchronous API',
  B: 'B — a burst of un-awaited writes to one file',
  F: 'F — 1 KiB to many new files in one directory',
  L: 'L — a large file streamed from an async generator',
};

const METRIC: Readonly<Record<WorkloadId, { unit: string; higher: boolean }>> = {
  S: { unit: 'ops/s', higher: true },
  Sync: { unit: 'ops/s', higher: true },
  B: { unit: 'ms total', higher: false },
  F: { unit: 'files/s', higher: true },
  L: { unit: 'MiB/s', higher: true },
};

function values(series: Series | undefined): number[] {
  return series?.trials.map((trial) => trial.value) ?? [];
}

function med(series: Series | undefined): number | undefined {
  const all = values(series);
  return all.length === 0 ? undefined : median(all);
}

/** Spread of the rounds: (max − min) / median, as ±half of it in percent. */
function spread(series: Series): string {
  const all = values(series);
  if (all.length < 2) return '—';
  const mid = median(all);
  return `±${fmt(((Math.max(...all) - Math.min(...all)) / mid / 2) * 100)}%`;
}

function pooled(series: Series): number[] {
  return series.trials.flatMap((trial) => trial.latencies ?? []);
}

function correctness(series: Series): string {
  if (series.trials.length === 0) return '—';
  const wrong = series.trials.filter((trial) => trial.problems.length > 0);
  if (wrong.length === 0) return `yes (${series.trials.length}/${series.trials.length})`;
  return `**no** (${wrong.length}/${series.trials.length}): ${wrong[0]?.problems[0] ?? ''}`.replace(
    /\|/g,
    '\\|',
  );
}

function get(workload: WorkloadResult | undefined, name: string): Series | undefined {
  return workload?.series.find((series) => series.contender.name === name);
}

function find(run: RunResult, id: WorkloadId, kind: PlaceKind): WorkloadResult | undefined {
  return run.workloads.find((workload) => workload.id === id && workload.place.kind === kind);
}

/** How many times better atomic-fs is than `other` (higher-is-better or time metrics). */
function advantage(workload: WorkloadResult, mine: string, other: string): number {
  const a = med(get(workload, mine));
  const b = med(get(workload, other));
  return METRIC[workload.id].higher ? ratio(a, b) : ratio(b, a);
}

function durabilityOf(series: Series): string {
  return series.contender.durability === 'full'
    ? 'full'
    : series.contender.durability === 'file'
      ? 'file, no dir fsync'
      : '**none**';
}

function workloadTable(workload: WorkloadResult): string {
  const { unit, higher } = METRIC[workload.id];
  const mine = 'atomic-fs';
  const head = ['contender', 'durability', `${unit} (median)`, 'spread'];
  const latency = workload.id === 'S' || workload.id === 'Sync';
  if (latency) head.push('p50 µs', 'p99 µs');
  if (workload.id === 'B') head.push('ms until the last call returned', 'commits (max)');
  if (workload.id === 'L') head.push('peak RSS growth (max)');
  head.push(higher ? 'atomic-fs ÷ this' : 'this ÷ atomic-fs', 'output correct');
  const rows = workload.series.map((series) => {
    if (series.trials.length === 0) {
      const cells = [series.contender.name, durabilityOf(series), series.failure ?? '—'];
      while (cells.length < head.length) cells.push('');
      return cells;
    }
    const row = [series.contender.name, durabilityOf(series), fmt(med(series)), spread(series)];
    if (latency) {
      const all = pooled(series);
      row.push(fmt(quantile(all, 0.5)), fmt(quantile(all, 0.99)));
    }
    if (workload.id === 'B') {
      row.push(
        fmt(median(series.trials.map((trial) => trial.issuedMs ?? Number.NaN))),
        String(Math.max(...series.trials.map((trial) => trial.commits ?? 0))),
      );
    }
    if (workload.id === 'L') {
      const growth = Math.max(...series.trials.map((trial) => trial.rssGrowth ?? 0));
      row.push(`${fmt(growth / 2 ** 20)} MiB`);
    }
    row.push(
      series.contender.name === mine
        ? '1×'
        : fmtRatio(advantage(workload, mine, series.contender.name)),
      correctness(series),
    );
    return row;
  });
  return table(head, rows);
}

interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean | undefined;
  readonly why: string;
}

function syscallsOf(
  run: RunResult,
  contender: string,
  mode: 'async' | 'sync',
): SyscallCount | undefined {
  if (!Array.isArray(run.syscalls)) return undefined;
  for (const probe of run.syscalls) {
    if ('ok' in probe && probe.ok.contender === contender && probe.ok.mode === mode)
      return probe.ok;
  }
  return undefined;
}

function p50(workload: WorkloadResult | undefined, name: string): number | undefined {
  const series = get(workload, name);
  if (series === undefined) return undefined;
  const all = pooled(series);
  return all.length === 0 ? undefined : quantile(all, 0.5);
}

/** Evidence for an S or Sync miss: calls per write and software overhead on tmpfs. */
function overheadEvidence(run: RunResult, id: 'S' | 'Sync'): string {
  const parts: string[] = [];
  const mode = id === 'S' ? 'async' : 'sync';
  const mine = syscallsOf(run, 'atomic-fs', mode);
  const floor = syscallsOf(run, id === 'S' ? FLOOR_NAME : SYNC_FLOOR_NAME, mode);
  if (mine !== undefined && floor !== undefined) {
    parts.push(
      `per write atomic-fs makes ${fmtCount(mine.file)} file-system calls (${fmtCount(mine.total)} system calls in all, ${fmtCount(mine.wakeups)} event-loop wake-ups) against the floor's ${fmtCount(floor.file)} (${fmtCount(floor.total)}, ${fmtCount(floor.wakeups)})`,
    );
  }
  const tmpfs = find(run, id, 'tmpfs');
  const a = p50(tmpfs, 'atomic-fs');
  const f = p50(tmpfs, SYNC_FLOOR_NAME);
  const w = id === 'S' ? p50(tmpfs, WORKER_FLOOR_NAME) : undefined;
  if (a !== undefined && f !== undefined) {
    const viaWorker = w === undefined ? '' : ` and ${fmt(w)} µs for them on a worker thread`;
    parts.push(
      `on tmpfs (fsync free) a write takes ${fmt(a)} µs p50 against ${fmt(f)} µs for the sync floor's eight calls${viaWorker}: ${fmt(a - (w ?? f))} µs of the library's own overhead per write`,
    );
  }
  const trips = run.roundTrips.find((entry) => entry.place.kind === 'disk') ?? run.roundTrips[0];
  if (id === 'S' && trips !== undefined) {
    parts.push(
      `one worker-thread round trip costs ${fmt(trips.value.workerRoundTripUs)} µs here, one threadpool call ${fmt(trips.value.threadpoolCallUs)} µs (sync: ${fmt(trips.value.syncCallUs)} µs)`,
    );
  }
  return parts.join('; ');
}

/**
 * What the physical floor itself achieves against `other`: a writer making the same eight
 * calls cannot beat the sync floor, so a goal above this ratio is out of reach in this run.
 */
function bound(workload: WorkloadResult, other: string, goal: number): string {
  const limit = advantage(workload, SYNC_FLOOR_NAME, other);
  if (!Number.isFinite(limit)) return '';
  const reach =
    limit < goal
      ? 'so no writer making these calls could reach the goal in this run'
      : 'so the goal was reachable';
  const worker = advantage(workload, WORKER_FLOOR_NAME, other);
  const offThread = Number.isFinite(worker)
    ? `; the same calls on one worker thread (what a writer that never blocks the event loop pays at least) were ${fmtRatio(worker)}`
    : '';
  return `the sync floor (the same calls with no thread hand-offs) was ${fmtRatio(limit)} ${other}, ${reach}${offThread}`;
}

/** For writeFiles: what the disk allowed the floor's calls when issued for every file at once. */
function parallelBound(workload: WorkloadResult, other: string, goal: number): string {
  const limit = advantage(workload, PARALLEL_FLOOR_NAME, other);
  if (!Number.isFinite(limit)) return '';
  const share = advantage(workload, 'atomic-fs writeFiles', PARALLEL_FLOOR_NAME);
  return `the floor's own calls issued for every file at once (${PARALLEL_FLOOR_NAME}: a file fsync and a directory fsync per file, all in flight together) reached ${fmtRatio(limit)} ${other}${limit < goal ? ', short of the goal themselves' : ''}; writeFiles, with one directory fsync for the batch, was ${fmtRatio(share)} that`;
}

function atLeast(value: number, goal: number): boolean | undefined {
  return Number.isFinite(value) ? value >= goal : undefined;
}

function targets(run: RunResult): Target[] {
  const list: Target[] = [];
  const s = find(run, 'S', 'disk');
  if (s !== undefined) {
    for (const [other, goal] of [
      [ATOMICALLY.name, 2],
      [WRITE_FILE_ATOMIC.name, 3],
      [FLOOR_NAME, 1.5],
    ] as const) {
      const value = advantage(s, 'atomic-fs', other);
      const met = atLeast(value, goal);
      const first = !list.some((target) => target.met === false);
      list.push({
        name: `S (disk): ops/s vs ${other}`,
        goal: `≥ ${goal}×`,
        measured: fmtRatio(value),
        met,
        why:
          met === false
            ? `${bound(s, other, goal)}${first ? `; ${overheadEvidence(run, 'S')}` : ''}`
            : '',
      });
    }
  }
  const sync = find(run, 'Sync', 'disk');
  if (sync !== undefined) {
    const value = advantage(sync, 'atomic-fs', SYNC_FLOOR_NAME);
    const met = atLeast(value, 0.9);
    list.push({
      name: 'Sync (disk): writeFileSync vs the sync floor',
      goal: '≥ 0.9×',
      measured: fmtRatio(value),
      met,
      why: met === false ? overheadEvidence(run, 'Sync') : '',
    });
  }
  const b = find(run, 'B', 'disk');
  if (b !== undefined) {
    const mine = get(b, 'atomic-fs');
    const commits = Math.max(0, ...(mine?.trials.map((trial) => trial.commits ?? 0) ?? []));
    list.push({
      name: `B (disk): commits for a burst of ${run.config.burst}`,
      goal: '≤ 3',
      measured:
        mine === undefined || mine.trials.length === 0
          ? '—'
          : `${commits} (max of ${mine.trials.length} rounds)`,
      met: mine === undefined || mine.trials.length === 0 ? undefined : commits <= 3,
      why: '',
    });
    const value = advantage(b, 'atomic-fs', WRITE_FILE_ATOMIC.name);
    const bMet = atLeast(value, 300);
    const total = med(mine);
    const theirs = med(get(b, WRITE_FILE_ATOMIC.name));
    const issued = median(mine?.trials.map((trial) => trial.issuedMs ?? Number.NaN) ?? []);
    list.push({
      name: 'B (disk): total time vs write-file-atomic',
      goal: '≥ 300× faster',
      measured: fmtRatio(value),
      met: bMet,
      why:
        bMet === false && total !== undefined && theirs !== undefined
          ? `300× needs the burst in ${fmt(theirs / 300)} ms, ${fmt((theirs / 300 / run.config.burst) * 1000)} µs per call; atomic-fs took ${fmt(total)} ms, ${fmt((total / run.config.burst) * 1000)} µs per call, of which ${fmt(issued)} ms passed before the last call returned: every call, even one that will be coalesced away, validates, and resolves the destination on the calling thread with two system calls, an \`lstat\` of the file and a \`stat\` of its directory (the queue key is the directory's identity and the file's name), which a CPU profile of the burst shows to be the largest share of the calling thread's time`
          : '',
    });
    const right =
      mine !== undefined &&
      mine.trials.length > 0 &&
      mine.trials.every((trial) => trial.problems.length === 0);
    list.push({
      name: 'B (disk): final content is the last write',
      goal: 'every round',
      measured:
        mine === undefined
          ? '—'
          : `${mine.trials.filter((trial) => trial.problems.length === 0).length} of ${mine.trials.length} rounds`,
      met: mine === undefined || mine.trials.length === 0 ? undefined : right,
      why: right
        ? ''
        : (mine?.trials.find((trial) => trial.problems.length > 0)?.problems[0] ?? ''),
    });
  }
  const f = find(run, 'F', 'disk');
  if (f !== undefined) {
    const batch = get(f, 'atomic-fs writeFiles');
    const value = advantage(f, 'atomic-fs writeFiles', FLOOR_NAME);
    list.push({
      name: 'F (disk): writeFiles files/s vs the floor',
      goal: '≥ 4×',
      measured: batch === undefined || batch.trials.length === 0 ? 'not measured' : fmtRatio(value),
      met: batch === undefined || batch.trials.length === 0 ? undefined : atLeast(value, 4),
      why:
        batch?.contender.unavailable ??
        batch?.failure ??
        (atLeast(value, 4) === false ? parallelBound(f, FLOOR_NAME, 4) : ''),
    });
    const seq = advantage(f, 'atomic-fs', FLOOR_NAME);
    const seqMet = atLeast(seq, 1.5);
    list.push({
      name: 'F (disk): sequential writeFile files/s vs the floor',
      goal: '≥ 1.5×',
      measured: fmtRatio(seq),
      met: seqMet,
      why:
        seqMet === false
          ? `${bound(f, FLOOR_NAME, 1.5)}; a new file also costs a failing \`lstat\` on the calling thread (Node builds the error as an exception)`
          : '',
    });
  }
  const l = find(run, 'L', 'disk');
  if (l !== undefined) {
    const value = advantage(l, 'atomic-fs', FLOOR_NAME);
    const lMet = atLeast(value, 0.9);
    list.push({
      name: `L (disk): MiB/s vs the floor, ${fmtBytes(run.config.largeBytes)}`,
      goal: '≥ 0.9×',
      measured: fmtRatio(value),
      met: lMet,
      why:
        lMet === false
          ? `${bound(l, FLOOR_NAME, 0.9)}; atomic-fs, like the floor, writes each ${fmtBytes(run.config.chunk)} chunk in its own threadpool round trip`
          : '',
    });
    const mine = get(l, 'atomic-fs');
    const growth = Math.max(0, ...(mine?.trials.map((trial) => trial.rssGrowth ?? 0) ?? []));
    list.push({
      name: 'L (disk): peak RSS growth',
      goal: '≤ 32 MiB',
      measured:
        mine === undefined || mine.trials.length === 0 ? '—' : `${fmt(growth / 2 ** 20)} MiB`,
      met: mine === undefined || mine.trials.length === 0 ? undefined : growth <= 32 * 2 ** 20,
      why: '',
    });
  }
  const st = find(run, 'S', 'tmpfs');
  if (st !== undefined) {
    for (const [other, goal] of [
      [ATOMICALLY.name, 2],
      [WRITE_FILE_ATOMIC.name, 3],
    ] as const) {
      const value = advantage(st, 'atomic-fs', other);
      const met = atLeast(value, goal);
      list.push({
        name: `S (tmpfs): ops/s vs ${other}`,
        goal: `≥ ${goal}×`,
        measured: fmtRatio(value),
        met,
        why: met === false ? overheadEvidence(run, 'S') : '',
      });
    }
  }
  return list;
}

function verdict(met: boolean | undefined): string {
  if (met === undefined) return 'not measured';
  return met ? 'met' : '**missed**';
}

function sweepTable(sweep: SweepResult): string {
  const names = [
    ...new Set(
      sweep.points.flatMap((point) => point.series.map((series) => series.contender.name)),
    ),
  ];
  if (sweep.kind === 'size') {
    const head = [
      'size × writes per trial',
      ...names.flatMap((name) => [`${name} MiB/s`, `${name} ns/byte`]),
      'atomic-fs ÷ floor',
    ];
    const rows = sweep.points.map((point) => {
      const cells = [point.label];
      for (const name of names) {
        const series = point.series.find((entry) => entry.contender.name === name);
        const mib = med(series);
        cells.push(fmt(mib), mib === undefined ? '—' : fmt(1e9 / (mib * 2 ** 20)));
      }
      cells.push(
        fmtRatio(
          ratio(
            med(point.series.find((e) => e.contender.name === 'atomic-fs')),
            med(point.series.find((e) => e.contender.name === FLOOR_NAME)),
          ),
        ),
      );
      return cells;
    });
    return table(head, rows);
  }
  const head = ['files', ...names.flatMap((name) => [`${name} files/s`, `${name} µs/file`])];
  const rows = sweep.points.map((point) => {
    const cells = [String(point.param)];
    for (const name of names) {
      const series = point.series.find((entry) => entry.contender.name === name);
      const rate = med(series);
      const note = series?.failure;
      cells.push(
        note !== undefined && series?.trials.length === 0 ? note : fmt(rate),
        rate === undefined ? '—' : fmt(1e6 / rate),
      );
    }
    return cells;
  });
  return table(head, rows);
}

/** Where the syscall counts were taken, with the path's depth. */
function straceDepth(run: RunResult): string {
  const disk = run.places.find((place) => place.kind === 'disk');
  if (disk === undefined) return '';
  // <disk dir>/strace-<contender>/data.bin
  const depth = disk.dir.split('/').filter((part) => part !== '').length + 2;
  return ` ${depth} path components deep (\`${disk.dir.replace(run.root, '<repo>')}/…/data.bin\`)`;
}

/** A per-write count: whole numbers as such, else two decimals. */
function fmtCount(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(2);
}

function syscallSection(run: RunResult): string {
  if (!Array.isArray(run.syscalls)) return `Not measured: ${run.syscalls.skipped}.`;
  const rows = run.syscalls.map((probe) => {
    if (!('ok' in probe)) return [probe.skipped, '', '', '', '', '', ''];
    const count = probe.ok;
    const calls = count.fileByName.map(([name, value]) => `${name} ${fmtCount(value)}`).join(', ');
    const other = count.otherByName
      .slice(0, 5)
      .map(([name, value]) => `${name} ${fmtCount(value)}`)
      .join(', ');
    return [
      count.contender,
      count.mode,
      fmtCount(count.file),
      calls,
      fmtCount(count.wakeups),
      fmtCount(count.total),
      `${other}${count.ioUring ? ' (io_uring seen!)' : ''}`,
    ];
  });
  return table(
    [
      'contender',
      'API',
      'file-system calls / write',
      'which',
      'event-loop wake-ups / write',
      'all calls / write',
      'other calls / write (top 5)',
    ],
    rows,
  );
}

function profileSection(run: RunResult): string {
  const out: string[] = [];
  const trips = run.roundTrips;
  if (trips.length > 0) {
    out.push(
      'Cost of one hand-off, medians (`fstat` on an open descriptor; a worker thread echoing a job-sized message):',
      '',
      table(
        [
          'file system',
          'sync call µs',
          'threadpool call µs (callback API)',
          'worker-thread round trip µs',
        ],
        trips.map(({ place, value }) => [
          place.kind,
          fmt(value.syncCallUs),
          fmt(value.threadpoolCallUs),
          fmt(value.workerRoundTripUs),
        ]),
      ),
      '',
    );
  }
  for (const { mode, place, result } of run.profiles) {
    out.push(
      `CPU profile (\`node --cpu-prof\`, 100 µs sampling) of ${run.config.profileWrites} ${mode} atomic-fs overwrites of 1 KiB on ${place.kind}; self time, idle excluded:`,
      '',
    );
    if (!('ok' in result)) {
      out.push(`Not measured: ${result.skipped}.`, '');
      continue;
    }
    for (const thread of result.ok) {
      out.push(
        `*${thread.thread}* — busy ${fmt(thread.busyMs)} ms of ${fmt(thread.wallMs)} ms (${fmt((thread.busyMs / run.config.profileWrites) * 1000)} µs per write):`,
        '',
      );
      out.push(
        table(
          ['function', 'self ms', 'share of busy'],
          thread.top.map((entry) => [
            `\`${entry.name.replace(/\|/g, '\\|')}\``,
            fmt(entry.ms),
            `${fmt(entry.share * 100)}%`,
          ]),
        ),
        '',
      );
    }
  }
  return out.join('\n');
}

export function renderReport(run: RunResult): string {
  const lines: string[] = [];
  const push = (...more: string[]): void => {
    lines.push(...more);
  };
  const loads = run.loads;
  push(
    '# Benchmarks',
    '',
    `Generated by \`npm run bench${run.config.quick ? ' -- --quick' : ''}\` on ${run.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC in ${fmt(run.seconds)} s. Every number below comes from that one run; re-run the command rather than editing this file.`,
    '',
  );
  const cores = Number(run.machine.cpu?.split(' ')[0] ?? '1');
  const busiest = Math.max(0, ...run.pressure);
  if (busiest > 10 || Math.max(0, ...loads) > cores) {
    push(
      `> **Noisy run**: other work shared the machine (load average up to ${fmt(Math.max(...loads))} on ${cores} cores, CPU pressure up to ${fmt(busiest)}%). Interleaving keeps the ratios comparable, but a thread that wakes from a wait (an fsync, a message) queues for a CPU, so the disk figures here measure scheduling as much as I/O. Re-run on an idle machine before quoting them.`,
      '',
    );
  }
  if (run.config.quick) {
    push(
      '> **Quick run**: smaller workloads and fewer rounds than the targets are defined for. Use the full `npm run bench` for the targets.',
      '',
    );
  }
  push(
    '## Machine',
    '',
    table(
      ['', ''],
      [
        ...Object.entries(run.machine).map(([key, value]) => [key, value]),
        ...run.places.map((place) => [
          `${place.kind} directory`,
          `${place.fsType} on ${place.device}`,
        ]),
        ...run.skipped.map((reason) => ['skipped', reason]),
        [
          'load average (1 min) during the run',
          `${fmt(Math.min(...loads))} – ${fmt(Math.max(...loads))} (${loads.length} samples; the machine has ${run.machine.cpu?.split(' ')[0] ?? '?'} cores)`,
        ],
        ...(run.pressure.length === 0
          ? []
          : [
              [
                'CPU pressure during the run (PSI some avg10: share of time a runnable task waited for a CPU)',
                `${fmt(Math.min(...run.pressure))}% – ${fmt(Math.max(...run.pressure))}% (0% on an idle machine)`,
              ],
            ]),
      ],
    ),
    '',
    '## Contenders and what they guarantee',
    '',
    'Each contender runs with its defaults. "Durability" is what holds once a write resolves; only `full` survives a power cut right after the call returns.',
    '',
    table(
      ['contender', 'durability'],
      [
        ['atomic-fs `writeFile` / `writeFileSync`', DURABILITY_TEXT.full],
        [`write-file-atomic ${run.machine['write-file-atomic'] ?? ''}`, DURABILITY_TEXT.file],
        [`atomically ${run.machine.atomically ?? ''}`, DURABILITY_TEXT.file],
        [
          `steno ${run.machine.steno ?? ''} (one \`Writer\` per file, as lowdb uses it)`,
          DURABILITY_TEXT[STENO.durability],
        ],
        [
          `${FLOOR_NAME} (reference)`,
          `${DURABILITY_TEXT.full}: open 'wx' → write → fsync → close → rename → open dir → fsync → close, each call awaited`,
        ],
        [
          `${SYNC_FLOOR_NAME} (reference)`,
          `${DURABILITY_TEXT.full}: the same eight calls as synchronous syscalls — the physical floor of the disk`,
        ],
        [
          `${WORKER_FLOOR_NAME} (reference)`,
          `${DURABILITY_TEXT.full}: the same eight synchronous calls on one worker thread, one message there and one back per write — the least an I/O-thread design like atomic-fs's can cost`,
        ],
      ],
    ),
    '',
    `How to read the tables: contenders run interleaved in one process (A B C …, then B C … A, rotating the start each round) after one untimed warm-up each; the value is the median over rounds; "spread" is half the range of the rounds relative to the median; p50/p99 pool the latencies of every operation of every round. "atomic-fs ÷ this" is atomic-fs's median over this contender's (for the burst, this contender's time over atomic-fs's), so > 1 means atomic-fs is faster. Every trial checks the output afterwards (the right bytes, no temp file left); "output correct" counts the trials that passed.`,
    '',
    '## Targets',
    '',
    "From the issue, on the project's disk at `durability: 'full'`, ratios from this run.",
    '',
    table(
      ['target', 'goal', 'measured', 'verdict', 'evidence where missed'],
      targets(run).map((target) => [
        target.name,
        target.goal,
        target.measured,
        verdict(target.met),
        target.why,
      ]),
    ),
    '',
  );
  for (const id of ['S', 'Sync', 'B', 'F', 'L'] as const) {
    const runs = run.workloads.filter((workload) => workload.id === id);
    if (runs.length === 0) continue;
    push(`## ${TITLES[id]}`, '');
    for (const workload of runs) {
      push(
        `**${workload.place.kind}** (${workload.place.fsType}) — ${workload.params}:`,
        '',
        workloadTable(workload),
        '',
      );
    }
  }
  if (run.sweeps.length > 0) {
    push(
      '## Growth',
      '',
      'Cost per byte and per file as the size or the number of files grows (medians over rounds).',
      '',
    );
    for (const sweep of run.sweeps) {
      push(
        `**${sweep.kind === 'size' ? 'File size' : 'File count'} — ${sweep.place.kind}** — ${sweep.params}:`,
        '',
        sweepTable(sweep),
        '',
      );
    }
  }
  push(
    '## System calls per write',
    '',
    `Overwrites of a 1 KiB file${straceDepth(run)} after a warm-up, counted with \`strace -f -y\` (every thread) under \`UV_USE_IO_URING=0\` between two marker calls, divided by ${run.config.straceWrites} writes. atomic-fs resolves the destination with an \`lstat\` of the file and a \`stat\` of its directory whatever the depth; the peers' JavaScript \`realpath\` costs a \`statx\` per path component, so their counts grow with the depth of the path. "File-system calls" are calls on files and directories; the rest are thread hand-offs (futex, epoll, eventfd reads and writes) and memory management. "Event-loop wake-ups" are writes to an eventfd: one per threadpool call that completes, one per message between threads — each is a hand-off between threads, which costs far more than the call itself when the CPUs were idle waiting for the disk.`,
    '',
    syscallSection(run),
    '',
    "## Where atomic-fs's time goes",
    '',
    profileSection(run),
    '',
  );
  return `${lines.join('\n')}\n`;
}

export { TITLES };
