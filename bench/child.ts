/**
 * A child process for the probes.
 *
 * For the syscall counts and the CPU profile it warms one contender up on one file, then
 * makes `writes` writes of `size` bytes between two marker calls (an access() of a path that
 * does not exist), so the parent can cut the strace log to exactly the measured writes:
 *
 *   node build/bench/child.js <contender> <async|sync|burst|concurrent> <dir> <writes> <size>
 *
 * `async` awaits each overwrite of one file, `sync` uses the synchronous API, `burst` issues
 * every overwrite of one file at once and then awaits them (workload B), `concurrent` issues
 * every write at once, each to its own new file (workload C).
 *
 * For the peak-RSS run it writes `files` new files through one multi-file contender, after a
 * warm-up, and prints the resident set before and at its peak during the writes:
 *
 *   node --expose-gc build/bench/child.js rss <contender> <dir> <files> <size>
 */
import { accessSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Contender, contenderByName, ioThreadOnline } from './contenders.js';
import { smallData } from './data.js';
import type { RssReport } from './probes.js';
import { MARK_END, MARK_START } from './stats.js';
import { newEntries } from './workloads.js';

const WARMUP = 30;
/** Warm up for at least this long: atomic-fs's I/O thread needs tens of ms to come online. */
const WARMUP_MS = 300;

/** Monotonic µs at the two marks: the clock of V8's CPU profiles, printed for the parent. */
const window: bigint[] = [];

function mark(path: string): void {
  window.push(process.hrtime.bigint() / 1000n);
  try {
    accessSync(path);
  } catch {
    // The point is the call, not its answer.
  }
}

type Mode = 'async' | 'sync' | 'burst' | 'concurrent';

function isMode(mode: string | undefined): mode is Mode {
  return mode === 'async' || mode === 'sync' || mode === 'burst' || mode === 'concurrent';
}

async function traced(contender: Contender, mode: Mode, dir: string, writes: number, size: number) {
  const name = contender.name;
  const path = join(dir, 'data.bin');
  const datas = Array.from({ length: WARMUP + writes }, (_, i) => smallData(size, name, i));
  const warm = datas.slice(0, WARMUP);
  const measured = datas.slice(WARMUP);
  if (mode === 'sync') {
    const write = contender.writeSync;
    if (write === undefined) return 3;
    const start = performance.now();
    do {
      for (const data of warm) write(path, data);
    } while (performance.now() - start < WARMUP_MS);
    mark(MARK_START);
    for (const data of measured) write(path, data);
    mark(MARK_END);
    return 0;
  }
  const write = contender.write;
  if (write === undefined) return 3;
  const start = performance.now();
  do {
    for (const data of warm) await write(path, data);
  } while (performance.now() - start < WARMUP_MS);
  if (mode === 'concurrent') {
    // The path of a new file warmed up too, and the directory made outside the window.
    const warmDir = join(dir, 'warm-up');
    mkdirSync(warmDir);
    await Promise.all(newEntries(warmDir, WARMUP, size, name).map((e) => write(e.path, e.data)));
    const fresh = join(dir, 'new');
    mkdirSync(fresh);
    const entries = newEntries(fresh, writes, size, name);
    mark(MARK_START);
    await Promise.all(entries.map((entry) => write(entry.path, entry.data)));
    mark(MARK_END);
    return 0;
  }
  mark(MARK_START);
  if (mode === 'burst') await Promise.all(measured.map((data) => write(path, data)));
  else for (const data of measured) await write(path, data);
  mark(MARK_END);
  return 0;
}

/** The kernel's high-water mark of this process's resident set, bytes (Linux). */
function highWaterMark(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

async function rss(contender: Contender, dir: string, files: number, size: number) {
  const writeMany = contender.writeMany;
  if (writeMany === undefined) return 3;
  const warmDir = `${dir}-warm-up`;
  const start = performance.now();
  do {
    rmSync(warmDir, { recursive: true, force: true });
    mkdirSync(warmDir, { recursive: true });
    await writeMany(newEntries(warmDir, 20, size, contender.name));
  } while (performance.now() - start < WARMUP_MS);
  rmSync(warmDir, { recursive: true, force: true });
  const entries = newEntries(dir, files, size, contender.name);
  (globalThis as { gc?: () => void }).gc?.();
  let reset = false;
  try {
    // "5" resets the peak resident set (VmHWM) to the current one (Linux ≥ 4.0).
    writeFileSync('/proc/self/clear_refs', '5');
    reset = true;
  } catch {
    // Not Linux, or not allowed: the peak is the process's since it started.
  }
  const before = process.memoryUsage.rss();
  const begin = performance.now();
  await writeMany(entries);
  const ms = performance.now() - begin;
  const peak = highWaterMark() ?? process.resourceUsage().maxRSS * 1024;
  const report: RssReport = { ms, before, peak: Math.max(peak, before), reset };
  process.stdout.write(`rss ${JSON.stringify(report)}\n`);
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  await ioThreadOnline();
  if (argv[0] === 'rss') {
    const [, name, dir, filesText, sizeText] = argv;
    const contender = name === undefined ? undefined : contenderByName(name);
    if (contender === undefined || dir === undefined) {
      process.stderr.write('usage: child.js rss <contender> <dir> <files> <size>\n');
      return 2;
    }
    return rss(contender, dir, Number(filesText ?? '1000'), Number(sizeText ?? '1024'));
  }
  const [name, mode, dir, writesText, sizeText] = argv;
  const contender = name === undefined ? undefined : contenderByName(name);
  if (contender === undefined || dir === undefined || !isMode(mode)) {
    process.stderr.write(
      'usage: child.js <contender> <async|sync|burst|concurrent> <dir> <writes> <size>\n',
    );
    return 2;
  }
  const code = await traced(
    contender,
    mode,
    dir,
    Number(writesText ?? '100'),
    Number(sizeText ?? '1024'),
  );
  if (code === 0) process.stdout.write(`window ${window.join(' ')}\n`);
  return code;
}

if (process.argv[1]?.endsWith('child.js') === true) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exit(code);
    },
    (error: unknown) => {
      process.stderr.write(
        `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
