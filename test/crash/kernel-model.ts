/**
 * The audit's persistence models checked against a real kernel (issue 12 §4): a workload —
 * a gallery row's command, or one self-audited atomic-fs write — runs under strace on a loop
 * ext4 or XFS file system; the power is cut for real at a random moment (FS_IOC_SHUTDOWN with
 * NOLOGFLUSH, see loopfs.ts); the file system is mounted again (journal replay); and the tree
 * the kernel left must be one of the states the explorer enumerates for the recording of that
 * same run, cut where the power was cut.
 *
 * The recording is the trace up to the cut: a call that entered the kernel before the
 * shutdown ioctl started may have reached disk (the explorer decides what of it did); a call
 * that entered after cannot have, whatever it returned (XFS answers an fsync of a directory
 * descriptor opened before the shutdown with success). strace stamps each call's entry with
 * the real-time clock (-ttt); the ioctl is timed on the monotonic clock, converted here.
 *
 * A state is compared as the audit sees it: the tree under the workload's directory, less the
 * audit's skipped paths, each file by its bytes, each symlink by its target (modes and times
 * are not compared: no verdict depends on them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { Explorer } from '../../src/audit/explore.js';
import { type FsNode, type NodeId, type PersistenceModel, bytesOf } from '../../src/audit/model.js';
import { Scope } from '../../src/audit/scope.js';
import { snapshot, realDirectory } from '../../src/audit/snapshot.js';
import { parseTrace, straceArguments } from '../../src/audit/trace.js';
import { ENV, ROWS } from '../audit/gallery/rows.js';
import { prepare as prepareRow, runnable } from '../audit/gallery/run.js';
import { cases, prepare as prepareCase } from '../audit/self-paths.js';
import { type FsKind, LoopFs, armShutdown } from '../support/loopfs.js';

/** One program saving files in a directory of its own. */
export interface Workload {
  readonly id: string;
  /** Fill the (empty) directory before the run. */
  readonly prepare: (dir: string) => void;
  /** The command, run in the directory. */
  readonly command: (dir: string) => readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** What the audit leaves out (the row's --include/--exclude). */
  readonly scope: Scope;
}

function flagValues(args: readonly string[], flag: string): string[] {
  return args.flatMap((arg, i) =>
    arg === flag && args[i + 1] !== undefined ? [args[i + 1] ?? ''] : [],
  );
}

/** The gallery's rows whose programs are installed here. */
export function galleryWorkloads(): Workload[] {
  const path = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
  return ROWS.filter(runnable).map((row) => {
    const split = row.audit.indexOf('--');
    const options = row.audit.slice(0, split);
    return {
      id: row.id,
      prepare: (dir) => {
        prepareRow(row, dir);
      },
      command: () => row.audit.slice(split + 1),
      env: { ...process.env, ...ENV, ...row.env, PATH: path },
      scope: new Scope({
        include: flagValues(options, '--include'),
        exclude: flagValues(options, '--exclude'),
      }),
    };
  });
}

const SELF_PATHS = new URL('../audit/self-paths.js', import.meta.url).href;

/** Every self-audited write path of atomic-fs, at durability `'full'`. */
export function selfWorkloads(): Workload[] {
  return cases('/')
    .filter((c) => c.durability === 'full')
    .map((c) => ({
      id: `atomic-fs ${c.name}`,
      prepare: (dir) => {
        const [mine] = cases(dir).filter((other) => other.key === c.key);
        if (mine !== undefined) prepareCase(mine);
      },
      command: (dir) => [
        process.execPath,
        '--input-type=module',
        '-e',
        `const { cases } = await import(${JSON.stringify(SELF_PATHS)});
         const c = cases(${JSON.stringify(dir)}).find((c) => c.key === ${JSON.stringify(c.key)});
         await c.path.run(c.ctx);`,
      ],
      env: { ...process.env, ATOMIC_FS_IO_THREAD: '0' },
      scope: new Scope(),
    }));
}

/** The calls slowed down under the trace: those that change files, and fsync. */
const SLOWED = [
  'write',
  'pwrite64',
  'writev',
  'rename',
  'renameat',
  'renameat2',
  'unlink',
  'unlinkat',
  'link',
  'linkat',
  'fsync',
  'fdatasync',
  'ftruncate',
  'mkdir',
  'mkdirat',
  'symlink',
  'symlinkat',
];
const SLOW_US = 3000;

/** A tree, as the comparison sees it (see the top of this file): each path and what it is. */
function flatTree(get: (id: NodeId) => FsNode | undefined, root: NodeId): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (id: NodeId, path: string, depth: number): void => {
    const node = get(id);
    if (node === undefined || depth > 64) return;
    switch (node.type) {
      case 'file':
        out.set(path, `f:${createHash('sha1').update(node.data).digest('base64')}`);
        return;
      case 'symlink':
        out.set(path, `s:${node.target}`);
        return;
      case 'other':
        out.set(path, 'o');
        return;
      case 'dir':
        out.set(path, 'd');
        for (const [name, child] of node.entries) visit(child, `${path}/${name}`, depth + 1);
    }
  };
  visit(root, '', 0);
  return out;
}

