/**
 * A small SVG line chart: axes (linear or log), ticks and grid, one line and marker shape per
 * series, a legend, and an accessible `<title>` and `<desc>` (the data in words). No
 * dependencies, no scripts, no external references: the output is a standalone file that a
 * Markdown renderer shows as an image. Pure functions only, so the unit tests can check the
 * scales, the tick labels and the markup without a browser.
 */

type ScaleKind = 'linear' | 'log';

interface Axis {
  readonly label: string;
  readonly scale: ScaleKind;
  /** Tick values; by default 1-2-5 steps (linear) or decades, with 2 and 5 when few (log). */
  readonly ticks?: readonly number[];
  /** Tick label; by default a compact number (1.5k, 20M). */
  readonly format?: (value: number) => string;
}

export interface ChartSeries {
  readonly name: string;
  /** [x, y] pairs; a pair with a non-finite y (or a non-positive one on a log axis) is a gap. */
  readonly points: readonly (readonly [number, number])[];
  readonly color?: string;
  /** An SVG stroke-dasharray, e.g. `6 4`; solid when absent. */
  readonly dash?: string;
  /** Line width in px (default 2). */
  readonly width?: number;
  /** Marker shape, an index into the shapes (default: the series' index). */
  readonly marker?: number;
}

export interface ChartSpec {
  readonly title: string;
  /** Extra sentence for screen readers, before the data. */
  readonly description?: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly series: readonly ChartSeries[];
  readonly width?: number;
  /** Height of the plot area in px (the legend adds to the picture's height). */
  readonly plotHeight?: number;
}

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
const PALETTE: readonly string[] = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
  '#8C6D1F',
];

/** Maps [d0, d1] onto [r0, r1] linearly. */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]) {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0;
  return (value: number): number =>
    span === 0 ? (r0 + r1) / 2 : r0 + ((value - d0) / span) * (r1 - r0);
}

/** Maps [d0, d1] (both > 0) onto [r0, r1] so that equal ratios take equal distances. */
export function logScale(domain: readonly [number, number], range: readonly [number, number]) {
  const inner = linearScale([Math.log10(domain[0]), Math.log10(domain[1])], range);
  return (value: number): number => inner(Math.log10(value));
}

/** The 1-2-5 step nearest to `raw` from above (…, 0.5, 1, 2, 5, 10, 20, …). */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / power;
  const step = scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10;
  return step * power;
}

/** Round away floating-point dust: 0.30000000000000004 → 0.3. */
function clean(value: number): number {
  return Number(value.toPrecision(12));
}

/** About `count` ticks on a linear axis, at multiples of a 1-2-5 step, covering [min, max]. */
export function linearTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [clean(min)];
  const step = niceStep((max - min) / Math.max(1, count));
  const first = Math.floor(min / step + 1e-9);
  const last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i += 1) ticks.push(clean(i * step));
  return ticks;
}

/** Candidate log ticks between 10^lo and 10^hi at the given mantissas. */
function mantissaTicks(lo: number, hi: number, mantissas: readonly number[]): number[] {
  const ticks: number[] = [];
  for (let exponent = lo; exponent <= hi; exponent += 1) {
    for (const m of mantissas) ticks.push(clean(m * 10 ** exponent));
  }
  return ticks;
}

/**
 * Ticks for a log axis whose data span [min, max] (both > 0), from the last tick at or below
 * min to the first at or above max: the densest of decades (1, 10, 100, …), 1-2-5 steps and
 * every digit that needs at most eight ticks (decades when even they need more), so that the
 * axis hugs the data without crowding.
 */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) return [];
  const lo = Math.floor(Math.log10(min) + 1e-9);
  const hi = Math.ceil(Math.log10(max) - 1e-9);
  const sets = [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]];
  const options = sets.map((mantissas) => {
    const all = mantissaTicks(lo - 1, hi, mantissas);
    const below = all.filter((tick) => tick <= min * (1 + 1e-9)).at(-1) ?? all[0] ?? min;
    const above = all.find((tick) => tick >= max * (1 - 1e-9)) ?? all.at(-1) ?? max;
    return all.filter((tick) => tick >= below && tick <= above);
  });
  const fitting = options.filter((ticks) => ticks.length <= 8);
  const best = fitting.reduce<number[] | undefined>(
    (chosen, ticks) => (chosen === undefined || ticks.length > chosen.length ? ticks : chosen),
    undefined,
  );
  return best ?? options[0] ?? [];
}

