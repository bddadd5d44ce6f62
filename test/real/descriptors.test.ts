/**
 * Descriptor exhaustion, produced by the kernel: a child runs under `ulimit -n 64` and fills
 * its descriptor table up to the limit (fixtures/fd-child.ts); then every write operation,
 * with 0 to 4 descriptors left, either resolves or fails with an AtomicFsError `EMFILE`
 * naming its phase — never another kind of error, never a hang — with the destination old
 * or new as its outcome says, no temp left, and exactly as many descriptors open after as
 * before. Once the descriptors are freed, every operation succeeds again (a lock taken
 * before a failure was released).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FdReport } from '../fixtures/fd-child.js';
import { isLinux, isRoot, needs, tempDir } from '../support/helpers.js';

const CHILD = fileURLToPath(new URL('../fixtures/fd-child.js', import.meta.url));
const LIMIT = 64;

test(`descriptor exhaustion under ulimit -n ${LIMIT}: EMFILE as an AtomicFsError, nothing leaked`, (t) => {
  if (
    !needs(
      t,
      isLinux && isRoot,
      'descriptor counting via /proc and ulimit as in CI need Linux and root',
    )
  ) {
    return;
  }
  const dir = tempDir(t);
  const child = spawnSync(
    'sh',
    ['-c', `ulimit -n ${LIMIT} && exec "$0" "$@"`, process.execPath, CHILD, dir],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(child.status, 0, `child failed: ${child.stderr}`);
  const report = JSON.parse(child.stdout) as FdReport;
  assert.equal(report.limit, String(LIMIT));
  assert.ok(report.fillers > 0, 'the child filled its descriptor table');
  const needed = new Map<string, number>();
  const phases = new Map<string, Set<string>>();
  for (const attempt of report.attempts) {
    const where = `${attempt.op} with ${attempt.free} free`;
    if (attempt.outcome === 'ok') {
      if (!needed.has(attempt.op)) needed.set(attempt.op, attempt.free);
    } else {
      assert.match(attempt.outcome, /^AtomicFsError EMFILE \S+( committed)?$/, where);
      // Only the directory fsync comes after the commit.
      assert.equal(
        attempt.outcome.endsWith(' committed'),
        attempt.outcome.includes(' fsync-dir'),
        where,
      );
      const phase = attempt.outcome.split(' ')[2] ?? '?';
      phases.set(attempt.op, new Set([...(phases.get(attempt.op) ?? []), phase]));
    }
    assert.ok(
      attempt.consistent,
      `${where}: destination does not match the outcome ${attempt.outcome}`,
    );
    assert.deepEqual(attempt.tempsLeft, [], `${where}: temps left`);
    assert.equal(attempt.fdsAfter, attempt.fdsBefore, `${where}: descriptors leaked`);
  }
  // With no descriptor free, nothing can be written.
  for (const attempt of report.attempts.filter((a) => a.free === 0)) {
    assert.notEqual(attempt.outcome, 'ok', `${attempt.op} wrote without a descriptor`);
  }
  for (const [op, outcome] of Object.entries(report.recovered)) {
    assert.equal(outcome, 'ok', `${op} after the descriptors were freed`);
  }
  process.stdout.write(
    `# EMFILE: ${report.attempts.length} attempts with 0–4 of ${LIMIT} descriptors free ` +
      `(${report.fillers} fillers), 0 leaks; descriptors needed: ` +
      `${[...needed].map(([op, n]) => `${op} ${n}`).join(', ')}; failed at: ` +
      `${[...phases].map(([op, p]) => `${op} ${[...p].join('/')}`).join(', ')}\n`,
  );
  for (const op of Object.keys(report.recovered)) {
    assert.ok(needed.has(op), `${op} never succeeded with up to 4 descriptors free`);
  }
});
