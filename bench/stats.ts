/**
 * Small, pure helpers of the benchmark: order statistics, round-robin order, formatting,
 * and the parser of strace output. Kept free of I/O so that `test/bench/stats.test.ts` can
 * check them without running a benchmark.
 */

/** The q-quantile (0 ≤ q ≤ 1) of `values` by linear interpolation; NaN for no values. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const a = sorted[low] ?? Number.NaN;
  const b = sorted[high] ?? Number.NaN;
  return a + (b - a) * (position - low);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/**
 * The order in which contenders run in round `round`: A B C, then B C A, then C A B, …
 * so that no contender always runs first (cold caches) or right after the same neighbour.
 */
export function rotation<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const start = ((round % items.length) + items.length) % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

/** `a / b`, or NaN when either is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return Number.NaN;
  }
  return a / b;
}

/** A number with about three significant digits, no exponent: 1234, 123, 12.3, 1.23, 0.123. */
export function fmt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return Math.round(value).toString();
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  if (magnitude === 0) return '0';
  return value.toPrecision(2);
}

/** A ratio as `2.31×`. */
export function fmtRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return `${fmt(value)}×`;
}

/** Bytes as `1 KiB`, `64 MiB`, `1 GiB`. */
export function fmtBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1 && value % 1024 === 0) {
    value /= 1024;
    unit += 1;
  }
  return `${value} ${units[unit] ?? 'B'}`;
}

/** A Markdown table; every cell is used as is (escape `|` yourself). */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Paths the syscall child access()es right before and after its measured writes. */
export const MARK_START = '/.atomic-fs-bench-mark-start';
export const MARK_END = '/.atomic-fs-bench-mark-end';

/** One system call seen in an strace log. */
export interface TracedCall {
  readonly pid: number;
  readonly name: string;
  /** The raw argument text (with `-y`, descriptors carry their path: `3</dir/file>`). */
  readonly args: string;
}

const CALL_LINE = /^(?:\[pid\s+)?(\d+)\]?\s+([a-z_][a-z0-9_]*)\((.*)$/;

/**
 * Parse an `strace -f` log (one call per line, with pids) into calls in the order they
 * started. A call interrupted by another thread appears twice in the log, as `<unfinished
 * ...>` and later as `<... name resumed>`; it is counted once, at its start. Signals, exits
 * and strace's own messages are skipped.
 */
export function parseStrace(text: string): TracedCall[] {
  const calls: TracedCall[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.includes('resumed>')) continue;
    const match = CALL_LINE.exec(line);
    if (match === null) continue;
    const [, pid, name, args] = match;
    if (pid === undefined || name === undefined || args === undefined) continue;
    calls.push({ pid: Number(pid), name, args });
  }
  return calls;
}

/** System calls that act on files and directories (as opposed to threads, memory, events). */
const FILE_CALLS = new Set([
  'open',
  'openat',
  'openat2',
  'creat',
  'read',
  'pread64',
  'readv',
  'write',
  'pwrite64',
  'writev',
  'pwritev',
  'pwritev2',
  'close',
  'fsync',
  'fdatasync',
  'sync_file_range',
  'ftruncate',
  'fallocate',
  'lseek',
  'rename',
  'renameat',
  'renameat2',
  'link',
  'linkat',
  'unlink',
  'unlinkat',
  'mkdir',
  'mkdirat',
  'rmdir',
  'stat',
  'lstat',
  'fstat',
  'newfstatat',
  'statx',
  'access',
  'faccessat',
  'faccessat2',
  'readlink',
  'readlinkat',
  'chmod',
  'fchmod',
  'fchmodat',
  'chown',
  'fchown',
  'fchownat',
  'lchown',
  'getdents64',
  'getcwd',
  'copy_file_range',
  'sendfile',
  'ioctl',
  'fcntl',
  'flock',
]);

/**
 * Whether a traced call is a file-system call: a call of the file family whose descriptor
 * (if any) is a file or directory, not an eventfd, pipe, socket or terminal. Needs `-y`.
 */
export function isFileCall(call: TracedCall): boolean {
  if (!FILE_CALLS.has(call.name)) return false;
  const fd = /^-?\d+<([^>]*)>/.exec(call.args);
  // No descriptor annotation: a path call (AT_FDCWD, "…"), or a descriptor strace could not
  // name (not a file of ours).
  if (fd === null) return !/^-?\d+[,)]/.test(call.args);
  const target = fd[1] ?? '';
  return target.startsWith('/') && !target.startsWith('/dev/') && !target.startsWith('/proc/');
}

/** Count calls by name. */
export function countByName(calls: readonly TracedCall[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const call of calls) counts.set(call.name, (counts.get(call.name) ?? 0) + 1);
  return counts;
}
