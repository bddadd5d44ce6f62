/**
 * The fault table (DESIGN.md §5.1) for the JSON and read-modify-write functions: writeJson,
 * update and updateJson (and their sync twins), and readJson. A clean run is recorded; then
 * every file-system step fails in turn, with several codes, and again with every later
 * cleanup call (close, unlink, unlock) failing too. Each time: the error names the code and
 * the phase (lock, mkdirs, read, create-temp, …), the destination's bytes and mode are
 * untouched (or the new content is in place and `committed` is set, after the rename), no
 * temp file is left, the process's descriptors are the same before and after, none is
 * closed twice — and the lock is free again, in the kernel and in this process.
 *
 * Steps after the commit that release the lock (unlock, close) may fail without failing the
 * call: the new content is durable, and closing the descriptor releases the lock whatever
 * close() reports. The table checks exactly that.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import {
  type Phase,
  readJson,
  readJsonSync,
  update,
  updateJson,
  updateJsonSync,
  updateSync,
  writeJson,
  writeJsonSync,
} from '../../src/index.js';
import { flags, restoreSeam, seam } from '../../src/engine/fs.js';
import { heldLocks } from '../../src/json/lock.js';
import { parseTempName } from '../../src/core/temp-names.js';
import {
  type Recorder,
  type SeamCall,
  instrument,
  isLinux,
  openFdCount,
  realOps,
  tempDir,
} from '../support/helpers.js';
import { assertStepError, caseLabel, cleanupFailed, failureModes, stepFaults } from './table.js';

const OLD_JSON = '{"old":true}\n';
const NEW_VALUE = { new: 'content, longer than the old one', list: [1, 2, 3] };
const NEW_JSON = `${JSON.stringify(NEW_VALUE, null, 2)}\n`;
const OLD_MODE = 0o640;

interface Scenario {
  /** Prepare the directory; return the destination path. */
  setup(dir: string): string;
  /** Extra options for the call (polling needs a deadline). */
  readonly options?: { readonly timeoutMs?: number };
  /** The first tryLock reports the lock busy, as if another process held it a moment. */
  readonly contended?: boolean;
}

function existing(dir: string): string {
  const dest = join(dir, 'config.json');
  fs.writeFileSync(dest, OLD_JSON);
  fs.chmodSync(dest, OLD_MODE);
  return dest;
}

const scenarios: Record<string, Scenario> = {
  existing: { setup: existing },
  'existing, lock file exists': {
    setup(dir) {
      fs.writeFileSync(join(dir, '.config.json.afs-lock'), '');
      return existing(dir);
    },
  },
  new: { setup: (dir) => join(dir, 'config.json') },
  'new, mkdirs': { setup: (dir) => join(dir, 'a', 'b', 'config.json') },
  'contended, kernel wait': { setup: existing, contended: true },
  'contended, polling': { setup: existing, contended: true, options: { timeoutMs: 60_000 } },
};

type Kind = 'write' | 'update' | 'read';

interface Operation {
  readonly kind: Kind;
  readonly run: (dest: string, options: object) => Promise<unknown>;
  readonly scenarios: readonly string[];
}

const sync =
  (run: (dest: string, options: object) => unknown) =>
  (dest: string, options: object): Promise<unknown> =>
    Promise.resolve(run(dest, options));

const ALL = Object.keys(scenarios);

