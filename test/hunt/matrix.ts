/**
 * The file systems the hunter runs on: tmpfs, ext4, XFS, btrfs and overlayfs (upper and work
 * on a loop ext4), each mounted for the run and taken down after it. As root on Linux only;
 * elsewhere a run is skipped with a printed reason — except under ATOMIC_FS_REQUIRE_ALL=1,
 * where a missing file system is a failure.
 */
import { isLinux, isRoot, requireAll } from '../support/helpers.js';
import { type FsKind, LoopFs, missingTools } from '../support/loopfs.js';

export const MATRIX = [
  'tmpfs',
  'ext4',
  'xfs',
  'btrfs',
  'overlay',
] as const satisfies readonly FsKind[];
export type MatrixKind = (typeof MATRIX)[number];

const SIZE_MIB: Record<MatrixKind, number> = {
  tmpfs: 128,
  ext4: 128,
  xfs: 300,
  btrfs: 128,
  overlay: 128,
};

/** Why `kind` cannot be mounted here, or `undefined` if it can. */
export function unavailable(kind: MatrixKind): string | undefined {
  if (!isLinux) return 'needs Linux';
  if (!isRoot) return 'needs root (mount, loop devices)';
  const missing = missingTools(kind);
  if (missing.length > 0) return `missing tools: ${missing.join(', ')}`;
  return undefined;
}

/**
 * Run `body` with the root of a fresh `kind` file system (or with `undefined`: the temp
 * directory as it is). Returns `undefined` when the file system is unavailable (and prints
 * why), unless ATOMIC_FS_REQUIRE_ALL=1, where that throws.
 */
export async function withFileSystem<T>(
  kind: MatrixKind | undefined,
  body: (root: string | undefined) => Promise<T>,
): Promise<T | undefined> {
  if (kind === undefined) return body(undefined);
  const why = unavailable(kind);
  if (why !== undefined) {
    if (requireAll) throw new Error(`required in CI but unavailable: ${kind}: ${why}`);
    process.stderr.write(`# skip hunt on ${kind}: ${why}\n`);
    return undefined;
  }
  const mounted = new LoopFs(kind, { sizeMiB: SIZE_MIB[kind] });
  try {
    return await body(mounted.mnt);
  } finally {
    mounted.destroy();
  }
}
