/**
 * Violations in words: which operations, in which order, leave a file torn, missing or
 * stale — "the rename at #5 can reach disk before the data written at #2: .x.tmp was not
 * fsynced before it".
 */
import { posix } from 'node:path';
import type { Content, Transient, ViolationKind } from './check.js';
import type { CrashPoint } from './explore.js';
import { type Bytes, type MutableState, type Op, display } from './model.js';

export interface Explanation {
  readonly message: string;
  /** Indexes of the operations the message names. */
  readonly ops: readonly number[];
}

const n = (index: number): string => `#${index + 1}`;

/** "the rename at #5", "the data written at #2", … */
function opRef(op: Op | undefined, index: number): string {
  switch (op?.kind) {
    case 'write':
      return `the data written at ${n(index)}`;
    case 'truncate':
      return `the truncation at ${n(index)}${op.byOpen ? ' (open with O_TRUNC)' : ''}`;
    case 'rename':
      return `the ${op.swapped ? 'exchange' : 'rename'} at ${n(index)}`;
    case 'link':
      return `the link at ${n(index)}`;
    case 'unlink':
      return `the unlink at ${n(index)}`;
    case 'create':
      return op.type === 'dir' ? `the mkdir at ${n(index)}` : `the creation at ${n(index)}`;
    case 'chmod':
      return `the chmod at ${n(index)}`;
    default:
      return `the operation at ${n(index)}`;
  }
}

function where(path: Bytes): string {
  return display(path === '' ? '.' : path);
}

function dirOf(path: Bytes): string {
  const dir = posix.dirname(path);
  return dir === '.' ? 'the audited directory' : `the directory ${display(dir)}`;
}

function isUnder(path: Bytes, ancestor: Bytes): boolean {
  return path === ancestor || path.startsWith(`${ancestor}/`);
}

export class Explainer {
  readonly #ops: readonly Op[];
  readonly #done: number | undefined;

  constructor(ops: readonly Op[], done: number | undefined) {
    this.#ops = ops;
    this.#done = done;
  }

  #ref(index: number): string {
    return opRef(this.#ops[index], index);
  }

