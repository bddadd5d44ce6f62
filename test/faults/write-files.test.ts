/**
 * The fault table of writeFiles: which files are committed when step k of file i fails.
 *
 * Three files — f0 (existing, in d1), f1 (new, in d1), f2 (new, in d2) — written with
 * concurrency 1, so that the recorded steps come in a fixed order: resolving (at call time),
 * preparing f0, f1, f2 (inspect, create, write, metadata, fsync, close), renaming f0, f1, f2,
 * then one fsync of d1 and one of d2. Every step fails in turn (EIO, ENOSPC, EMFILE; with and
 * without stopOnError; and with the failing file's own cleanup failing too). Expected:
 *
 * | step fails                    | stopOnError: false          | stopOnError: true                 |
 * | ----------------------------- | --------------------------- | --------------------------------- |
 * | resolving any file (at call)  | the call rejects, nothing touched                               |
 * | preparing file i              | i failed, the others written | i failed, the others skipped      |
 * | renaming file i               | i failed, the others written | before i written, i failed, after skipped |
 * | fsync of directory d          | files in d failed with committed: true (new content in place), the others written |
 *
 * Then the same prepare and rename failures with the default concurrency (16), injected by
 * file rather than by index: the outcomes do not depend on the interleaving.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { AtomicFsError, type Phase, type WriteFilesOutcome, writeFiles } from '../../src/index.js';
import { restoreSeam } from '../../src/engine/fs.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { type FaultRule, type SeamCall, instrument, isLinux, tempDir } from '../support/helpers.js';
import {
  assertNoLeaks,
  caseLabel,
  cleanupFailed,
  failureModes,
  fileFdCount,
  tempsUnder,
} from './table.js';

const FILES = ['d1/f0', 'd1/f1', 'd2/f2'] as const;
const OLD = 'old f0\n';
const content = (i: number): string => `new content of f${i}\n`.repeat(10 + i);

interface Layout {
  readonly dests: string[];
}

function setup(dir: string): Layout {
  fs.mkdirSync(join(dir, 'd1'));
  fs.mkdirSync(join(dir, 'd2'));
  fs.writeFileSync(join(dir, 'd1', 'f0'), OLD);
  fs.chmodSync(join(dir, 'd1', 'f0'), 0o640);
  return { dests: FILES.map((file) => join(dir, file)) };
}

/** The file a call belongs to (by its temp or destination name), or undefined. */
function owner(call: SeamCall, dests: readonly string[]): number | undefined {
  const parts = parseTempName(basename(call.subject));
  const name =
    parts === undefined ? call.subject : call.subject.replace(basename(call.subject), parts.base);
  const index = dests.indexOf(name);
  return index === -1 ? undefined : index;
}

type Expect =
  | { kind: 'reject'; file: number }
  | { kind: 'prepare'; file: number; phase: Phase }
  | { kind: 'rename'; file: number }
  /** A failure that is ignored: closing the replaced file's read-only descriptor. */
  | { kind: 'ignored' }
  /** `dir`: the directory's name relative to the test directory (d1, d2). */
  | { kind: 'dir'; dir: string };

const PREPARE_PHASES: Partial<Record<string, Phase>> = {
  lstat: 'resolve',
  open: 'create-temp',
  write: 'write',
  fstat: 'chmod',
  fchmod: 'chmod',
  fchown: 'chown',
  fsync: 'fsync',
  close: 'close',
  listXattrs: 'xattrs',
  getXattr: 'xattrs',
  setXattr: 'xattrs',
  removeXattr: 'xattrs',
};

/** What failing each call of the clean run means. */
function classify(calls: readonly SeamCall[], dests: readonly string[]): Expect[] {
  const firstOpen = calls.findIndex((call) => call.name === 'open');
  const inspectFirst = firstOpen - 1; // the lstat of f0 that precedes its temp's creation
  let resolved = 0;
  return calls.map((call, index): Expect => {
    const file = owner(call, dests);
    if (index < inspectFirst) {
      // At call time, entry by entry: each entry's walk looks at the directories on its way
      // down, and ends with its destination.
      if (file !== undefined) resolved = file + 1;
      return { kind: 'reject', file: file ?? resolved };
    }
    if (call.name === 'rename') {
      assert.ok(file !== undefined);
      return { kind: 'rename', file };
    }
    if (file === undefined) return { kind: 'dir', dir: basename(call.subject) };
    if (call.subject === dests[file]) {
      // The replaced file, opened read-only (once its temp exists) for its ACL and attributes.
      if (call.name === 'close') return { kind: 'ignored' };
      if (call.name !== 'lstat') return { kind: 'prepare', file, phase: 'xattrs' };
    }
    const phase = PREPARE_PHASES[call.name];
    assert.ok(phase !== undefined, `unexpected ${call.name}`);
    return { kind: 'prepare', file, phase };
  });
}

