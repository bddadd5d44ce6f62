// The benchmark's SVG charts (bench/chart.ts, bench/figures.ts): scales, ticks, tick labels,
// that every series is drawn and named, and that the output is well-formed XML. No browser:
// the markup is checked by a small strict parser below.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type ChartSpec,
  compact,
  escapeXml,
  linearScale,
  linearTicks,
  logScale,
  logTicks,
  renderChart,
} from '../../bench/chart.js';
import type { Contender } from '../../bench/contenders.js';
import { sweepChart, writeFigures } from '../../bench/figures.js';
import type { Place } from '../../bench/places.js';
import type { SweepResult } from '../../bench/run.js';
import { fmtBytes } from '../../bench/stats.js';
import { tempDir } from '../support/helpers.js';

const NAME = '[A-Za-z_][\\w.:-]*';
const OPEN = new RegExp(`<(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`, 'y');
const CLOSE = new RegExp(`</(${NAME})\\s*>`, 'y');
const ATTRIBUTE = new RegExp(`(${NAME})\\s*=\\s*(?:"([^"<]*)"|'([^'<]*)')`, 'g');
const BARE_AMPERSAND = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;

/**
 * Throws unless `text` is one well-formed XML element: tags nest and match, attributes are
 * quoted, unique, and free of `<` and bare `&`, and text has no bare `&` or `<`. Returns the
 * element names in document order.
 */
function parseXml(text: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  let roots = 0;
  let at = 0;
  while (at < text.length) {
    const lt = text.indexOf('<', at);
    const chunk = lt < 0 ? text.slice(at) : text.slice(at, lt);
    assert.doesNotMatch(chunk, BARE_AMPERSAND, `bare & in text near ${at}`);
    if (stack.length === 0) assert.equal(chunk.trim(), '', `text outside the root near ${at}`);
    if (lt < 0) break;
    CLOSE.lastIndex = lt;
    const close = CLOSE.exec(text);
    if (close !== null) {
      assert.equal(stack.pop(), close[1], `mismatched </${close[1] ?? ''}> at ${lt}`);
      at = CLOSE.lastIndex;
      continue;
    }
    OPEN.lastIndex = lt;
    const open = OPEN.exec(text);
    assert.ok(open !== null, `malformed tag at ${lt}: ${text.slice(lt, lt + 40)}`);
    const [, name = '', attributes = '', selfClosing] = open;
    const seen = new Set<string>();
    for (const match of attributes.matchAll(ATTRIBUTE)) {
      const attribute = match[1] ?? '';
      assert.ok(!seen.has(attribute), `duplicate attribute ${attribute} on <${name}>`);
      seen.add(attribute);
      assert.doesNotMatch(match[2] ?? match[3] ?? '', BARE_AMPERSAND, `bare & in ${attribute}`);
    }
    if (stack.length === 0) roots += 1;
    names.push(name);
    if (selfClosing !== '/') stack.push(name);
    at = OPEN.lastIndex;
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1, 'exactly one root element');
  return names;
}

/** The text of every <text> element. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((match) => match[1] ?? '');
}

/** The x coordinates of the vertices of each series' line, in order. */
function lineXs(svg: string): number[][] {
  return [...svg.matchAll(/<path class="line" d="([^"]*)"/g)].map((match) =>
    [...(match[1] ?? '').matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => Number(m[1])),
  );
}

test('the XML checker itself rejects what it must', () => {
  assert.throws(() => parseXml('<a><b></a></b>'));
  assert.throws(() => parseXml('<a x=1/>'));
  assert.throws(() => parseXml('<a x="1" x="2"/>'));
  assert.throws(() => parseXml('<a>fish & chips</a>'));
  assert.throws(() => parseXml('<a/><b/>'));
  assert.throws(() => parseXml('<a>'));
  assert.deepEqual(parseXml('<a x="&amp;"><b/>t &lt; u</a>\n'), ['a', 'b']);
});

test('scales map the domain onto the range; a log scale gives equal ratios equal distances', () => {
  const linear = linearScale([0, 10], [100, 200]);
  assert.equal(linear(0), 100);
  assert.equal(linear(5), 150);
  assert.equal(linear(10), 200);
  const log = logScale([1, 1000], [0, 300]);
  assert.equal(log(1), 0);
  assert.ok(Math.abs(log(10) - 100) < 1e-9);
  assert.ok(Math.abs(log(100) - 200) < 1e-9);
  // Inverted ranges (SVG's y grows downwards) work the same way.
  const y = logScale([10, 1000], [300, 100]);
  assert.ok(Math.abs(y(100) - 200) < 1e-9);
});

