/**
 * The fault table of cleanupTemps: every file-system step of a sweep fails in turn, with the
 * codes that make it stop (EIO, ENOSPC, EMFILE) and the ones it skips (ENOENT: the file went
 * away; EACCES: not ours to remove). Whatever fails, nothing but a dead writer's temp is ever
 * removed, the result lists exactly what was removed, and no descriptor leaks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AtomicFsError, cleanupTemps } from '../../src/index.js';
import { restoreSeam } from '../../src/engine/fs.js';
import { tempName } from '../../src/core/temp-names.js';
import { instrument, isLinux, tempDir } from '../support/helpers.js';
import { fileFdCount } from './table.js';

const CODES = ['EIO', 'ENOSPC', 'EMFILE', 'ENOENT', 'EACCES'];

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
    encoding: 'utf8',
  });
  return Number(child.stdout.trim());
}

interface Layout {
  readonly dead: string[];
  readonly kept: string[];
}

function setup(dir: string, pid: number): Layout {
  const sub = join(dir, 'sub');
  fs.mkdirSync(sub);
  const dead = [
    join(dir, tempName('a.json', pid)),
    join(dir, tempName('b.json', pid)),
    join(sub, tempName('c.json', pid)),
  ];
  const kept = [join(dir, '.x.tmp'), join(dir, tempName('live.json')), join(dir, 'a.json')];
  for (const path of [...dead, ...kept]) fs.writeFileSync(path, 'x');
  return { dead, kept };
}

/**
 * What failing a call with `code` must do: reject in a phase, or skip that entry (or, for the
 * look at /proc/self/fd that says whether descriptors can name entries, go on by path).
 * Closing a directory opened for reading is never an error: nothing is lost.
 */
function expectation(name: string, root: boolean, code: string): 'scan' | 'remove' | 'skip' {
  const gone = code === 'ENOENT' || code === 'EACCES';
  if (name === 'close') return 'skip';
  if (name === 'stat') return gone ? 'skip' : 'scan';
  if (name === 'open' || name === 'fstat' || name === 'readdir') {
    return !root && gone ? 'skip' : 'scan';
  }
  if (name === 'lstat') return code === 'ENOENT' ? 'skip' : 'scan';
  return gone ? 'skip' : 'remove';
}

test('fault table: cleanupTemps', async (t) => {
  const pid = deadPid();
  const cleanDir = tempDir(t);
  const clean = setup(cleanDir, pid);
  const recorder = instrument(t);
  const removed = await cleanupTemps(cleanDir, { recursive: true });
  restoreSeam();
  assert.deepEqual(removed, [...clean.dead].sort());
  const calls = recorder.calls.map((call) => ({
    name: call.name,
    relative: call.subject.slice(cleanDir.length),
  }));
  // The swept directories are opened and pinned (open, fstat; /proc/self/fd checked once).
  assert.deepEqual([...new Set(calls.map((call) => call.name))].sort(), [
    'close',
    'fstat',
    'lstat',
    'open',
    'readdir',
    'stat',
    'unlink',
  ]);
  let cases = 0;
  for (const [index, call] of calls.entries()) {
    for (const code of CODES) {
      const dir = tempDir(t);
      const layout = setup(dir, pid);
      const fds = fileFdCount();
      const faults = instrument(t, [{ index, code }]);
      const where = `step ${index} (${call.name} ${call.relative}), ${code}`;
      let result: string[] | undefined;
      let error: unknown;
      try {
        result = await cleanupTemps(dir, { recursive: true });
      } catch (caught) {
        error = caught;
      }
      restoreSeam();
      const failed = faults.calls[index];
      assert.equal(failed?.name, call.name, `${where}: same steps as the clean run`);
      const subject = failed.subject;
      const expected = expectation(call.name, subject === dir, code);
      if (expected === 'skip') {
        assert.equal(error, undefined, `${where}: skipped, not an error`);
      } else {
        assert.ok(error instanceof AtomicFsError, `${where}: ${String(error)}`);
        assert.equal(error.code, code, where);
        assert.equal(error.phase, expected, where);
        assert.equal(error.path, subject, where);
      }
      for (const path of layout.kept) assert.ok(fs.existsSync(path), `${where}: ${path} kept`);
      const gone = layout.dead.filter((path) => !fs.existsSync(path));
      if (result !== undefined) assert.deepEqual(result, gone, `${where}: the result is exact`);
      if (call.name === 'unlink' || (call.name === 'lstat' && call.relative.includes('.afs-'))) {
        assert.ok(fs.existsSync(subject), `${where}: the failed entry is not removed`);
      }
      assert.deepEqual(faults.doubleCloses, [], where);
      if (fds !== undefined) assert.equal(fileFdCount(), fds, `${where}: descriptors`);
      cases += 1;
    }
  }
  process.stdout.write(`# cleanupTemps fault-table cases run: ${cases}\n`);
  if (isLinux) assert.ok(cases >= 40, `only ${cases} cases ran`);
});
