/**
 * writeFiles against the naive durable sequence, for the performance target of issue 6:
 * N new files of SIZE bytes in one directory. The naive sequence, per file, awaited with
 * fs/promises: open 'wx' → write → fsync → close → rename → open dir → fsync → close.
 *
 *   npm run build:test && node build/bench/write-files.js [files=500] [bytes=1024] [rounds=5] [dir]
 *
 * Rounds alternate naive and writeFiles, each in a fresh directory; the ratio of the medians
 * is printed. Run it on the file system you care about (the default is the OS temp dir).
 */
import * as fs from 'node:fs';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFiles } from '../src/index.js';

const files = Number(process.argv[2] ?? 500);
const bytes = Number(process.argv[3] ?? 1024);
const rounds = Number(process.argv[4] ?? 5);
const root = process.argv[5] ?? tmpdir();
const data = Buffer.alloc(bytes, 0x61);

async function naive(dir: string): Promise<void> {
  for (let i = 0; i < files; i += 1) {
    const dest = join(dir, `f${i}.txt`);
    const tmp = `${dest}.tmp`;
    const file = await open(tmp, 'wx');
    await file.write(data);
    await file.sync();
    await file.close();
    await rename(tmp, dest);
    const directory = await open(dir, 'r');
    await directory.sync();
    await directory.close();
  }
}

async function grouped(dir: string): Promise<void> {
  const entries = new Map<string, Buffer>();
  for (let i = 0; i < files; i += 1) entries.set(join(dir, `f${i}.txt`), data);
  const results = await writeFiles(entries);
  const failed = results.filter((result) => result.status !== 'written');
  if (failed.length > 0) throw new Error(`${failed.length} files failed`);
}

async function time(run: (dir: string) => Promise<void>): Promise<number> {
  const dir = await mkdtemp(join(root, 'afs-bench-'));
  try {
    const started = performance.now();
    await run(dir);
    const ms = performance.now() - started;
    if (fs.readdirSync(dir).length !== files) throw new Error('wrong number of files');
    return ms;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

await time(grouped); // warm-up: starts libuv's threadpool, JIT
const naiveMs: number[] = [];
const groupedMs: number[] = [];
for (let round = 0; round < rounds; round += 1) {
  naiveMs.push(await time(naive));
  groupedMs.push(await time(grouped));
}
const rate = (ms: number): string => `${((files / ms) * 1000).toFixed(0)} files/s`;
console.log(`${files} × ${bytes} B new files in one directory under ${root}, ${rounds} rounds`);
console.log(`naive sequence: median ${median(naiveMs).toFixed(0)} ms (${rate(median(naiveMs))})`);
console.log(
  `writeFiles:     median ${median(groupedMs).toFixed(0)} ms (${rate(median(groupedMs))})`,
);
console.log(`ratio: ${(median(naiveMs) / median(groupedMs)).toFixed(2)}×`);
console.log(
  `rounds (naive/writeFiles ms): ${naiveMs.map((n, i) => `${n.toFixed(0)}/${(groupedMs[i] ?? NaN).toFixed(0)}`).join(' ')}`,
);
