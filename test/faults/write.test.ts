/**
 * The fault table (DESIGN.md §5.1): for each public write path, every file-system step fails
 * in turn, with several codes, and each time the guarantees of a failed call hold: the
 * error names the code and the phase, the destination's bytes and mode are untouched (or,
 * for a failure after the rename, the new content is in place and `committed` is set), no
 * temp file is left, and the descriptors open before and after are the same — none leaked,
 * none closed twice.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { type TestContext, describe, test } from 'node:test';
import {
  type Phase,
  openAtomic,
  openAtomicSync,
  writeFile,
  writeFileSync,
} from '../../src/index.js';
import { restoreSeam } from '../../src/engine/fs.js';
import { parseTempName } from '../../src/core/temp-names.js';
import {
  type Recorder,
  type SeamCall,
  instrument,
  isLinux,
  isRoot,
  list,
  needs,
  openFdCount,
  temps,
  tempDir,
} from '../support/helpers.js';
import {
  assertStepError,
  caseLabel,
  cleanupFailed,
  failureModes,
  stepFaults,
  tempCreation,
  tempsUnder,
} from './table.js';

const OLD = Buffer.from('old content\n');
const NEW = Buffer.from('new content, longer than the old one\n'.repeat(3));
const OLD_MODE = 0o640;

interface Scenario {
  /** Prepare the directory; return the destination path. */
  setup(dir: string): string;
  /** True when the destination exists before the call. */
  readonly existing: boolean;
  /** Needs root (chown, chgrp) and setfacl. */
  readonly root?: boolean;
}

/** Group and other bits of the destination's POSIX ACL, as getfacl prints it. */
function aclOf(path: string): string {
  return execFileSync('getfacl', ['-cp', path], { encoding: 'utf8' });
}

/** The existing destination, 0640 (root's when root runs the tests). */
function existing(dir: string): string {
  const dest = join(dir, 'file.txt');
  fs.writeFileSync(dest, OLD, { mode: OLD_MODE });
  fs.chmodSync(dest, OLD_MODE);
  return dest;
}

const scenarios: Record<string, Scenario> = {
  existing: { existing: true, setup: existing },
  // The temp is created owner-only, then fchown, fchmod: before the first byte.
  'existing, owned by another user': {
    existing: true,
    root: true,
    setup(dir) {
      const dest = existing(dir);
      fs.chownSync(dest, NOBODY, NOBODY);
      return dest;
    },
  },
  // The temp comes out of its creation with the directory's group: dropped, made again.
  'existing, set-group-ID directory': {
    existing: true,
    root: true,
    setup(dir) {
      fs.chownSync(dir, 0, NOBODY);
      fs.chmodSync(dir, 0o2775);
      const dest = existing(dir);
      fs.chownSync(dest, 0, 0);
      return dest;
    },
  },
  // An ACL to keep: the owner-only way, with the ACL set before the mode.
  'existing, POSIX ACL': {
    existing: true,
    root: true,
    setup(dir) {
      const dest = existing(dir);
      execFileSync('setfacl', ['-m', 'u:nobody:rw', dest]);
      return dest;
    },
  },
  new: {
    existing: false,
    setup(dir) {
      return join(dir, 'file.txt');
    },
  },
  'new, mkdirs': {
    existing: false,
    setup(dir) {
      return join(dir, 'a', 'b', 'file.txt');
    },
  },
};

type Run = (dest: string) => Promise<void>;

const NOBODY = 65534;
const OWNERSHIP = [
  'existing, owned by another user',
  'existing, set-group-ID directory',
  'existing, POSIX ACL',
];

const operations: Record<string, { run: Run; scenarios: string[] }> = {
  writeFile: {
    run: (dest) => writeFile(dest, NEW, { mkdirs: true }),
    scenarios: ['existing', 'new', 'new, mkdirs', ...OWNERSHIP],
  },
  'writeFile (stream)': {
    run: (dest) =>
      writeFile(dest, Readable.from([NEW.subarray(0, 20), NEW.subarray(20)]), { mkdirs: true }),
    scenarios: ['existing', 'new'],
  },
  'writeFile (create-only)': {
    run: (dest) => writeFile(dest, NEW, { overwrite: false }),
    scenarios: ['new'],
  },
  writeFileSync: {
    run: (dest) => {
      writeFileSync(dest, NEW, { mkdirs: true });
      return Promise.resolve();
    },
    scenarios: ['existing', 'new', 'new, mkdirs', ...OWNERSHIP],
  },
  'openAtomic + commit': {
    run: async (dest) => {
      const file = await openAtomic(dest);
      try {
        await file.write(NEW.subarray(0, 20));
        await file.write(NEW.subarray(20));
        await file.commit();
      } finally {
        await file.discard();
      }
    },
    scenarios: ['existing', 'new', ...OWNERSHIP],
  },
  'openAtomicSync + commit': {
    run: (dest) => {
      const file = openAtomicSync(dest);
      try {
        file.write(NEW.subarray(0, 20));
        file.write(NEW.subarray(20));
        file.commit();
      } finally {
        file.discard();
      }
      return Promise.resolve();
    },
    scenarios: ['existing', 'new'],
  },
};

