/**
 * From system calls to logical operations. Both front ends drive one `RecordingBuilder` with
 * calls at the path and descriptor level ("open this path with O_CREAT|O_TRUNC", "write these
 * bytes to that node"); it resolves paths against a live model of the audited directory (the
 * directory as it is during the run) and emits the `Op`s of model.ts. Paths outside the
 * audited directory are ignored.
 */
import { posix } from 'node:path';
import {
  type Bytes,
  type FsState,
  type Mark,
  type NodeId,
  type NodeType,
  type Op,
  type Recording,
  MutableState,
  display,
} from './model.js';
import { DEFAULT_SCOPE, type Scope } from './scope.js';

/** What an open() asks for. */
export interface OpenIntent {
  readonly create: boolean;
  readonly exclusive: boolean;
  readonly truncate: boolean;
  readonly write: boolean;
  readonly tmpfile: boolean;
  /** O_NOFOLLOW (or O_EXCL with O_CREAT): a symlink at the last component is not followed. */
  readonly noFollow: boolean;
}

interface Entry {
  readonly dir: NodeId;
  readonly name: Bytes;
  readonly node: NodeId | undefined;
  /** Path relative to the root. */
  readonly path: Bytes;
}

type CreateOp = Extract<Op, { kind: 'create' }>;

/** Where an fsync that has started will be placed. */
export interface SyncToken {
  index: number;
}

const MAX_HOPS = 40;

/** Lexically normalised absolute path (`..` and `.` folded), as bytes. */
export function absolute(base: Bytes, path: Bytes): Bytes {
  return posix.resolve(base, path);
}

export class RecordingBuilder {
  readonly root: Bytes;
  readonly frontEnd: Recording['frontEnd'];
  readonly #initial: FsState;
  readonly #fresh = new Map<NodeId, CreateOp>();
  readonly #live: MutableState;
  readonly #ops: Op[] = [];
  readonly #where: string[] = [];
  readonly #notes: string[] = [];
  readonly #unmodelled = new Set<Bytes>();
  readonly #marks: Mark[] = [];
  readonly #paths: Map<NodeId, Bytes>;
  /** Writes whose data was not seen: filled from the file's final content by `finish`. */
  readonly #readBack: { index: number; length: number | undefined }[] = [];
  /** Fsyncs started and not finished yet, with the position they will take. */
  readonly #pending = new Set<SyncToken>();
  readonly #scope: Scope;
  /** Recorded path operations that fell in skipped paths, by skipped path. */
  readonly #skipped = new Map<Bytes, number>();
  #next: NodeId;
  /** Where the next operations come from (a trace line, a seam call), for reports. */
  where = '';

  constructor(
    frontEnd: Recording['frontEnd'],
    root: Bytes,
    initial: FsState,
    paths: ReadonlyMap<NodeId, Bytes>,
    scope: Scope = DEFAULT_SCOPE,
  ) {
    this.frontEnd = frontEnd;
    this.#scope = scope;
    this.root = root;
    this.#initial = initial;
    this.#live = new MutableState(initial, this.#fresh);
    this.#paths = new Map(paths);
    this.#next = Math.max(-1, ...initial.nodes.keys()) + 1;
  }

  /** Path relative to the root, or undefined outside the audited directory. */
  relative(abs: Bytes): Bytes | undefined {
    if (abs === this.root) return '';
    const prefix = this.root === '/' ? '/' : `${this.root}/`;
    if (!abs.startsWith(prefix)) return undefined;
    const rel = abs.slice(prefix.length);
    if (this.#scope.skippedAt(rel) !== undefined) return undefined;
    return rel;
  }

  /**
   * Count a path operation (open, rename, link, unlink, mkdir, symlink) that falls in a
   * skipped path, so that the report can say how much of the run it did not model.
   */
  #countSkipped(abs: Bytes): void {
    const prefix = this.root === '/' ? '/' : `${this.root}/`;
    if (!abs.startsWith(prefix)) return;
    const skipped = this.#scope.skippedAt(abs.slice(prefix.length));
    if (skipped !== undefined) this.#skipped.set(skipped, (this.#skipped.get(skipped) ?? 0) + 1);
  }