/**
 * `flatTree` keyed as one string; a file the recording does not model (written through a
 * shared mapping, see `Recording.unmodelled`) counts by its presence only.
 */
function treeKey(
  get: (id: NodeId) => FsNode | undefined,
  root: NodeId,
  unmodelled: ReadonlySet<string> = new Set(),
): string {
  return [...flatTree(get, root)]
    .map(([path, what]): [string, string] => [path, unmodelled.has(path) ? 'f:*' : what])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, what]) => `${path}=${what}`)
    .join(',');
}

/** The trace of calls that entered the kernel before `cutUs` (real time, µs), unstamped. */
export function traceBefore(text: string, cutUs: number): string {
  const kept: string[] = [];
  const dropped = new Set<string>();
  for (const line of text.split('\n')) {
    const match = /^(\d+)\s+(\d+)\.(\d{6}) (.*)$/.exec(line);
    if (match === null) continue;
    const [, pid = '', seconds = '0', micros = '0', rest = ''] = match;
    const at = Number(seconds) * 1e6 + Number(micros);
    if (rest.startsWith('<... ')) {
      // The end of a call: kept with its start.
      if (!dropped.delete(pid)) kept.push(`${pid} ${rest}`);
      continue;
    }
    if (at >= cutUs) {
      if (rest.endsWith('<unfinished ...>')) dropped.add(pid);
      continue;
    }
    kept.push(`${pid} ${rest}`);
  }
  return `${kept.join('\n')}\n`;
}

/** When the calls naming `dir` ran, in ms after `fromUs` (real time, µs). */
function windowOf(text: string, dir: string, fromUs: number): [number, number] | undefined {
  let first: number | undefined;
  let last: number | undefined;
  for (const line of text.split('\n')) {
    const match = /^\d+\s+(\d+)\.(\d{6}) (.*)$/.exec(line);
    if (match === null || !(match[3] ?? '').includes(dir)) continue;
    const ms = (Number(match[1]) * 1e6 + Number(match[2]) - fromUs) / 1000;
    first ??= ms;
    last = ms;
  }
  return first === undefined || last === undefined ? undefined : [first, last];
}

/** The real-time clock now, in µs, and the monotonic one (process.hrtime), in ns. */
function clocks(): { realUs: number; monoNs: bigint } {
  return {
    realUs: (performance.timeOrigin + performance.now()) * 1000,
    monoNs: process.hrtime.bigint(),
  };
}

interface ModelStates {
  readonly keys: Set<string>;
  /** The explorer stopped at its bound. */
  readonly bounded: boolean;
  /** When the real state is not among them: how the closest one differs from it. */
  readonly nearest?: string[];
}

export interface Trial {
  /** The power was cut while the command still ran (else after it ended). */
  readonly during: boolean;
  /** Operations recorded before the cut. */
  readonly ops: number;
  /** Files whose content the recording does not model (compared by presence only). */
  readonly unmodelled: readonly string[];
  /** The real state's key. */
  readonly real: string;
  /** When the traced calls on the directory ran, in ms after the command started. */
  readonly window: readonly [number, number] | undefined;
  /** Per model: the keys of the states it enumerates, and whether it stopped at its bound. */
  readonly models: Readonly<Record<PersistenceModel, ModelStates>>;
}