/** What a recorded call was, in words the table can expect phases for. */
function label(call: SeamCall, dest: string): string {
  const base = call.subject.split('/').at(-1) ?? '';
  let kind = 'other';
  if (parseTempName(base) !== undefined) kind = 'temp';
  else if (call.subject === dest) kind = 'dest';
  else if (dest.startsWith(`${call.subject}/`)) kind = 'dir';
  return `${call.name}:${kind}`;
}

interface Step {
  readonly index: number;
  readonly label: string;
  /** `undefined`: a failure there is ignored (closing the replaced file's read-only descriptor). */
  readonly phase: Phase | undefined;
  readonly committed: boolean;
}

const XATTR_OPS = new Set(['listXattrs', 'getXattr', 'setXattr', 'removeXattr']);

/** The phase each step of a clean run belongs to. */
function phases(calls: readonly SeamCall[], dest: string): Step[] {
  const steps: Step[] = [];
  // A temp dropped before its first byte (see `tempCreation`) is made again: its close is
  // ignored, its unlink is part of creating the temp.
  const creation = tempCreation(
    calls,
    (call) => label(call, dest) === 'open:temp',
    (call) => label(call, dest) === 'unlink:temp',
  );
  let published = false;
  let phase: Phase = 'resolve';
  calls.forEach((call, index) => {
    const name = label(call, dest);
    if (creation.dropped(index) && (name === 'close:temp' || name === 'unlink:temp')) {
      const phase = name === 'close:temp' ? undefined : 'create-temp';
      steps.push({ index, label: `${name} (dropped)`, phase, committed: false });
      return;
    }
    if (!published && name === 'close:dest') {
      // The replaced file was opened read-only to read its ACL and attributes.
      steps.push({ index, label: name, phase: undefined, committed: false });
      return;
    }
    if (!published && (name === 'open:dest' || XATTR_OPS.has(call.name))) {
      steps.push({ index, label: name, phase: 'xattrs', committed: false });
      return;
    }
    if (published) {
      phase = call.name === 'unlink' ? 'unlink-temp' : 'fsync-dir';
    } else if (name === 'open:temp') {
      phase = 'create-temp';
    } else if (creation.mkdirs(index)) {
      // Between a first open that met ENOENT and the retry: making the parents.
      phase = 'mkdirs';
    } else if (call.name === 'write') {
      phase = 'write';
    } else if (name === 'fstat:dir' || name === 'stat:dir') {
      // Pinning the directory when the write's turn begins: its identity, and its descriptor
      // link (`/proc/self/fd/<fd>`).
      phase = 'resolve';
    } else if (call.name === 'fstat' || call.name === 'fchmod') {
      phase = 'chmod';
    } else if (call.name === 'fchown') {
      phase = 'chown';
    } else if (name === 'fsync:temp') {
      phase = 'fsync';
    } else if (name === 'close:temp') {
      phase = 'close';
    } else if (call.name === 'rename') {
      phase = 'rename';
    } else if (call.name === 'link') {
      phase = 'link';
    } else if (name === 'lstat:dest') {
      // Resolving, or a handle looking at the destination again when it commits.
      phase = 'resolve';
    }
    steps.push({ index, label: name, phase, committed: published });
    if (call.name === 'rename' || call.name === 'link') published = true;
  });
  assert.ok(published, 'the clean run must publish');
  return steps;
}

function snapshot(dest: string): { bytes: Buffer; mode: number } | undefined {
  try {
    return { bytes: fs.readFileSync(dest), mode: fs.statSync(dest).mode & 0o7777 };
  } catch {
    return undefined;
  }
}

async function failure(run: Run, dest: string): Promise<unknown> {
  try {
    await run(dest);
  } catch (error) {
    return error;
  }
  return assert.fail('the call succeeded although a step failed');
}

function assertClean(t: TestContext, recorder: Recorder, fdsBefore: number | undefined): void {
  assert.deepEqual(recorder.doubleCloses, [], `${t.name}: a descriptor was closed twice`);
  assert.deepEqual([...recorder.open.values()], [], `${t.name}: descriptors left open`);
  if (fdsBefore !== undefined) assert.equal(openFdCount(), fdsBefore, 'open descriptor count');
}

let cases = 0;

