/** Helpers of the crash-explorer tests. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { isLinux } from './helpers.js';
import type { Op, Recording } from '../../src/audit/model.js';
import { straceAvailable } from '../../src/audit/trace.js';
import { parseStagingName, parseTempName } from '../../src/core/temp-names.js';

/** strace is installed and may trace here (CI: Linux, root). */
export const hasStrace = isLinux && straceAvailable();

/** The real Python interpreter (not a version-manager shim), if there is one. */
export const python: string | undefined = (() => {
  const result = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], {
    encoding: 'utf8',
  });
  const path = result.status === 0 ? result.stdout.trim() : '';
  return path === '' ? undefined : path;
})();

function normalName(path: string): string {
  return path
    .split('/')
    .map((part) => {
      const temp = parseTempName(part);
      if (temp !== undefined) return `.${temp.base}.afs-*.tmp`;
      const staged = parseStagingName(part);
      return staged === undefined ? part : `.${staged.base}.afs-*.stage`;
    })
    .join('/');
}

/**
 * The recording without chowns to the writer's own ids: libuv's copyfile (Node 22+) gives
 * the copy its source's owner with an fchown that the in-process recorder cannot see (it
 * sees one copyFile call). To the writer's own ids it changes nothing in any crash state.
 */
export function withoutOwnChowns(rec: Recording): Recording {
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  const keep = rec.ops.map((op) => !(op.kind === 'chown' && op.uid === uid && op.gid === gid));
  // A mark is placed after `at` ops: count only the ops kept before it.
  const kept = (at: number): number => keep.slice(0, at).filter(Boolean).length;
  return {
    ...rec,
    ops: rec.ops.filter((_, index) => keep[index]),
    where: rec.where.filter((_, index) => keep[index]),
    marks: rec.marks.map((mark) => ({ ...mark, at: kept(mark.at) })),
  };
}

/** Ops in a comparable form: temp names without host, pid and random part; data hashed; no done. */
export function normalOps(rec: Recording): string[] {
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  return (
    rec.ops
      .filter((op) => op.kind !== 'done')
      // libuv's copyfile (Node 22+) gives the copy its source's owner with an fchown the
      // in-process recorder cannot see (it sees one copyFile call); to the writer's own ids it
      // changes nothing, in no crash state.
      .filter((op) => !(op.kind === 'chown' && op.uid === uid && op.gid === gid))
      .map((op: Op) => {
        const plain: Record<string, unknown> = { ...op };
        if (op.kind === 'write') {
          plain.data = `${op.data.length}:${createHash('sha1').update(op.data).digest('hex')}`;
        }
        for (const key of ['path', 'from', 'name', 'fromName', 'toName']) {
          const value = plain[key];
          if (typeof value === 'string') plain[key] = normalName(value);
        }
        return JSON.stringify(plain);
      })
  );
}

/** A string as strace -xx prints it. */
export function hex(text: string): string {
  return [...Buffer.from(text, 'latin1')]
    .map((byte) => `\\x${byte.toString(16).padStart(2, '0')}`)
    .join('');
}