  /** The node at an absolute path in the live model, if it is in the audited directory. */
  nodeAt(abs: Bytes, follow = true): NodeId | undefined {
    const rel = this.relative(abs);
    if (rel === undefined) return undefined;
    if (rel === '') return this.#live.root;
    return this.#entry(abs, follow)?.node;
  }

  /** The live path of a node, relative to the root. */
  pathOf(node: NodeId): Bytes {
    return this.#paths.get(node) ?? `#${node}`;
  }

  /** Is this node a regular file in the live model? */
  isFile(node: NodeId): boolean {
    return this.#live.get(node)?.type === 'file';
  }

  /** The live size of a file (for O_APPEND writes). */
  sizeOf(node: NodeId): number {
    const live = this.#live.get(node);
    return live?.type === 'file' ? live.data.length : 0;
  }

  /** Bytes of a file in the live model (for sendfile and copy_file_range sources). */
  readLive(node: NodeId, offset: number, length: number): Uint8Array | undefined {
    const live = this.#live.get(node);
    if (live?.type !== 'file') return undefined;
    return live.data.slice(offset, offset + length);
  }

  #entry(abs: Bytes, follow: boolean, hops = 0): Entry | undefined {
    const rel = this.relative(abs);
    if (rel === undefined || rel === '') return undefined;
    const parentRel = posix.dirname(rel);
    const name = posix.basename(rel);
    const dir = this.#live.lookup(parentRel === '.' ? '' : parentRel, true);
    if (dir === undefined || this.#live.get(dir)?.type !== 'dir') {
      this.note(`a path inside the audited directory was not in the model: ${display(rel)}`);
      return undefined;
    }
    const dirNode = this.#live.get(dir);
    const node = dirNode?.type === 'dir' ? dirNode.entries.get(name) : undefined;
    const target = node === undefined ? undefined : this.#live.get(node);
    if (follow && target?.type === 'symlink' && hops < MAX_HOPS) {
      return this.#entry(absolute(posix.dirname(abs), target.target), follow, hops + 1);
    }
    const dirPath = this.#paths.get(dir) ?? (parentRel === '.' ? '' : parentRel);
    return { dir, name, node, path: dirPath === '' ? name : `${dirPath}/${name}` };
  }

  #emit(op: Op): void {
    this.#ops.push(op);
    this.#where.push(this.where);
    this.#live.apply(op);
    // A node is named by where it was created or last renamed to (a hard link adds a name).
    if (op.kind === 'create' || op.kind === 'rename') this.#paths.set(op.node, op.path);
    if (op.kind === 'link' && !this.#paths.has(op.node)) this.#paths.set(op.node, op.path);
  }

  #newNode(type: NodeType, mode: number, entry: Entry | undefined, target?: Bytes): NodeId {
    const node = this.#next;
    this.#next += 1;
    const op: CreateOp = {
      kind: 'create',
      node,
      type,
      mode,
      target,
      dir: entry?.dir,
      name: entry?.name,
      path: entry?.path ?? `#${node}`,
    };
    this.#fresh.set(node, op);
    this.#emit(op);
    return node;
  }

  /** A successful open(); returns the node opened, if it is in the audited directory. */
  open(abs: Bytes, intent: OpenIntent, mode: number): NodeId | undefined {
    const rel = this.relative(abs);
    if (rel === undefined) {
      this.#countSkipped(abs);
      return undefined;
    }
    if (intent.tmpfile) {
      const dir = this.nodeAt(abs);
      if (dir === undefined) return undefined;
      return this.#newNode('file', mode, undefined);
    }
    if (rel === '') return this.#live.root;
    const entry = this.#entry(abs, !intent.noFollow);
    if (entry === undefined) return undefined;
    if (entry.node === undefined) {
      if (!intent.create) {
        this.note(`an open of a file the model did not know: ${display(entry.path)}`);
        return undefined;
      }
      return this.#newNode('file', mode, entry);
    }
    if (intent.truncate && intent.write && this.isFile(entry.node)) {
      this.#emit({ kind: 'truncate', node: entry.node, size: 0, path: entry.path, byOpen: true });
    }
    return entry.node;
  }

  /** Data written to a file; `data` undefined means not seen (read back from the final file). */
  write(node: NodeId, offset: number, data: Uint8Array | undefined, length?: number): void {
    if (!this.isFile(node)) return;
    if (data === undefined) {
      this.#readBack.push({ index: this.#ops.length, length });
    }
    this.#emit({
      kind: 'write',
      node,
      offset,
      data: data ?? new Uint8Array(length ?? 0),
      path: this.pathOf(node),
      unknown: data === undefined ? true : undefined,
    });
  }

  truncate(node: NodeId, size: number): void {
    if (!this.isFile(node)) return;
    this.#emit({ kind: 'truncate', node, size, path: this.pathOf(node), byOpen: false });
  }

  chmod(node: NodeId, mode: number): void {
    this.#emit({ kind: 'chmod', node, mode: mode & 0o7777, path: this.pathOf(node) });
  }

  chown(node: NodeId, uid: number, gid: number): void {
    this.#emit({ kind: 'chown', node, uid, gid, path: this.pathOf(node) });
  }

  fsync(node: NodeId, dataOnly: boolean): void {
    this.#emit({ kind: 'fsync', node, dataOnly, path: this.pathOf(node) });
  }

  /**
   * An fsync starts: it will be placed here, so that writes that finish while it runs (on
   * other threads, or other promises) are not covered by it.
   */
  beginSync(): SyncToken {
    const token = { index: this.#ops.length };
    this.#pending.add(token);
    return token;
  }

  /** The fsync started at `token` finished (`node` undefined: it failed, or is out of scope). */
  endSync(token: SyncToken, node: NodeId | undefined, dataOnly: boolean): void {
    this.#pending.delete(token);
    if (node === undefined) return;
    const index = token.index;
    this.#ops.splice(index, 0, { kind: 'fsync', node, dataOnly, path: this.pathOf(node) });
    this.#where.splice(index, 0, this.where);
    // Everything recorded at or after that point moves one place down.
    for (const pending of this.#pending) if (pending.index >= index) pending.index += 1;
    for (const [at, mark] of this.#marks.entries()) {
      if (mark.at > index) this.#marks[at] = { ...mark, at: mark.at + 1 };
    }
    for (const pending of this.#readBack) if (pending.index >= index) pending.index += 1;
  }

  sync(): void {
    this.#emit({ kind: 'sync' });
  }

  close(node: NodeId): void {
    if (!this.isFile(node)) return;
    this.#emit({ kind: 'close', node, path: this.pathOf(node) });
  }

  /** rename(), or an atomic exchange (renameat2 RENAME_EXCHANGE) when `swap`. */
  rename(fromAbs: Bytes, toAbs: Bytes, swap = false): void {
    const fromIn = this.relative(fromAbs) !== undefined;
    const toIn = this.relative(toAbs) !== undefined;
    if (!toIn) this.#countSkipped(toAbs);
    else if (!fromIn) this.#countSkipped(fromAbs);
    if (!fromIn && !toIn) return;
    const from = fromIn ? this.#entry(fromAbs, false) : undefined;
    const to = toIn ? this.#entry(toAbs, false) : undefined;
    if (fromIn && from?.node === undefined) return;
    if (to === undefined) {
      if (from?.node !== undefined && !toIn) {
        this.#emit({
          kind: 'unlink',
          node: from.node,
          dir: from.dir,
          name: from.name,
          path: from.path,
        });
      }
      return;
    }
    if (from === undefined) {
      this.note(
        `${display(to.path)} was moved in from outside the audited directory; its data is read back from the final file and treated as never fsynced`,
      );
      const node = this.#newNode('file', 0o644, to);
      this.write(node, 0, undefined);
      return;
    }
    if (from.node === undefined || from.node === to.node) return;
    this.#emit({
      kind: 'rename',
      node: from.node,
      fromDir: from.dir,
      fromName: from.name,
      toDir: to.dir,
      toName: to.name,
      from: from.path,
      path: to.path,
      replaced: to.node,
      swapped: swap,
    });
    if (swap && to.node !== undefined) this.#paths.set(to.node, from.path);
  }

  /** link(): a new name for `node` (or for the file at `existingAbs`). */
  link(existing: Bytes | NodeId, toAbs: Bytes): void {
    const node = typeof existing === 'number' ? existing : this.nodeAt(existing, false);
    this.#countSkipped(toAbs);
    const to = this.#entry(toAbs, false);
    if (node === undefined || to === undefined) return;
    this.#emit({ kind: 'link', node, dir: to.dir, name: to.name, path: to.path });
  }

  /** unlink() or rmdir(). */
  unlink(abs: Bytes): void {
    this.#countSkipped(abs);
    const entry = this.#entry(abs, false);
    if (entry?.node === undefined) return;
    this.#emit({
      kind: 'unlink',
      node: entry.node,
      dir: entry.dir,
      name: entry.name,
      path: entry.path,
    });
  }

  mkdir(abs: Bytes, mode: number): void {
    this.#countSkipped(abs);
    const entry = this.#entry(abs, false);
    if (entry === undefined || entry.node !== undefined) return;
    this.#newNode('dir', mode, entry);
  }

  symlink(target: Bytes, abs: Bytes): void {
    this.#countSkipped(abs);
    const entry = this.#entry(abs, false);
    if (entry === undefined || entry.node !== undefined) return;
    this.#newNode('symlink', 0o777, entry, target);
  }

  /** Text written to standard output (for `--done-marker`). */
  mark(text: string): void {
    this.#marks.push({ at: this.#ops.length, text });
  }

  /** Something the model could not represent or had to assume; each note is kept once. */
  note(text: string): void {
    if (!this.#notes.includes(text)) this.#notes.push(text);
  }

  /** A file whose content the model cannot follow (see `Recording.unmodelled`). */
  unmodelled(path: Bytes): void {
    this.#unmodelled.add(path);
  }

  done(): void {
    this.#emit({ kind: 'done' });
  }

  /**
   * The recording. Writes whose data was not seen are filled from each file's final content,
   * read through `readFinal(relativePath)`.
   */
  finish(
    exitCode: number | undefined,
    readFinal?: (path: Bytes) => Uint8Array | undefined,
  ): Recording {
    for (const pending of this.#readBack) {
      const op = this.#ops[pending.index];
      if (op?.kind !== 'write') continue;
      const final = this.#finalPath(op.node);
      const content = final === undefined ? undefined : readFinal?.(final);
      let data: Uint8Array | undefined;
      if (content !== undefined) {
        const length = pending.length ?? content.length - op.offset;
        if (op.offset + length <= content.length) {
          data = content.slice(op.offset, op.offset + length);
        }
      }
      if (data === undefined) {
        this.note(
          `the data written at #${pending.index + 1} to ${display(op.path)} was not in the trace and could not be read back; it is modelled as zeros`,
        );
      } else {
        this.#ops[pending.index] = { ...op, data };
      }
    }
    return {
      frontEnd: this.frontEnd,
      root: this.root,
      initial: this.#initial,
      ops: [...this.#ops],
      where: [...this.#where],
      notes: [...this.#notes],
      marks: [...this.#marks],
      exitCode,
      skipped: [...this.#skipped].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      ...(this.#unmodelled.size === 0 ? {} : { unmodelled: [...this.#unmodelled].sort() }),
    };
  }

  /** Where a node is at the end of the run, if it is still linked there. */
  #finalPath(node: NodeId): Bytes | undefined {
    const path = this.#paths.get(node);
    if (path === undefined) return undefined;
    return this.#live.lookup(path, false) === node ? path : undefined;
  }
}
