/**
 * Enumeration of crash states. A power cut after the first `prefix` operations leaves on disk
 * every operation a sync made durable, plus any subset of the others, and possibly one write
 * in part. The explorer walks those states in a fixed order, bounded, and hands each distinct
 * one to the checks:
 *
 * 1. for every prefix: all unsynced operations applied, and all dropped;
 * 2. for every prefix: each unsynced operation alone dropped, and alone applied; each unsynced
 *    write applied in part (a prefix of its pages; under `posix` also its new size with zeros
 *    or garbage instead of its data);
 * 3. for every prefix with at most AUDIT_EXHAUSTIVE_UNSYNCED unsynced operations: every subset.
 *
 * Deterministic: no randomness, the same recording gives the same states in the same order.
 * States that are the same on disk are checked once (separately before and after "done").
 */
import { createHash } from 'node:crypto';
import {
  AUDIT_EXHAUSTIVE_UNSYNCED,
  AUDIT_MAX_STATES,
  AUDIT_PAGE_BYTES,
  AUDIT_PARTIAL_BOUNDARIES,
} from './constants.js';
import {
  type Bytes,
  type FsNode,
  type NodeId,
  type Op,
  type PartialWrite,
  type PersistenceModel,
  type Recording,
  MutableState,
  creations,
  exposedNode,
  isEffect,
  nodesOf,
  syncPoints,
} from './model.js';

/** Where the power failed, and what had reached disk by then. */
export interface CrashPoint {
  /** Operations `[0, prefix)` had been issued. */
  readonly prefix: number;
  /** Issued operations that had not reached disk, ascending. */
  readonly dropped: readonly number[];
  /** One write that reached disk only in part. */
  readonly partial?: (PartialWrite & { readonly index: number }) | undefined;
}

export interface ExploredState {
  readonly point: CrashPoint;
  readonly state: MutableState;
  /** The crash happened after the program reported done. */
  readonly afterDone: boolean;
}

export interface ExploreOptions {
  readonly model?: PersistenceModel;
  /** Candidate states generated at most (duplicates included). */
  readonly maxStates?: number;
  /** Index of the `done` op, if the program reported done. */
  readonly done?: number | undefined;
}

export interface ExploreStats {
  /** Candidate states generated (with duplicates). */
  generated: number;
  /** Distinct states handed to the checks. */
  explored: number;
  readonly bound: number;
  /** Generation stopped at the bound: some states were not examined. */
  boundReached: boolean;
}

const hashes = new WeakMap<Uint8Array, string>();

/** A short content hash of bytes, cached per buffer. */
export function dataHash(data: Uint8Array): string {
  let hash = hashes.get(data);
  if (hash === undefined) {
    hash = createHash('sha1').update(data).digest('base64');
    hashes.set(data, hash);
  }
  return hash;
}

function setKey(values: readonly number[]): string {
  return values.join(',');
}

export class Explorer {
  readonly stats: ExploreStats;
  readonly #rec: Recording;
  readonly #ops: readonly Op[];
  readonly #model: PersistenceModel;
  readonly #done: number | undefined;
  readonly #syncedAt: readonly number[];
  readonly #fresh: ReturnType<typeof creations>;
  /** For ext4-ordered: data ops each exposing op carries with it. */
  readonly #requires = new Map<number, number[]>();
  readonly #touched: readonly NodeId[];
  /** Names each touched directory may change (the names ops use). */
  readonly #opNames = new Map<NodeId, Set<Bytes>>();
  /** Where each touched node is linked in the initial tree. */
  readonly #baseLinks = new Map<NodeId, [NodeId, Bytes][]>();
  readonly #seen = new Set<string>();
  #stopped = false;

  constructor(rec: Recording, options: ExploreOptions = {}) {
    this.#rec = rec;
    this.#ops = rec.ops;
    this.#model = options.model ?? 'posix';
    this.#done = options.done;
    this.#syncedAt = syncPoints(rec.ops);
    this.#fresh = creations(rec.ops);
    this.stats = {
      generated: 0,
      explored: 0,
      bound: options.maxStates ?? AUDIT_MAX_STATES,
      boundReached: false,
    };
    const touched = new Set<NodeId>([rec.initial.root]);
    rec.ops.forEach((op, index) => {
      for (const id of nodesOf(op)) touched.add(id);
      this.#noteNames(op);
      const exposed = exposedNode(op);
      if (exposed !== undefined) {
        const needed: number[] = [];
        for (let at = 0; at < index; at += 1) {
          const earlier = rec.ops[at];
          if (
            (earlier?.kind === 'write' || earlier?.kind === 'truncate') &&
            earlier.node === exposed
          ) {
            needed.push(at);
          }
        }
        if (needed.length > 0) this.#requires.set(index, needed);
      }
    });
    this.#touched = [...touched].sort((a, b) => a - b);
    for (const [dirId, node] of rec.initial.nodes) {
      if (node.type !== 'dir') continue;
      for (const [name, child] of node.entries) {
        if (!touched.has(child)) continue;
        const links = this.#baseLinks.get(child) ?? [];
        links.push([dirId, name]);
        this.#baseLinks.set(child, links);
      }
    }
  }

