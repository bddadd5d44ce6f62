/**
 * The growth curves of a run as SVG charts (see chart.ts): throughput against file size,
 * files/s against the number of files, and files/s against the number of concurrent writers,
 * one chart per file system, every contender on the same axes, each contender in the same
 * colour and shape in every chart.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ChartSeries, type ChartSpec, renderChart } from './chart.js';
import type { PlaceKind } from './places.js';
import type { RunResult, SweepResult } from './run.js';
import { fmtBytes, median } from './stats.js';

export interface Figure {
  /** File name without extension: `<kind>-<place>`. */
  readonly name: string;
  readonly kind: SweepResult['kind'];
  readonly place: PlaceKind;
  readonly title: string;
  readonly svg: string;
}

interface Style {
  readonly color: string;
  readonly dash?: string;
  readonly width?: number;
}

/** One look per contender, the same in every chart (the floors dashed, atomic-fs bold). */
const STYLES: Readonly<Record<string, Style>> = {
  'atomic-fs': { color: '#0072B2', width: 3 },
  'atomic-fs writeFiles': { color: '#56B4E9', width: 3 },
  'floor: fs/promises': { color: '#000000', dash: '7 4' },
  'floor: sync calls': { color: '#6b6b6b', dash: '3 3' },
  'floor: sync calls on a worker': { color: '#9a9a9a', dash: '10 3 2 3' },
  'write-file-atomic': { color: '#D55E00' },
  atomically: { color: '#009E73' },
  steno: { color: '#CC79A7' },
};

/** Marker order by contender, so that a contender keeps its shape across charts too. */
const ORDER = Object.keys(STYLES);

const TITLES: Readonly<Record<SweepResult['kind'], string>> = {
  size: 'Throughput against file size (whole-buffer writes)',
  count: 'Files per second against the number of new files',
  writers: 'Files per second against concurrent writers (distinct files)',
};

function pretty(n: number): string {
  return n.toLocaleString('en-US');
}

function seriesOf(sweep: SweepResult): ChartSeries[] {
  const names = [
    ...new Set(sweep.points.flatMap((point) => point.series.map((s) => s.contender.name))),
  ].sort((a, b) => rank(a) - rank(b));
  return names.map((name) => {
    const style = STYLES[name];
    const points = sweep.points.map((point): [number, number] => {
      const series = point.series.find((s) => s.contender.name === name);
      const values = series?.trials.map((trial) => trial.value) ?? [];
      return [point.param, values.length === 0 ? Number.NaN : median(values)];
    });
    const label =
      sweep.kind === 'count' && name !== 'atomic-fs writeFiles' ? `${name}, one by one` : name;
    return {
      name: label,
      points,
      marker: rank(name),
      ...(style === undefined ? {} : style),
    };
  });
}

function rank(name: string): number {
  const index = ORDER.indexOf(name);
  return index < 0 ? ORDER.length : index;
}

/** The chart of one sweep. */
export function sweepChart(sweep: SweepResult, fsType: string): ChartSpec {
  const title = `${TITLES[sweep.kind]} — ${sweep.place.kind}`;
  const params = sweep.points.map((point) => point.param);
  const description = `On ${fsType}; medians over rounds; ${sweep.params.replace(/`/g, '')}.`;
  switch (sweep.kind) {
    case 'size':
      return {
        title,
        description,
        x: { label: 'file size', scale: 'log', ticks: params, format: fmtBytes },
        y: { label: 'MiB/s', scale: 'log' },
        series: seriesOf(sweep),
      };
    case 'count':
      return {
        title,
        description,
        x: { label: 'files written', scale: 'log', ticks: params, format: pretty },
        y: { label: 'files/s', scale: 'log' },
        series: seriesOf(sweep),
      };
    case 'writers':
      return {
        title,
        description,
        x: { label: 'concurrent writers', scale: 'log', ticks: params, format: String },
        y: { label: 'files/s', scale: 'log' },
        series: seriesOf(sweep),
      };
  }
}

/** Every chart of a run. */
export function figures(run: RunResult): Figure[] {
  return run.sweeps.map((sweep) => {
    const spec = sweepChart(sweep, sweep.place.fsType);
    return {
      name: `${sweep.kind}-${sweep.place.kind}`,
      kind: sweep.kind,
      place: sweep.place.kind,
      title: spec.title,
      svg: renderChart(spec),
    };
  });
}

const OURS = /^(size|count|writers)-(disk|tmpfs)\.svg$/;

/**
 * Write the charts into `dir` as `<name>.svg`, and remove charts of ours there that this run
 * did not draw (so that no stale picture stays beside a new report).
 */
export function writeFigures(
  list: readonly Figure[],
  dir: string,
): (Figure & { readonly file: string })[] {
  mkdirSync(dir, { recursive: true });
  const drawn = new Set(list.map((figure) => `${figure.name}.svg`));
  for (const name of readdirSync(dir)) {
    if (OURS.test(name) && !drawn.has(name)) rmSync(join(dir, name), { force: true });
  }
  return list.map((figure) => {
    const file = join(dir, `${figure.name}.svg`);
    writeFileSync(file, figure.svg);
    return { ...figure, file };
  });
}
