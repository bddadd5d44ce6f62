/**
 * A child process for the syscall counts and the CPU profile: warms one contender up on one
 * file, then makes `writes` overwrites of `size` bytes between two marker calls (an access()
 * of a path that does not exist), so the parent can cut the strace log to exactly the
 * measured writes.
 *
 *   node build/bench/child.js <contender> <async|sync> <dir> <writes> <size>
 */
import { accessSync } from 'node:fs';
import { join } from 'node:path';
import { contenderByName } from './contenders.js';
import { smallData } from './data.js';
import { MARK_END, MARK_START } from './stats.js';
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

async function main(argv: readonly string[]): Promise<number> {
  const [name, mode, dir, writesText, sizeText] = argv;
  const contender = name === undefined ? undefined : contenderByName(name);
  if (contender === undefined || dir === undefined || (mode !== 'async' && mode !== 'sync')) {
    process.stderr.write('usage: child.js <contender> <async|sync> <dir> <writes> <size>\n');
    return 2;
  }
  const writes = Number(writesText ?? '100');
  const size = Number(sizeText ?? '1024');
  const path = join(dir, 'data.bin');
  const datas = Array.from({ length: WARMUP + writes }, (_, i) => smallData(size, name ?? '', i));
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
  } else {
    const write = contender.write;
    if (write === undefined) return 3;
    const start = performance.now();
    do {
      for (const data of warm) await write(path, data);
    } while (performance.now() - start < WARMUP_MS);
    mark(MARK_START);
    for (const data of measured) await write(path, data);
    mark(MARK_END);
  }
  process.stdout.write(`window ${window.join(' ')}\n`);
  return 0;
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
