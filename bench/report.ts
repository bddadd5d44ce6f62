/**
 * BENCHMARKS.md from one run: machine and versions, what each contender guarantees, the
 * targets with measured ratios, a table per workload and file system, the calling thread's
 * work per async call, the growth sweeps with their charts, the peak-RSS run, system calls
 * per write (and what each call of one overwrite is for), and where atomic-fs's time goes.
 */
import { DURABILITY_TEXT, STENO } from './contenders.js';
import type { WorkloadId } from './config.js';
import type { Figure } from './figures.js';
import type { PlaceKind } from './places.js';
import {
  BATCH_NAME,
  FLOOR_NAME,
  METRIC,
  MINE,
  SYNC_FLOOR_NAME,
  WORKER_FLOOR_NAME,
  advantage,
  busyUsPerCall,
  byName,
  find,
  fmtCount,
  get,
  issuedUsPerCall,
  maxOf,
  med,
  medianOf,
  pointSeries,
  pooled,
  syscallsOf,
  values,
} from './report-data.js';
import { type Target, currentTargets, earlierTargets, verdict } from './report-targets.js';
import type { RunResult, SweepResult, WorkloadResult } from './run.js';
import { fmt, fmtRatio, median, quantile, ratio, table } from './stats.js';
import { UNEXPLAINED, matchFloor } from './syscalls.js';
import type { Series } from './workloads.js';

/** A chart written for this report, with its path relative to the report. */
export type ChartLink = Figure & { readonly href: string };

const TITLES: Readonly<Record<WorkloadId, string>> = {
  S: 'S — 1 KiB to one file, sequential, awaited',
  Sync: 'Sync — 1 KiB to one file with the synchronous API',
  B: 'B — a burst of un-awaited writes to one file',
  C: 'C — concurrent writes, each to its own new file (`Promise.all`)',
  F: 'F — 1 KiB to many new files in one directory',
  L: 'L — a large file streamed from an async generator',
};

/** The new column's header: what it measures, in the words of the goal. */
const CALLING_COLUMN =
  'calling-thread µs per async call (validation and queueing; no blocking system call)';

/** Spread of the rounds: (max − min) / median, as ±half of it in percent. */
function spread(series: Series): string {
  const all = values(series);
  if (all.length < 2) return '—';
  const mid = median(all);
  return `±${fmt(((Math.max(...all) - Math.min(...all)) / mid / 2) * 100)}%`;
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

function durabilityOf(series: Series): string {
  return series.contender.durability === 'full'
    ? 'full'
    : series.contender.durability === 'file'
      ? 'file, no dir fsync'
      : '**none**';
}

/** `12.3 / 4.56` from the trials' largest and 99th-percentile event-loop delays. */
function loopDelay(series: Series): string {
  const max = maxOf(series, (trial) => trial.loop?.delayMaxMs);
  const p99 = medianOf(series, (trial) => trial.loop?.delayP99Ms);
  if (max === undefined || p99 === undefined) return '—';
  return `${fmt(max)} / ${fmt(p99)}`;
}

function workloadTable(workload: WorkloadResult): string {
  const { unit, higher } = METRIC[workload.id];
  const head = ['contender', 'durability', `${unit} (median)`, 'spread'];
  const latency = workload.id === 'S' || workload.id === 'Sync';
  const calling = workload.id === 'B' || workload.id === 'C';
  if (latency) head.push('p50 µs', 'p99 µs');
  if (calling) {
    head.push(
      'ms until the last call returned',
      CALLING_COLUMN,
      'event-loop delay ms (max / p99)',
      'event loop busy µs per call (all of it)',
    );
  }
  if (workload.id === 'B') head.push('commits (max)');
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
    if (calling) {
      row.push(
        fmt(medianOf(series, (trial) => trial.issuedMs)),
        fmt(medianOf(series, issuedUsPerCall)),
        loopDelay(series),
        fmt(medianOf(series, busyUsPerCall)),
      );
    }
    if (workload.id === 'B') {
      row.push(String(Math.max(...series.trials.map((trial) => trial.commits ?? 0))));
    }
    if (workload.id === 'L') {
      row.push(`${fmt((maxOf(series, (trial) => trial.rssGrowth) ?? 0) / 2 ** 20)} MiB`);
    }
    row.push(
      series.contender.name === MINE
        ? '1×'
        : fmtRatio(advantage(workload, MINE, series.contender.name)),
      correctness(series),
    );
    return row;
  });
  return table(head, rows);
}

