/**
 * The replaceSymlink fault table: every file-system step of a clean switch fails in turn
 * with EIO, ENOSPC and EMFILE, and again with the cleanup failing too. Each time: the error
 * names the code and the phase; before the rename the link (or file, or directory) at the
 * path is as it was, after it the new link is in place with `committed` set; no temp link is
 * left (or the error names it); descriptors are the same before and after.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join, relative, sep } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { type Phase, replaceSymlink } from '../../src/index.js';
import { parseTempName } from '../../src/core/temp-names.js';
import {
  type Recorder,
  type SeamCall,
  instrument,
  isLinux,
  openFdCount,
  tempDir,
} from '../support/helpers.js';
import { assertStepError, caseLabel, cleanupFailed, failureModes, stepFaults } from './table.js';

interface Scenario {
  /** Prepare the directory; return the link path. */
  setup(dir: string): string;
  run(link: string): Promise<void>;
  readonly win32?: boolean;
  /** The old entry is a directory: published only once it is removed. */
  readonly directory?: boolean;
}

function releases(dir: string): void {
  for (const name of ['old', 'new']) {
    fs.mkdirSync(join(dir, 'releases', name), { recursive: true });
    fs.writeFileSync(join(dir, 'releases', name, 'id'), name);
  }
}

const existingLink = (dir: string): string => {
  releases(dir);
  const link = join(dir, 'current');
  fs.symlinkSync('releases/old', link);
  return link;
};

const scenarios: Record<string, Scenario> = {
  'existing link': {
    setup: existingLink,
    run: (link) => replaceSymlink('releases/new', link),
  },
  'new link': {
    setup: (dir) => {
      releases(dir);
      return join(dir, 'current');
    },
    run: (link) => replaceSymlink('releases/new', link),
  },
  'new link, mkdirs': {
    setup: (dir) => {
      releases(dir);
      return join(dir, 'a', 'b', 'current');
    },
    run: (link) => replaceSymlink('../../releases/new', link, { mkdirs: true }),
  },
  'a file, force': {
    setup: (dir) => {
      releases(dir);
      const link = join(dir, 'current');
      fs.writeFileSync(link, 'a plain file');
      return link;
    },
    run: (link) => replaceSymlink('releases/new', link, { force: true }),
  },
  'an empty directory, force': {
    setup: (dir) => {
      releases(dir);
      const link = join(dir, 'current');
      fs.mkdirSync(link);
      return link;
    },
    run: (link) => replaceSymlink('releases/new', link, { force: true }),
    directory: true,
  },
  'existing link, Windows rules': {
    setup: existingLink,
    run: (link) => replaceSymlink('releases/new', link),
    win32: true,
  },
};

/** What is at `path`, without following it. */
function place(path: string): string {
  let stats;
  try {
    stats = fs.lstatSync(path);
  } catch {
    return 'nothing';
  }
  if (stats.isSymbolicLink()) return `link -> ${fs.readlinkSync(path)}`;
  if (stats.isDirectory()) return `directory [${fs.readdirSync(path).join(',')}]`;
  return `file ${fs.readFileSync(path, 'utf8')}`;
}

