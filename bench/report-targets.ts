/**
 * The targets table: each goal, the ratio measured in this run, met or missed, and for a
 * miss the evidence from the same run (bounds set by the floors, system calls, the calling
 * thread's figures). Every sentence here is assembled from measured numbers, so that the
 * table stays true when the code or the machine changes.
 */
import { ATOMICALLY, WRITE_FILE_ATOMIC } from './contenders.js';
import type { SyscallListing, TraceMode } from './probes.js';
import {
  BATCH_NAME,
  FLOOR_NAME,
  MINE,
  PARALLEL_FLOOR_NAME,
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
  p50,
  pointSeries,
  sweepOf,
  syscallsOf,
} from './report-data.js';
import type { RunResult, WorkloadResult } from './run.js';
import { fmt, fmtBytes, fmtRatio, ratio } from './stats.js';
import { matchFloor } from './syscalls.js';

export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean | undefined;
  readonly why: string;
}

function atLeast(value: number | undefined, goal: number): boolean | undefined {
  return value !== undefined && Number.isFinite(value) ? value >= goal : undefined;
}

function atMost(value: number | undefined, goal: number): boolean | undefined {
  return value !== undefined && Number.isFinite(value) ? value <= goal : undefined;
}

/** Both parts of a two-part goal: false if either is missed, undefined if either is unknown. */
function both(a: boolean | undefined, b: boolean | undefined): boolean | undefined {
  if (a === false || b === false) return false;
  return a === undefined || b === undefined ? undefined : true;
}

/** The calling thread's CPU-profile top functions (async overwrites), for evidence. */
function profileTop(run: RunResult, count: number): string {
  const profile = run.profiles.find((entry) => entry.mode === 'async');
  if (profile === undefined || !('ok' in profile.result)) return '';
  const main = profile.result.ok.find((thread) => thread.thread === 'main thread');
  if (main === undefined || main.top.length === 0) return '';
  const top = main.top
    .slice(0, count)
    .map((entry) => `\`${entry.name.replace(/\|/g, '\\|')}\` ${fmt(entry.share * 100)}%`)
    .join(', ');
  return `the CPU profile of awaited overwrites puts ${fmt((main.busyMs / run.config.profileWrites) * 1000)} µs per write on the main thread, most in ${top}`;
}

/** What strace saw on the calling thread per call in one mode, as a clause. */
function callingClause(run: RunResult, contender: string, mode: TraceMode): string | undefined {
  const count = syscallsOf(run, contender, mode);
  if (count === undefined) return undefined;
  const which = count.calling > 0 ? ` (${byName(count.callingByName)})` : '';
  return `${fmtCount(count.calling)}${which}`;
}

const MODE_TEXT: Readonly<Record<TraceMode, string>> = {
  async: 'awaited overwrites',
  sync: 'synchronous overwrites',
  burst: 'a burst of un-awaited overwrites of one file',
  concurrent: 'un-awaited writes each to its own new file',
};

