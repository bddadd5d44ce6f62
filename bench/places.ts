/**
 * Where the benchmark writes: a scratch directory on the project's own disk, and a tmpfs
 * mounted for the run (root on Linux only). tmpfs makes fsync free, so results there show
 * the software overhead of each writer. Both are removed (and the tmpfs unmounted) by
 * `close()`, which the runner calls in a `finally`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

export type PlaceKind = 'disk' | 'tmpfs';

export interface Place {
  readonly kind: PlaceKind;
  /** Scratch directory for this place; every trial works in a fresh subdirectory. */
  readonly dir: string;
  /** The file system's name, from statfs (ext4, xfs, tmpfs, …). */
  readonly fsType: string;
  /** Mount source, for the report (`/dev/vda`, `tmpfs`). */
  readonly device: string;
}

const FS_MAGIC: Readonly<Record<number, string>> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x2fc12fc1: 'zfs',
  0x794c7630: 'overlayfs',
  0x6969: 'nfs',
  0x65735546: 'fuse',
  0xf2f52010: 'f2fs',
};

/** The file system type of `dir` by statfs magic number. */
function fsTypeOf(dir: string): string {
  const magic = statfsSync(dir).type;
  return FS_MAGIC[magic] ?? `0x${magic.toString(16)}`;
}

/** The mount source of the file system holding `dir`, from `findmnt` (best effort). */
function deviceOf(dir: string): string {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--target', dir], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}

/** A scratch directory on the disk that holds `root` (the repository). */
export function diskPlace(root: string): Place {
  const dir = mkdtempSync(join(root, '.bench-disk-'));
  return { kind: 'disk', dir, fsType: fsTypeOf(dir), device: deviceOf(dir) };
}

/** Either a mounted tmpfs, or the reason it could not be had. */
export type TmpfsResult = { place: Place } | { skipped: string };

/** Mount a tmpfs of `sizeMiB` on a fresh directory under `root`. Needs root on Linux. */
export function mountTmpfs(root: string, sizeMiB: number): TmpfsResult {
  if (process.platform !== 'linux') return { skipped: `tmpfs needs Linux (${process.platform})` };
  if (process.getuid?.() !== 0) return { skipped: 'mounting a tmpfs needs root' };
  const dir = mkdtempSync(join(root, '.bench-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return { skipped: `mount -t tmpfs failed: ${message ?? ''}` };
  }
  const type = fsTypeOf(dir);
  if (type !== 'tmpfs') {
    unmount(dir);
    return { skipped: `mounted file system reports type ${type}, not tmpfs` };
  }
  return { place: { kind: 'tmpfs', dir, fsType: type, device: 'tmpfs' } };
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch {
    // Busy (a child still in it): detach lazily so it goes once the child exits.
    execFileSync('umount', ['-l', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
}

/** Remove a place: unmount a tmpfs, then remove its directory. */
export function closePlace(place: Place): void {
  if (place.kind === 'tmpfs') {
    unmount(place.dir);
    rmSync(place.dir, { recursive: true, force: true });
    return;
  }
  rmSync(place.dir, { recursive: true, force: true });
}
