/**
 * Small real file systems for tests (Linux, root): ext4, XFS or btrfs on a loop device over a
 * sparse image file, a tmpfs, or an overlayfs (what containers write to: lower, upper and work
 * directories on a loop ext4, the merged view mounted as the test's file system), mounted by
 * the test and always taken down again (unmounted, loop device detached, image removed) in an
 * after hook, also when the test fails.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export type FsKind = 'ext4' | 'xfs' | 'btrfs' | 'tmpfs' | 'overlay';

export interface LoopFsOptions {
  /** Size in MiB (XFS needs at least 300, btrfs 120). */
  readonly sizeMiB: number;
  /** Extra arguments for mkfs (before the device). */
  readonly mkfs?: readonly string[];
  /** Mount options (`-o`). */
  readonly options?: string;
}

/** Whether `command` can be run (found on PATH). */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** The tools a kind of file system needs, and which are missing. */
export function missingTools(kind: FsKind): string[] {
  const tools = {
    ext4: ['losetup', 'mkfs.ext4'],
    xfs: ['losetup', 'mkfs.xfs'],
    btrfs: ['losetup', 'mkfs.btrfs'],
    tmpfs: [],
    overlay: ['losetup', 'mkfs.ext4'],
  }[kind];
  return tools.filter((tool) => !hasCommand(tool));
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class LoopFs {
  readonly kind: FsKind;
  /** Where it is mounted (while mounted). */
  readonly mnt: string;
  /** The loop device (`undefined` for tmpfs). */
  readonly dev: string | undefined;
  /** For overlayfs: where the ext4 that holds its layers is mounted. */
  readonly layers: string | undefined;
  private readonly image: string | undefined;
  private readonly options: string | undefined;
  private layersMounted = false;
  private mounted = false;
  private destroyed = false;

  constructor(kind: FsKind, settings: LoopFsOptions) {
    this.kind = kind;
    this.options = settings.options;
    const base = fs.mkdtempSync(join(tmpdir(), `afs-${kind}-`));
    this.mnt = join(base, 'mnt');
    fs.mkdirSync(this.mnt);
    this.layers = kind === 'overlay' ? join(base, 'layers') : undefined;
    if (kind === 'tmpfs') {
      this.dev = undefined;
      this.image = undefined;
      const size = `size=${settings.sizeMiB}m`;
      this.options = this.options === undefined ? size : `${size},${this.options}`;
    } else {
      this.image = join(base, 'image');
      fs.writeFileSync(this.image, '');
      fs.truncateSync(this.image, settings.sizeMiB << 20);
      this.dev = run('losetup', ['--find', '--show', this.image]).trim();
      try {
        const mkfs = kind === 'overlay' ? 'ext4' : kind;
        const force = kind === 'ext4' || kind === 'overlay' ? '-F' : '-f';
        run(`mkfs.${mkfs}`, ['-q', force, ...(settings.mkfs ?? []), this.dev]);
        if (this.layers !== undefined) {
          fs.mkdirSync(this.layers);
          run('mount', ['-t', 'ext4', this.dev, this.layers]);
          this.layersMounted = true;
          for (const name of ['lower', 'upper', 'work']) fs.mkdirSync(join(this.layers, name));
        }
      } catch (error) {
        this.destroy();
        throw error;
      }
    }
    this.mount();
  }

  /** For overlayfs: the lower layer (read-only in the merged view; fill it before mounting). */
  get lower(): string | undefined {
    return this.layers === undefined ? undefined : join(this.layers, 'lower');
  }

  mount(): void {
    if (this.kind === 'overlay') {
      const layers = this.layers ?? '';
      const dirs = `lowerdir=${join(layers, 'lower')},upperdir=${join(layers, 'upper')},workdir=${join(layers, 'work')}`;
      const extra = this.options === undefined ? '' : `,${this.options}`;
      run('mount', ['-t', 'overlay', '-o', `${dirs}${extra}`, 'overlay', this.mnt]);
      this.mounted = true;
      return;
    }
    const options = this.options === undefined ? [] : ['-o', this.options];
    if (this.kind === 'tmpfs') run('mount', ['-t', 'tmpfs', ...options, 'tmpfs', this.mnt]);
    else run('mount', ['-t', this.kind, ...options, this.dev ?? '', this.mnt]);
    this.mounted = true;
  }

  /** Unmount, retrying while the mount is busy (a process that just died may still hold it). */
  unmount(): void {
    for (let attempt = 0; ; attempt += 1) {
      const result = spawnSync('umount', [this.mnt], { encoding: 'utf8' });
      if (result.status === 0) break;
      if (attempt >= 50) throw new Error(`umount ${this.mnt}: ${result.stderr}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    this.mounted = false;
  }

  /** Unmount and mount again: after a shutdown, this replays the journal (the "reboot"). */
  remount(): void {
    this.unmount();
    this.mount();
  }

  /** Flush everything (syncfs): what is there now survives a later shutdown. */
  sync(): void {
    run('sync', ['-f', this.mnt]);
  }

  /** Free blocks as `statfs` reports them (f_bavail). */
  available(): number {
    return fs.statfsSync(this.mnt).bavail;
  }

  /**
   * Take everything down; safe after a partial set-up, and a second call does nothing (the
   * loop device may belong to someone else by then).
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.mounted) {
      try {
        this.unmount();
      } catch {
        spawnSync('umount', ['-l', this.mnt]);
        this.mounted = false;
      }
    }
    if (this.layersMounted && this.layers !== undefined) {
      if (spawnSync('umount', [this.layers]).status !== 0) spawnSync('umount', ['-l', this.layers]);
      this.layersMounted = false;
    }
    if (this.dev !== undefined) spawnSync('losetup', ['-d', this.dev]);
    fs.rmSync(join(this.mnt, '..'), { recursive: true, force: true });
  }
}

/** When a shutdown happened: the monotonic clock (process.hrtime.bigint()) around the ioctl. */
export interface Cut {
  readonly from: bigint;
  readonly to: bigint;
}

export interface ArmedShutdown {
  /** Issue the ioctl now; resolves with when it ran. */
  readonly fire: () => Promise<Cut>;
}

/**
 * The FS_IOC_SHUTDOWN ioctl (0x8004587D, `_IOR('X', 125, __u32)`) with the NOLOGFLUSH flag
 * (2) — what `xfs_io -x -c shutdown` does without -f, and what xfstests uses to simulate a
 * power cut, on ext4 and XFS alike: uncommitted journal transactions and dirty pages are
 * thrown away and every later call on the file system fails with EIO. Node cannot issue an
 * ioctl, so a tiny python3 helper does, timing it on the system-wide monotonic clock (the
 * one process.hrtime reads): a shutdown is then known to the microsecond, not to the few
 * milliseconds a fork and exec of xfs_io would blur it by.
 */
const SHUTDOWN_PY = `
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print('armed', flush=True)
sys.stdin.readline()
start = time.monotonic_ns()
fcntl.ioctl(fd, 0x8004587D, struct.pack('I', 2))
print(start, time.monotonic_ns(), flush=True)
`;

/** Start the shutdown helper for the file system mounted at `mnt`; resolves once it is ready. */
export function armShutdown(mnt: string): Promise<ArmedShutdown> {
  const helper = spawn('python3', ['-c', SHUTDOWN_PY, mnt], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  helper.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const waiter of waiters.splice(0)) waiter();
  });
  helper.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve, reject) => {
    helper.once('error', reject);
    helper.once('close', (code) => {
      resolve(code);
      for (const waiter of waiters.splice(0)) waiter();
    });
  });
  let closed = false;
  void exited.then(() => (closed = true));
  const lines = async (count: number): Promise<string[]> => {
    while (out.split('\n').length <= count) {
      if (closed) throw new Error(`shutdown helper failed: ${err}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return out.split('\n');
  };
  return lines(1).then(() => ({
    fire: async () => {
      helper.stdin.end('go\n');
      const [, times = ''] = await lines(2);
      const code = await exited;
      if (code !== 0) throw new Error(`shutdown helper exited with ${code}: ${err}`);
      const [from = '0', to = '0'] = times.split(' ');
      return { from: BigInt(from), to: BigInt(to) };
    },
  }));
}

/** A file system for one test, destroyed after it (also when it fails). */
export function loopFs(t: TestContext, kind: FsKind, settings: LoopFsOptions): LoopFs {
  const made = new LoopFs(kind, settings);
  t.after(() => {
    made.destroy();
  });
  return made;
}
