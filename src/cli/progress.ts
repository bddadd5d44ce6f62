/**
 * The progress bar of `cp` and `get`: one line on a terminal, redrawn in place (carriage
 * return, then "erase to end of line") at most every REDRAW_MS, showing the bytes done, the
 * rate over the last few seconds and the time left when the total is known. The last frame
 * stays on screen, followed by a newline; on failure the line is erased, so the error stands
 * alone. Nothing is drawn when the stream is not a terminal.
 *
 * Written here rather than taken from a package: it is one line of text, and the packages
 * that draw it bring options, themes and timers we would not use (cli-progress 3.12.0 is
 * 120 KB installed and pulls in string-width and four more packages, for this file's 160 lines).
 */
import type { Progress } from '../toolkit/progress.js';
import type { CliOutput } from './command.js';

/** Shortest time between two frames. */
export const REDRAW_MS = 100;

/** The rate is measured over this much of the recent past (a stall shows as a falling rate). */
const RATE_WINDOW_MS = 5000;

/** Widest bar, in characters; narrower when the terminal is. */
const BAR_MAX = 30;

/** Narrowest bar worth drawing; below it, the numbers alone. */
const BAR_MIN = 10;

/** Assumed width when the terminal does not say (`script` without a terminal says 0). */
const DEFAULT_COLUMNS = 80;

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** `512 B`, `1.5 KiB`, `32.0 MiB`: binary units, one decimal. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.floor(bytes)} B`;
  let value = bytes / 1024;
  let unit = 0;
  // 1023.96 KiB would print as "1024.0 KiB": move up a unit first.
  while (value >= 1023.95 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${UNITS[unit] ?? ''}`;
}

/** `0.4s`, `42.0s`, `3m05s`, `2h07m`. */
export function formatDuration(ms: number): string {
  if (ms < 59_950) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  }
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** What one frame shows. */
export interface Frame {
  readonly bytes: number;
  readonly total: number | undefined;
  /** Bytes per second, when measurable. */
  readonly rate: number | undefined;
  readonly elapsedMs: number;
  /** The last frame: the time taken instead of the time left. */
  readonly done: boolean;
}

/** One frame as text, at most `columns - 1` characters (a full line would wrap). */
export function renderFrame(frame: Frame, columns: number): string {
  const { bytes, total, rate, elapsedMs, done } = frame;
  const width = (columns > 0 ? columns : DEFAULT_COLUMNS) - 1;
  const speed = rate === undefined ? '-- B/s' : `${formatBytes(rate)}/s`;
  const time = done ? `in ${formatDuration(elapsedMs)}` : undefined;
  let line: string;
  if (total === undefined) {
    line = `${formatBytes(bytes)}  ${speed}  ${time ?? formatDuration(elapsedMs)}`;
  } else {
    const fraction = total === 0 ? 1 : Math.min(1, bytes / total);
    const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
    const left =
      rate === undefined || rate <= 0
        ? 'ETA ?'
        : `ETA ${formatDuration((Math.max(0, total - bytes) / rate) * 1000)}`;
    const numbers = `${formatBytes(bytes)} / ${formatBytes(total)}  ${speed}  ${time ?? left}`;
    const barWidth = Math.min(BAR_MAX, width - percent.length - numbers.length - 5);
    if (barWidth >= BAR_MIN) {
      const filled = Math.floor(fraction * barWidth);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}`;
      line = `${percent} [${bar}]  ${numbers}`;
    } else {
      line = `${percent}  ${numbers}`;
    }
  }
  return line.length > width ? line.slice(0, Math.max(0, width)) : line;
}

/** A progress bar drawn on a terminal; see the module comment. */
export class ProgressBar {
  readonly #out: CliOutput;
  readonly #now: () => number;
  readonly #start: number;
  /** Recent `[time, bytes]` samples, oldest first, for the rate. */
  readonly #samples: [number, number][] = [];
  #lastDraw = -Infinity;
  #drawn = false;
  #bytes = 0;
  #total: number | undefined;

  constructor(out: CliOutput, now: () => number = () => performance.now()) {
    this.#out = out;
    this.#now = now;
    this.#start = now();
  }

  /** Record progress; draws a frame unless one was drawn less than REDRAW_MS ago. */
  readonly update = (progress: Progress): void => {
    const now = this.#now();
    this.#bytes = progress.bytes;
    this.#total = progress.total;
    this.#samples.push([now, progress.bytes]);
    while (this.#samples.length > 2 && (this.#samples[1]?.[0] ?? now) <= now - RATE_WINDOW_MS) {
      this.#samples.shift();
    }
    if (now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    this.#draw(now, false);
  };

  /** Draw the final frame (the time taken, the average rate) and end the line. */
  finish(): void {
    this.#draw(this.#now(), true);
    this.#out.write('\n');
    this.#drawn = false;
  }

  /** Erase the line, if anything was drawn (before an error message). */
  clear(): void {
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }

  #rate(now: number, done: boolean): number | undefined {
    const oldest = this.#samples[0];
    const [since, from] =
      done || oldest === undefined || now - oldest[0] <= 0 ? [this.#start, 0] : oldest;
    const ms = now - since;
    return ms > 0 ? ((this.#bytes - from) * 1000) / ms : undefined;
  }

  #draw(now: number, done: boolean): void {
    const frame: Frame = {
      bytes: this.#bytes,
      total: this.#total,
      rate: this.#rate(now, done),
      elapsedMs: now - this.#start,
      done,
    };
    this.#out.write(`\r${renderFrame(frame, this.#out.columns ?? 0)}\x1b[K`);
    this.#drawn = true;
  }
}

/** A progress bar on `out` if it is a terminal and not `quiet`; otherwise none. */
export function progressBar(out: CliOutput, quiet: boolean): ProgressBar | undefined {
  return !quiet && out.isTTY === true ? new ProgressBar(out) : undefined;
}