test('linear ticks are 1-2-5 steps covering the data', () => {
  assert.deepEqual(linearTicks(0, 97), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(linearTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(linearTicks(3, 3), [3]);
});

test('log ticks are decades over a wide range, 1-2-5 or digits over a narrow one', () => {
  assert.deepEqual(logTicks(1, 10_000), [1, 10, 100, 1000, 10_000]);
  assert.deepEqual(logTicks(67, 7521), [50, 100, 200, 500, 1000, 2000, 5000, 10_000]);
  assert.deepEqual(logTicks(700, 3700), [700, 800, 900, 1000, 2000, 3000, 4000]);
  // Nine decades: more than eight ticks even as decades, so decades it is.
  assert.deepEqual(logTicks(1, 1e9).length, 10);
  for (const [min, max] of [
    [1.04, 3737],
    [0.3, 0.9],
    [12, 13],
    [5, 5],
  ] as const) {
    const ticks = logTicks(min, max);
    assert.ok((ticks[0] ?? Infinity) <= min, `first tick ${ticks[0]} ≤ ${min}`);
    assert.ok((ticks.at(-1) ?? -Infinity) >= max, `last tick ${ticks.at(-1)} ≥ ${max}`);
  }
  assert.deepEqual(logTicks(0, 10), []);
});

test('tick labels are compact numbers', () => {
  assert.equal(compact(1500), '1.5k');
  assert.equal(compact(20_000), '20k');
  assert.equal(compact(1234), '1.23k');
  assert.equal(compact(999), '999');
  assert.equal(compact(0.5), '0.5');
  assert.equal(compact(3e6), '3M');
  assert.equal(compact(0.30000000000000004), '0.3');
  assert.equal(escapeXml(`a<b & "c" 'd'>`), 'a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;');
});

const SPEC: ChartSpec = {
  title: 'Throughput <by> size & more',
  x: { label: 'file size', scale: 'log', ticks: [1024, 2 ** 20, 2 ** 30], format: fmtBytes },
  y: { label: 'MiB/s', scale: 'log' },
  series: [
    {
      name: 'atomic-fs',
      points: [
        [1024, 1],
        [2 ** 20, 300],
        [2 ** 30, 700],
      ],
    },
    {
      name: 'floor: "fs/promises" & co',
      points: [
        [1024, 0.9],
        [2 ** 20, Number.NaN],
        [2 ** 30, 800],
      ],
      dash: '6 4',
    },
    { name: 'never ran', points: [[1024, Number.NaN]] },
    { name: 'zero on a log axis', points: [[1024, 0]] },
  ],
};

test('a chart is well-formed SVG with an accessible title and the data in its description', () => {
  const svg = renderChart(SPEC);
  const names = parseXml(svg);
  assert.equal(names[0], 'svg');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]* role="img"/);
  assert.match(svg, /aria-labelledby="chart-title chart-desc"/);
  assert.match(svg, /<title id="chart-title">Throughput &lt;by&gt; size &amp; more<\/title>/);
  const desc = /<desc id="chart-desc">([^<]*)<\/desc>/.exec(svg)?.[1] ?? '';
  assert.match(desc, /atomic-fs — 1 KiB: 1, 1 MiB: 300, 1 GiB: 700/);
  assert.match(desc, /never ran — no data/);
  assert.doesNotMatch(svg, /<script|href=|url\(/, 'no scripts or external references');
});

test('every series is in the legend; each with data gets one line; a gap splits it', () => {
  const svg = renderChart(SPEC);
  const labels = texts(svg);
  for (const series of SPEC.series) {
    assert.ok(labels.includes(escapeXml(series.name)), `legend entry for ${series.name}`);
    assert.match(svg, new RegExp(`data-series="${escapeXml(series.name)}"`));
  }
  const lines = [...svg.matchAll(/<path class="line" d="([^"]*)"/g)].map((m) => m[1] ?? '');
  // atomic-fs and the floor have data; the other two have none that a log axis can show. The
  // first series is drawn last (on top).
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.match(/M/g)?.length, 1);
  // The floor's missing middle point breaks its line in two.
  assert.equal(lines[0]?.match(/M/g)?.length, 2);
  assert.match(svg, /stroke-dasharray="6 4"/);
  // The x tick labels are the formatter's.
  for (const label of ['1 KiB', '1 MiB', '1 GiB']) assert.ok(labels.includes(label), label);
  assert.ok(labels.includes('file size (log scale)'));
  assert.ok(labels.includes('MiB/s (log scale)'));
});

