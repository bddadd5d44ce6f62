/**
 * The persistence model of the crash-state explorer: what a program did to its files, as
 * logical operations on inodes and directory entries, and the rules that say which of them
 * can be on disk after a power cut.
 *
 * Both front ends (strace, and the in-process recorder on the library's fs seam) describe a
 * run with the same `Op`s through one `RecordingBuilder`, so the explorer and the checks never
 * know where a recording came from.
 *
 * The rules (in the spirit of ALICE, OSDI 2014, and SQLite's crash VFS):
 * - a file's data, size and mode are durable only once that file is fsynced (or fdatasynced);
 * - a directory entry (create, link, unlink, rename, mkdir, symlink) is durable only once that
 *   directory is fsynced; a rename is atomic and becomes durable when either directory it
 *   touches is fsynced;
 * - `sync()`/`syncfs()` make everything durable;
 * - until then, every operation may or may not have reached disk, independently of the
 *   others (any order consistent with the rules above), and a write may reach disk in part:
 *   a prefix of its pages, or its new size without its data (zeros or garbage);
 * - `ext4-ordered` (stronger, and reported as such): data reaches disk before the metadata
 *   that exposes it — a grown size never shows unwritten bytes, and a rename or link that
 *   puts a file under a name carries every earlier write to that file with it.
 */
import { posix } from 'node:path';

/** Bytes of a name or path, one char per byte (latin1), so names that are not UTF-8 survive. */
export type Bytes = string;