type Want =
  { status: 'written' | 'skipped' } | { status: 'failed'; phase: Phase; committed: boolean };

function wanted(expect: Expect, stopOnError: boolean, dests: readonly string[]): Want[] {
  return dests.map((dest, i): Want => {
    switch (expect.kind) {
      case 'reject':
        return { status: 'skipped' };
      case 'ignored':
        return { status: 'written' };
      case 'prepare':
        if (i === expect.file) return { status: 'failed', phase: expect.phase, committed: false };
        return { status: stopOnError ? 'skipped' : 'written' };
      case 'rename':
        if (i === expect.file) return { status: 'failed', phase: 'rename', committed: false };
        return { status: stopOnError && i > expect.file ? 'skipped' : 'written' };
      case 'dir':
        return basename(dirname(dest)) === expect.dir
          ? { status: 'failed', phase: 'fsync-dir', committed: true }
          : { status: 'written' };
    }
  });
}

function checkFiles(where: string, dests: readonly string[], wants: readonly Want[]): void {
  wants.forEach((want, i) => {
    const dest = dests[i] ?? '';
    const published = want.status === 'written' || (want.status === 'failed' && want.committed);
    if (published) assert.equal(fs.readFileSync(dest, 'utf8'), content(i), `${where}: f${i} new`);
    else if (i === 0) {
      assert.equal(fs.readFileSync(dest, 'utf8'), OLD, `${where}: f0 untouched`);
      assert.equal(fs.statSync(dest).mode & 0o7777, 0o640, `${where}: f0 mode untouched`);
    } else assert.ok(!fs.existsSync(dest), `${where}: f${i} not created`);
  });
}

function checkOutcomes(
  where: string,
  results: readonly WriteFilesOutcome[],
  wants: readonly Want[],
  code: string,
  dests: readonly string[],
): void {
  assert.equal(results.length, wants.length, where);
  results.forEach((result, i) => {
    const want = wants[i];
    assert.ok(want !== undefined);
    assert.equal(result.path, dests[i], where);
    assert.equal(result.status, want.status, `${where}: f${i}`);
    if (result.status === 'failed' && want.status === 'failed') {
      assert.ok(result.error instanceof AtomicFsError, where);
      assert.equal(result.error.code, code, `${where}: f${i} ${result.error.message}`);
      assert.equal(result.error.phase, want.phase, `${where}: f${i} ${result.error.message}`);
      assert.equal(result.error.committed, want.committed, `${where}: f${i}`);
      assert.equal(result.error.path, dests[i], where);
    }
  });
}

const entriesOf = (dests: readonly string[]): [string, string][] =>
  dests.map((dest, i) => [dest, content(i)]);

/** Remove leftovers named by errors (their cleanup was made to fail); return how many. */
function removeLeftovers(where: string, results: readonly WriteFilesOutcome[]): number {
  let count = 0;
  for (const result of results) {
    if (result.status === 'failed' && result.error.leftover !== undefined) {
      assert.ok(fs.existsSync(result.error.leftover), `${where}: leftover exists`);
      fs.unlinkSync(result.error.leftover);
      count += 1;
    }
  }
  return count;
}

let total = 0;
const printed: string[] = [];

