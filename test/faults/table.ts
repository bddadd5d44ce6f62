/**
 * The fault-table loop shared by the toolkit's tables (copyFile, download): record a clean
 * run's seam calls, then fail each call in turn with several codes — and again with every
 * later cleanup call (unlink, close) failing too — and check the guarantees of a failed call:
 * the error's code, phase, path and `committed`; the destination's bytes and mode untouched
 * (or the new content in place after the publish); no temp file left anywhere under the test
 * directory; no descriptor leaked or closed twice.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { relative, sep } from 'node:path';
import type { TestContext } from 'node:test';
import { AtomicFsError, type Phase } from '../../src/index.js';
import { restoreSeam } from '../../src/engine/fs.js';
import { parseTempName } from '../../src/core/temp-names.js';
import {
  type FaultRule,
  type Recorder,
  type SeamCall,
  instrument,
  isRuntimeFd,
  list,
  openFdCount,
  tempDir,
} from '../support/helpers.js';

const CODES = ['EIO', 'ENOSPC', 'EMFILE'];

/** One way a step is failed: with `code`, and perhaps with the cleanup failing too. */
export interface FailureMode {
  readonly code: string;
  readonly cleanupFails: boolean;
}

/**
 * The ways each step is failed: with every code, and with EIO again while every later cleanup
 * call fails too — when `cleanup` (not for a step after the commit, nor one whose failure is
 * ignored: there is nothing to clean up).
 */
export function failureModes(cleanup: boolean): readonly FailureMode[] {
  return CODES.flatMap((code) => [
    { code, cleanupFails: false },
    ...(cleanup && code === 'EIO' ? [{ code, cleanupFails: true }] : []),
  ]);
}

/**
 * The faults of one case: the call at `index` fails with the mode's code; when the cleanup
 * fails too, so does every later call named in `cleanupCalls` (with EIO).
 */
export function stepFaults(
  index: number,
  { code, cleanupFails }: FailureMode,
  cleanupCalls: readonly string[] = ['unlink', 'close'],
): FaultRule[] {
  const rules: FaultRule[] = [{ index, code }];
  if (cleanupFails) {
    rules.push({ code: 'EIO', when: (call, i) => i > index && cleanupCalls.includes(call.name) });
  }
  return rules;
}

/**
 * Whether a cleanup call after the call at `index` was failed: a table counts these, so that
 * its "cleanup fails too" cases cannot quietly stop failing anything.
 */
export function cleanupFailed(recorder: Recorder, index: number): boolean {
  return recorder.injected.some((i) => i > index);
}

/** The error a failed step must give: the injected code, the step's phase, `committed`, path. */
export function assertStepError(
  error: unknown,
  expected: {
    code: string;
    phase: Phase | undefined;
    committed: boolean;
    path: string | undefined;
  },
  where: string,
): asserts error is AtomicFsError {
  assert.ok(error instanceof AtomicFsError, `${where}: ${String(error)}`);
  assert.equal(error.code, expected.code, `${where}: ${error.message}`);
  assert.equal(error.phase, expected.phase, `${where}: ${error.message}`);
  assert.equal(error.committed, expected.committed, `${where}: ${error.message}`);
  assert.equal(error.path, expected.path, `${where}: ${error.message}`);
}

/** How a case is named in assertion messages. */
export function caseLabel(prefix: string, { code, cleanupFails }: FailureMode): string {
  return `${prefix}, ${code}${cleanupFails ? ', cleanup fails too' : ''}`;
}

/**
 * How a clean run created its temp file, read off its calls (`isTempOpen`: an open of a temp
 * name). With `mkdirs`, where directories are pinned, the first open (of the directory, to pin
 * it) met ENOENT and the calls until the first temp open made the parents; elsewhere the
 * first temp open met ENOENT and the calls until the next one made them. A temp closed and
 * unlinked before the next open was dropped before its first byte: the probe of the mode a
 * new file gets (a temp opened ahead of its commit), or a temp that came out of its creation
 * with the wrong group.
 */
