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
import { restoreSeam } from '../../src/fs.js';
import { parseTempName } from '../../src/temp.js';
import {
  type Recorder,
  type SeamCall,
  instrument,
  isLinux,
  list,
  openFdCount,
  temps,
  tempDir,
} from '../helpers.js';
import {
  assertStepError,
  caseLabel,
  cleanupFailed,
  failureModes,
  stepFaults,
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
}

const scenarios: Record<string, Scenario> = {
  existing: {
    existing: true,
    setup(dir) {
      const dest = join(dir, 'file.txt');
      fs.writeFileSync(dest, OLD, { mode: OLD_MODE });
      fs.chmodSync(dest, OLD_MODE);
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

const operations: Record<string, { run: Run; scenarios: string[] }> = {
  writeFile: {
    run: (dest) => writeFile(dest, NEW, { mkdirs: true }),
    scenarios: ['existing', 'new', 'new, mkdirs'],
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
    scenarios: ['existing', 'new', 'new, mkdirs'],
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
    scenarios: ['existing', 'new'],
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
  readonly phase: Phase;
  readonly committed: boolean;
}

/** The phase each step of a clean run belongs to. */
function phases(calls: readonly SeamCall[], dest: string): Step[] {
  const steps: Step[] = [];
  const tempOpens = calls.filter((call) => label(call, dest) === 'open:temp').length;
  let opens = 0;
  let published = false;
  let phase: Phase = 'resolve';
  calls.forEach((call, index) => {
    const name = label(call, dest);
    if (published) {
      phase = call.name === 'unlink' ? 'unlink-temp' : 'fsync-dir';
    } else if (name === 'open:temp') {
      phase = 'create-temp';
      opens += 1;
    } else if (opens === 1 && tempOpens === 2) {
      // Between a first open that met ENOENT and the retry: making the parents.
      phase = 'mkdirs';
    } else if (call.name === 'write') {
      phase = 'write';
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
        // A clean run, recorded, gives the list of steps.
        const cleanDir = tempDir(t);
        const cleanDest = scenario.setup(cleanDir);
        const recorder = instrument(t);
        await operation.run(cleanDest);
        restoreSeam();
        assert.deepEqual(fs.readFileSync(cleanDest), NEW);
        const steps = phases(recorder.calls, cleanDest);

        let cleanupHits = 0;
        for (const step of steps) {
          for (const mode of failureModes(!step.committed)) {
            const { code, cleanupFails } = mode;
            const dir = tempDir(t);
            const dest = scenario.setup(dir);
            const before = snapshot(dest);
            const entriesBefore = fs.readdirSync(dir).sort();
            const fdsBefore = openFdCount();
            const faults = instrument(t, stepFaults(step.index, mode));
            const error = await failure(operation.run, dest);
            restoreSeam();
            if (cleanupFails && cleanupFailed(faults, step.index)) cleanupHits += 1;
            const where = caseLabel(
              `${opName}, ${scenarioName}, step ${step.index} ${step.label}`,
              mode,
            );
            assertStepError(
              error,
              { code, phase: step.phase, committed: step.committed, path: dest },
              where,
            );
            if (step.committed) {
              assert.deepEqual(fs.readFileSync(dest), NEW, `${where}: new content in place`);
            } else {
              assert.deepEqual(snapshot(dest), before, `${where}: destination untouched`);
            }
            assertClean(t, faults, fdsBefore);
            if (error.leftover !== undefined) {
              // The temp file could not be removed (the cleanup failed, or the temp name
              // of a create-only write could not be dropped): the error says where it is.
              assert.ok(cleanupFails || step.phase === 'unlink-temp', where);
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
