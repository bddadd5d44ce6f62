/**
 * A directory that shows one crash state after another, for a user's `--check`. Rebuilding
 * each state from nothing — remove the last one, write every file again — costs more than
 * most checks: consecutive states differ in a few entries, and the rest of the audited
 * directory (a repository's objects, the files no operation touched) is the same in all of
 * them. So the directory is brought to each new state in place: every entry is compared with
 * the state (type, mode, symlink target, file bytes, read back) and only what differs is
 * rewritten or removed. What a check did to the directory — it may write, delete, add or
 * chmod anything, e.g. SQLite rolling back a hot journal — is undone the same way, since the
 * comparison is with what is on disk, never with what was written last time.
 *
 * Each path gets its own inode, as `materialize` writes it: a file with more than one link is
 * replaced, never written through, so that a link a check made cannot carry a change to
 * another name.
 */
import { direct } from '../engine/fs.js';
import { type Bytes, type FsNode, type FsState, type NodeId, bufferOf } from './model.js';
import { materialize } from './snapshot.js';

const S_IFMT = 0o170000n;
const S_IFREG = 0o100000n;
const S_IFDIR = 0o040000n;
const S_IFLNK = 0o120000n;

/** Entries `materialize` writes: files, directories, symlinks (other nodes are left out). */
function shown(node: FsNode | undefined): node is Exclude<FsNode, { type: 'other' }> {
  return node !== undefined && node.type !== 'other';
}

function join(dir: Buffer, name: Bytes): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), bufferOf(name)]);
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  return b !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** A file's bytes, or nothing when it cannot be read (then it is simply written again). */
function readable(path: Buffer): Uint8Array | undefined {
  try {
    return direct.readFile(path);
  } catch {
    return undefined;
  }
}

export class StateDir {
  /** The directory (absolute); it is the check's working directory. */
  readonly path: string;
  /** Entries written or removed to show the states so far (for tests and the curious). */
  changes = 0;

  constructor(path: string) {
    this.path = path;
    direct.mkdir(path, 0o700);
  }

  /** Make the directory hold `state`, whatever it holds now. */
  show(state: FsState): void {
    try {
      const root = direct.lstat(this.path);
      if ((root.mode & 0o7777n) !== 0o700n) direct.chmod(this.path, 0o700);
      this.#dir(state, state.root, Buffer.from(this.path));
    } catch {
      // What a check left here cannot be compared or changed in place (it removed the
      // directory, or put a file in its place): start again from an empty directory.
      direct.rm(this.path);
      direct.mkdir(this.path, 0o700);
      materialize(state, this.path);
      this.changes += state.nodes.size;
    }
  }

  /** Bring the directory at `path` (which exists, and is a directory) to node `id`'s entries. */
  #dir(state: FsState, id: NodeId, path: Buffer): void {
    const node = state.nodes.get(id);
    const entries: ReadonlyMap<Bytes, NodeId> =
      node?.type === 'dir' ? node.entries : new Map<Bytes, NodeId>();
    for (const name of direct.readdir(path).map((entry) => entry.toString('latin1'))) {
      const wanted = entries.get(name);
      if (wanted === undefined || !shown(state.nodes.get(wanted))) {
        direct.rm(join(path, name));
        this.changes += 1;
      }
    }
    for (const [name, child] of entries) {
      const childNode = state.nodes.get(child);
      if (!shown(childNode)) continue;
      this.#entry(state, child, childNode, join(path, name));
    }
  }

  #entry(state: FsState, id: NodeId, node: Exclude<FsNode, { type: 'other' }>, path: Buffer): void {
    let stats: ReturnType<typeof direct.lstat> | undefined;
    try {
      stats = direct.lstat(path);
    } catch {
      stats = undefined;
    }
    const type = stats === undefined ? undefined : stats.mode & S_IFMT;
    const mode = stats === undefined ? undefined : Number(stats.mode & 0o7777n);
    switch (node.type) {
      case 'dir': {
        let now = mode;
        if (type !== S_IFDIR) {
          if (stats !== undefined) direct.rm(path);
          direct.mkdir(path, 0o700);
          now = undefined;
          this.changes += 1;
        } else if (mode !== undefined && (mode & 0o700) !== 0o700) {
          // Its entries may have to change: the owner needs to be able to.
          direct.chmod(path, 0o700);
          now = 0o700;
        }
        this.#dir(state, id, path);
        if (now !== node.mode) direct.chmod(path, node.mode);
        return;
      }
      case 'file': {
        const same =
          type === S_IFREG &&
          stats?.nlink === 1n &&
          stats.size === BigInt(node.data.length) &&
          sameBytes(node.data, readable(path));
        if (!same) {
          if (stats !== undefined) direct.rm(path);
          direct.writeFile(path, node.data, 0o600);
          direct.chmod(path, node.mode);
          this.changes += 1;
        } else if (mode !== node.mode) {
          direct.chmod(path, node.mode);
        }
        return;
      }
      case 'symlink': {
        if (type === S_IFLNK && direct.readlink(path).toString('latin1') === node.target) return;
        if (stats !== undefined) direct.rm(path);
        direct.symlink(bufferOf(node.target), path);
        this.changes += 1;
        return;
      }
    }
  }
}