function targetTable(list: readonly Target[]): string {
  return table(
    ['target', 'goal', 'measured', 'verdict', 'evidence where missed (from this run)'],
    list.map((target) => [
      target.name,
      target.goal,
      target.measured,
      verdict(target.met),
      // A pipe would end the cell; the ones already escaped stay as they are.
      target.why.replace(/(?<!\\)\|/g, '\\|'),
    ]),
  );
}

const SWEEP_UNIT: Readonly<Record<SweepResult['kind'], string>> = {
  size: 'MiB/s',
  count: 'files/s',
  writers: 'files/s',
};

function sweepNames(sweep: SweepResult): string[] {
  return [
    ...new Set(
      sweep.points.flatMap((point) => point.series.map((series) => series.contender.name)),
    ),
  ];
}

function sweepTable(sweep: SweepResult): string {
  const names = sweepNames(sweep);
  const unit = SWEEP_UNIT[sweep.kind];
  const first =
    sweep.kind === 'size'
      ? 'size × writes per trial'
      : sweep.kind === 'count'
        ? 'files'
        : 'writers';
  const head = [first, ...names.map((name) => `${name} ${unit}`)];
  if (sweep.kind === 'size') head.push('atomic-fs ns/byte', 'atomic-fs ÷ floor');
  if (sweep.kind === 'count')
    head.push('atomic-fs µs/file', 'writeFiles ÷ floor', 'atomic-fs ÷ floor');
  if (sweep.kind === 'writers') head.push('atomic-fs ÷ floor');
  const rows = sweep.points.map((point) => {
    const cells = [sweep.kind === 'size' ? point.label : String(point.param)];
    for (const name of names) {
      const series = pointSeries(point, name);
      const note = series?.failure;
      cells.push(
        series === undefined
          ? 'not run'
          : note !== undefined && series.trials.length === 0
            ? note
            : fmt(med(series)),
      );
    }
    const mine = med(pointSeries(point, MINE));
    const floor = med(pointSeries(point, FLOOR_NAME));
    if (sweep.kind === 'size') {
      cells.push(
        mine === undefined ? '—' : fmt(1e9 / (mine * 2 ** 20)),
        fmtRatio(ratio(mine, floor)),
      );
    }
    if (sweep.kind === 'count') {
      cells.push(
        mine === undefined ? '—' : fmt(1e6 / mine),
        fmtRatio(ratio(med(pointSeries(point, BATCH_NAME)), floor)),
        fmtRatio(ratio(mine, floor)),
      );
    }
    if (sweep.kind === 'writers') cells.push(fmtRatio(ratio(mine, floor)));
    return cells;
  });
  return table(head, rows);
}

function chartsFor(
  charts: readonly ChartLink[],
  kind: SweepResult['kind'],
  place: string,
): string[] {
  return charts
    .filter((chart) => chart.kind === kind && chart.place === place)
    .map((chart) => `![${chart.title}](${chart.href})`);
}

/** The place whose figures stand for the run: the disk, when the run had one. */
function mainPlace(run: RunResult): PlaceKind {
  return run.places.some((place) => place.kind === 'disk')
    ? 'disk'
    : (run.places[0]?.kind ?? 'disk');
}