/** The bytes of a JavaScript string path (UTF-8). */
export function bytesOf(text: string): Bytes {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A Buffer to hand to the file system for a byte path. */
export function bufferOf(bytes: Bytes): Buffer {
  return Buffer.from(bytes, 'latin1');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A byte path for people: UTF-8 when it is, `\xNN` for other bytes, control characters escaped. */
export function display(bytes: Bytes): string {
  let text: string;
  let raw = false;
  try {
    text = utf8.decode(bufferOf(bytes));
  } catch {
    text = bytes;
    raw = true;
  }
  let out = '';
  for (let at = 0; at < text.length; at += 1) {
    const code = text.charCodeAt(at);
    if (code === 0x0a) out += '\\n';
    else if (code === 0x09) out += '\\t';
    else if (code === 0x5c) out += '\\\\';
    else if (code < 0x20 || code === 0x7f || (raw && code >= 0x80)) {
      out += `\\x${code.toString(16).padStart(2, '0')}`;
    } else out += text[at] ?? '';
  }
  return out;
}

export type NodeId = number;

interface FileNode {
  readonly type: 'file';
  readonly data: Uint8Array;
  readonly mode: number;
}

interface DirNode {
  readonly type: 'dir';
  readonly entries: ReadonlyMap<Bytes, NodeId>;
  readonly mode: number;
}

interface SymlinkNode {
  readonly type: 'symlink';
  readonly target: Bytes;
}

/** A fifo, socket or device: present, never modelled further. */
interface OtherNode {
  readonly type: 'other';
}

export type FsNode = FileNode | DirNode | SymlinkNode | OtherNode;

export type NodeType = 'file' | 'dir' | 'symlink';

/** A directory tree: the audited directory is `root`. */
export interface FsState {
  readonly root: NodeId;
  readonly nodes: ReadonlyMap<NodeId, FsNode>;
}

/**
 * One logical operation. Paths are relative to the audited directory, for words and for
 * comparing recordings; the node ids are what the model works on.
 */
export type Op =
  | {
      /** A new file, directory or symlink, and (unless O_TMPFILE) its entry in `dir`. */
      readonly kind: 'create';
      readonly node: NodeId;
      readonly type: NodeType;
      readonly mode: number;
      readonly target?: Bytes | undefined;
      readonly dir: NodeId | undefined;
      readonly name: Bytes | undefined;
      readonly path: Bytes;
    }
  | {
      readonly kind: 'link';
      readonly node: NodeId;
      readonly dir: NodeId;
      readonly name: Bytes;
      readonly path: Bytes;
    }
  | {
      /** unlink() or rmdir(): the entry goes; the node may live on through other names. */
      readonly kind: 'unlink';
      readonly node: NodeId;
      readonly dir: NodeId;
      readonly name: Bytes;
      readonly path: Bytes;
    }
  | {
      /** rename(), or with `swapped` an atomic exchange of two entries. */
      readonly kind: 'rename';
      readonly node: NodeId;
      readonly fromDir: NodeId;
      readonly fromName: Bytes;
      readonly toDir: NodeId;
      readonly toName: Bytes;
      readonly from: Bytes;
      readonly path: Bytes;
      /** The node that was at the destination, if any (replaced, or swapped back). */
      readonly replaced: NodeId | undefined;
      readonly swapped: boolean;
    }
  | {
      readonly kind: 'write';
      readonly node: NodeId;
      readonly offset: number;
      readonly data: Uint8Array;
      readonly path: Bytes;
      /** The data was not in the trace (sendfile, splice, a cut string) and was read back. */
      readonly unknown?: boolean | undefined;
    }
  | {
      readonly kind: 'truncate';
      readonly node: NodeId;
      readonly size: number;
      readonly path: Bytes;
      /** It came from open(O_TRUNC). */
      readonly byOpen: boolean;
    }
  | { readonly kind: 'chmod'; readonly node: NodeId; readonly mode: number; readonly path: Bytes }
  | {
      readonly kind: 'chown';
      readonly node: NodeId;
      readonly uid: number;
      readonly gid: number;
      readonly path: Bytes;
    }
  | {
      readonly kind: 'fsync';
      readonly node: NodeId;
      /** fdatasync(): the data and size, not the mode. */
      readonly dataOnly: boolean;
      readonly path: Bytes;
    }
  | { readonly kind: 'sync' }
  | {
      /** The last descriptor open for writing on a file was closed: a complete version. */
      readonly kind: 'close';
      readonly node: NodeId;
      readonly path: Bytes;
    }
  | {
      /** The program reported that it is done (exit 0, a done marker, or the audited function returned). */
      readonly kind: 'done';
    };

/** Operations that change what is on disk (the others only order or mark things). */
export function isEffect(op: Op): boolean {
  switch (op.kind) {
    case 'create':
    case 'link':
    case 'unlink':
    case 'rename':
    case 'write':
    case 'truncate':
    case 'chmod':
      return true;
    case 'chown':
    case 'fsync':
    case 'sync':
    case 'close':
    case 'done':
      return false;
  }
}

/** Does the sync operation `sync` make `op` durable? */
export function covers(sync: Op, op: Op): boolean {
  if (sync.kind === 'sync') return isEffect(op) || op.kind === 'chown';
  if (sync.kind !== 'fsync') return false;
  const target = sync.node;
  switch (op.kind) {
    case 'write':
    case 'truncate':
      return op.node === target;
    case 'chmod':
    case 'chown':
      return op.node === target && !sync.dataOnly;
    case 'create':
      // The node itself exists from its creation on; only its entry needs the directory.
      return op.dir === undefined ? op.node === target : op.dir === target;
    case 'link':
    case 'unlink':
      return op.dir === target;
    case 'rename':
      return op.fromDir === target || op.toDir === target;
    case 'fsync':
    case 'sync':
    case 'close':
    case 'done':
      return false;
  }
}

/** The node a rename or link makes reachable under a new name, if the op does that. */
export function exposedNode(op: Op): NodeId | undefined {
  if (op.kind === 'rename' || op.kind === 'link') return op.node;
  return undefined;
}

export type PersistenceModel = 'posix' | 'ext4-ordered';

export const PERSISTENCE_MODELS: readonly PersistenceModel[] = ['posix', 'ext4-ordered'];

/** A one-line statement of a model, for reports. */
export function modelWords(model: PersistenceModel): string {
  return model === 'posix'
    ? 'posix: only fsync makes data durable, only a directory fsync makes an entry durable'
    : 'ext4-ordered: as posix, but data reaches disk before the metadata that exposes it';
}

/** What a recorded run is made of, whichever front end made it. */
export interface Recording {
  readonly frontEnd: 'strace' | 'in-process';
  /** The audited directory (absolute, real path). */
  readonly root: Bytes;
  /** Its content before the run (assumed durable). */
  readonly initial: FsState;
  readonly ops: readonly Op[];
  /** For each op, where it came from (a trace line, a seam call). */
  readonly where: readonly string[];
  /** What the model could not represent, or had to assume. */
  readonly notes: readonly string[];
  /** Text written to standard output, and how many ops had been recorded when it was. */
  readonly marks: readonly Mark[];
  /** How the run ended: exit status (strace), or 0 when the audited function returned. */
  readonly exitCode: number | undefined;
  /** Path operations that fell in skipped paths (see scope.ts): [skipped path, count]. */
  readonly skipped?: readonly (readonly [Bytes, number])[] | undefined;
  /**
   * Files whose content the model does not follow, relative to the root: mapped shared and
   * writable, so written through memory where no trace sees it (a note says so).
   */
  readonly unmodelled?: readonly Bytes[] | undefined;
}

export interface Mark {
  readonly at: number;
  readonly text: string;
}

/** How far a partial write got. */
export interface PartialWrite {
  readonly kind: 'pages' | 'size' | 'garbage';
  /** For `pages`: bytes of the write's data that reached disk. */
  readonly bytes: number;
}

const GARBAGE = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);

function freshNode(type: NodeType, mode: number, target: Bytes | undefined): FsNode {
  switch (type) {
    case 'file':
      return { type, data: new Uint8Array(0), mode };
    case 'dir':
      return { type, entries: new Map(), mode };
    case 'symlink':
      return { type, target: target ?? '' };
  }
}

function resized(data: Uint8Array, size: number): Uint8Array {
  if (size === data.length) return data;
  const out = new Uint8Array(size);
  out.set(size < data.length ? data.subarray(0, size) : data);
  return out;
}

/**
 * A state being built: a copy-on-write layer over a base state, so that building one crash
 * state costs what its operations touch, not the size of the audited directory.
 */
export class MutableState {
  readonly root: NodeId;
  readonly #base: ReadonlyMap<NodeId, FsNode>;
  readonly #layer = new Map<NodeId, FsNode | undefined>();
  readonly #fresh: ReadonlyMap<NodeId, Extract<Op, { kind: 'create' }>>;

  constructor(base: FsState, fresh: ReadonlyMap<NodeId, Extract<Op, { kind: 'create' }>>) {
    this.root = base.root;
    this.#base = base.nodes;
    this.#fresh = fresh;
  }

  get(id: NodeId): FsNode | undefined {
    return this.#layer.has(id) ? this.#layer.get(id) : this.#base.get(id);
  }

  /** The node, created empty if its creation did not reach disk (or has not happened). */
  #node(id: NodeId): FsNode | undefined {
    const node = this.get(id);
    if (node !== undefined) return node;
    const created = this.#fresh.get(id);
    if (created === undefined) return undefined;
    const fresh = freshNode(created.type, created.mode, created.target);
    this.#layer.set(id, fresh);
    return fresh;
  }

  #setEntry(dir: NodeId, name: Bytes, id: NodeId | undefined): void {
    const node = this.#node(dir);
    if (node?.type !== 'dir') return;
    if (id === undefined && !node.entries.has(name)) return;
    const entries = new Map(node.entries);
    if (id === undefined) entries.delete(name);
    else entries.set(name, id);
    this.#layer.set(dir, { ...node, entries });
  }

  #entry(dir: NodeId, name: Bytes): NodeId | undefined {
    const node = this.get(dir);
    return node?.type === 'dir' ? node.entries.get(name) : undefined;
  }

  /** Apply one operation; a `partial` write applies only in part (see `PartialWrite`). */
  apply(op: Op, partial?: PartialWrite, model: PersistenceModel = 'posix'): void {
    switch (op.kind) {
      case 'create':
        this.#node(op.node);
        if (op.dir !== undefined && op.name !== undefined) {
          this.#setEntry(op.dir, op.name, op.node);
        }
        return;
      case 'link':
        this.#node(op.node);
        this.#setEntry(op.dir, op.name, op.node);
        return;
      case 'unlink':
        this.#setEntry(op.dir, op.name, undefined);
        return;
      case 'rename': {
        this.#node(op.node);
        if (op.swapped) {
          const there = this.#entry(op.toDir, op.toName);
          this.#setEntry(op.toDir, op.toName, op.node);
          this.#setEntry(op.fromDir, op.fromName, there);
        } else {
          this.#setEntry(op.fromDir, op.fromName, undefined);
          this.#setEntry(op.toDir, op.toName, op.node);
        }
        return;
      }
      case 'write':
        this.#write(op, partial, model);
        return;
      case 'truncate': {
        const node = this.#node(op.node);
        if (node?.type === 'file') {
          this.#layer.set(op.node, { ...node, data: resized(node.data, op.size) });
        }
        return;
      }
      case 'chmod': {
        const node = this.#node(op.node);
        if (node?.type === 'file' || node?.type === 'dir') {
          this.#layer.set(op.node, { ...node, mode: op.mode });
        }
        return;
      }
      case 'chown':
      case 'fsync':
      case 'sync':
      case 'close':
      case 'done':
        return;
    }
  }

  #write(
    op: Extract<Op, { kind: 'write' }>,
    partial: PartialWrite | undefined,
    model: PersistenceModel,
  ) {
    const node = this.#node(op.node);
    if (node?.type !== 'file') return;
    const old = node.data;
    const end = op.offset + op.data.length;
    let applied = op.data;
    let size = Math.max(old.length, end);
    if (partial !== undefined) {
      applied = partial.kind === 'pages' ? op.data.subarray(0, partial.bytes) : new Uint8Array(0);
      if (model === 'ext4-ordered') size = Math.max(old.length, op.offset + applied.length);
    }
    const data = new Uint8Array(size);
    data.set(old.subarray(0, Math.min(old.length, size)));
    data.set(applied, op.offset);
    if (partial?.kind === 'garbage') {
      for (let at = Math.max(old.length, op.offset); at < end; at += 1) {
        data[at] = GARBAGE[at % GARBAGE.length] ?? 0;
      }
    }
    this.#layer.set(op.node, { ...node, data });
  }

  /** The node at a relative path (symlinks followed within the tree), or undefined. */
  lookup(path: Bytes, follow = true): NodeId | undefined {
    return lookupIn((id) => this.get(id), this.root, path, follow);
  }

  /** Nodes this state changed from its base. */
  changed(): ReadonlyMap<NodeId, FsNode | undefined> {
    return this.#layer;
  }

  /** A plain snapshot of this state. */
  freeze(): FsState {
    const nodes = new Map(this.#base);
    for (const [id, node] of this.#layer) {
      if (node === undefined) nodes.delete(id);
      else nodes.set(id, node);
    }
    return { root: this.root, nodes };
  }
}

