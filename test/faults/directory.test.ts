/**
 * The writeDirectory fault table (DESIGN.md §5.1): every file-system step of a clean run —
 * resolving, staging, the swap, the parent fsync, keeping or removing the previous tree —
 * fails in turn with EIO, ENOSPC and EMFILE, and again with the cleanup failing too. Each
 * time: the error names the code and the phase; before the swap the directory is the
 * complete old tree (or still absent), after it the complete new tree with `committed` set;
 * the staged tree is removed (or named in `leftover`, under a name that reclaiming takes);
 * the descriptors open before and after are the same, none closed twice.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { type TestContext, describe, test } from 'node:test';
import { KEPT_TAG } from '../../src/tree/constants.js';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { trackedTrees, untrackTree } from '../../src/core/exit-handler.js';
import { type Phase, writeDirectory } from '../../src/index.js';
import type { WriteDirectoryOptions } from '../../src/tree/write-directory.js';
import { runSync } from '../../src/engine/executors.js';
import { parseStagingName, parseTempName } from '../../src/core/temp-names.js';
import { reclaimStaged, removeTree } from '../../src/core/remove-tree.js';
import {
  type Recorder,
  type SeamCall,
  instrument,
  isLinux,
  isRoot,
  list,
  openFdCount,
  tempDir,
} from '../support/helpers.js';
import { assertStepError, caseLabel, cleanupFailed, failureModes, stepFaults } from './table.js';

const OLD_FILES: Record<string, string> = {
  'old.txt': 'old\n',
  'shared/x.txt': 'old x',
  'gone/deep/y.txt': 'old y',
};
const C_BIN = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
const NEW_FILES = (): Record<string, string | Buffer | Readable> => ({
  'a.txt': 'new a\n',
  'shared/x.txt': 'new x, longer than the old one',
  'sub/deep/c.bin': C_BIN,
});
const OLD_DIR_MODE = 0o750;
const OTHER_ID = 4321;

/** A whole tree: every entry with its type, mode, and for files the bytes. */
function snapshot(dir: string): string[] | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const lines = [`. ${(fs.statSync(dir).mode & 0o7777).toString(8)}`];
  const walk = (path: string): void => {
    for (const name of fs.readdirSync(path).sort()) {
      const full = join(path, name);
      const stats = fs.lstatSync(full);
      const rel = relative(dir, full).split(sep).join('/');
      const owner = `${stats.uid}:${stats.gid}`;
      if (stats.isDirectory()) {
        lines.push(`${rel}/ ${(stats.mode & 0o7777).toString(8)} ${owner}`);
        walk(full);
      } else {
        const bytes = fs.readFileSync(full).toString('base64');
        lines.push(`${rel} ${(stats.mode & 0o7777).toString(8)} ${owner} ${bytes}`);
      }
    }
  };
  walk(dir);
  return lines;
}

function makeOldTree(dir: string, owner?: number): void {
  fs.mkdirSync(dir, { mode: OLD_DIR_MODE });
  fs.chmodSync(dir, OLD_DIR_MODE);
  for (const [name, text] of Object.entries(OLD_FILES)) {
    fs.mkdirSync(dirname(join(dir, name)), { recursive: true });
    fs.writeFileSync(join(dir, name), text);
  }
  if (owner !== undefined) fs.chownSync(dir, owner, owner);
}

interface Scenario {
  /** Prepare the parent; return the directory to replace. */
  setup(parent: string): string;
  run(dir: string): Promise<unknown>;
  readonly keepOld?: boolean;
  readonly win32?: boolean;
  readonly rootOnly?: boolean;
}

const write =
  (options: WriteDirectoryOptions = {}, files = NEW_FILES) =>
  (dir: string): Promise<unknown> =>
    writeDirectory(dir, files(), options);

const existing = (parent: string): string => {
  const dir = join(parent, 'tree');
  makeOldTree(dir);
  return dir;
};