  /** The state in words: "a crash after #7, with #2 and #5 not on disk". */
  crash(point: CrashPoint): string {
    const parts = [`a crash after #${point.prefix}`];
    if (point.dropped.length > 0) {
      const list = point.dropped.map(n);
      parts.push(
        `with ${list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`} not on disk`,
      );
    }
    const partial = point.partial;
    if (partial !== undefined) {
      parts.push(`${point.dropped.length > 0 ? 'and ' : 'with '}${n(partial.index)} only in part`);
    }
    return parts.join(' ');
  }

  /** A watched file that is torn or empty. */
  torn(point: CrashPoint, path: Bytes, content: Content, state: MutableState): Explanation {
    const node = state.lookup(path, true);
    const what =
      content.size === 0
        ? `${where(path)} is empty`
        : `${where(path)} is torn (${content.size ?? 0} bytes, none of its complete versions)`;
    const dropped = new Set(point.dropped);
    const dataOps: number[] = [];
    for (let index = 0; index < point.prefix; index += 1) {
      const op = this.#ops[index];
      if ((op?.kind === 'write' || op?.kind === 'truncate') && op.node === node)
        dataOps.push(index);
    }
    const exposer = this.#exposer(point, path, node);
    const partial = point.partial;
    const partialOp = partial === undefined ? undefined : this.#ops[partial.index];
    if (partial !== undefined && partialOp?.kind === 'write' && partialOp.node === node) {
      const how =
        partial.kind === 'pages'
          ? `reached disk only in part (the first ${partial.bytes} of ${partialOp.data.length} bytes)`
          : `can grow the file before its data reaches disk (the new bytes read as ${partial.kind === 'size' ? 'zeros' : 'garbage'})`;
      const why =
        exposer !== undefined && exposer > partial.index
          ? `; ${this.#ref(exposer)} put it in place before it was fsynced`
          : `: ${where(partialOp.path)} is rewritten in place and was not fsynced`;
      return {
        message: `${what}: the write at ${n(partial.index)} ${how}${why}`,
        ops: exposer === undefined ? [partial.index] : [partial.index, exposer],
      };
    }
    // Created under its final name and written there: the name can be on disk before the data.
    if (exposer !== undefined && this.#ops[exposer]?.kind === 'create') {
      const unwritten = this.#ops.findIndex(
        (op, index) =>
          index > exposer &&
          op.kind === 'write' &&
          op.node === node &&
          (index >= point.prefix || dropped.has(index)),
      );
      if (unwritten !== -1) {
        return {
          message: `${what}: ${this.#ref(exposer)} gives the file its name before ${this.#ref(unwritten)}: it is written under its final name, not renamed into place once complete`,
          ops: [exposer, unwritten],
        };
      }
    }
    const lost = dataOps.filter((index) => dropped.has(index));
    const first = lost[0];
    if (first !== undefined && exposer !== undefined && exposer > first) {
      const firstOp = this.#ops[first];
      const temp = firstOp?.kind === 'write' || firstOp?.kind === 'truncate' ? firstOp.path : path;
      return {
        message: `${what}: ${this.#ref(exposer)} can reach disk before ${this.#ref(first)}: ${where(temp)} was not fsynced before it`,
        ops: [exposer, first],
      };
    }
    // Rewritten in place: the truncation reached disk, the data that follows it did not (yet).
    const truncation = dataOps.findLast(
      (index) => !dropped.has(index) && this.#ops[index]?.kind === 'truncate',
    );
    if (truncation !== undefined) {
      const next = this.#ops.findIndex(
        (op, index) =>
          index > truncation &&
          op.kind === 'write' &&
          op.node === node &&
          (index >= point.prefix || dropped.has(index)),
      );
      if (next !== -1) {
        return {
          message: `${what}: ${this.#ref(truncation)} can reach disk before ${this.#ref(next)}: the file is rewritten in place, with no fsync in between`,
          ops: [truncation, next],
        };
      }
    }
    const lostWrite = lost.find((index) => this.#ops[index]?.kind === 'write');
    if (lostWrite !== undefined) {
      const kept = dataOps.find((index) => !dropped.has(index));
      return {
        message:
          kept === undefined
            ? `${what}: ${this.#ref(lostWrite)} had not reached disk: the file was not fsynced`
            : `${what}: ${this.#ref(kept)} can reach disk while ${this.#ref(lostWrite)} does not: the file is rewritten in place without fsync`,
        ops: kept === undefined ? [lostWrite] : [kept, lostWrite],
      };
    }
    const write = dataOps.find(
      (index) => !dropped.has(index) && this.#ops[index]?.kind === 'write',
    );
    if (first !== undefined && write !== undefined) {
      return {
        message: `${what}: ${this.#ref(write)} can reach disk without ${this.#ref(first)}: the new bytes land over the old file`,
        ops: [write, first],
      };
    }
    return { message: `${what} after ${this.crash(point)}`, ops: [] };
  }