const MAX_SYMLINK_HOPS = 40;

function split(path: Bytes): Bytes[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

/**
 * Walk a relative path from `root` through a tree given by `get`; `..` above the root leaves
 * the tree (undefined). Symlinks are followed (the last one only when `follow`).
 */
export function lookupIn(
  get: (id: NodeId) => FsNode | undefined,
  root: NodeId,
  path: Bytes,
  follow: boolean,
  hops = 0,
): NodeId | undefined {
  const parts = split(path);
  const stack: NodeId[] = [root];
  const names: Bytes[] = [];
  for (let index = 0; index < parts.length; index += 1) {
    const part = parts[index] ?? '';
    if (part === '..') {
      if (stack.length === 1) return undefined;
      stack.pop();
      names.pop();
      continue;
    }
    const dir = get(stack.at(-1) ?? root);
    if (dir?.type !== 'dir') return undefined;
    const id = dir.entries.get(part);
    if (id === undefined) return undefined;
    const node = get(id);
    const last = index === parts.length - 1;
    if (node?.type === 'symlink' && (!last || follow)) {
      if (hops >= MAX_SYMLINK_HOPS || node.target.startsWith('/')) return undefined;
      const rest = parts.slice(index + 1).join('/');
      const joined = posix.join(names.join('/'), node.target, rest);
      return lookupIn(get, root, joined, follow, hops + 1);
    }
    stack.push(id);
    names.push(part);
  }
  return stack.at(-1);
}

/** The create ops of a recording, by node: what an unlinked or not-yet-durable node starts as. */
export function creations(
  ops: readonly Op[],
): ReadonlyMap<NodeId, Extract<Op, { kind: 'create' }>> {
  const result = new Map<NodeId, Extract<Op, { kind: 'create' }>>();
  for (const op of ops) if (op.kind === 'create') result.set(op.node, op);
  return result;
}

/** Every node an op refers to. */
export function nodesOf(op: Op): NodeId[] {
  switch (op.kind) {
    case 'create':
      return op.dir === undefined ? [op.node] : [op.node, op.dir];
    case 'link':
    case 'unlink':
      return [op.node, op.dir];
    case 'rename':
      return op.replaced === undefined
        ? [op.node, op.fromDir, op.toDir]
        : [op.node, op.fromDir, op.toDir, op.replaced];
    case 'write':
    case 'truncate':
    case 'chmod':
    case 'chown':
    case 'fsync':
    case 'close':
      return [op.node];
    case 'sync':
    case 'done':
      return [];
  }
}

/**
 * For each op, the index of the first later sync that makes it durable (Infinity if none).
 * Computed once per recording.
 */
export function syncPoints(ops: readonly Op[]): number[] {
  const syncedAt = ops.map(() => Number.POSITIVE_INFINITY);
  const pending: number[] = [];
  ops.forEach((op, index) => {
    if (op.kind === 'fsync' || op.kind === 'sync') {
      for (let at = pending.length - 1; at >= 0; at -= 1) {
        const earlier = pending[at] ?? 0;
        const target = ops[earlier];
        if (target !== undefined && covers(op, target)) {
          syncedAt[earlier] = index;
          pending.splice(at, 1);
        }
      }
    } else if (isEffect(op) || op.kind === 'chown') {
      pending.push(index);
    }
  });
  return syncedAt;
}

/** An op in a few words, for reports: "write 120 bytes at offset 0 of config.json". */
export function opWords(op: Op): string {
  const p = (bytes: Bytes): string => display(bytes === '' ? '.' : bytes);
  switch (op.kind) {
    case 'create':
      if (op.name === undefined) return `create an unnamed ${op.type} (O_TMPFILE)`;
      return op.type === 'dir'
        ? `mkdir ${p(op.path)}`
        : op.type === 'symlink'
          ? `symlink ${p(op.path)} -> ${display(op.target ?? '')}`
          : `create ${p(op.path)}`;
    case 'link':
      return `link ${p(op.path)}`;
    case 'unlink':
      return `unlink ${p(op.path)}`;
    case 'rename':
      return `${op.swapped ? 'exchange' : 'rename'} ${p(op.from)} ${op.swapped ? '<->' : '->'} ${p(op.path)}`;
    case 'write':
      return `write ${op.data.length} bytes at offset ${op.offset} of ${p(op.path)}${op.unknown === true ? ' (data read back)' : ''}`;
    case 'truncate':
      return `${op.byOpen ? 'truncate (open O_TRUNC)' : 'truncate'} ${p(op.path)} to ${op.size} bytes`;
    case 'chmod':
      return `chmod ${p(op.path)} to ${op.mode.toString(8).padStart(4, '0')}`;
    case 'chown':
      return `chown ${p(op.path)} to ${op.uid}:${op.gid}`;
    case 'fsync':
      return `${op.dataOnly ? 'fdatasync' : 'fsync'} ${p(op.path)}`;
    case 'sync':
      return 'sync (everything)';
    case 'close':
      return `close ${p(op.path)}`;
    case 'done':
      return 'the program reports done';
  }
}