const operations: Record<string, Operation> = {
  writeJson: {
    kind: 'write',
    run: (dest) => writeJson(dest, NEW_VALUE, { mkdirs: true }),
    scenarios: ['existing', 'new', 'new, mkdirs'],
  },
  writeJsonSync: {
    kind: 'write',
    run: sync((dest) => {
      writeJsonSync(dest, NEW_VALUE, { mkdirs: true });
    }),
    scenarios: ['existing', 'new'],
  },
  updateJson: {
    kind: 'update',
    run: (dest, options) => updateJson(dest, () => NEW_VALUE, { mkdirs: true, ...options }),
    scenarios: ALL,
  },
  updateJsonSync: {
    kind: 'update',
    run: sync((dest, options) =>
      updateJsonSync(dest, () => NEW_VALUE, { mkdirs: true, ...options }),
    ),
    scenarios: ALL,
  },
  update: {
    kind: 'update',
    run: (dest, options) => update(dest, () => NEW_JSON, { mkdirs: true, ...options }),
    scenarios: ['existing', 'new', 'contended, polling'],
  },
  updateSync: {
    kind: 'update',
    run: sync((dest, options) => updateSync(dest, () => NEW_JSON, { mkdirs: true, ...options })),
    scenarios: ['existing', 'new', 'contended, kernel wait'],
  },
  readJson: { kind: 'read', run: (dest) => readJson(dest), scenarios: ['existing'] },
  readJsonSync: { kind: 'read', run: sync((dest) => readJsonSync(dest)), scenarios: ['existing'] },
};

type Subject = 'temp' | 'lock' | 'dest' | 'dir' | 'other';

function subjectOf(call: SeamCall, dest: string): Subject {
  const base = call.subject.split('/').at(-1) ?? '';
  if (parseTempName(base) !== undefined) return 'temp';
  if (base.endsWith('.afs-lock')) return 'lock';
  if (call.subject === dest) return 'dest';
  if (dest.startsWith(`${call.subject}/`)) return 'dir';
  return 'other';
}

interface Step {
  readonly index: number;
  readonly label: string;
  /** The phase of the error, or `'release'` for a step whose failure the call absorbs. */
  readonly phase: Phase | 'release';
  readonly committed: boolean;
}

const XATTR_OPS = new Set(['listXattrs', 'getXattr', 'setXattr', 'removeXattr']);