const scenarios: Record<string, Scenario> = {
  'existing directory': { setup: existing, run: write() },
  'new directory': { setup: (parent) => join(parent, 'tree'), run: write() },
  'existing, keepOld': { setup: existing, run: write({ keepOld: true }), keepOld: true },
  'existing, streamed file': {
    setup: existing,
    run: write({}, () => ({
      ...NEW_FILES(),
      'sub/deep/c.bin': Readable.from([C_BIN.subarray(0, 100), C_BIN.subarray(100)]),
    })),
  },
  'existing, mode and dirMode': {
    setup: existing,
    run: write({ mode: 0o604, dirMode: 0o711 }),
  },
  'existing, owner preserved': {
    setup: (parent) => {
      const dir = join(parent, 'tree');
      makeOldTree(dir, OTHER_ID);
      return dir;
    },
    run: write(),
    rootOnly: true,
  },
  'existing, durability none': { setup: existing, run: write({ durability: 'none' }) },
  'existing, Windows rules (two renames)': {
    setup: existing,
    run: write({ allowNonAtomic: true, mode: 0o444 }),
    win32: true,
  },
  'existing, Windows rules, keepOld': {
    setup: existing,
    run: write({ allowNonAtomic: true, keepOld: true }),
    win32: true,
    keepOld: true,
  },
};

interface Step {
  readonly index: number;
  readonly label: string;
  /** The phase of the error; `undefined`: the failure is ignored and the call succeeds. */
  readonly phase: Phase | undefined;
  readonly committed: boolean;
}

function isStagingPath(path: string, parent: string): boolean {
  const first = relative(parent, path).split(sep)[0] ?? '';
  return !first.startsWith('..') && parseStagingName(first) !== undefined;
}

/**
 * The phase each step of a clean run belongs to, and whether the new tree was in place. The
 * parent is pinned first (open, fstat, and the stat() of /proc/self/fd/N that shows the
 * descriptor can name its entries); after the swap, a look at `dir` checks that it names the
 * new tree. After the swap only directories opened for reading are closed (the removal's, and
 * the pinned parent at the very end): a failed close loses nothing and is ignored.
 */
function phases(calls: readonly SeamCall[], dir: string): Step[] {
  const parent = dirname(dir);
  const steps: Step[] = [];
  let staging = false;
  let published = false;
  let checked = false;
  calls.forEach((call, index) => {
    const { name, subject } = call;
    let phase: Phase | undefined;
    const target = typeof call.args[1] === 'string' ? call.args[1] : '';
    if (published) {
      if (!checked && name === 'lstat' && subject === dir) {
        phase = 'swap';
        checked = true;
      } else if (name === 'rename') {
        phase = basename(target).includes(`.${KEPT_TAG}-`) ? 'keep-old' : 'remove-old';
      } else if (name === 'close') {
        // Directories opened for reading (the removal's, the pinned parent): nothing is lost.
        phase = undefined;
      } else if (subject === parent) {
        phase = 'fsync-dir';
      } else {
        phase = 'remove-old';
      }
    } else if (!staging) {
      staging = name === 'mkdir' && isStagingPath(subject, parent);
      phase = staging ? 'stage' : 'resolve';
    } else {
      const byName: Partial<Record<string, Phase>> = {
        write: 'write',
        fchown: 'chown',
        fchmod: 'chmod',
        fsync: 'fsync',
        close: 'close',
        swap: 'swap',
        rename: 'swap',
      };
      phase = byName[name] ?? 'stage';
    }
    const label = `${name}:${relative(parent, subject).split(sep).join('/')}`;
    steps.push({ index, label, phase, committed: published });
    if (name === 'swap' || (name === 'rename' && throughParent(target, parent) === dir)) {
      published = true;
    }
  });
  assert.ok(published, 'the clean run must publish');
  assert.ok(checked, 'the swap is checked');
  return steps;
}