  /** The last applied op that put `node` at `path`. */
  #exposer(point: CrashPoint, path: Bytes, node: number | undefined): number | undefined {
    if (node === undefined) return undefined;
    const dropped = new Set(point.dropped);
    for (let index = point.prefix - 1; index >= 0; index -= 1) {
      const op = this.#ops[index];
      if (dropped.has(index) || op === undefined) continue;
      if ((op.kind === 'rename' || op.kind === 'link') && op.node === node && op.path === path) {
        return index;
      }
      if (op.kind === 'create' && op.node === node && op.path === path) return index;
    }
    return undefined;
  }

  /** A watched file that is missing. */
  missing(point: CrashPoint, path: Bytes): Explanation {
    const dropped = new Set(point.dropped);
    let removal: number | undefined;
    for (let index = 0; index < point.prefix; index += 1) {
      const op = this.#ops[index];
      const removes =
        (op?.kind === 'unlink' && op.path === path) ||
        (op?.kind === 'rename' && op.from === path && !op.swapped);
      if (removes && !dropped.has(index)) removal = index;
    }
    const what = `${where(path)} is missing`;
    if (removal !== undefined) {
      const replacement = this.#ops.findIndex(
        (op, index) =>
          index > removal &&
          (op.kind === 'rename' || op.kind === 'link') &&
          op.path === path &&
          (index >= point.prefix || dropped.has(index)),
      );
      if (replacement !== -1) {
        return {
          message: `${what}: ${this.#ref(removal)} can reach disk before ${this.#ref(replacement)}: the old file is removed before the new one is in place`,
          ops: [removal, replacement],
        };
      }
      return {
        message: `${what}: ${this.#ref(removal)} removed it, and nothing had replaced it on disk`,
        ops: [removal],
      };
    }
    const ancestor = point.dropped.find((index) => {
      const op = this.#ops[index];
      return op !== undefined && 'path' in op && op.path !== path && isUnder(path, op.path);
    });
    if (ancestor !== undefined) {
      return { message: `${what}: ${this.#ref(ancestor)} had not reached disk`, ops: [ancestor] };
    }
    return { message: `${what} after ${this.crash(point)}`, ops: [] };
  }

  /** A watched file that holds an older version after the program reported done. */
  stale(point: CrashPoint, path: Bytes, doneNode: number | undefined): Explanation {
    const done = this.#done ?? point.prefix;
    const what = `${where(path)} can still hold an older version after the program reported done`;
    const when = `when the program reported done (#${done + 1})`;
    for (const index of point.dropped) {
      const op = this.#ops[index];
      if (op === undefined) continue;
      const isEntry =
        op.kind === 'rename' || op.kind === 'link' || op.kind === 'unlink' || op.kind === 'create';
      if (isEntry && (isUnder(path, op.path) || (op.kind === 'rename' && op.from === path))) {
        return {
          message: `${what}: ${this.#ref(index)} had not reached disk ${when}: ${dirOf(op.path)} was not fsynced after it`,
          ops: [index],
        };
      }
    }
    // The new data first: a dropped write says more than a dropped truncation.
    const data = [...point.dropped].sort(
      (a, b) =>
        Number(this.#ops[a]?.kind !== 'write') - Number(this.#ops[b]?.kind !== 'write') || a - b,
    );
    for (const index of data) {
      const op = this.#ops[index];
      if ((op?.kind === 'write' || op?.kind === 'truncate') && op.node === doneNode) {
        return {
          message: `${what}: ${this.#ref(index)} had not reached disk ${when}: ${where(op.path)} was not fsynced`,
          ops: [index],
        };
      }
    }
    return { message: `${what} (${this.crash(point)})`, ops: [] };
  }

  /** A temp file still there after the program reported done. */
  leftover(point: CrashPoint, temp: Transient): Explanation {
    const dropped = new Set(point.dropped);
    for (let index = temp.createdAt + 1; index < point.prefix; index += 1) {
      const op = this.#ops[index];
      const removes =
        (op?.kind === 'rename' && op.from === temp.path) ||
        (op?.kind === 'unlink' && op.path === temp.path);
      if (removes && dropped.has(index)) {
        return {
          message: `the temp file ${where(temp.path)} (created at ${n(temp.createdAt)}) is still there after the program reported done: ${this.#ref(index)} that removes it had not reached disk: ${dirOf(temp.path)} was not fsynced after it`,
          ops: [temp.createdAt, index],
        };
      }
    }
    return {
      message: `the temp file ${where(temp.path)} (created at ${n(temp.createdAt)}) is still there after the program reported done`,
      ops: [temp.createdAt],
    };
  }

  /** The words for a violation kind, dispatching to the above. */
  static kindWords(kind: ViolationKind): string {
    switch (kind) {
      case 'torn':
        return 'torn/empty';
      case 'missing':
        return 'missing';
      case 'stale-after-done':
        return 'stale-after-done';
      case 'leftover-temp':
        return 'leftover temp';
      case 'check-failed':
        return 'check failed';
    }
  }
}
