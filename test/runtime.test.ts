/**
 * CI runs the whole suite on Node 20, 22 and 24 (.ci/run). These checks make sure a run on
 * "Node 22" really is Node 22 all the way down: the runner, and every child process the tests
 * start (they all use `process.execPath`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('the Node version CI asked for (ATOMIC_FS_EXPECT_NODE) is the one running', (t) => {
  const expected = process.env.ATOMIC_FS_EXPECT_NODE;
  if (expected === undefined || expected === '') {
    t.diagnostic(`no version asked for; running ${process.version}`);
    return;
  }
  assert.equal(process.versions.node.split('.')[0], expected, process.version);
});

test('child processes started with process.execPath run the same Node', () => {
  const child = spawnSync(process.execPath, ['-p', 'process.version'], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), process.version);
});

test('Node 20 or later (package.json "engines")', () => {
  assert.ok(Number(process.versions.node.split('.')[0]) >= 20, process.version);
});