export function tempCreation(
  calls: readonly SeamCall[],
  isTempOpen: (call: SeamCall) => boolean,
  isTempUnlink: (call: SeamCall) => boolean,
): { readonly mkdirs: (index: number) => boolean; readonly dropped: (index: number) => boolean } {
  const opens = calls.flatMap((call, index) => (isTempOpen(call) ? [index] : []));
  const ranges = (from: number): [number, number][] =>
    opens.slice(from, -1).map((open, k): [number, number] => [open, opens[from + k + 1] ?? open]);
  const firstTemp = opens[0] ?? calls.length;
  const madeFirst = calls.slice(0, firstTemp).some((call) => call.name === 'mkdir');
  // Pinning (the first open; the directories that exist, one by one) ends where the making
  // begins: its first lstat, of the missing directory.
  const pinned = calls.findIndex((call) => call.name === 'open');
  const pin = calls.findIndex((call, index) => index > pinned && call.name === 'lstat') - 1;
  const madeParents =
    !madeFirst && calls.some((call) => call.name === 'mkdir') && opens.length >= 2;
  const mkdirsRange: [number, number] | undefined = madeFirst
    ? [pin, firstTemp]
    : madeParents
      ? ranges(0)[0]
      : undefined;
  const droppedRanges = ranges(madeParents ? 1 : 0).filter(([open, next]) =>
    calls.slice(open + 1, next).some(isTempUnlink),
  );
  const inside = (range: [number, number] | undefined, index: number): boolean =>
    range !== undefined && index > range[0] && index < range[1];
  return {
    mkdirs: (index) => inside(mkdirsRange, index),
    dropped: (index) => droppedRanges.some((range) => inside(range, index)),
  };
}

/** What failing one recorded call must do. */
export interface Expected {
  /** The phase of the error; `undefined`: the failure is ignored and the call succeeds. */
  readonly phase: Phase | undefined;
  /** The error's `path`: the destination, or the source for source steps. */
  readonly path: 'dest' | 'src';
  readonly committed: boolean;
}

export interface TableCase {
  /** Prepare a fresh directory; return the destination (and anything the run needs). */
  readonly setup: (dir: string) => { dest: string; src?: string };
  readonly run: (dest: string, src: string | undefined) => Promise<void>;
  /** The bytes the destination holds after a successful run. */
  readonly expected: Buffer;
  /** Checks on the clean run's calls (e.g. which way the data went). */
  readonly clean?: (calls: readonly SeamCall[]) => void;
  /** The expected outcome of failing each call of a clean run. */
  readonly steps: (calls: readonly SeamCall[], dest: string, src: string | undefined) => Expected[];
}

function snapshot(path: string): { bytes: Buffer; mode: number } | undefined {
  try {
    return { bytes: fs.readFileSync(path), mode: fs.statSync(path).mode & 0o7777 };
  } catch {
    return undefined;
  }
}

/** Temp files anywhere under `dir`. */
export function tempsUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => parseTempName(name.split(sep).at(-1) ?? '') !== undefined);
}

/** Descriptors of this process that are files (sockets and pipes of HTTP clients excluded). */
export function fileFdCount(): number | undefined {
  if (openFdCount() === undefined) return undefined;
  let count = 0;
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${name}`).startsWith('/') && !isRuntimeFd(name)) {
        count += 1;
      }
    } catch {
      // the directory's own descriptor
    }
  }
  return count;
}

/** Descriptors of this process open on anything under `dir` (deleted files included). */
export function fdsUnder(dir: string): string[] {
  const open: string[] = [];
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${name}`);
      if (target.startsWith(`${dir}/`)) open.push(target);
    } catch {
      // the directory's own descriptor
    }
  }
  return open;
}

