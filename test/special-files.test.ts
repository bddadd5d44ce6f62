/**
 * Only regular files are replaced, read or copied: a FIFO, a socket, a character or block
 * device at the path (or behind a symlink; /dev/null for a root process) is refused with
 * ERR_ATOMIC_NOT_REGULAR_FILE by every public function, nothing blocks on it, it stays as it
 * was, and no temp file or descriptor is left. A special file used as a directory is ENOTDIR.
 * The calls run in a child process (test/fixtures/special-files.ts), so that one that blocks
 * fails this test at the time limit instead of hanging the runner.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isLinux, isRoot, needs, tempDir } from './support/helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/special-files.js', import.meta.url));

interface Result {
  readonly op: string;
  readonly path: string;
  readonly code: string;
  readonly type: string;
  readonly temps: string[];
  readonly outputs: string[];
  readonly fds: string[];
}

test('FIFOs, sockets and devices are refused by every function, without blocking', (t) => {
  if (!needs(t, isLinux && isRoot, 'mknod of device nodes needs root (Linux)')) return;
  const dir = tempDir(t);
  const nullBefore = fs.statSync('/dev/null');
  const child = spawnSync(process.execPath, [CHILD, dir, '--devnull'], {
    encoding: 'utf8',
    // Far more than the calls need; reached only if one blocks (the child bounds each call
    // to 10 s, but a synchronous open of a FIFO cannot be bounded from inside).
    timeout: 90_000,
    // The library's exit handler catches SIGTERM, and a thread blocked in open() never runs it.
    killSignal: 'SIGKILL',
  });
  const lines = child.stdout.split('\n');
  const started = lines.filter((line) => line.startsWith('start ')).at(-1);
  assert.equal(child.signal, null, `the child was killed: it blocked in '${started ?? '?'}'`);
  assert.equal(child.status, 0, child.stderr);
  assert.ok(lines.includes('done'), child.stdout);
  assert.ok(lines.includes('devnull checked'), 'the own character device was refused first');
  const results = lines.filter((line) => line.startsWith('{')).map((l) => JSON.parse(l) as Result);
  const wrong: string[] = [];
  for (const result of results) {
    const component = result.path.endsWith('/x');
    const expected = component ? 'ENOTDIR' : 'ERR_ATOMIC_NOT_REGULAR_FILE';
    const name = result.path.replace(/^to-/, '').replace(/\/x$/, '').replace(/-\d+$/, '');
    const type = {
      fifo: 'fifo',
      sock: 'socket',
      chr: 'char 259',
      blk: 'block 61440',
      planted: 'fifo',
      null: 'char 259',
    }[name];
    const problems = [
      result.code === expected ? '' : `code ${result.code}`,
      component || result.type === type ? '' : `now ${result.type}`,
      result.temps.length === 0 ? '' : `temps ${result.temps.join(' ')}`,
      result.outputs.length === 0 ? '' : `created ${result.outputs.join(' ')}`,
      result.fds.length === 0 ? '' : `descriptors ${result.fds.join(' ')}`,
    ].filter((problem) => problem !== '');
    if (problems.length > 0) wrong.push(`${result.op} on ${result.path}: ${problems.join(', ')}`);
  }
  assert.deepEqual(wrong, []);
  // Every operation met every kind of special file, also through a link.
  const ops = new Set(results.map((result) => result.op));
  assert.ok(ops.size >= 20, `${ops.size} operations`);
  assert.equal(results.filter((result) => result.path === 'to-null').length, 20);
  assert.equal(results.filter((result) => result.path.startsWith('planted-')).length, 3);
  for (const kind of ['fifo', 'sock', 'chr', 'blk']) {
    assert.ok(fs.lstatSync(join(dir, `to-${kind}`)).isSymbolicLink(), `to-${kind} is a link`);
  }
  const nullAfter = fs.statSync('/dev/null');
  assert.ok(nullAfter.isCharacterDevice());
  assert.equal(nullAfter.ino, nullBefore.ino);
});