for (const [opName, operation] of Object.entries(operations)) {
  describe(`fault table: ${opName}`, () => {
    for (const scenarioName of operation.scenarios) {
      const scenario = scenarios[scenarioName];
      assert.ok(scenario !== undefined);
      test(`${scenarioName} destination`, async (t) => {
        if (scenario.root === true && !needs(t, isRoot && isLinux, 'chown and setfacl need root')) {
          return;
        }
        // A clean run, recorded, gives the list of steps.
        const cleanDir = tempDir(t);
        const cleanDest = scenario.setup(cleanDir);
        const owner = scenario.existing ? fs.statSync(cleanDest) : undefined;
        const acl = scenario.root === true ? aclOf(cleanDest) : undefined;
        const recorder = instrument(t);
        await operation.run(cleanDest);
        restoreSeam();
        assert.deepEqual(fs.readFileSync(cleanDest), NEW);
        if (owner !== undefined) {
          const after = fs.statSync(cleanDest);
          assert.deepEqual([after.uid, after.gid, after.mode], [owner.uid, owner.gid, owner.mode]);
        }
        if (acl !== undefined) assert.equal(aclOf(cleanDest), acl, 'the ACL is kept');
        if (scenarioName.includes('set-group-ID')) {
          // The directory's group is not the file's: a temp created with group bits is
          // dropped before its first byte; a temp opened ahead of its commit is owner-only.
          const opens = recorder.calls.filter((call) => label(call, cleanDest) === 'open:temp');
          assert.ok(
            recorder.calls.some((call) => call.name === 'unlink') ||
              opens.every((call) => (Number(call.args[2]) & 0o077) === 0),
            'the temp was dropped, or created owner-only',
          );
        }
        if (scenario.root === true) {
          const names = recorder.calls.map((call) => call.name);
          assert.ok(names.indexOf('fchown') < names.indexOf('write'), 'owner before the data');
        }
        const steps = phases(recorder.calls, cleanDest);

        let cleanupHits = 0;
        for (const step of steps) {
          const { phase } = step;
          for (const mode of failureModes(!step.committed && phase !== undefined)) {
            const { code, cleanupFails } = mode;
            const dir = tempDir(t);
            const dest = scenario.setup(dir);
            const before = snapshot(dest);
            const entriesBefore = fs.readdirSync(dir).sort();
            const fdsBefore = openFdCount();
            const faults = instrument(t, stepFaults(step.index, mode));
            const where = caseLabel(
              `${opName}, ${scenarioName}, step ${step.index} ${step.label}`,
              mode,
            );
            if (phase === undefined) {
              // Ignored: the write succeeds all the same.
              await operation.run(dest);
              restoreSeam();
              assert.deepEqual(fs.readFileSync(dest), NEW, `${where}: must be ignored`);
              assertClean(t, faults, fdsBefore);
              assert.deepEqual(temps(dir), [], `${where}: temp left`);
              cases += 1;
              continue;
            }
            const error = await failure(operation.run, dest);
            restoreSeam();
            if (cleanupFails && cleanupFailed(faults, step.index)) cleanupHits += 1;
            assertStepError(error, { code, phase, committed: step.committed, path: dest }, where);
            if (step.committed) {
              assert.deepEqual(fs.readFileSync(dest), NEW, `${where}: new content in place`);
            } else {
              assert.deepEqual(snapshot(dest), before, `${where}: destination untouched`);
            }
            assertClean(t, faults, fdsBefore);
            if (error.leftover !== undefined) {
              // The temp file could not be removed (the cleanup failed, or the temp name
              // of a create-only write could not be dropped): the error says where it is.
              assert.ok(
                cleanupFails || phase === 'unlink-temp' || step.label === 'unlink:temp (dropped)',
                where,
              );
              assert.ok(fs.existsSync(error.leftover), where);
              fs.unlinkSync(error.leftover);
            }
            if (cleanupFails) {
              // Directories made by mkdirs may remain when their removal "failed"; never a temp.
              assert.deepEqual(tempsUnder(dir), [], `${where}: temp left`);
            } else {
              const top = relative(dir, dest).split(sep)[0] ?? '';
              const expected = step.committed ? [...entriesBefore, top] : entriesBefore;
              assert.deepEqual(list(dir), [...new Set(expected)].sort(), `${where}: listing`);
              assert.deepEqual(temps(dir), [], `${where}: temp left`);
            }
            cases += 1;
          }
        }
        assert.ok(cleanupHits > 0, 'the "cleanup fails too" cases must fail a cleanup call');
      });
    }
  });
}

test('fault table size', { skip: !isLinux && 'descriptor counting needs /proc' }, () => {
  process.stdout.write(`# core fault-table cases run: ${cases}\n`);
  assert.ok(cases > 300, `only ${cases} cases ran`);
});
