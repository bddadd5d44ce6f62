/**
 * The audited directory on disk: read it into a model state before a run (the state a crash
 * can always fall back to), and write a model state back out as a real directory for a
 * user's `--check` command. Names are bytes throughout, so any name survives.
 */
import { AUDIT_SNAPSHOT_MAX_BYTES, AUDIT_SNAPSHOT_MAX_ENTRIES } from './constants.js';
import { direct } from '../engine/fs.js';
import { AuditSetupError } from './errors.js';
import { type Bytes, type FsNode, type FsState, type NodeId, bufferOf, display } from './model.js';
import { DEFAULT_SCOPE, type Scope } from './scope.js';

export interface Snapshot {
  readonly state: FsState;
  /** Each node's path relative to the root ('' for the root). */
  readonly paths: ReadonlyMap<NodeId, Bytes>;
  /** What was left out: the model treats it as outside the audited directory. */
  readonly scope: Scope;
  /** Skipped paths that were there, relative to the root, sorted. */
  readonly skipped: readonly Bytes[];
}

export interface SnapshotLimits {
  readonly maxEntries?: number;
  readonly maxBytes?: number;
}

const S_IFMT = 0o170000n;
const S_IFREG = 0o100000n;
const S_IFDIR = 0o040000n;
const S_IFLNK = 0o120000n;

/** Read the tree under `root` (an absolute byte path). Hard links share one node. */
export function snapshot(
  root: Bytes,
  limits: SnapshotLimits = {},
  scope: Scope = DEFAULT_SCOPE,
): Snapshot {
  const maxEntries = limits.maxEntries ?? AUDIT_SNAPSHOT_MAX_ENTRIES;
  const maxBytes = limits.maxBytes ?? AUDIT_SNAPSHOT_MAX_BYTES;
  const nodes = new Map<NodeId, FsNode>();
  const paths = new Map<NodeId, Bytes>();
  const byInode = new Map<string, NodeId>();
  const skipped: Bytes[] = [];
  let entries = 0;
  let bytes = 0;
  let next = 0;

  const tooLarge = (what: string): never => {
    throw new AuditSetupError(
      `the audited directory ${display(root)} is too large to snapshot (${what}); ` +
        'run the command in a smaller directory or pass --dir',
    );
  };

  const visit = (abs: Bytes, rel: Bytes): NodeId => {
    const stats = direct.lstat(bufferOf(abs));
    const key = `${stats.dev}:${stats.ino}`;
    const type = stats.mode & S_IFMT;
    if (type !== S_IFDIR) {
      const known = byInode.get(key);
      if (known !== undefined) return known;
    }
    const id = next;
    next += 1;
    byInode.set(key, id);
    paths.set(id, rel);
    const mode = Number(stats.mode & 0o7777n);
    if (type === S_IFDIR) {
      const names = direct
        .readdir(bufferOf(abs))
        .sort((a, b) => Buffer.compare(a, b))
        .map((name) => name.toString('latin1'))
        .filter((name) => {
          const path = rel === '' ? name : `${rel}/${name}`;
          if (scope.skippedAt(path) === undefined) return true;
          skipped.push(path);
          return false;
        });
      const children = new Map<Bytes, NodeId>();
      nodes.set(id, { type: 'dir', entries: children, mode });
      for (const name of names) {
        entries += 1;
        if (entries > maxEntries) tooLarge(`more than ${maxEntries} entries`);
        children.set(name, visit(`${abs}/${name}`, rel === '' ? name : `${rel}/${name}`));
      }
    } else if (type === S_IFREG) {
      bytes += Number(stats.size);
      if (bytes > maxBytes) tooLarge(`more than ${maxBytes} bytes`);
      nodes.set(id, { type: 'file', data: new Uint8Array(direct.readFile(bufferOf(abs))), mode });
    } else if (type === S_IFLNK) {
      nodes.set(id, { type: 'symlink', target: direct.readlink(bufferOf(abs)).toString('latin1') });
    } else {
      nodes.set(id, { type: 'other' });
    }
    return id;
  };

  let root0: NodeId;
  try {
    root0 = visit(root, '');
  } catch (error) {
    if (error instanceof AuditSetupError) throw error;
    throw new AuditSetupError(
      `cannot read the audited directory ${display(root)}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (nodes.get(root0)?.type !== 'dir') {
    throw new AuditSetupError(`the audited path ${display(root)} is not a directory`);
  }
  return { state: { root: root0, nodes }, paths, scope, skipped: skipped.sort() };
}

/** The real path of a directory, as bytes. */
export function realDirectory(path: string): Bytes {
  try {
    return direct.realpath(path).toString('latin1');
  } catch (error) {
    throw new AuditSetupError(
      `cannot use ${path} as the audited directory: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/**
 * Write the tree of `state` into the empty directory `into` (a crash state rebuilt for a
 * user's check). Files get their data and mode; nodes that are not files, directories or
 * symlinks are left out.
 */
export function materialize(state: FsState, into: string): void {
  const write = (id: NodeId, path: Buffer): void => {
    const node = state.nodes.get(id);
    if (node === undefined) return;
    switch (node.type) {
      case 'dir':
        for (const [name, child] of node.entries) {
          const childPath = Buffer.concat([path, Buffer.from('/'), bufferOf(name)]);
          const childNode = state.nodes.get(child);
          if (childNode?.type === 'dir') {
            direct.mkdir(childPath, 0o700);
            write(child, childPath);
            direct.chmod(childPath, childNode.mode);
          } else {
            write(child, childPath);
          }
        }
        return;
      case 'file':
        // A second name of one node becomes a copy: checks read files, they do not link them.
        direct.writeFile(path, node.data, 0o600);
        direct.chmod(path, node.mode);
        return;
      case 'symlink':
        direct.symlink(bufferOf(node.target), path);
        return;
      case 'other':
        return;
    }
  };
  write(state.root, Buffer.from(into));
}