test('points sit where the log scale puts them', () => {
  const svg = renderChart({
    title: 'writers',
    x: { label: 'writers', scale: 'log', ticks: [1, 4, 16], format: String },
    y: { label: 'files/s', scale: 'linear' },
    series: [
      {
        name: 'a',
        points: [
          [1, 10],
          [4, 20],
          [16, 30],
        ],
      },
    ],
  });
  parseXml(svg);
  const xs = lineXs(svg)[0] ?? [];
  assert.equal(xs.length, 3);
  const [a = 0, b = 0, c = 0] = xs;
  // 4 is the geometric middle of 1 and 16.
  assert.ok(Math.abs(b - a - (c - b)) < 0.05, `${a} ${b} ${c}`);
  // A linear y axis of positive values starts at zero.
  assert.ok(texts(svg).includes('0'));
});

test('x tick labels too close to the previous one are left out, their grid lines kept', () => {
  const ticks = [1024, 64 * 1024, 2 ** 20, 2 * 2 ** 20, 32 * 2 ** 20, 2 ** 30];
  const svg = renderChart({
    title: 'sizes',
    x: { label: 'file size', scale: 'log', ticks, format: fmtBytes },
    y: { label: 'MiB/s', scale: 'log' },
    series: [{ name: 'a', points: ticks.map((size): [number, number] => [size, size / 1024]) }],
  });
  parseXml(svg);
  const labels = texts(svg);
  // 1 MiB and 2 MiB are one doubling apart of twenty: too close for two labels.
  assert.ok(labels.includes('1 MiB'));
  assert.ok(!labels.includes('2 MiB'));
  for (const label of ['1 KiB', '64 KiB', '32 MiB', '1 GiB']) assert.ok(labels.includes(label));
  const grid = /<g class="grid"[^>]*>([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? '';
  const vertical = [...grid.matchAll(/<line x1="([\d.]+)" x2="\1"/g)];
  assert.equal(vertical.length, ticks.length);
});

test('a chart with no drawable data is still a valid picture that says so', () => {
  const svg = renderChart({
    title: 'empty',
    x: { label: 'x', scale: 'log' },
    y: { label: 'y', scale: 'log' },
    series: [{ name: 'nothing', points: [] }],
  });
  parseXml(svg);
  assert.ok(texts(svg).includes('no data'));
  assert.ok(texts(svg).includes('nothing'));
});

function contender(name: string): Contender {
  return { name, durability: 'full', role: name.startsWith('floor') ? 'floor' : 'atomic-fs' };
}

function sweep(kind: SweepResult['kind'], names: readonly string[]): SweepResult {
  const place: Place = { kind: 'disk', dir: '/nowhere', fsType: 'ext4', device: '/dev/x' };
  return {
    kind,
    place,
    params: 'a test sweep',
    points: [1, 10, 100].map((param) => ({
      param,
      label: String(param),
      series: names.map((name, i) => ({
        contender: contender(name),
        trials: [{ value: param * (i + 1), problems: [] }],
        failure: undefined,
      })),
    })),
  };
}

test('the run charts draw every contender, each in its own colour in every chart', () => {
  const names = ['floor: fs/promises', 'atomic-fs', 'atomic-fs writeFiles', 'steno', 'other'];
  const colour = new Map<string, string>();
  for (const kind of ['size', 'count', 'writers'] as const) {
    const spec = sweepChart(sweep(kind, names), 'ext4');
    const svg = renderChart(spec);
    parseXml(svg);
    assert.equal(spec.series.length, names.length);
    for (const series of spec.series) {
      assert.ok(texts(svg).includes(escapeXml(series.name)), series.name);
      const base = series.name.replace(/, one by one$/, '');
      if (series.color === undefined) continue;
      assert.equal(colour.get(base) ?? series.color, series.color, `${base} keeps its colour`);
      colour.set(base, series.color);
    }
    // atomic-fs leads the legend (and is drawn on top).
    assert.equal(spec.series[0]?.name.startsWith('atomic-fs'), true);
  }
  const count = sweepChart(sweep('count', names), 'ext4');
  assert.ok(count.series.some((series) => series.name === 'atomic-fs, one by one'));
  assert.ok(count.series.some((series) => series.name === 'atomic-fs writeFiles'));
});

test('writing the charts replaces stale ones of ours and leaves other files alone', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'count-tmpfs.svg'), 'stale');
  writeFileSync(join(dir, 'notes.svg'), 'mine');
  const written = writeFigures(
    [{ name: 'size-disk', kind: 'size', place: 'disk', title: 't', svg: '<svg/>\n' }],
    dir,
  );
  assert.deepEqual(
    written.map((figure) => figure.file),
    [join(dir, 'size-disk.svg')],
  );
  assert.deepEqual(readdirSync(dir).sort(), ['notes.svg', 'size-disk.svg']);
  assert.equal(readFileSync(join(dir, 'size-disk.svg'), 'utf8'), '<svg/>\n');
});