/** The calling thread's work per async call: timings from B and C, and strace's counts. */
function callingSection(run: RunResult, kind: PlaceKind): string {
  const names = [
    ...new Set(
      run.workloads
        .filter((workload) => workload.id === 'B' || workload.id === 'C')
        .flatMap((workload) => workload.series.map((series) => series.contender.name)),
    ),
  ];
  const b = find(run, 'B', kind);
  const c = find(run, 'C', kind);
  const modes = ['async', 'burst', 'concurrent'] as const;
  const rows = names.map((name) => {
    const counts = modes.map((mode) => syscallsOf(run, name, mode));
    const which = [
      ...new Set(counts.flatMap((count) => count?.callingByName.map(([call]) => call) ?? [])),
    ];
    return [
      name,
      fmt(medianOf(get(b, name), issuedUsPerCall)),
      fmt(medianOf(get(c, name), issuedUsPerCall)),
      `${fmt(maxOf(get(b, name), (t) => t.loop?.delayMaxMs))} / ${fmt(maxOf(get(c, name), (t) => t.loop?.delayMaxMs))}`,
      ...counts.map((count) => (count === undefined ? '—' : fmtCount(count.calling))),
      which.length === 0 ? '' : which.join(', '),
    ];
  });
  return table(
    [
      'contender',
      `${CALLING_COLUMN}, B`,
      'the same, C',
      'largest event-loop delay ms, B / C',
      'fs calls on the calling thread per call: awaited overwrites',
      'burst to one file',
      'concurrent new files',
      'which',
    ],
    rows,
  );
}

function rssSection(run: RunResult): string {
  const out: string[] = [];
  for (const entry of run.rss) {
    out.push(`**${entry.place.kind}** (${entry.place.fsType}) — ${entry.params}:`, '');
    const rows = entry.series.map((series) => {
      if (series.trials.length === 0) {
        return [series.contender.name, series.failure ?? '—', '', '', '', ''];
      }
      const peak = maxOf(series, (trial) => trial.peakRss);
      const growth = maxOf(series, (trial) => trial.rssGrowth);
      const since = series.trials.some((trial) => trial.peakSinceStart === true)
        ? ' (since the child started)'
        : '';
      return [
        series.contender.name,
        fmt(med(series)),
        peak === undefined ? '—' : `${fmt(peak / 2 ** 20)} MiB${since}`,
        peak === undefined || growth === undefined ? '—' : `${fmt((peak - growth) / 2 ** 20)} MiB`,
        growth === undefined ? '—' : `${fmt(growth / 2 ** 20)} MiB`,
        correctness(series),
      ];
    });
    out.push(
      table(
        [
          'contender',
          'files/s (median)',
          'peak RSS (max)',
          'RSS before the writes',
          'growth (max)',
          'output correct',
        ],
        rows,
      ),
      '',
    );
  }
  return out.join('\n');
}

/** Where the syscall counts were taken, with the path's depth. */
function straceDepth(run: RunResult): string {
  const disk = run.places.find((place) => place.kind === 'disk');
  if (disk === undefined) return '';
  // <disk dir>/strace-<contender>/data.bin
  const depth = disk.dir.split('/').filter((part) => part !== '').length + 2;
  return ` ${depth} path components deep (\`${disk.dir.replace(run.root, '<repo>')}/…/data.bin\`)`;
}

function syscallSection(run: RunResult): string {
  if (!Array.isArray(run.syscalls)) return `Not measured: ${run.syscalls.skipped}.`;
  const rows = run.syscalls.flatMap((probe) => {
    if (!('ok' in probe)) return [[probe.skipped, '', '', '', '', '', '', '']];
    const count = probe.ok;
    if (count.mode !== 'async' && count.mode !== 'sync') return [];
    const other = byName(count.otherByName.slice(0, 5));
    return [
      [
        count.contender,
        count.mode,
        fmtCount(count.file),
        byName(count.fileByName),
        count.mode === 'sync' ? '(all)' : fmtCount(count.calling),
        fmtCount(count.wakeups),
        fmtCount(count.total),
        `${other}${count.ioUring ? ' (io_uring seen!)' : ''}`,
      ],
    ];
  });
  return table(
    [
      'contender',
      'API',
      'file-system calls / write',
      'which',
      'of them on the calling thread',
      'event-loop wake-ups / write',
      'all calls / write',
      'other calls / write (top 5)',
    ],
    rows,
  );
}