  #noteNames(op: Op): void {
    const add = (dir: NodeId | undefined, name: Bytes | undefined): void => {
      if (dir === undefined || name === undefined) return;
      const names = this.#opNames.get(dir) ?? new Set<Bytes>();
      names.add(name);
      this.#opNames.set(dir, names);
    };
    switch (op.kind) {
      case 'create':
      case 'link':
      case 'unlink':
        add(op.dir, op.name);
        return;
      case 'rename':
        add(op.fromDir, op.fromName);
        add(op.toDir, op.toName);
        return;
      default:
        return;
    }
  }

  /** Is an op durable once the first `prefix` ops were issued? */
  synced(index: number, prefix: number): boolean {
    return (this.#syncedAt[index] ?? Number.POSITIVE_INFINITY) < prefix;
  }

  /** The state on disk for a crash point. */
  build(point: CrashPoint): MutableState {
    const state = new MutableState(this.#rec.initial, this.#fresh);
    const dropped = new Set(point.dropped);
    for (let index = 0; index < point.prefix; index += 1) {
      const op = this.#ops[index];
      if (op === undefined || !isEffect(op) || dropped.has(index)) continue;
      const partial = point.partial?.index === index ? point.partial : undefined;
      state.apply(op, partial, this.#model);
    }
    return state;
  }

  /** A key equal for states that are the same on disk. */
  key(state: MutableState): string {
    const changed = state.changed();
    const parts: string[] = [];
    for (const id of this.#touched) {
      if (!changed.has(id)) {
        parts.push('=');
        continue;
      }
      const node = changed.get(id);
      parts.push(node !== undefined && this.#visible(state, id) ? this.#signature(id, node) : '-');
    }
    return parts.join('|');
  }

  #visible(state: MutableState, id: NodeId): boolean {
    if (id === state.root) return true;
    for (const [dir, name] of this.#baseLinks.get(id) ?? []) {
      const node = state.get(dir);
      if (node?.type === 'dir' && node.entries.get(name) === id) return true;
    }
    for (const [dir, names] of this.#opNames) {
      const node = state.get(dir);
      if (node?.type !== 'dir') continue;
      for (const name of names) if (node.entries.get(name) === id) return true;
    }
    return false;
  }

  #signature(id: NodeId, node: FsNode): string {
    switch (node.type) {
      case 'file':
        return `f${node.mode.toString(8)}:${dataHash(node.data)}`;
      case 'dir': {
        const names = [...(this.#opNames.get(id) ?? [])].sort();
        return `d${node.mode.toString(8)}:${names.map((name) => `${name}=${node.entries.get(name) ?? ''}`).join('/')}`;
      }
      case 'symlink':
        return `s:${node.target}`;
      case 'other':
        return 'o';
    }
  }

  /** Apply the ext4-ordered rule: an applied rename or link carries the writes it exposes. */
  #closure(prefix: number, dropped: readonly number[]): number[] {
    if (this.#model !== 'ext4-ordered' || dropped.length === 0) return [...dropped];
    const out = new Set(dropped);
    for (const [exposer, needed] of this.#requires) {
      if (exposer >= prefix || out.has(exposer)) continue;
      for (const index of needed) out.delete(index);
    }
    return [...out].sort((a, b) => a - b);
  }

  #partialAllowed(prefix: number, dropped: ReadonlySet<number>, index: number): boolean {
    if (this.#model !== 'ext4-ordered') return true;
    for (const [exposer, needed] of this.#requires) {
      if (exposer < prefix && !dropped.has(exposer) && needed.includes(index)) return false;
    }
    return true;
  }

  /** Unsynced effect ops among the first `prefix`. */
  unsynced(prefix: number): number[] {
    const result: number[] = [];
    for (let index = 0; index < prefix; index += 1) {
      const op = this.#ops[index];
      if (op !== undefined && isEffect(op) && !this.synced(index, prefix)) result.push(index);
    }
    return result;
  }

  /**
   * Each prefix worth a crash, with its unsynced effect ops (computed incrementally). Prefixes
   * ending in an op that neither changes nor orders anything (close, chown) are skipped: they
   * give the same states as the one before.
   */
  *#prefixes(): Generator<[number, readonly number[]]> {
    let current: number[] = [];
    for (let prefix = 0; prefix <= this.#ops.length; prefix += 1) {
      const last = this.#ops[prefix - 1];
      if (last !== undefined) {
        if (last.kind === 'fsync' || last.kind === 'sync') {
          current = current.filter((index) => !this.synced(index, prefix));
        }
        if (isEffect(last)) current = [...current, prefix - 1];
      }
      if (last?.kind === 'close' || last?.kind === 'chown') continue;
      yield [prefix, current];
    }
  }

  #partials(op: Extract<Op, { kind: 'write' }>): PartialWrite[] {
    const length = op.data.length;
    if (length === 0) return [];
    const result: PartialWrite[] = [];
    if (this.#model === 'posix') {
      result.push({ kind: 'size', bytes: 0 }, { kind: 'garbage', bytes: 0 });
    }
    const boundaries: number[] = [];
    const first = Math.floor(op.offset / AUDIT_PAGE_BYTES + 1) * AUDIT_PAGE_BYTES;
    for (let at = first; at < op.offset + length; at += AUDIT_PAGE_BYTES) {
      boundaries.push(at - op.offset);
    }
    // The first, the last, and evenly spaced ones between (AUDIT_PARTIAL_BOUNDARIES in all).
    const picks = new Set<number>();
    const count = Math.min(AUDIT_PARTIAL_BOUNDARIES, boundaries.length);
    for (let pick = 0; pick < count; pick += 1) {
      const at = count === 1 ? 0 : Math.round((pick * (boundaries.length - 1)) / (count - 1));
      picks.add(boundaries[at] ?? 0);
    }
    for (const bytes of [...picks].sort((a, b) => a - b)) result.push({ kind: 'pages', bytes });
    return result;
  }

  /** Candidate crash points, in the order described at the top of this file. */
  *#candidates(): Generator<CrashPoint> {
    // 1. Extremes.
    for (const [prefix, u] of this.#prefixes()) {
      yield { prefix, dropped: [] };
      if (u.length > 0) yield { prefix, dropped: u };
    }
    // 2. Single operations, and partial writes.
    for (const [prefix, u] of this.#prefixes()) {
      if (u.length > 1) {
        for (const index of u) yield { prefix, dropped: [index] };
        for (const index of u) yield { prefix, dropped: u.filter((other) => other !== index) };
      }
      for (const index of u) {
        const op = this.#ops[index];
        if (op?.kind !== 'write') continue;
        for (const partial of this.#partials(op)) {
          yield { prefix, dropped: [], partial: { ...partial, index } };
        }
      }
    }
    // 3. Every subset, where there are few.
    for (const [prefix, u] of this.#prefixes()) {
      if (u.length <= 2 || u.length > AUDIT_EXHAUSTIVE_UNSYNCED) continue;
      for (let mask = 1; mask < (1 << u.length) - 1; mask += 1) {
        yield { prefix, dropped: u.filter((_, bit) => (mask & (1 << bit)) !== 0) };
      }
    }
  }

  /** Distinct crash states, until the candidates run out or the bound is reached. */
  *states(): Generator<ExploredState> {
    for (const candidate of this.#candidates()) {
      if (this.#stopped) return;
      if (this.stats.generated >= this.stats.bound) {
        this.stats.boundReached = true;
        return;
      }
      this.stats.generated += 1;
      const dropped = this.#closure(candidate.prefix, candidate.dropped);
      const partial = candidate.partial;
      if (
        partial !== undefined &&
        !this.#partialAllowed(candidate.prefix, new Set(dropped), partial.index)
      ) {
        continue;
      }
      const point: CrashPoint = { prefix: candidate.prefix, dropped, partial };
      const state = this.build(point);
      const afterDone = this.#done !== undefined && candidate.prefix > this.#done;
      const key = `${afterDone ? 'D' : 'B'}${this.key(state)}`;
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      this.stats.explored += 1;
      yield { point, state, afterDone };
    }
  }

  /** Stop early (a caller that has seen enough). */
  stop(): void {
    this.#stopped = true;
  }
}

/** Indexes as a compact key (for tests and de-duplication by callers). */
export function pointKey(point: CrashPoint): string {
  const partial = point.partial;
  return `${point.prefix}/${setKey(point.dropped)}${partial === undefined ? '' : `/${partial.index}:${partial.kind}:${partial.bytes}`}`;
}
