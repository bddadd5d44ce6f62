/** The sizes of a run: full (for BENCHMARKS.md and the targets) or quick (a smoke run). */

export type WorkloadId = 'S' | 'Sync' | 'B' | 'C' | 'F' | 'L';

export interface Config {
  readonly quick: boolean;
  /** Rounds of S and Sync (each contender once per round). */
  readonly rounds: number;
  readonly burstRounds: number;
  /** Rounds of C, of each point of the concurrency sweep, and of the peak-RSS run. */
  readonly concurrentRounds: number;
  readonly writersRounds: number;
  readonly rssRounds: number;
  readonly filesRounds: number;
  readonly largeRounds: number;
  readonly sweepRounds: number;
  /** Writes per trial of S and Sync, on the disk and on tmpfs. */
  readonly ops: { readonly disk: number; readonly tmpfs: number };
  readonly smallSize: number;
  readonly burst: number;
  readonly files: number;
  /** C: writes issued at once (`Promise.all`), each to its own new file. */
  readonly concurrent: number;
  /** The concurrency sweep: numbers of concurrent writers, and the files of one trial. */
  readonly writers: readonly number[];
  readonly writersFiles: number;
  /** Files of the peak-RSS run (each contender in a fresh child process). */
  readonly rssFiles: number;
  readonly largeBytes: number;
  readonly chunk: number;
  readonly sizes: readonly number[];
  readonly counts: readonly number[];
  /** Largest count at which one-by-one writers run in the count sweep. */
  readonly sequentialCountMax: number;
  /** Largest count at which the peers (one by one) run in the count sweep. */
  readonly peerCountMax: number;
  /** Whether the size sweep runs the peers too (they add a minute to a full run). */
  readonly sizePeers: boolean;
  readonly straceWrites: number;
  readonly profileWrites: number;
  readonly roundTripSamples: number;
  /** Untimed warm-up per contender and workload, at least this long. */
  readonly warmupMs: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const FULL: Config = {
  quick: false,
  rounds: 15,
  burstRounds: 5,
  concurrentRounds: 5,
  writersRounds: 3,
  rssRounds: 2,
  filesRounds: 5,
  largeRounds: 3,
  sweepRounds: 3,
  ops: { disk: 60, tmpfs: 200 },
  smallSize: KiB,
  burst: 1000,
  files: 500,
  concurrent: 500,
  writers: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  writersFiles: 256,
  rssFiles: 10_000,
  largeBytes: GiB,
  chunk: 64 * KiB,
  // 1 MiB and 2 MiB sit either side of the library's offload threshold (OFFLOAD_MAX_BYTES).
  sizes: [KiB, 64 * KiB, MiB, 2 * MiB, 32 * MiB, GiB],
  counts: [1, 10, 100, 1000, 10_000],
  sequentialCountMax: 10_000,
  peerCountMax: 1000,
  sizePeers: true,
  straceWrites: 200,
  profileWrites: 3000,
  roundTripSamples: 3000,
  warmupMs: 300,
};

export const QUICK: Config = {
  quick: true,
  rounds: 3,
  burstRounds: 2,
  concurrentRounds: 2,
  writersRounds: 1,
  rssRounds: 1,
  filesRounds: 2,
  largeRounds: 2,
  sweepRounds: 2,
  ops: { disk: 30, tmpfs: 100 },
  smallSize: KiB,
  burst: 100,
  files: 60,
  concurrent: 60,
  writers: [1, 4, 16],
  writersFiles: 16,
  rssFiles: 300,
  largeBytes: 32 * MiB,
  chunk: 64 * KiB,
  sizes: [KiB, 64 * KiB, MiB],
  counts: [1, 10, 60],
  sequentialCountMax: 60,
  peerCountMax: 10,
  sizePeers: true,
  straceWrites: 20,
  profileWrites: 0,
  roundTripSamples: 500,
  warmupMs: 60,
};

/** The size sweep's budget per trial: bytes, and a cap on the writes. */
export function sweepBudget(config: Config): { bytes: number; writes: number } {
  return config.quick ? { bytes: 16 * MiB, writes: 20 } : { bytes: 256 * MiB, writes: 200 };
}

/** Writes per trial of the size sweep: about the budget's bytes (or its writes, or 1). */
export function sweepWrites(config: Config, size: number): number {
  const budget = sweepBudget(config);
  return Math.max(1, Math.min(budget.writes, Math.floor(budget.bytes / size)));
}