/** One overwrite call by call, with what each call is for and whether the floor makes it. */
function listingSection(run: RunResult): string {
  if (run.listings.length === 0) return 'Not measured (--only).';
  const out: string[] = [];
  const byKey = new Map<string, (typeof run.listings)[number]>();
  for (const probe of run.listings) {
    if ('ok' in probe) byKey.set(`${probe.ok.contender} ${probe.ok.mode}`, probe);
    else out.push(`Not measured: ${probe.skipped}.`, '');
  }
  for (const mode of ['async', 'sync'] as const) {
    const mine = byKey.get(`${MINE} ${mode}`);
    const floorName = mode === 'async' ? FLOOR_NAME : SYNC_FLOOR_NAME;
    const floor = byKey.get(`${floorName} ${mode}`);
    if (mine === undefined || !('ok' in mine)) continue;
    const calls = mine.ok.calls;
    const floorCalls = floor !== undefined && 'ok' in floor ? floor.ok.calls : undefined;
    const matched = floorCalls === undefined ? undefined : matchFloor(calls, floorCalls);
    const extra = calls.filter((_, i) => matched?.[i] === false);
    const unexplained = calls.filter((call) => call.reason === UNEXPLAINED).length;
    const onCalling = calls.filter((call) => call.thread === 'calling').length;
    const summary = [
      `**atomic-fs \`${mode === 'async' ? 'writeFile' : 'writeFileSync'}\`**: ${calls.length} file-system calls for one overwrite`,
      mode === 'async' ? `, ${onCalling} of them on the calling thread` : '',
      floorCalls === undefined
        ? ''
        : `; ${floorName} makes ${floorCalls.length}, and the ${extra.length} beyond its calls are ${extra.map((call) => `${call.kind} (\`${call.name}\`)`).join(', ') || 'none'}`,
      unexplained > 0 ? `; **${unexplained} call(s) have no reason in bench/syscalls.ts**` : '',
      ':',
    ].join('');
    out.push(
      summary,
      '',
      table(
        [
          '#',
          'thread',
          'call (as strace shows it)',
          'kind',
          'the floor makes it too',
          'what it buys',
        ],
        calls.map((call, i) => [
          String(i + 1),
          call.thread,
          `\`${call.text.replace(/\|/g, '\\|').replace(/`/g, "'")}\``,
          call.kind,
          matched === undefined ? '—' : matched[i] === true ? 'yes' : '**no**',
          call.reason === UNEXPLAINED ? `**${UNEXPLAINED}**` : call.reason.replace(/\|/g, '\\|'),
        ]),
      ),
      '',
    );
  }
  return out.join('\n');
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