/** Run `workload` on a fresh `kind` file system and cut the power after `delayMs`. */
export async function trial(
  workload: Workload,
  kind: FsKind,
  delayMs: number,
  models: readonly PersistenceModel[],
): Promise<Trial & { seconds: number }> {
  const loop = new LoopFs(kind, { sizeMiB: kind === 'xfs' ? 300 : 64 });
  const traceDir = fs.mkdtempSync(join(fs.realpathSync('/tmp'), 'afs-kernel-trace-'));
  try {
    const dir = join(loop.mnt, 'w');
    fs.mkdirSync(dir);
    workload.prepare(dir);
    spawnSync('sync');
    const root = realDirectory(dir);
    const before = snapshot(root, {}, workload.scope);
    const armed = await armShutdown(loop.mnt);
    const traceFile = join(traceDir, 'trace');
    const started = Date.now();
    const spawnedUs = clocks().realUs;
    const child = spawn(
      'strace',
      straceArguments(traceFile, workload.command(dir), [
        // Each call entry stamped with the real-time clock, to cut the trace where the power
        // was cut.
        '-ttt',
        // Each call that changes the directory is slowed (3 ms after it returns), so that a
        // cut lands between two of them and not only before or after a short run.
        '-e',
        `inject=${SLOWED.join(',')}:delay_exit=${SLOW_US}`,
      ]),
      { cwd: dir, env: { ...workload.env, UV_USE_IO_URING: '0' }, stdio: 'ignore' },
    );
    let exited = false;
    const exit = new Promise<number>((resolve) => {
      child.once('exit', (code) => {
        exited = true;
        resolve(code ?? 128);
      });
    });
    await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, delayMs))]);
    const during = !exited;
    const clock = clocks();
    const cut = await armed.fire();
    const cutUs = clock.realUs + Number(cut.from - clock.monoNs) / 1000;
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const exitCode = await exit;
    clearTimeout(killer);
    loop.unmount();
    loop.mount();
    const after = snapshot(root, {}, workload.scope);
    const raw = fs.readFileSync(traceFile, 'latin1');
    const text = traceBefore(raw, cutUs);
    const { recording } = parseTrace(text, {
      root,
      alias: bytesOf(dir),
      cwd: root,
      snapshot: before,
      exitCode,
    });
    const unmodelled = new Set((recording.unmodelled ?? []).map((path) => `/${path}`));
    const realTree = flatTree((id) => after.state.nodes.get(id), after.state.root);
    const real = treeKey((id) => after.state.nodes.get(id), after.state.root, unmodelled);
    const result = {} as Record<PersistenceModel, ModelStates>;
    for (const model of models) {
      const explorer = new Explorer(recording, { model });
      const keys = new Set<string>();
      let nearest: string[] | undefined;
      for (const { state } of explorer.states()) {
        const key = treeKey((id) => state.get(id), state.root, unmodelled);
        if (keys.has(key)) continue;
        keys.add(key);
        if (key === real) continue;
        const tree = flatTree((id) => state.get(id), state.root);
        const diff = [...new Set([...tree.keys(), ...realTree.keys()])]
          .filter((path) => !unmodelled.has(path) && tree.get(path) !== realTree.get(path))
          .map(
            (path) =>
              `${path}: kernel ${realTree.get(path) ?? 'absent'}, model ${tree.get(path) ?? 'absent'}`,
          );
        if (nearest === undefined || diff.length < nearest.length) nearest = diff;
      }
      const bounded = explorer.stats.boundReached;
      result[model] =
        keys.has(real) || nearest === undefined ? { keys, bounded } : { keys, bounded, nearest };
    }
    return {
      during,
      ops: recording.ops.length,
      unmodelled: [...unmodelled],
      real,
      window: windowOf(raw, dir, spawnedUs),
      models: result,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    loop.destroy();
    fs.rmSync(traceDir, { recursive: true, force: true });
  }
}
