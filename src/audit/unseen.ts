/**
 * Changes the recording did not see. The audited directory is read again after the run and
 * compared with what the recorded operations, replayed on the snapshot taken before it, say
 * it should hold. Any difference means the run (or something beside it) changed the directory
 * by a way the front end does not observe — `node:fs` called directly around the library's
 * seam, a write through a memory mapping, another process — and the crash states explored
 * are then not all the states a power cut could leave: the audit must not call that safe.
 *
 * Compared: which names exist, their types, file bytes and symlink targets. Not compared:
 * modes, owners and times (not part of what the explorer judges).
 */
import {
  type Bytes,
  type FsNode,
  type FsState,
  type Recording,
  MutableState,
  creations,
} from './model.js';

/** One path whose end-of-run state differs from the recording's replay. */
export interface UnseenChange {
  /** Relative to the audited directory. */
  readonly path: Bytes;
  /** What the replay of the recorded operations has there, and what the directory has. */
  readonly recorded: string;
  readonly actual: string;
}

/** The state the recorded operations leave, applied in order to the snapshot before the run. */
export function replayed(rec: Recording): FsState {
  const state = new MutableState(rec.initial, creations(rec.ops));
  for (const op of rec.ops) state.apply(op);
  return state.freeze();
}

function describe(node: FsNode | undefined): string {
  if (node === undefined) return 'nothing';
  switch (node.type) {
    case 'file':
      return `a file of ${node.data.length} bytes`;
    case 'dir':
      return 'a directory';
    case 'symlink':
      return 'a symlink';
    case 'other':
      return 'a special file';
  }
}

function same(a: FsNode | undefined, b: FsNode | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.type !== b.type) return false;
  if (a.type === 'file' && b.type === 'file') return Buffer.from(a.data).equals(b.data);
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  return true;
}

/** Paths where `recorded` and `actual` differ, sorted; directories are compared entry by entry. */
export function unseenChanges(recorded: FsState, actual: FsState, limit = 20): UnseenChange[] {
  const found: UnseenChange[] = [];
  const visit = (left: FsNode | undefined, right: FsNode | undefined, path: Bytes): void => {
    if (found.length >= limit) return;
    if (left?.type === 'dir' && right?.type === 'dir') {
      const names = [...new Set([...left.entries.keys(), ...right.entries.keys()])].sort();
      for (const name of names) {
        const a = left.entries.get(name);
        const b = right.entries.get(name);
        visit(
          a === undefined ? undefined : recorded.nodes.get(a),
          b === undefined ? undefined : actual.nodes.get(b),
          path === '' ? name : `${path}/${name}`,
        );
      }
      return;
    }
    if (same(left, right)) return;
    const sameSize =
      left?.type === 'file' && right?.type === 'file' && left.data.length === right.data.length;
    found.push({
      path,
      recorded: describe(left),
      actual: sameSize ? `${describe(right)} with other bytes` : describe(right),
    });
  };
  visit(recorded.nodes.get(recorded.root), actual.nodes.get(actual.root), '');
  return found;
}