export function renderReport(run: RunResult, charts: readonly ChartLink[] = []): string {
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
    "On the project's disk (and tmpfs where a goal names it) at `durability: 'full'`, ratios from this run. Where a target is missed, the evidence column gives the measured reason: bounds set by the floors in the same run, system calls counted under strace, and the calling thread's figures.",
    '',
    targetTable(currentTargets(run)),
    '',
    'Earlier targets, still tracked:',
    '',
    targetTable(earlierTargets(run)),
    '',
  );
  for (const id of ['S', 'Sync', 'B', 'C', 'F', 'L'] as const) {
    const runs = run.workloads.filter((workload) => workload.id === id);
    if (runs.length === 0) continue;
    push(`## ${TITLES[id]}`, '');
    if (id === 'B' || id === 'C') {
      push(
        `"${CALLING_COLUMN}" is the time from the first call until the last call had returned its promise, divided by the calls: work done on the calling thread while no write can have completed yet. The event-loop delay is that of a 1 ms timer (\`perf_hooks.monitorEventLoopDelay\`) while the calls ran and settled; "event loop busy" is the loop's active time (\`performance.eventLoopUtilization\`) over the same span, per call: issuing, completions and promise resolution.`,
        '',
      );
    }
    for (const workload of runs) {
      push(
        `**${workload.place.kind}** (${workload.place.fsType}) — ${workload.params}:`,
        '',
        workloadTable(workload),
        '',
      );
    }
  }
  if (run.workloads.some((workload) => workload.id === 'B' || workload.id === 'C')) {
    push(
      '## The calling thread, per async call',
      '',
      `What an async call costs the thread that makes it, on ${mainPlace(run) === 'disk' ? 'the disk' : mainPlace(run)}: the time until every call had returned (B and C above), the largest event-loop delay, and the file-system calls that strace saw on the calling thread (the main thread, whose thread id is the process id) per call — for awaited overwrites, a burst to one file, and un-awaited writes to new files. Each such call blocks the event loop for as long as the file system takes; on a network file system or a loaded disk, milliseconds.`,
      '',
      callingSection(run, mainPlace(run)),
      '',
    );
  }
  const writers = run.sweeps.filter((sweep) => sweep.kind === 'writers');
  if (writers.length > 0) {
    push(
      '## Concurrent writers to distinct files',
      '',
      'Files per second as the number of concurrent writers grows (medians over rounds). Each writer awaits its own writes one after another; no two writers share a file. At 1 writer this is one-by-one writing; at the most, every file of the trial is in flight at once (as in C).',
      '',
    );
    for (const sweep of writers) {
      push(
        `**${sweep.place.kind}** (${sweep.place.fsType}) — ${sweep.params}:`,
        '',
        sweepTable(sweep),
        '',
        ...chartsFor(charts, 'writers', sweep.place.kind).flatMap((image) => [image, '']),
      );
    }
  }
  const growth = run.sweeps.filter((sweep) => sweep.kind !== 'writers');
  if (growth.length > 0) {
    push(
      '## Growth',
      '',
      'Cost per byte and per file as the size or the number of files grows (medians over rounds).',
      '',
    );
    for (const sweep of growth) {
      push(
        `**${sweep.kind === 'size' ? 'File size' : 'File count'} — ${sweep.place.kind}** — ${sweep.params}:`,
        '',
        sweepTable(sweep),
        '',
        ...chartsFor(charts, sweep.kind, sweep.place.kind).flatMap((image) => [image, '']),
      );
    }
  }
  if (run.rss.length > 0) {
    push(
      `## Peak memory with ${run.rss[0]?.files.toLocaleString('en-US') ?? ''} files`,
      '',
      'The resident set of a process that writes this many new files at once: `writeFiles`, `writeFile` once per file under one `Promise.all`, and the floor issued the same way.',
      '',
      rssSection(run),
    );
  }
  if (charts.length > 0) {
    const dirs = [...new Set(charts.map((chart) => chart.href.replace(/[^/]*$/, '')))];
    push(
      `The charts are SVG files written by this run into \`${dirs.join('`, `') || './'}\`, beside this report.`,
      '',
    );
  }
  push(
    '## System calls per write',
    '',
    `Overwrites of a 1 KiB file${straceDepth(run)} after a warm-up, counted with \`strace -f -y\` (every thread) under \`UV_USE_IO_URING=0\` between two marker calls, divided by ${run.config.straceWrites} writes. The peers' JavaScript \`realpath\` costs a \`statx\` per path component, so their counts grow with the depth of the path. "File-system calls" are calls on files and directories; the rest are thread hand-offs (futex, epoll, eventfd reads and writes) and memory management. "On the calling thread" counts the file-system calls the main thread made itself. "Event-loop wake-ups" are writes to an eventfd: one per threadpool call that completes, one per message between threads — each is a hand-off between threads, which costs far more than the call itself when the CPUs were idle waiting for the disk.`,
    '',
    syscallSection(run),
    '',
    '## What each file-system call of one overwrite buys',
    '',
    "One overwrite of a 1 KiB file after a warm-up, traced with `strace -f -y`, call by call in the order the calls started, beside the floor's. Each call's reason comes from a table in `bench/syscalls.ts` keyed by what the call does and what it acts on; a call missing from that table is shown as unexplained (and fails `test/bench/syscalls.test.ts`).",
    '',
    listingSection(run),
    '',
    "## Where atomic-fs's time goes",
    '',
    profileSection(run),
    '',
  );
  return `${lines.join('\n')}\n`;
}