/** A compact number for a tick: 0.5, 12, 1.5k, 20k, 3M. */
export function compact(value: number): string {
  const magnitude = Math.abs(value);
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (magnitude >= size) return `${clean(Number((value / size).toPrecision(3)))}${suffix}`;
  }
  return String(clean(Number(value.toPrecision(3))));
}

/** Text safe inside an XML element or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** A number for an SVG attribute: two decimals at most. */
function px(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** Roughly how wide a text is in px (the picture is laid out without a font engine). */
function textWidth(text: string, size: number): number {
  return text.length * size * 0.56;
}

type Marker = (x: number, y: number, color: string) => string;

const MARKERS: readonly Marker[] = [
  (x, y, c) => `<circle cx="${px(x)}" cy="${px(y)}" r="3.5" fill="${c}"/>`,
  (x, y, c) => `<rect x="${px(x - 3.2)}" y="${px(y - 3.2)}" width="6.4" height="6.4" fill="${c}"/>`,
  (x, y, c) =>
    `<path d="M${px(x)} ${px(y - 4.2)}L${px(x + 4)} ${px(y + 3)}L${px(x - 4)} ${px(y + 3)}Z" fill="${c}"/>`,
  (x, y, c) =>
    `<path d="M${px(x)} ${px(y - 4.5)}L${px(x + 4)} ${px(y)}L${px(x)} ${px(y + 4.5)}L${px(x - 4)} ${px(y)}Z" fill="${c}"/>`,
  (x, y, c) =>
    `<circle cx="${px(x)}" cy="${px(y)}" r="3.2" fill="#fff" stroke="${c}" stroke-width="1.8"/>`,
  (x, y, c) =>
    `<rect x="${px(x - 3)}" y="${px(y - 3)}" width="6" height="6" fill="#fff" stroke="${c}" stroke-width="1.8"/>`,
  (x, y, c) =>
    `<path d="M${px(x)} ${px(y + 4.2)}L${px(x + 4)} ${px(y - 3)}L${px(x - 4)} ${px(y - 3)}Z" fill="${c}"/>`,
  (x, y, c) =>
    `<path d="M${px(x - 3.5)} ${px(y - 3.5)}L${px(x + 3.5)} ${px(y + 3.5)}M${px(x + 3.5)} ${px(y - 3.5)}L${px(x - 3.5)} ${px(y + 3.5)}" stroke="${c}" stroke-width="2"/>`,
];

/** Whether a value can be drawn on an axis of this kind. */
function drawable(value: number, kind: ScaleKind): boolean {
  return Number.isFinite(value) && (kind === 'linear' || value > 0);
}

/** The data extent on one axis, over every drawable point. */
function extent(spec: ChartSpec, pick: 0 | 1): [number, number] | undefined {
  const kind = pick === 0 ? spec.x.scale : spec.y.scale;
  let min = Infinity;
  let max = -Infinity;
  for (const series of spec.series) {
    for (const point of series.points) {
      const [x, y] = point;
      if (!drawable(x, spec.x.scale) || !drawable(y, spec.y.scale)) continue;
      const value = point[pick];
      if (!drawable(value, kind)) continue;
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
  }
  return min <= max ? [min, max] : undefined;
}

function ticksFor(axis: Axis, data: [number, number]): number[] {
  if (axis.ticks !== undefined) return [...axis.ticks].filter((t) => drawable(t, axis.scale));
  if (axis.scale === 'log') return logTicks(data[0], data[1]);
  // A linear axis of positive values starts at zero, so that bar-like comparisons hold.
  return linearTicks(Math.min(0, data[0]), data[1]);
}

/** The domain of an axis: the data and the ticks together. */
function domainOf(ticks: readonly number[], data: [number, number]): [number, number] {
  const lo = Math.min(data[0], ...ticks);
  const hi = Math.max(data[1], ...ticks);
  return lo === hi ? [lo / 2 || -1, hi * 2 || 1] : [lo, hi];
}

/** Every drawable point as text, for the description read out by screen readers. */
function describe(spec: ChartSpec): string {
  const fx = spec.x.format ?? compact;
  const fy = spec.y.format ?? compact;
  const parts = spec.series.map((series) => {
    const points = series.points
      .filter(([x, y]) => drawable(x, spec.x.scale) && drawable(y, spec.y.scale))
      .map(([x, y]) => `${fx(x)}: ${fy(y)}`);
    return `${series.name} — ${points.length > 0 ? points.join(', ') : 'no data'}`;
  });
  const axes = `${spec.y.label} (${spec.y.scale} scale) against ${spec.x.label} (${spec.x.scale} scale).`;
  return [spec.description ?? '', axes, `${parts.join('; ')}.`].filter((s) => s !== '').join(' ');
}

/** The whole chart as an SVG document. */
export function renderChart(spec: ChartSpec): string {
  const width = spec.width ?? 720;
  const plotHeight = spec.plotHeight ?? 300;
  const left = 70;
  const right = 20;
  const top = 44;
  const plotWidth = width - left - right;
  const axisBand = 50;
  // The legend: as many columns as fit, entries in reading order.
  const entryWidth = Math.max(
    120,
    ...spec.series.map((series) => 34 + textWidth(series.name, 12) + 16),
  );
  const columns = Math.max(1, Math.min(spec.series.length, Math.floor(plotWidth / entryWidth)));
  const rows = Math.ceil(spec.series.length / columns);
  const legendTop = top + plotHeight + axisBand;
  const height = legendTop + rows * 20 + 12;
  const fx = spec.x.format ?? compact;
  const fy = spec.y.format ?? compact;
  // A long title gets a smaller font rather than running off the picture.
  const titleSize = Math.max(
    10,
    Math.min(15, Math.floor((width - left - right) / (spec.title.length * 0.6))),
  );
  const xData = extent(spec, 0);
  const yData = extent(spec, 1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="chart-title chart-desc" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`,
    `<title id="chart-title">${escapeXml(spec.title)}</title>`,
    `<desc id="chart-desc">${escapeXml(describe(spec))}</desc>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="24" font-size="${titleSize}" font-weight="600" fill="#111">${escapeXml(spec.title)}</text>`,
  );
  const x0 = left + 8;
  const x1 = left + plotWidth - 8;
  const y0 = top + plotHeight - 6;
  const y1 = top + 6;
  if (xData === undefined || yData === undefined) {
    out.push(
      `<rect x="${left}" y="${top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`,
      `<text x="${px(left + plotWidth / 2)}" y="${px(top + plotHeight / 2)}" font-size="13" text-anchor="middle" fill="#555">no data</text>`,
    );
  } else {
    const xTicks = ticksFor(spec.x, xData);
    const yTicks = ticksFor(spec.y, yData);
    const xDomain = domainOf(xTicks, xData);
    const yDomain = domainOf(yTicks, yData);
    const sx = (spec.x.scale === 'log' ? logScale : linearScale)(xDomain, [x0, x1]);
    const sy = (spec.y.scale === 'log' ? logScale : linearScale)(yDomain, [y0, y1]);
    out.push('<g class="grid" stroke="#e3e3e3" stroke-width="1">');
    for (const tick of yTicks) {
      out.push(
        `<line x1="${left}" x2="${left + plotWidth}" y1="${px(sy(tick))}" y2="${px(sy(tick))}"/>`,
      );
    }
    for (const tick of xTicks) {
      out.push(
        `<line x1="${px(sx(tick))}" x2="${px(sx(tick))}" y1="${top}" y2="${top + plotHeight}"/>`,
      );
    }
    out.push('</g>');
    out.push(
      `<rect x="${left}" y="${top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#777"/>`,
      '<g class="ticks" font-size="11" fill="#333">',
    );
    for (const tick of yTicks) {
      out.push(
        `<text x="${left - 6}" y="${px(sy(tick) + 4)}" text-anchor="end">${escapeXml(fy(tick))}</text>`,
      );
    }
    // A label that would run into the one before it is left out (its grid line stays).
    let lastRight = -Infinity;
    for (const tick of xTicks) {
      const label = fx(tick);
      const x = sx(tick);
      const half = textWidth(label, 11) / 2;
      if (x - half < lastRight + 6) continue;
      lastRight = x + half;
      out.push(
        `<text x="${px(x)}" y="${top + plotHeight + 16}" text-anchor="middle">${escapeXml(label)}</text>`,
      );
    }
    out.push('</g>');
    // The first series is drawn last, on top of the others (it is the one the chart is about).
    const order = spec.series.map((series, index) => ({ series, index })).reverse();
    for (const { series, index } of order) {
      const color = series.color ?? PALETTE[index % PALETTE.length] ?? '#000';
      const marker = MARKERS[(series.marker ?? index) % MARKERS.length] ?? MARKERS[0];
      const segments: [number, number][][] = [[]];
      const dots: string[] = [];
      const sorted = [...series.points].sort((a, b) => a[0] - b[0]);
      for (const [x, y] of sorted) {
        if (!drawable(x, spec.x.scale) || !drawable(y, spec.y.scale)) {
          if ((segments.at(-1)?.length ?? 0) > 0) segments.push([]);
          continue;
        }
        const point: [number, number] = [sx(x), sy(y)];
        segments.at(-1)?.push(point);
        dots.push(
          `<g><title>${escapeXml(`${series.name}: ${fx(x)} → ${fy(y)}`)}</title>${marker?.(point[0], point[1], color) ?? ''}</g>`,
        );
      }
      const d = segments
        .filter((segment) => segment.length > 0)
        .map((segment) =>
          segment.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${px(x)} ${px(y)}`).join(''),
        )
        .join('');
      const dash = series.dash === undefined ? '' : ` stroke-dasharray="${escapeXml(series.dash)}"`;
      out.push(
        `<g class="series" data-series="${escapeXml(series.name)}">`,
        `<title>${escapeXml(series.name)}</title>`,
        d === ''
          ? ''
          : `<path class="line" d="${d}" fill="none" stroke="${color}" stroke-width="${series.width ?? 2}" stroke-linejoin="round"${dash}/>`,
        ...dots,
        '</g>',
      );
    }
  }
  out.push(
    `<text x="${px(left + plotWidth / 2)}" y="${top + plotHeight + 36}" font-size="12" text-anchor="middle" fill="#222">${escapeXml(`${spec.x.label}${spec.x.scale === 'log' ? ' (log scale)' : ''}`)}</text>`,
    `<text transform="translate(16 ${px(top + plotHeight / 2)}) rotate(-90)" font-size="12" text-anchor="middle" fill="#222">${escapeXml(`${spec.y.label}${spec.y.scale === 'log' ? ' (log scale)' : ''}`)}</text>`,
    '<g class="legend" font-size="12" fill="#222">',
  );
  spec.series.forEach((series, index) => {
    const color = series.color ?? PALETTE[index % PALETTE.length] ?? '#000';
    const marker = MARKERS[(series.marker ?? index) % MARKERS.length] ?? MARKERS[0];
    const column = index % columns;
    const row = Math.floor(index / columns);
    const x = left + column * entryWidth;
    const y = legendTop + row * 20 + 6;
    const dash = series.dash === undefined ? '' : ` stroke-dasharray="${escapeXml(series.dash)}"`;
    out.push(
      `<g class="legend-entry">`,
      `<line x1="${px(x)}" x2="${px(x + 26)}" y1="${px(y)}" y2="${px(y)}" stroke="${color}" stroke-width="${series.width ?? 2}"${dash}/>`,
      marker?.(x + 13, y, color) ?? '',
      `<text x="${px(x + 32)}" y="${px(y + 4)}">${escapeXml(series.name)}</text>`,
      '</g>',
    );
  });
  out.push('</g>', '</svg>');
  return `${out.filter((line) => line !== '').join('\n')}\n`;
}