/** Every entry below `dir`, relative. */
function entries(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

interface Step {
  readonly index: number;
  readonly label: string;
  /** The phase of the error; `undefined`: the failure is ignored and the switch succeeds. */
  readonly phase: Phase | undefined;
  readonly committed: boolean;
}

/**
 * The phase of each step of a clean switch. The link's directory is pinned first (open,
 * fstat, and the stat() of /proc/self/fd/N that shows the descriptor can name its entries);
 * with `mkdirs` that first open fails and the parents are made before it is opened again.
 * Closing the pinned directory at the very end may fail without harm: that is ignored.
 */
function phases(calls: readonly SeamCall[], dir: string, directory: boolean): Step[] {
  const mkdirs = calls.some((call) => call.name === 'mkdir');
  const firstOpen = calls.findIndex((call) => call.name === 'open');
  const pinned = calls.findLastIndex((call) => call.name === 'stat');
  const steps: Step[] = [];
  let published = false;
  let linked = false;
  calls.forEach((call, index) => {
    let phase: Phase | undefined;
    const last = index === calls.length - 1;
    if (published) phase = last && call.name === 'close' ? undefined : 'fsync-dir';
    else if (call.name === 'symlink') phase = 'create-temp';
    else if (linked) phase = call.name === 'rmdir' ? 'remove-old' : 'rename';
    else if (mkdirs && index > firstOpen && index <= pinned) phase = 'mkdirs';
    else phase = 'resolve';
    if (call.name === 'symlink') linked = true;
    const label = `${call.name}:${relative(dir, call.subject).split(sep).join('/')}`;
    steps.push({ index, label, phase, committed: published });
    if (directory ? call.name === 'rmdir' : call.name === 'rename') published = true;
  });
  assert.ok(published, 'the clean run must publish');
  return steps;
}

function assertClean(where: string, recorder: Recorder, fdsBefore: number | undefined): void {
  assert.deepEqual(recorder.doubleCloses, [], `${where}: a descriptor was closed twice`);
  assert.deepEqual([...recorder.open.values()], [], `${where}: descriptors left open`);
  if (fdsBefore !== undefined) assert.equal(openFdCount(), fdsBefore, `${where}: descriptors`);
}

async function failure(run: () => Promise<void>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

let cases = 0;

describe('fault table: replaceSymlink', () => {
  for (const [name, scenario] of Object.entries(scenarios)) {
    test(name, async (t: TestContext) => {
      const platform = scenario.win32 === true ? 'win32' : seam.platform;
      const cleanDir = tempDir(t);
      const cleanLink = scenario.setup(cleanDir);
      const recorder = instrument(t);
      seam.platform = platform;
      await scenario.run(cleanLink);
      restoreSeam();
      const after = place(cleanLink);
      assert.match(after, /^link -> .*releases\/new$/);
      const steps = phases(recorder.calls, cleanDir, scenario.directory === true);

      let cleanupHits = 0;
      for (const step of steps) {
        const ignored = step.phase === undefined;
        for (const mode of failureModes(!step.committed && !ignored)) {
          const { code, cleanupFails } = mode;
          const dir = tempDir(t);
          const link = scenario.setup(dir);
          const before = place(link);
          const listingBefore = entries(dir);
          const fdsBefore = openFdCount();
          const faults = instrument(t, stepFaults(step.index, mode, ['unlink', 'close', 'rmdir']));
          seam.platform = platform;
          const error = await failure(() => scenario.run(link));
          restoreSeam();
          if (cleanupFails && cleanupFailed(faults, step.index)) cleanupHits += 1;
          const where = caseLabel(`${name}, step ${step.index} ${step.label}`, mode);
          if (step.phase === undefined) {
            assert.equal(error, undefined, `${where}: this failure must be ignored`);
            assertClean(where, faults, fdsBefore);
            assert.equal(place(link), after, where);
            cases += 1;
            continue;
          }
          assertStepError(
            error,
            { code, phase: step.phase, committed: step.committed, path: link },
            where,
          );
          assertClean(where, faults, fdsBefore);
          assert.equal(place(link), step.committed ? after : before, where);
          if (error.leftover !== undefined) {
            assert.ok(cleanupFails, `${where}: leftover ${error.leftover}`);
            assert.ok(parseTempName(error.leftover.split(sep).at(-1) ?? '') !== undefined);
            fs.unlinkSync(error.leftover);
          }
          const now = entries(dir);
          const temps = now.filter((e) => parseTempName(e.split(sep).at(-1) ?? '') !== undefined);
          assert.deepEqual(temps, [], `${where}: temp link left`);
          if (!cleanupFails) {
            const expected = step.committed
              ? [...new Set([...listingBefore, ...entries(cleanDir)])].sort()
              : listingBefore;
            assert.deepEqual(now, expected, `${where}: listing`);
          }
          cases += 1;
        }
      }
      assert.ok(cleanupHits > 0, 'the "cleanup fails too" cases must fail a cleanup call');
    });
  }
});

test(
  'replaceSymlink fault table size',
  { skip: !isLinux && 'descriptor counting needs /proc' },
  () => {
    process.stdout.write(`# replaceSymlink fault-table cases run: ${cases}\n`);
    assert.ok(cases > 150, `only ${cases} cases ran`);
  },
);