describe('fault table: writeFiles', () => {
  for (const stopOnError of [false, true]) {
    test(`step k of file i fails, concurrency 1, stopOnError: ${stopOnError}`, async (t) => {
      const cleanDir = tempDir(t);
      const clean = setup(cleanDir);
      const recorder = instrument(t);
      const cleanResults = await writeFiles(entriesOf(clean.dests), {
        concurrency: 1,
        stopOnError,
      });
      restoreSeam();
      assert.ok(cleanResults.every((result) => result.status === 'written'));
      const expects = classify(recorder.calls, clean.dests);
      const kinds = new Set(expects.map((expect) => expect.kind));
      assert.deepEqual([...kinds].sort(), ['dir', 'ignored', 'prepare', 'reject', 'rename']);

      let cleanupHits = 0;
      for (const [index, expect] of expects.entries()) {
        const cleanup = !['reject', 'dir', 'ignored'].includes(expect.kind);
        for (const mode of failureModes(cleanup)) {
          const { code, cleanupFails } = mode;
          const dir = tempDir(t);
          const { dests } = setup(dir);
          const fds = fileFdCount();
          const rules: FaultRule[] = [{ index, code }];
          const failing = 'file' in expect ? dests[expect.file] : undefined;
          if (cleanupFails) {
            // The failing file's own cleanup fails too (close and unlink of its temp).
            rules.push({
              code: 'EIO',
              when: (call, i) =>
                i > index &&
                (call.name === 'close' || call.name === 'unlink') &&
                owner(call, dests) === dests.indexOf(failing ?? ''),
            });
          }
          const faults = instrument(t, rules);
          const callName = `${recorder.calls[index]?.name ?? '?'} ${recorder.calls[index]?.subject.slice(cleanDir.length) ?? ''}`;
          const where = caseLabel(`stopOnError ${stopOnError}, step ${index} (${callName})`, mode);
          let results: WriteFilesOutcome[] | undefined;
          let error: unknown;
          try {
            results = await writeFiles(entriesOf(dests), { concurrency: 1, stopOnError });
          } catch (caught) {
            error = caught;
          }
          restoreSeam();
          if (cleanupFails && cleanupFailed(faults, index)) cleanupHits += 1;
          const wants = wanted(expect, stopOnError, dests);
          if (expect.kind === 'reject') {
            assert.ok(error instanceof AtomicFsError, `${where}: ${String(error)}`);
            assert.equal(error.code, code, where);
            assert.equal(error.phase, 'resolve', where);
            assert.equal(error.path, dests[expect.file], where);
          } else {
            assert.equal(error, undefined, `${where}: resolves with outcomes`);
            assert.ok(results !== undefined);
            checkOutcomes(where, results, wants, code, dests);
            const leftovers = removeLeftovers(where, results);
            // A temp exists (and its removal "fails") once it was created.
            const hadTemp =
              expect.kind === 'rename' ||
              (expect.kind === 'prepare' && !['resolve', 'create-temp'].includes(expect.phase));
            assert.equal(leftovers, cleanupFails && hadTemp ? 1 : 0, `${where}: leftovers`);
          }
          checkFiles(where, dests, wants);
          assertNoLeaks(where, faults, fds);
          assert.deepEqual(tempsUnder(dir), [], `${where}: temp left`);
          if (code === 'EIO' && !cleanupFails) {
            const shown =
              expect.kind === 'reject'
                ? ['the call rejects, nothing touched']
                : wants.map((want) =>
                    want.status === 'failed'
                      ? want.committed
                        ? 'in place, committed: true'
                        : 'FAILED'
                      : want.status,
                  );
            const step = callName.replace(/\.(f\d)\.afs-[^ ]*\.tmp/, '<temp of $1>');
            printed.push(
              `stopOnError ${String(stopOnError).padEnd(5)} ${step.padEnd(26)} → ${shown.join(', ')}`,
            );
          }
          total += 1;
        }
      }
      assert.ok(cleanupHits > 0, 'the "cleanup fails too" cases must fail a cleanup call');
    });
  }

  for (const stopOnError of [false, true]) {
    test(`a step of file i fails, default concurrency, stopOnError: ${stopOnError}`, async (t) => {
      for (const file of [0, 1, 2]) {
        for (const [name, phase] of [
          ['open', 'create-temp'],
          ['write', 'write'],
          ['fsync', 'fsync'],
          ['close', 'close'],
          ['rename', 'rename'],
        ] as const) {
          const dir = tempDir(t);
          const { dests } = setup(dir);
          const fds = fileFdCount();
          const faults = instrument(t, [
            {
              code: 'EIO',
              when: (call) =>
                call.name === name &&
                parseTempName(basename(call.subject)) !== undefined &&
                owner(call, dests) === file,
            },
          ]);
          const results = await writeFiles(entriesOf(dests), { stopOnError });
          restoreSeam();
          const where = `default concurrency, stopOnError ${stopOnError}, ${name} of f${file}`;
          const expect: Expect =
            name === 'rename' ? { kind: 'rename', file } : { kind: 'prepare', file, phase };
          const wants = wanted(expect, stopOnError, dests);
          checkOutcomes(where, results, wants, 'EIO', dests);
          checkFiles(where, dests, wants);
          assertNoLeaks(where, faults, fds);
          assert.deepEqual(tempsUnder(dir), [], `${where}: temp left`);
          total += 1;
        }
      }
    });
  }

  test('table size', { skip: !isLinux && 'descriptor counting needs /proc' }, () => {
    if (process.env.ATOMIC_FS_PRINT_TABLE === '1') {
      process.stdout.write(`${printed.map((line) => `# ${line}`).join('\n')}\n`);
    }
    process.stdout.write(`# writeFiles fault-table cases run: ${total}\n`);
    assert.ok(total > 200, `only ${total} cases ran`);
  });
});
