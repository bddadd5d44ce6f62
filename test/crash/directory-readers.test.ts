/**
 * Readers during swaps (issue 5): reader processes list and read the whole tree in a loop
 * while this process replaces it with version after version. Every snapshot a reader accepts
 * by the documented protocol (test/fixtures/tree-reader.ts) must be exactly one complete
 * version: its manifest's checksums match the other files and the listing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startReader } from '../fixtures/reader-process.js';
import { writeDirectory } from '../../src/index.js';
import { isLinux, list, needs, tempDir } from '../support/helpers.js';
import { versionFiles } from '../fixtures/versions.js';

const READER = fileURLToPath(new URL('../fixtures/tree-reader.js', import.meta.url));
const SWAPS = Number(process.env.ATOMIC_FS_SWAPS ?? 200);
const READERS = 2;

interface Counts {
  snapshots: number;
  accepted: number;
  acceptedBad: number;
  rejected: number;
  rejectedBad: number;
  errors: number;
  versions: number;
}
interface Report {
  pinned: Counts;
  byPath: Counts;
  firstBad: string;
}

test(`readers during ${SWAPS} swaps accept only complete versions`, async (t) => {
  if (!needs(t, isLinux, 'the pinned reader reads through /proc/self/fd')) return;
  const parent = tempDir(t);
  const dir = join(parent, 'live');
  await writeDirectory(dir, versionFiles(0));
  const readers = Array.from({ length: READERS }, () => startReader<Report>(t, READER, [dir]));
  await Promise.all(readers.map((r) => r.ready));
  for (let v = 1; v <= SWAPS; v += 1) {
    await writeDirectory(dir, versionFiles(v), { durability: v % 10 === 0 ? 'full' : 'none' });
  }
  const reports = await Promise.all(readers.map((r) => r.stop()));
  assert.deepEqual(list(parent), ['live'], 'nothing left beside the directory');
  const sum = (kind: 'pinned' | 'byPath', field: keyof Counts): number =>
    reports.reduce((total, r) => total + r[kind][field], 0);
  for (const kind of ['pinned', 'byPath'] as const) {
    process.stdout.write(
      `# writeDirectory readers (${kind}): ${SWAPS} swaps, ${READERS} readers, ` +
        `${sum(kind, 'snapshots')} snapshots: ${sum(kind, 'accepted')} accepted ` +
        `(${sum(kind, 'acceptedBad')} inconsistent, max ${Math.max(...reports.map((r) => r[kind].versions))} ` +
        `distinct versions per reader), ${sum(kind, 'rejected')} rejected by the check ` +
        `(${sum(kind, 'rejectedBad')} of them mixed or partial), ${sum(kind, 'errors')} read errors\n`,
    );
    assert.equal(sum(kind, 'acceptedBad'), 0, reports.map((r) => r.firstBad).join('; '));
    assert.ok(sum(kind, 'accepted') > 0, `${kind}: no snapshot accepted`);
  }
});