/** The phase each step of a clean run belongs to. */
function phases(kind: Kind, calls: readonly SeamCall[], dest: string): Step[] {
  const steps: Step[] = [];
  let stage: 'resolve' | 'lock' | 'read' | 'write' | 'published' =
    kind === 'read' ? 'read' : 'resolve';
  if (kind === 'write') stage = 'write';
  let tempOpens = 0;
  let pinningSeen = false;
  const tempOpensTotal = calls.filter(
    (call) => subjectOf(call, dest) === 'temp' && call.name === 'open',
  ).length;
  // Where directories are pinned, a write's mkdirs makes them after the directory's open met
  // ENOENT, before its first temp open (see table.ts `tempCreation`).
  const firstTemp = calls.findIndex(
    (call) => subjectOf(call, dest) === 'temp' && call.name === 'open',
  );
  const pinned = calls.findIndex(
    (call, index) => call.name === 'open' && subjectOf(call, dest) === 'dir' && index < firstTemp,
  );
  // Pinning (the directories that exist, one by one) ends where the making begins: its first
  // lstat, of the missing directory.
  const pinOpen = calls.findIndex((call, index) => index > pinned && call.name === 'lstat') - 1;
  // An update's directories are made when its lock file is created, through the directory
  // pinned when the update took its turn (json/lock.ts): phase mkdirs, within the lock stage.
  const madeFirst =
    kind !== 'update' &&
    pinned >= 0 &&
    pinOpen >= 0 &&
    calls.slice(pinOpen, firstTemp).some((call) => call.name === 'mkdir');
  calls.forEach((call, index) => {
    const subject = subjectOf(call, dest);
    const label = `${call.name}:${subject}`;
    if (stage === 'resolve' && (subject === 'lock' || call.name === 'sleep')) stage = 'lock';
    // An update whose directories are missing makes them first thing under its lock, once
    // its turn's pinning (the opens of the directories that exist) met the missing one: its
    // look up the path for the deepest one that exists is the first lstat after that.
    if (stage === 'resolve' && call.name === 'open' && subject === 'dir') pinningSeen = true;
    if (stage === 'resolve' && kind === 'update' && pinningSeen && call.name === 'lstat') {
      stage = 'lock';
    }
    if (stage === 'lock' && subject === 'dest' && call.name === 'open') stage = 'read';
    // The write begins: its directory pinned (open, fstat, stat of the descriptor link), or
    // where it cannot be, the look at the destination.
    const writeBegins = call.name === 'lstat' || (call.name === 'open' && subject === 'dir');
    if (stage === 'read' && kind === 'update' && writeBegins) stage = 'write';
    let phase: Phase | 'release';
    if (stage === 'published') {
      phase = subject === 'lock' ? 'release' : 'fsync-dir';
    } else if (stage === 'lock') {
      phase = call.name === 'mkdir' || subject === 'dir' ? 'mkdirs' : 'lock';
    } else if (stage === 'read') {
      phase = 'read';
    } else if (stage === 'resolve') {
      phase = 'resolve';
    } else if (label === 'close:dest') {
      // The replaced file, opened read-only for its ACL and attributes: a failed close is absorbed.
      phase = 'release';
    } else if (label === 'open:dest' || XATTR_OPS.has(call.name)) {
      phase = 'xattrs';
    } else if (subject === 'temp' && call.name === 'open') {
      tempOpens += 1;
      phase = 'create-temp';
    } else if (
      (tempOpens === 1 && tempOpensTotal === 2) ||
      (madeFirst && index > pinOpen && index < firstTemp)
    ) {
      phase = 'mkdirs';
    } else if (call.name === 'write') {
      phase = 'write';
    } else if (label === 'fstat:dir' || label === 'stat:dir') {
      // Pinning the directory when the write's turn begins.
      phase = 'resolve';
    } else if (call.name === 'fstat' || call.name === 'fchmod') {
      phase = 'chmod';
    } else if (call.name === 'fchown') {
      phase = 'chown';
    } else if (label === 'fsync:temp') {
      phase = 'fsync';
    } else if (label === 'close:temp') {
      phase = 'close';
    } else if (call.name === 'rename') {
      phase = 'rename';
    } else {
      phase = 'resolve';
    }
    steps.push({ index, label, phase, committed: stage === 'published' });
    if (call.name === 'rename') stage = 'published';
  });
  if (kind !== 'read') assert.equal(stage, 'published', 'the clean run must publish');
  return steps;
}

function snapshot(dest: string): { bytes: Buffer; mode: number } | undefined {
  try {
    return { bytes: fs.readFileSync(dest), mode: fs.statSync(dest).mode & 0o7777 };
  } catch {
    return undefined;
  }
}

/** Make the first tryLock of a run report "busy" (another holder let go a moment later). */
function contend(t: TestContext): void {
  let first = true;
  const realSync = seam.sync.tryLock;
  const realAsync = seam.async.tryLock;
  seam.sync.tryLock = (fd) => {
    if (first) {
      first = false;
      return false;
    }
    return realSync(fd);
  };
  seam.async.tryLock = (fd) => {
    if (first) {
      first = false;
      return Promise.resolve(false);
    }
    return realAsync(fd);
  };
  t.after(restoreSeam);
}

/** True when nobody holds the lock file (probed with a descriptor of our own). */
function lockIsFree(dir: string): boolean {
  const sidecars = fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('.afs-lock'));
  return sidecars.every((name) => {
    const fd = realOps.open(join(dir, name), flags.lockFile, 0);
    try {
      const free = realOps.tryLock(fd);
      if (free) realOps.unlock(fd);
      return free;
    } finally {
      realOps.close(fd);
    }
  });
}

function tempsIn(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => parseTempName(name.split('/').at(-1) ?? '') !== undefined);
}

