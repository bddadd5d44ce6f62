/**
 * The built-in check: every watched file, in every crash state, holds one of its complete
 * versions — never empty, torn or missing — and after the program reported done, the version
 * it had then (or a later one). Files the run created and removed again (temp files) are
 * listed when a crash leaves them; after "done" they count as a leftover.
 */
import { dataHash } from './explore.js';
import {
  type Bytes,
  type FsNode,
  type FsState,
  type NodeId,
  type Op,
  type Recording,
  MutableState,
  creations,
} from './model.js';

export type ViolationKind =
  'torn' | 'missing' | 'stale-after-done' | 'leftover-temp' | 'check-failed';

/** Kinds in the order of the report's table, worst first. */
export const VIOLATION_KINDS: readonly ViolationKind[] = [
  'missing',
  'torn',
  'stale-after-done',
  'leftover-temp',
  'check-failed',
];

/** What a path holds, comparable across states. */
export interface Content {
  /** 'absent', 'dir', 'other', 'symlink:<target>' or 'file:<hash>'. */
  readonly key: string;
  /** Bytes, for files. */
  readonly size: number | undefined;
}

const ABSENT: Content = { key: 'absent', size: undefined };

function contentOf(node: FsNode | undefined): Content {
  if (node === undefined) return ABSENT;
  switch (node.type) {
    case 'file':
      return { key: `file:${dataHash(node.data)}`, size: node.data.length };
    case 'dir':
      return { key: 'dir', size: undefined };
    case 'symlink':
      return { key: `symlink:${node.target}`, size: undefined };
    case 'other':
      return { key: 'other', size: undefined };
  }
}

/** The content at a relative path of a state. */
export function contentAt(state: MutableState, path: Bytes): Content {
  const id = state.lookup(path, true);
  return id === undefined ? ABSENT : contentOf(state.get(id));
}

/** One complete version of a watched file. */
interface Version {
  readonly content: Content;
  /** Index of the op after which it was in place; -1 for the version before the run. */
  readonly at: number;
}

export interface Watched {
  /** Relative to the audited directory. */
  readonly path: Bytes;
  readonly versions: readonly Version[];
  /** Keys of the versions acceptable after "done": the one in place then, and later ones. */
  readonly final: ReadonlySet<string>;
}

/** A file the run created and that is gone at the end (or at "done"): a temp file. */
export interface Transient {
  readonly dir: NodeId;
  readonly name: Bytes;
  readonly path: Bytes;
  /** Index of the op that created it under that name. */
  readonly createdAt: number;
}

/**
 * Does `op` make a complete version of `path` visible? A rename or link onto it, the last
 * close of the file there, the done point. Removing it (unlink, rename away) does not: the
 * file is then missing until something replaces it, unless that is how the run ends.
 */
/** `entry` is `path` or one of the directories (or links) it goes through. */
function onPath(entry: Bytes, path: Bytes): boolean {
  return path === entry || path.startsWith(`${entry}/`);
}

function publishes(op: Op, path: Bytes, state: MutableState): boolean {
  switch (op.kind) {
    case 'rename':
      // Renaming the file, or a directory or symlink on its path (writeDirectory's exchange,
      // replaceSymlink's switch), puts a complete version in place at once.
      return onPath(op.path, path) || (op.swapped && onPath(op.from, path));
    case 'link':
      return op.path === path;
    case 'close':
      return state.lookup(path, true) === op.node;
    case 'done':
      return true;
    default:
      return false;
  }
}

/**
 * Replays the run as it happened, to learn each watched file's versions, which files were
 * temporary, and which existing files the run changed (the default watch list).
 */
export class History {
  readonly #rec: Recording;
  readonly done: number | undefined;

  constructor(rec: Recording, done: number | undefined) {
    this.#rec = rec;
    this.done = done;
  }

