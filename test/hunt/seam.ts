/**
 * The hunter's hook into the fs seam (when a program runs patched): fail the n-th call of an
 * operation, abort signals at a given call, notice a descriptor closed while not open, and
 * after every call look at the modes of everything in the program's directories (what another
 * local user could open at that moment).
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type OpName, restoreSeam, seam } from '../../src/engine/fs.js';
import { errnoError } from '../support/helpers.js';
import type { Fault } from './program.js';

/** One look at one entry: name (relative), inode, mode, and when the inode was born. */
interface ModeSample {
  readonly name: string;
  readonly ino: number;
  readonly birth: bigint;
  readonly mode: number;
}

export interface SeamLog {
  /** Calls made through the seam while the program ran. */
  count: number;
  /** Faults injected, by their tag. */
  readonly injected: { readonly tag: number; readonly op: OpName; readonly subject: string }[];
  readonly doubleCloses: number[];
  readonly samples: ModeSample[];
}

/** Marks an injected fault, so that the hunter can tell who it was blamed on. */
const FAULT_TAG = Symbol('hunt fault');

type AnyFn = (...args: readonly unknown[]) => unknown;

const debug = process.env.ATOMIC_FS_HUNT_DEBUG === '1';

export interface Patch {
  readonly log: SeamLog;
  restore(): void;
}

/** Look at every entry of `dirs` (relative to `root`) and note its mode. */
function sampleModes(root: string, dirs: readonly string[], into: ModeSample[]): void {
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(join(root, dir));
    } catch {
      continue;
    }
    for (const name of names) {
      try {
        const stats = fs.lstatSync(join(root, dir, name), { bigint: true });
        if (!stats.isFile()) continue;
        into.push({
          name: dir === '.' ? name : `${dir}/${name}`,
          ino: Number(stats.ino),
          birth: stats.birthtimeNs,
          mode: Number(stats.mode & 0o7777n),
        });
      } catch {
        // gone meanwhile
      }
    }
  }
}

export function patchSeam(
  root: string,
  dirs: readonly string[],
  faults: readonly Fault[],
  abortAt: number,
  onAbort: () => void,
): Patch {
  const log: SeamLog = { count: 0, injected: [], doubleCloses: [], samples: [] };
  const open = new Set<number>();
  const perOp = new Map<OpName, number>();
  const realSync = { ...seam.sync };
  const realAsync = { ...seam.async };
  let tags = 0;
  const before = (name: OpName, args: readonly unknown[]): Error | undefined => {
    const index = log.count;
    log.count += 1;
    if (debug) process.stderr.write(`    seam #${index} ${name} ${String(args[0])}\n`);
    if (index === abortAt) onAbort();
    const nth = perOp.get(name) ?? 0;
    perOp.set(name, nth + 1);
    if (name === 'close') {
      const fd = args[0] as number;
      if (!open.has(fd)) log.doubleCloses.push(fd);
      open.delete(fd);
    }
    const fault = faults.find((f) => f.op === name && f.nth === nth);
    if (fault === undefined) return undefined;
    const subject = typeof args[0] === 'string' ? args[0] : `fd:${String(args[0])}`;
    tags += 1;
    log.injected.push({ tag: tags, op: name, subject });
    return Object.assign(errnoError(fault.code, name, subject), { [FAULT_TAG]: tags });
  };
  const after = (name: OpName, result: unknown): void => {
    if (name === 'open') open.add(result as number);
    // Only calls that change what is on disk can change a mode or make a name.
    if (
      name === 'open' ||
      name === 'fchmod' ||
      name === 'fchown' ||
      name === 'write' ||
      name === 'rename' ||
      name === 'link' ||
      name === 'copyFile'
    ) {
      sampleModes(root, dirs, log.samples);
    }
  };
  for (const name of Object.keys(realSync) as OpName[]) {
    const sync = realSync[name] as AnyFn;
    const async = realAsync[name] as (...args: readonly unknown[]) => Promise<unknown>;
    (seam.sync as unknown as Record<OpName, AnyFn>)[name] = (...args) => {
      const fault = before(name, args);
      if (fault !== undefined) {
        // A failed close still releases the descriptor, as the kernel does.
        if (name === 'close') realSync.close(args[0] as number);
        throw fault;
      }
      const result = sync(...args);
      after(name, result);
      return result;
    };
    (seam.async as unknown as Record<OpName, AnyFn>)[name] = async (...args) => {
      const fault = before(name, args);
      if (fault !== undefined) {
        if (name === 'close') realSync.close(args[0] as number);
        throw fault;
      }
      const result = await async(...args);
      after(name, result);
      return result;
    };
  }
  return { log, restore: restoreSeam };
}

/** The tag of the injected fault somewhere in an error's cause chain, if any. */
export function faultTagOf(error: unknown): number | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth += 1) {
    if (typeof e !== 'object') return undefined;
    const tag = (e as Record<symbol, unknown>)[FAULT_TAG];
    if (typeof tag === 'number') return tag;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