async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function assertClean(where: string, recorder: Recorder, fdsBefore: number | undefined): void {
  assert.deepEqual(recorder.doubleCloses, [], `${where}: a descriptor was closed twice`);
  assert.deepEqual([...recorder.open.values()], [], `${where}: descriptors left open`);
  if (fdsBefore !== undefined) assert.equal(openFdCount(), fdsBefore, `${where}: descriptor count`);
}

let cases = 0;
const casesByOperation = new Map<string, number>();

for (const [opName, operation] of Object.entries(operations)) {
  describe(`fault table: ${opName}`, () => {
    for (const scenarioName of operation.scenarios) {
      const scenario = scenarios[scenarioName];
      assert.ok(scenario !== undefined, scenarioName);
      const options = scenario.options ?? {};
      test(`${scenarioName} destination`, async (t) => {
        const cleanDir = tempDir(t);
        const cleanDest = scenario.setup(cleanDir);
        if (scenario.contended === true) contend(t);
        const recorder = instrument(t);
        await operation.run(cleanDest, options);
        restoreSeam();
        if (operation.kind !== 'read') assert.equal(fs.readFileSync(cleanDest, 'utf8'), NEW_JSON);
        const steps = phases(operation.kind, recorder.calls, cleanDest);
        if (scenario.contended === true) {
          const waits = recorder.calls.filter(
            (c) => c.name === 'waitForLock' || c.name === 'sleep',
          );
          assert.ok(waits.length > 0, 'the contended run must wait');
        }

        let cleanupHits = 0;
        for (const step of steps) {
          for (const mode of failureModes(!step.committed && step.phase !== 'release')) {
            const { code, cleanupFails } = mode;
            const dir = tempDir(t);
            const dest = scenario.setup(dir);
            const before = snapshot(dest);
            const fdsBefore = openFdCount();
            if (scenario.contended === true) contend(t);
            const faults = instrument(
              t,
              stepFaults(step.index, mode, ['unlink', 'close', 'unlock']),
            );
            const error = await outcome(() => operation.run(dest, options));
            restoreSeam();
            if (cleanupFails && cleanupFailed(faults, step.index)) cleanupHits += 1;
            const where = caseLabel(
              `${opName}, ${scenarioName}, step ${step.index} ${step.label}`,
              mode,
            );
            if (step.phase === 'release') {
              assert.equal(error, undefined, `${where}: a failed release must not fail the call`);
              assert.equal(fs.readFileSync(dest, 'utf8'), NEW_JSON, where);
            } else {
              assertStepError(
                error,
                { code, phase: step.phase, committed: step.committed, path: dest },
                where,
              );
              if (step.committed) {
                assert.equal(fs.readFileSync(dest, 'utf8'), NEW_JSON, `${where}: new content`);
              } else {
                assert.deepEqual(snapshot(dest), before, `${where}: destination untouched`);
              }
              if (error.leftover !== undefined) {
                assert.ok(cleanupFails, `${where}: leftover without a failed cleanup`);
                assert.ok(fs.existsSync(error.leftover), where);
                fs.unlinkSync(error.leftover);
              }
            }
            assertClean(where, faults, fdsBefore);
            assert.deepEqual(tempsIn(dir), [], `${where}: temp left`);
            assert.ok(lockIsFree(dir), `${where}: the lock is still held`);
            assert.deepEqual(heldLocks(), [], `${where}: held in this process`);
            cases += 1;
            casesByOperation.set(opName, (casesByOperation.get(opName) ?? 0) + 1);
          }
        }
        assert.ok(cleanupHits > 0, 'the "cleanup fails too" cases must fail a cleanup call');
      });
    }
  });
}

test('fault table size', { skip: !isLinux && 'descriptor counting needs /proc' }, () => {
  const detail = [...casesByOperation].map(([name, count]) => `${name} ${count}`).join(', ');
  process.stdout.write(`# json/update fault-table cases run: ${cases} (${detail})\n`);
  assert.ok(cases > 1000, `only ${cases} cases ran`);
});
