/**
 * The demo's four writers, audited by both front ends: in place and rename-without-fsync
 * are torn, fsync-without-directory-fsync is only stale after done, atomic-fs passes — and
 * the strace front end (real Node programs) and the in-process one (the same calls through
 * the fs seam) explore the same states and find the same violations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DemoResult, runDemo } from '../../src/cli/demo-writers.js';
import { needs } from '../support/helpers.js';
import { hasStrace } from '../support/audit.js';

function check(results: readonly DemoResult[]): void {
  assert.equal(results.length, 4);
  const [inPlace, renamed, fsynced, atomic] = results.map((result) => result.report);
  assert.ok(
    inPlace !== undefined && renamed !== undefined && fsynced !== undefined && atomic !== undefined,
  );
  assert.ok(inPlace.violations.torn > 0 && inPlace.violations['stale-after-done'] > 0);
  assert.ok(renamed.violations.torn > 0);
  assert.deepEqual(
    Object.entries(fsynced.violations)
      .filter(([, count]) => count > 0)
      .map(([kind]) => kind),
    ['stale-after-done'],
  );
  assert.ok(atomic.ok, JSON.stringify(atomic.examples));
  for (const { report } of results) {
    assert.equal(report.states.boundReached, false);
    assert.deepEqual(report.watched, ['settings.json']);
  }
}

async function demo(
  frontEnd: 'strace' | 'in-process',
): Promise<{ results: DemoResult[]; output: string }> {
  let output = '';
  const results = await runDemo({
    frontEnd,
    write: (text) => {
      output += text;
    },
  });
  return { results, output };
}

test('demo, in-process front end: the right verdict for each writer', async () => {
  const { results, output } = await demo('in-process');
  check(results);
  assert.match(output, /^front end: in-process \(strace is not available/m);
  assert.match(
    output,
    /^writer +crash states +torn\/empty +missing +stale-after-done +leftover temp$/m,
  );
  const text = output.replace(/\n {3}/g, ' ');
  assert.match(
    text,
    /^1\. fs\.writeFileSync, in place: unsafe: a crash can leave the file torn or empty\. settings\.json is empty: the truncation at #1/m,
  );
  assert.match(
    text,
    /^3\. fsync \+ rename, no directory fsync: not durable: a crash after it reported done can bring back the old version\./m,
  );
  assert.match(
    text,
    /^4\. atomic-fs writeFile: safe: 1 file in \d+ crash states, old or new in every one, and the new version once it reported done\.$/m,
  );
  for (const { writer, report } of results) {
    process.stdout.write(
      `# demo (in-process) ${writer}: ${report.states.explored} states, ${JSON.stringify(report.violations)}\n`,
    );
  }
});

test('demo, strace front end: same states and violations as in-process', async (t) => {
  if (!needs(t, hasStrace, 'strace is not available')) return;
  const traced = await demo('strace');
  check(traced.results);
  assert.match(traced.output, /^front end: strace/m);
  const inProcess = await demo('in-process');
  for (const [index, { writer, report }] of traced.results.entries()) {
    const other = inProcess.results[index]?.report;
    assert.deepEqual(report.states, other?.states, writer);
    assert.deepEqual(report.violations, other?.violations, writer);
    process.stdout.write(
      `# demo (strace) ${writer}: ${report.states.explored} states, ${JSON.stringify(report.violations)}\n`,
    );
  }
});