/** Evidence for an S or Sync miss: calls per write and software overhead on tmpfs. */
function overheadEvidence(run: RunResult, id: 'S' | 'Sync'): string {
  const parts: string[] = [];
  const mode = id === 'S' ? 'async' : 'sync';
  const mine = syscallsOf(run, MINE, mode);
  const floor = syscallsOf(run, id === 'S' ? FLOOR_NAME : SYNC_FLOOR_NAME, mode);
  if (mine !== undefined && floor !== undefined) {
    parts.push(
      `per write atomic-fs makes ${fmtCount(mine.file)} file-system calls (${fmtCount(mine.calling)} on the calling thread; ${fmtCount(mine.total)} system calls in all, ${fmtCount(mine.wakeups)} event-loop wake-ups) against the floor's ${fmtCount(floor.file)} (${fmtCount(floor.calling)}; ${fmtCount(floor.total)}, ${fmtCount(floor.wakeups)})`,
    );
  }
  const extra = extraCalls(run, mode);
  if (extra !== '') parts.push(`the calls beyond the floor's: ${extra}`);
  const tmpfs = find(run, id, 'tmpfs');
  const a = p50(tmpfs, MINE);
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

/** The kinds of call one atomic-fs overwrite makes beyond the floor's (from the listings). */
function extraCalls(run: RunResult, mode: 'async' | 'sync'): string {
  const listing = (contender: string): SyscallListing | undefined => {
    for (const probe of run.listings) {
      if ('ok' in probe && probe.ok.contender === contender && probe.ok.mode === mode) {
        return probe.ok;
      }
    }
    return undefined;
  };
  const mine = listing(MINE);
  const floor = listing(mode === 'async' ? FLOOR_NAME : SYNC_FLOOR_NAME);
  if (mine === undefined || floor === undefined) return '';
  const matched = matchFloor(mine.calls, floor.calls);
  return mine.calls
    .filter((_, i) => matched[i] === false)
    .map((call) => `${call.kind} (\`${call.name}\`, ${call.thread} thread)`)
    .join(', ');
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
  const share = advantage(workload, BATCH_NAME, PARALLEL_FLOOR_NAME);
  return `the floor's own calls issued for every file at once (${PARALLEL_FLOOR_NAME}: a file fsync and a directory fsync per file, all in flight together) reached ${fmtRatio(limit)} ${other}${limit < goal ? ', short of the goal themselves' : ''}; writeFiles, with one directory fsync for the batch, was ${fmtRatio(share)} that`;
}

/** Evidence for a C miss: the one-thread bound, how each writer scales, the calling thread. */
function concurrencyEvidence(run: RunResult, c: WorkloadResult): string {
  const parts: string[] = [];
  const worker = advantage(c, WORKER_FLOOR_NAME, FLOOR_NAME);
  if (Number.isFinite(worker)) {
    parts.push(
      `the floor's eight calls made one write after another on one worker thread, issued the same way, reached ${fmtRatio(worker)} the floor: that is what writes funnelled through one thread get`,
    );
  }
  const sweep = sweepOf(run, 'writers', 'disk');
  const first = sweep?.points[0];
  const last = sweep?.points.at(-1);
  if (sweep !== undefined && first !== undefined && last !== undefined && first !== last) {
    const growth = (name: string): string | undefined => {
      const a = med(pointSeries(first, name));
      const b = med(pointSeries(last, name));
      if (a === undefined || b === undefined) return undefined;
      return `${name} ${fmt(a)} → ${fmt(b)} files/s (${fmtRatio(ratio(b, a))})`;
    };
    const lines = [MINE, FLOOR_NAME, WORKER_FLOOR_NAME]
      .map(growth)
      .filter((line) => line !== undefined);
    if (lines.length > 0) {
      parts.push(`from ${first.param} to ${last.param} concurrent writers: ${lines.join(', ')}`);
    }
  }
  const mine = syscallsOf(run, MINE, 'concurrent');
  const floor = syscallsOf(run, FLOOR_NAME, 'concurrent');
  if (mine !== undefined && floor !== undefined) {
    parts.push(
      `per call under strace atomic-fs made ${fmtCount(mine.file)} file-system calls, ${fmtCount(mine.calling)} of them on the calling thread, and ${fmtCount(mine.wakeups)} event-loop wake-ups; the floor ${fmtCount(floor.file)}, ${fmtCount(floor.calling)}, ${fmtCount(floor.wakeups)}`,
    );
  }
  const issued = medianOf(get(c, MINE), issuedUsPerCall);
  if (issued !== undefined) parts.push(`issuing took ${fmt(issued)} µs per call`);
  return parts.join('; ');
}

/** Evidence for a miss of the calling-thread goal. */
function callingEvidence(run: RunResult): string {
  const parts: string[] = [];
  const clauses = (['async', 'burst', 'concurrent'] as const)
    .map((mode) => {
      const clause = callingClause(run, MINE, mode);
      return clause === undefined ? undefined : `${clause} per call in ${MODE_TEXT[mode]}`;
    })
    .filter((clause) => clause !== undefined);
  if (clauses.length > 0) {
    parts.push(`file-system calls on the calling thread under strace: ${clauses.join('; ')}`);
  }
  for (const id of ['B', 'C'] as const) {
    const series = get(find(run, id, 'disk'), MINE);
    const busy = medianOf(series, busyUsPerCall);
    const delay = maxOf(series, (trial) => trial.loop?.delayMaxMs);
    if (busy !== undefined && delay !== undefined) {
      parts.push(
        `in ${id} the event loop was busy ${fmt(busy)} µs per call in all (issuing and completing) and its largest delay was ${fmt(delay)} ms`,
      );
    }
  }
  const profile = profileTop(run, 3);
  if (profile !== '') parts.push(profile);
  return parts.join('; ');
}

/** µs per write at a size sweep's point, from its MiB/s. */
function usPerWrite(mibs: number | undefined, size: number): number | undefined {
  return mibs === undefined ? undefined : (size / 2 ** 20 / mibs) * 1e6;
}

/** The targets of this round of work, in the order the issue lists them. */
export function currentTargets(run: RunResult): Target[] {
  const list: Target[] = [];
  const c = find(run, 'C', 'disk');
  if (c !== undefined) {
    const value = advantage(c, MINE, FLOOR_NAME);
    const met = atLeast(value, 1.5);
    list.push({
      name: `C (disk): ${run.config.concurrent} concurrent writeFile calls to new files vs the floor's calls issued the same way`,
      goal: '≥ 1.5×',
      measured: fmtRatio(value),
      met,
      why: met === false ? concurrencyEvidence(run, c) : '',
    });
  }
  const b = find(run, 'B', 'disk');
  if (b !== undefined) {
    const mine = get(b, MINE);
    const value = advantage(b, MINE, WRITE_FILE_ATOMIC.name);
    const issued = medianOf(mine, (trial) => trial.issuedMs);
    const met = both(atLeast(value, 300), atMost(issued, 2));
    const total = med(mine);
    const theirs = med(get(b, WRITE_FILE_ATOMIC.name));
    const burst = run.config.burst;
    const parts: string[] = [];
    if (met === false && total !== undefined && theirs !== undefined && issued !== undefined) {
      parts.push(
        `300× needs the burst in ${fmt(theirs / 300)} ms, ${fmt((theirs / 300 / burst) * 1000)} µs per call; atomic-fs took ${fmt(total)} ms, ${fmt((total / burst) * 1000)} µs per call, of which ${fmt(issued)} ms (${fmt((issued / burst) * 1000)} µs per call) passed before the last call returned`,
      );
      const clause = callingClause(run, MINE, 'burst');
      if (clause !== undefined) {
        parts.push(
          `under strace a burst made ${clause} file-system calls per call on the calling thread`,
        );
      }
    }
    list.push({
      name: `B (disk): burst of ${burst} to one file vs write-file-atomic; the last call returns within 2 ms of the first`,
      goal: '≥ 300× and ≤ 2 ms',
      measured: issued === undefined ? fmtRatio(value) : `${fmtRatio(value)}; ${fmt(issued)} ms`,
      met,
      why: parts.join('; '),
    });
  }
  {
    const bUs = medianOf(get(find(run, 'B', 'disk'), MINE), issuedUsPerCall);
    const cUs = medianOf(get(find(run, 'C', 'disk'), MINE), issuedUsPerCall);
    const counts = (['async', 'burst', 'concurrent'] as const)
      .map((mode) => syscallsOf(run, MINE, mode)?.calling)
      .filter((count) => count !== undefined);
    const times = [bUs, cUs].filter((us) => us !== undefined);
    const timeMet = times.length === 0 ? undefined : Math.max(...times) <= 2;
    const callsMet = counts.length === 0 ? undefined : counts.every((count) => count === 0);
    const met = both(timeMet, callsMet);
    const measuredParts = [
      bUs === undefined ? undefined : `B ${fmt(bUs)} µs`,
      cUs === undefined ? undefined : `C ${fmt(cUs)} µs`,
      counts.length === 0
        ? undefined
        : `${counts.map(fmtCount).join(' / ')} fs calls (awaited / burst / concurrent)`,
    ].filter((part) => part !== undefined);
    list.push({
      name: 'calling-thread time per async call (validation and queueing; no blocking system call), and file-system calls on the calling thread',
      goal: '≤ 2 µs and 0 calls',
      measured: measuredParts.length === 0 ? '—' : measuredParts.join('; '),
      met,
      why: met === false ? callingEvidence(run) : '',
    });
  }
  const s = find(run, 'S', 'disk');
  if (s !== undefined) {
    const value = advantage(s, MINE, WORKER_FLOOR_NAME);
    const met = atLeast(value, 0.95);
    list.push({
      name: `S (disk): awaited ${fmtBytes(run.config.smallSize)} overwrites vs the same sync calls on one worker`,
      goal: '≥ 0.95×',
      measured: fmtRatio(value),
      met,
      why: met === false ? overheadEvidence(run, 'S') : '',
    });
  }
  const sync = find(run, 'Sync', 'disk');
  if (sync !== undefined) {
    const value = advantage(sync, MINE, SYNC_FLOOR_NAME);
    const met = atLeast(value, 0.95);
    list.push({
      name: 'Sync (disk): writeFileSync vs the sync floor',
      goal: '≥ 0.95×',
      measured: fmtRatio(value),
      met,
      why: met === false ? overheadEvidence(run, 'Sync') : '',
    });
  }
  for (const kind of ['disk', 'tmpfs'] as const) {
    const l = find(run, 'L', kind);
    if (l === undefined) continue;
    const value = advantage(l, MINE, FLOOR_NAME);
    const met = atLeast(value, 0.9);
    list.push({
      name: `L (${kind}): ${fmtBytes(run.config.largeBytes)} from an async generator vs the floor`,
      goal: '≥ 0.9×',
      measured: fmtRatio(value),
      met,
      why: met === false ? bound(l, FLOOR_NAME, 0.9) : '',
    });
  }
  const size = 64 * 1024;
  for (const kind of ['disk', 'tmpfs'] as const) {
    const point = sweepOf(run, 'size', kind)?.points.find((p) => p.param === size);
    if (point === undefined) continue;
    const mine = med(pointSeries(point, MINE));
    const floor = med(pointSeries(point, FLOOR_NAME));
    const syncFloor = med(pointSeries(point, SYNC_FLOOR_NAME));
    const value = ratio(mine, floor);
    const met = atLeast(value, 1);
    const a = usPerWrite(mine, size);
    const f = usPerWrite(floor, size);
    const y = usPerWrite(syncFloor, size);
    list.push({
      name: `whole ${fmtBytes(size)} buffers (${kind}) vs the floor`,
      goal: '≥ 1×',
      measured: fmtRatio(value),
      met,
      why:
        met === false && a !== undefined && f !== undefined
          ? `a ${fmtBytes(size)} write took ${fmt(a)} µs against the floor's ${fmt(f)} µs${y === undefined ? '' : ` (the sync floor, with no thread hand-offs: ${fmt(y)} µs)`}: ${fmt(a - f)} µs more per write`
          : '',
    });
  }
  const f = find(run, 'F', 'disk');
  if (f !== undefined) {
    const batch = get(f, BATCH_NAME);
    const value = advantage(f, BATCH_NAME, FLOOR_NAME);
    const measured = batch === undefined || batch.trials.length === 0;
    list.push({
      name: `F (disk): writeFiles of ${run.config.files} new files vs the floor`,
      goal: '≥ 4×',
      measured: measured ? 'not measured' : fmtRatio(value),
      met: measured ? undefined : atLeast(value, 4),
      why:
        batch?.contender.unavailable ??
        batch?.failure ??
        (atLeast(value, 4) === false ? parallelBound(f, FLOOR_NAME, 4) : ''),
    });
  }
  return list;
}

/** Targets set by earlier rounds of work, still tracked. */
export function earlierTargets(run: RunResult): Target[] {
  const list: Target[] = [];
  const s = find(run, 'S', 'disk');
  if (s !== undefined) {
    for (const [other, goal] of [
      [ATOMICALLY.name, 2],
      [WRITE_FILE_ATOMIC.name, 3],
      [FLOOR_NAME, 1.5],
    ] as const) {
      const value = advantage(s, MINE, other);
      const met = atLeast(value, goal);
      list.push({
        name: `S (disk): ops/s vs ${other}`,
        goal: `≥ ${goal}×`,
        measured: fmtRatio(value),
        met,
        why: met === false ? bound(s, other, goal) : '',
      });
    }
  }
  const b = find(run, 'B', 'disk');
  if (b !== undefined) {
    const mine = get(b, MINE);
    const rounds = mine?.trials.length ?? 0;
    const commits = Math.max(0, ...(mine?.trials.map((trial) => trial.commits ?? 0) ?? []));
    list.push({
      name: `B (disk): commits for a burst of ${run.config.burst}`,
      goal: '≤ 3',
      measured: rounds === 0 ? '—' : `${commits} (max of ${rounds} rounds)`,
      met: rounds === 0 ? undefined : commits <= 3,
      why: '',
    });
    const right = (mine?.trials ?? []).filter((trial) => trial.problems.length === 0).length;
    list.push({
      name: 'B (disk): final content is the last write',
      goal: 'every round',
      measured: rounds === 0 ? '—' : `${right} of ${rounds} rounds`,
      met: rounds === 0 ? undefined : right === rounds,
      why:
        right === rounds
          ? ''
          : (mine?.trials.find((trial) => trial.problems.length > 0)?.problems[0] ?? ''),
    });
  }
  const f = find(run, 'F', 'disk');
  if (f !== undefined) {
    const seq = advantage(f, MINE, FLOOR_NAME);
    const met = atLeast(seq, 1.5);
    list.push({
      name: 'F (disk): sequential writeFile files/s vs the floor',
      goal: '≥ 1.5×',
      measured: fmtRatio(seq),
      met,
      why: met === false ? bound(f, FLOOR_NAME, 1.5) : '',
    });
  }
  const l = find(run, 'L', 'disk');
  if (l !== undefined) {
    const mine = get(l, MINE);
    const growth = maxOf(mine, (trial) => trial.rssGrowth);
    list.push({
      name: 'L (disk): peak RSS growth',
      goal: '≤ 32 MiB',
      measured: growth === undefined ? '—' : `${fmt(growth / 2 ** 20)} MiB`,
      met: atMost(growth, 32 * 2 ** 20),
      why: '',
    });
  }
  const st = find(run, 'S', 'tmpfs');
  if (st !== undefined) {
    for (const [other, goal] of [
      [ATOMICALLY.name, 2],
      [WRITE_FILE_ATOMIC.name, 3],
    ] as const) {
      const value = advantage(st, MINE, other);
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

export function verdict(met: boolean | undefined): string {
  if (met === undefined) return 'not measured';
  return met ? 'met' : '**missed**';
}
