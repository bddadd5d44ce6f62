/** The sizes of a run: full (for BENCHMARKS.md and the targets) or quick (a smoke run). */

export type WorkloadId = 'S' | 'Sync' | 'B' | 'F' | 'L';

export interface Config {
  readonly quick: boolean;
  /** Rounds of S and Sync (each contender once per round). */
  readonly rounds: number;
  readonly burstRounds: number;
  readonly filesRounds: number;
  readonly largeRounds: number;
  readonly sweepRounds: number;
  /** Writes per trial of S and Sync, on the disk and on tmpfs. */
  readonly ops: { readonly disk: number; readonly tmpfs: number };
  readonly smallSize: number;
  readonly burst: number;
  readonly files: number;
  readonly largeBytes: number;
  readonly chunk: number;
  readonly sizes: readonly number[];
  readonly counts: readonly number[];
  /** Largest count at which one-by-one writers run in the count sweep. */
  readonly sequentialCountMax: number;
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
  filesRounds: 5,
  largeRounds: 3,
  sweepRounds: 3,
  ops: { disk: 60, tmpfs: 200 },
  smallSize: KiB,
  burst: 1000,
  files: 500,
  largeBytes: GiB,
  chunk: 64 * KiB,
  // 1 MiB and 2 MiB sit either side of the library's offload threshold (OFFLOAD_MAX_BYTES).
  sizes: [KiB, 64 * KiB, MiB, 2 * MiB, 32 * MiB, GiB],
  counts: [10, 100, 1000, 10_000],
  sequentialCountMax: 1000,
  straceWrites: 200,
  profileWrites: 3000,
  roundTripSamples: 3000,
  warmupMs: 300,
};

export const QUICK: Config = {
  quick: true,
  rounds: 3,
  burstRounds: 2,
  filesRounds: 2,
  largeRounds: 2,
  sweepRounds: 2,
  ops: { disk: 30, tmpfs: 100 },
  smallSize: KiB,
  burst: 100,
  files: 60,
  largeBytes: 32 * MiB,
  chunk: 64 * KiB,
  sizes: [KiB, MiB],
  counts: [10, 60],
  sequentialCountMax: 60,
  straceWrites: 20,
  profileWrites: 0,
  roundTripSamples: 500,
  warmupMs: 60,
};

/** Writes per trial of the size sweep: about 256 MiB (or 200 writes, or 1). */
export function sweepWrites(config: Config, size: number): number {
  const budget = config.quick ? 16 * MiB : 256 * MiB;
  return Math.max(1, Math.min(config.quick ? 20 : 200, Math.floor(budget / size)));
}
