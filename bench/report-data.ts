/**
 * Reading a run's results for the report: the series of a workload, medians, ratios, the
 * per-call figures of the calling thread, and the syscall counts. Shared by report.ts and
 * report-targets.ts.
 */
import type { WorkloadId } from './config.js';
import type { PlaceKind } from './places.js';
import type { SyscallCount, TraceMode } from './probes.js';
import type { RunResult, SweepPoint, SweepResult, WorkloadResult } from './run.js';
import { median, quantile, ratio } from './stats.js';
import type { Series, Trial } from './workloads.js';

export const FLOOR_NAME = 'floor: fs/promises';
export const SYNC_FLOOR_NAME = 'floor: sync calls';
export const WORKER_FLOOR_NAME = 'floor: sync calls on a worker';
export const PARALLEL_FLOOR_NAME = 'floor: fs/promises ×N, Promise.all';
export const BATCH_NAME = 'atomic-fs writeFiles';
export const MINE = 'atomic-fs';

export const METRIC: Readonly<Record<WorkloadId, { unit: string; higher: boolean }>> = {
  S: { unit: 'ops/s', higher: true },
  Sync: { unit: 'ops/s', higher: true },
  B: { unit: 'ms total', higher: false },
  C: { unit: 'files/s', higher: true },
  F: { unit: 'files/s', higher: true },
  L: { unit: 'MiB/s', higher: true },
};

export function values(series: Series | undefined): number[] {
  return series?.trials.map((trial) => trial.value) ?? [];
}

export function med(series: Series | undefined): number | undefined {
  const all = values(series);
  return all.length === 0 ? undefined : median(all);
}

/** The median over a series' trials of one figure (undefined where no trial has it). */
export function medianOf(
  series: Series | undefined,
  pick: (trial: Trial) => number | undefined,
): number | undefined {
  const all = (series?.trials ?? [])
    .map(pick)
    .filter((value): value is number => value !== undefined && Number.isFinite(value));
  return all.length === 0 ? undefined : median(all);
}

export function maxOf(
  series: Series | undefined,
  pick: (trial: Trial) => number | undefined,
): number | undefined {
  const all = (series?.trials ?? [])
    .map(pick)
    .filter((value): value is number => value !== undefined && Number.isFinite(value));
  return all.length === 0 ? undefined : Math.max(...all);
}

/** µs on the calling thread until every call of the trial had returned, per call. */
export function issuedUsPerCall(trial: Trial): number | undefined {
  if (trial.issuedMs === undefined || trial.calls === undefined || trial.calls === 0) {
    return undefined;
  }
  return (trial.issuedMs * 1000) / trial.calls;
}

/** µs the event loop was busy during the trial, per call (issuing, completions, checks). */
export function busyUsPerCall(trial: Trial): number | undefined {
  if (trial.loop === undefined || trial.calls === undefined || trial.calls === 0) return undefined;
  return (trial.loop.busyMs * 1000) / trial.calls;
}

export function pooled(series: Series): number[] {
  return series.trials.flatMap((trial) => trial.latencies ?? []);
}

export function get(workload: WorkloadResult | undefined, name: string): Series | undefined {
  return workload?.series.find((series) => series.contender.name === name);
}

export function find(run: RunResult, id: WorkloadId, kind: PlaceKind): WorkloadResult | undefined {
  return run.workloads.find((workload) => workload.id === id && workload.place.kind === kind);
}

export function sweepOf(
  run: RunResult,
  kind: SweepResult['kind'],
  place: PlaceKind,
): SweepResult | undefined {
  return run.sweeps.find((sweep) => sweep.kind === kind && sweep.place.kind === place);
}

export function pointSeries(point: SweepPoint | undefined, name: string): Series | undefined {
  return point?.series.find((series) => series.contender.name === name);
}

/** How many times better `mine` is than `other` (higher-is-better or time metrics). */
export function advantage(workload: WorkloadResult, mine: string, other: string): number {
  const a = med(get(workload, mine));
  const b = med(get(workload, other));
  return METRIC[workload.id].higher ? ratio(a, b) : ratio(b, a);
}

export function syscallsOf(
  run: RunResult,
  contender: string,
  mode: TraceMode,
): SyscallCount | undefined {
  if (!Array.isArray(run.syscalls)) return undefined;
  for (const probe of run.syscalls) {
    if ('ok' in probe && probe.ok.contender === contender && probe.ok.mode === mode) {
      return probe.ok;
    }
  }
  return undefined;
}

export function p50(workload: WorkloadResult | undefined, name: string): number | undefined {
  const series = get(workload, name);
  if (series === undefined) return undefined;
  const all = pooled(series);
  return all.length === 0 ? undefined : quantile(all, 0.5);
}

/** A per-write count: whole numbers as such, else two decimals. */
export function fmtCount(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(2);
}

/** `statx 2, openat 1` from a by-name list. */
export function byName(list: readonly (readonly [string, number])[]): string {
  return list.map(([name, value]) => `${name} ${fmtCount(value)}`).join(', ');
}