export function assertNoLeaks(
  where: string,
  recorder: Recorder,
  fdsBefore: number | undefined,
): void {
  assert.deepEqual(recorder.doubleCloses, [], `${where}: a descriptor was closed twice`);
  assert.deepEqual([...recorder.open.values()], [], `${where}: descriptors left open`);
  if (fdsBefore !== undefined) assert.equal(fileFdCount(), fdsBefore, `${where}: open descriptors`);
}

/** Run the whole table for one case; returns the number of failure cases checked. */
export async function runTable(t: TestContext, name: string, table: TableCase): Promise<number> {
  const cleanDir = tempDir(t);
  const clean = table.setup(cleanDir);
  const recorder = instrument(t);
  await table.run(clean.dest, clean.src);
  restoreSeam();
  assert.deepEqual(fs.readFileSync(clean.dest), table.expected, `${name}: clean run`);
  table.clean?.(recorder.calls);
  const steps = table.steps(recorder.calls, clean.dest, clean.src);
  assert.equal(steps.length, recorder.calls.length);
  assert.ok(
    steps.some((step) => step.committed),
    `${name}: the clean run must publish`,
  );
  let cases = 0;
  let cleanupHits = 0;
  for (const [index, step] of steps.entries()) {
    for (const mode of failureModes(!step.committed && step.phase !== undefined)) {
      const { code, cleanupFails } = mode;
      const dir = tempDir(t);
      const { dest, src } = table.setup(dir);
      const before = snapshot(dest);
      const srcBefore = src === undefined ? undefined : snapshot(src);
      const entriesBefore = list(dir);
      const fdsBefore = fileFdCount();
      const faults = instrument(t, stepFaults(index, mode));
      const callLabel = `${recorder.calls[index]?.name ?? '?'} ${recorder.calls[index]?.subject ?? ''}`;
      const where = caseLabel(`${name}, step ${index} (${callLabel})`, mode);
      let error: unknown;
      try {
        await table.run(dest, src);
      } catch (caught) {
        error = caught;
      }
      restoreSeam();
      if (cleanupFails && cleanupFailed(faults, index)) cleanupHits += 1;
      if (step.phase === undefined) {
        assert.equal(error, undefined, `${where}: this failure must be ignored`);
        assert.deepEqual(fs.readFileSync(dest), table.expected, where);
      } else {
        assertStepError(
          error,
          {
            code,
            phase: step.phase,
            committed: step.committed,
            path: step.path === 'src' ? src : dest,
          },
          where,
        );
        if (step.committed) {
          assert.deepEqual(fs.readFileSync(dest), table.expected, `${where}: new content`);
        } else {
          assert.deepEqual(snapshot(dest), before, `${where}: destination untouched`);
        }
        if (error.leftover !== undefined) {
          // Left by a failed cleanup, or by the failed unlink itself (of a temp dropped
          // before its first byte too).
          const unlinkFailed = recorder.calls[index]?.name === 'unlink';
          assert.ok(cleanupFails || step.phase === 'unlink-temp' || unlinkFailed, where);
          assert.ok(fs.existsSync(error.leftover), `${where}: leftover exists`);
          fs.unlinkSync(error.leftover);
        }
      }
      if (src !== undefined) assert.deepEqual(snapshot(src), srcBefore, `${where}: source`);
      assertNoLeaks(where, faults, fdsBefore);
      assert.deepEqual(tempsUnder(dir), [], `${where}: temp left`);
      // Directories made by mkdirs stay around a temp that could not be removed.
      const leftover = error instanceof AtomicFsError && error.leftover !== undefined;
      if (!cleanupFails && !leftover) {
        const top = relative(dir, dest).split(sep)[0] ?? '';
        const published = step.phase === undefined || step.committed;
        const expected = published ? [...entriesBefore, top] : entriesBefore;
        assert.deepEqual(list(dir), [...new Set(expected)].sort(), `${where}: listing`);
      }
      cases += 1;
    }
  }
  assert.ok(cleanupHits > 0, 'the "cleanup fails too" cases must fail a cleanup call');
  return cases;
}