  #replay(visit: (op: Op, index: number, state: MutableState) => void): MutableState {
    const state = new MutableState(this.#rec.initial, creations(this.#rec.ops));
    this.#rec.ops.forEach((op, index) => {
      state.apply(op);
      visit(op, index, state);
    });
    return state;
  }

  /** Regular files that existed before the run and that it wrote, replaced or removed. */
  changedFiles(): Bytes[] {
    const initial = new MutableState(this.#rec.initial, new Map());
    const result = new Set<Bytes>();
    const consider = (path: Bytes): void => {
      const id = initial.lookup(path, true);
      if (id !== undefined && initial.get(id)?.type === 'file') result.add(path);
    };
    for (const op of this.#rec.ops) {
      switch (op.kind) {
        case 'rename':
          consider(op.path);
          consider(op.from);
          break;
        case 'link':
        case 'unlink':
        case 'write':
        case 'truncate':
          consider(op.path);
          break;
        default:
          break;
      }
    }
    return [...result].sort();
  }

  /**
   * Regular files the run created that are there at its end: a file that did not exist may
   * be missing after a crash, but never torn, and after "done" it must be there.
   */
  createdFiles(): Bytes[] {
    const initial = new MutableState(this.#rec.initial, new Map());
    const end = this.#replay(() => undefined);
    const result = new Set<Bytes>();
    for (const op of this.#rec.ops) {
      let path: Bytes | undefined;
      if (op.kind === 'rename' || op.kind === 'link') path = op.path;
      else if (op.kind === 'create' && op.dir !== undefined) path = op.path;
      if (path === undefined) continue;
      if (initial.lookup(path, true) !== undefined) continue;
      const id = end.lookup(path, false);
      if (id !== undefined && end.get(id)?.type === 'file') result.add(path);
    }
    return [...result].sort();
  }

  /** Versions of a watched path. */
  watch(path: Bytes): Watched {
    const initial = new MutableState(this.#rec.initial, new Map());
    const versions: Version[] = [{ content: contentAt(initial, path), at: -1 }];
    const add = (content: Content, at: number): void => {
      if (versions.at(-1)?.content.key !== content.key) versions.push({ content, at });
    };
    const end = this.#replay((op, index, state) => {
      if (publishes(op, path, state)) add(contentAt(state, path), index);
    });
    add(contentAt(end, path), this.#rec.ops.length);
    const final = new Set<string>();
    if (this.done !== undefined) {
      const done = this.done;
      const atDone = [...versions].reverse().find((version) => version.at <= done);
      if (atDone !== undefined) final.add(atDone.content.key);
      for (const version of versions) if (version.at > done) final.add(version.content.key);
    }
    return { path, versions, final };
  }

  /** Files the run created under a name that is gone at "done" (or at the end). */
  transients(): Transient[] {
    const initial = this.#rec.initial.nodes;
    const created = new Map<string, Transient>();
    const limit = this.done ?? this.#rec.ops.length - 1;
    let atLimit: FsState | undefined;
    this.#replay((op, index, state) => {
      if (index > limit) return;
      const entry = newEntry(op);
      if (entry !== undefined) {
        const key = `${entry.dir}/${entry.name}`;
        const dir = initial.get(entry.dir);
        const existed = dir?.type === 'dir' && dir.entries.has(entry.name);
        if (!existed && !created.has(key)) created.set(key, { ...entry, createdAt: index });
      }
      if (index === limit) atLimit = state.freeze();
    });
    if (atLimit === undefined) return [];
    const final = atLimit.nodes;
    return [...created.values()].filter((entry) => {
      const dir = final.get(entry.dir);
      return !(dir?.type === 'dir' && dir.entries.has(entry.name));
    });
  }
}

/** The entry an op adds, if any. */
function newEntry(op: Op): Omit<Transient, 'createdAt'> | undefined {
  switch (op.kind) {
    case 'create':
      return op.dir === undefined || op.name === undefined || op.type !== 'file'
        ? undefined
        : { dir: op.dir, name: op.name, path: op.path };
    case 'link':
      return { dir: op.dir, name: op.name, path: op.path };
    case 'rename':
      return { dir: op.toDir, name: op.toName, path: op.path };
    default:
      return undefined;
  }
}

/** Transient files present in a crash state. */
export function presentTransients(
  state: MutableState,
  transients: readonly Transient[],
): Transient[] {
  return transients.filter((entry) => {
    const dir = state.get(entry.dir);
    if (dir?.type !== 'dir') return false;
    const id = dir.entries.get(entry.name);
    return id !== undefined && state.get(id)?.type === 'file';
  });
}

/** The verdict on one watched file in one crash state, or undefined when it is consistent. */
export function judge(
  watched: Watched,
  content: Content,
  afterDone: boolean,
): Exclude<ViolationKind, 'leftover-temp' | 'check-failed'> | undefined {
  const known = watched.versions.some((version) => version.content.key === content.key);
  if (!known) return content.key === 'absent' ? 'missing' : 'torn';
  if (afterDone && !watched.final.has(content.key)) return 'stale-after-done';
  return undefined;
}