/** A path named through the pinned parent's descriptor, as a path under `parent`. */
function throughParent(path: string, parent: string): string {
  return path.replace(/^\/proc\/self\/fd\/\d+\//, `${parent}/`);
}

async function failure(run: () => Promise<unknown>): Promise<unknown> {
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
  if (fdsBefore !== undefined) assert.equal(openFdCount(), fdsBefore, `${where}: descriptors`);
}

let cases = 0;

describe('fault table: writeDirectory', () => {
  for (const [name, scenario] of Object.entries(scenarios)) {
    test(name, async (t: TestContext) => {
      if (scenario.rootOnly === true && !isRoot) {
        // Giving files away needs root; CI runs as root.
        if (process.env.ATOMIC_FS_REQUIRE_ALL === '1') assert.fail('needs root');
        t.skip('needs root to give files away');
        return;
      }
      const platform = scenario.win32 === true ? 'win32' : seam.platform;
      // A clean run, recorded, gives the list of steps and the expected new tree.
      const cleanParent = tempDir(t);
      const cleanDir = scenario.setup(cleanParent);
      const oldTree = snapshot(cleanDir);
      const recorder = instrument(t);
      seam.platform = platform;
      const result = await scenario.run(cleanDir);
      restoreSeam();
      const newTree = snapshot(cleanDir);
      assert.ok(newTree !== undefined);
      assert.notDeepEqual(newTree, oldTree);
      if (scenario.rootOnly === true) {
        assert.ok(newTree.slice(1).every((line) => line.includes(` ${OTHER_ID}:${OTHER_ID}`)));
      }
      const kept = (result as { previous?: string }).previous;
      if (scenario.keepOld === true) {
        assert.ok(kept !== undefined);
        assert.deepEqual(snapshot(kept), oldTree, 'the previous tree is kept whole');
      }
      const steps = phases(recorder.calls, cleanDir);

      let cleanupHits = 0;
      for (const step of steps) {
        const ignored = step.phase === undefined;
        for (const mode of failureModes(!step.committed && !ignored)) {
          const { code, cleanupFails } = mode;
          const parent = tempDir(t);
          const dir = scenario.setup(parent);
          const before = snapshot(dir);
          const listingBefore = list(parent);
          const fdsBefore = openFdCount();
          const faults = instrument(t, stepFaults(step.index, mode, ['unlink', 'close', 'rmdir']));
          seam.platform = platform;
          const error = await failure(() => scenario.run(dir));
          restoreSeam();
          if (cleanupFails && cleanupFailed(faults, step.index)) cleanupHits += 1;
          const where = caseLabel(`${name}, step ${step.index} ${step.label}`, mode);
          if (step.phase === undefined) {
            assert.equal(error, undefined, `${where}: this failure must be ignored`);
            assertClean(where, faults, fdsBefore);
            assert.deepEqual(snapshot(dir), newTree, where);
            assert.deepEqual(trackedTrees(), [], `${where}: still tracked`);
            cases += 1;
            continue;
          }
          assertStepError(
            error,
            { code, phase: step.phase, committed: step.committed, path: dir },
            where,
          );
          assertClean(where, faults, fdsBefore);
          // The directory: the complete old tree before the swap, the new one after it.
          assert.deepEqual(snapshot(dir), step.committed ? newTree : before, where);
          // Beside it: nothing new, except what the error names, and a tree kept on purpose.
          let extra = list(parent).filter((entry) => !listingBefore.includes(entry));
          if (step.committed) extra = extra.filter((entry) => entry !== basename(dir));
          if (error.leftover !== undefined) {
            const leftover = error.leftover;
            assert.ok(cleanupFails || step.committed, `${where}: leftover ${leftover}`);
            assert.equal(dirname(leftover), parent, where);
            assert.ok(extra.includes(basename(leftover)), `${where}: leftover exists`);
            extra = extra.filter((entry) => entry !== basename(leftover));
            if (step.phase === 'keep-old' || leftover.includes(`.${KEPT_TAG}-`)) {
              assert.deepEqual(snapshot(leftover), before, `${where}: the old tree is whole`);
            }
            if (parseStagingName(basename(leftover)) !== undefined) {
              assert.deepEqual(trackedTrees(), [leftover], `${where}: reclaimed at exit`);
              untrackTree(leftover);
              assert.equal(runSync(reclaimStaged(leftover)), undefined, where);
            } else {
              assert.equal(runSync(removeTree(leftover)), undefined, where);
            }
          } else {
            assert.deepEqual(trackedTrees(), [], `${where}: still tracked`);
          }
          if (scenario.keepOld === true && step.committed && step.phase !== 'keep-old') {
            const keptNow = extra.filter((entry) => entry.includes(`.${KEPT_TAG}-`));
            assert.equal(keptNow.length, 1, `${where}: the previous tree is kept`);
            assert.deepEqual(snapshot(join(parent, keptNow[0] ?? '')), before, where);
            extra = extra.filter((entry) => !keptNow.includes(entry));
          }
          assert.deepEqual(extra, [], `${where}: left beside the directory`);
          assert.ok(
            list(parent).every(
              (entry) =>
                parseTempName(entry) === undefined && parseStagingName(entry) === undefined,
            ),
            where,
          );
          cases += 1;
        }
      }
      assert.ok(cleanupHits > 0, 'the "cleanup fails too" cases must fail a cleanup call');
    });
  }
});

test(
  'writeDirectory fault table size',
  { skip: !isLinux && 'descriptor counting needs /proc' },
  () => {
    process.stdout.write(`# writeDirectory fault-table cases run: ${cases}\n`);
    assert.ok(cases > 1200, `only ${cases} cases ran`);
  },
);
