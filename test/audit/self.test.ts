/**
 * Self-audit (DESIGN.md §5.2): every public write path of atomic-fs, explored under the
 * default model at each durability level. `'full'`: no violation in any crash state.
 * `'file'`: only what a missing directory fsync allows (a stale version after done, and for
 * a create-only write the temp name's unlink). `'none'`: flagged (torn or empty files).
 * Then both front ends record the same table and must agree: same operations, same verdicts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditRecording } from '../../src/audit/audit.js';
import { RecordingBuilder } from '../../src/audit/builder.js';
import { audit, auditCommand } from '../../src/audit/index.js';
import { type FsNode, bytesOf } from '../../src/audit/model.js';
import { recordInProcess } from '../../src/audit/record.js';
import type { AuditReport } from '../../src/audit/report.js';
import { realDirectory, snapshot } from '../../src/audit/snapshot.js';
import { parseTrace, readTrace, runTraced } from '../../src/audit/trace.js';
import { writeFile } from '../../src/index.js';
import { needs, tempDir } from '../support/helpers.js';
import { hasStrace, normalOps, withoutOwnChowns } from '../support/audit.js';
import {
  type Case,
  DURABILITIES,
  NEW,
  cases,
  doneMarker,
  prepare,
  selfPaths,
} from './self-paths.js';

function violations(report: AuditReport): Record<string, number> {
  return Object.fromEntries(Object.entries(report.violations).filter(([, count]) => count > 0));
}

function summary(report: AuditReport): string {
  const found = Object.entries(violations(report))
    .map(([kind, count]) => `${kind} ${count}`)
    .join(', ');
  return `${report.states.explored} states, ${found === '' ? '0 violations' : found}`;
}

function assertVerdict(report: AuditReport, c: Case): void {
  const where = `${c.name} at durability '${c.durability}': ${summary(report)}\n${report.examples.map((e) => e.message).join('\n')}`;
  assert.ok(report.states.explored > 3, where);
  assert.equal(report.states.boundReached, false, where);
  assert.ok(report.watched.includes(c.file), where);
  const v = report.violations;
  switch (c.durability) {
    case 'full':
      assert.deepEqual(violations(report), {}, where);
      assert.ok(report.ok, where);
      break;
    case 'file':
      assert.equal(v.torn, 0, where);
      assert.equal(v.missing, 0, where);
      if (c.path.atFile === 'clean') assert.deepEqual(violations(report), {}, where);
      else assert.ok(v['stale-after-done'] > 0, where);
      break;
    case 'none':
      assert.ok(v[c.path.atNone ?? 'torn'] > 0, where);
      break;
  }
}

function watchOf(c: Case): string[] | undefined {
  return c.path.dest === 'new' || c.path.watchExplicitly === true ? [c.ctx.dest] : undefined;
}

for (const name of Object.keys(selfPaths)) {
  describe(`self-audit: ${name}`, () => {
    for (const durability of DURABILITIES) {
      test(`durability '${durability}'`, async (t) => {
        const c = cases(tempDir(t)).find(
          (entry) => entry.name === name && entry.durability === durability,
        );
        assert.ok(c !== undefined);
        prepare(c);
        const report = await audit(() => c.path.run(c.ctx), {
          dir: c.ctx.dir,
          watch: watchOf(c),
        });
        assertVerdict(report, c);
        process.stdout.write(`# self-audit ${name}, '${durability}': ${summary(report)}\n`);
      });
    }
  });
}

const fixture = fileURLToPath(new URL('./fixtures/self-writes.js', import.meta.url));

test('both front ends record the same operations and reach the same verdicts', async (t) => {
  if (!needs(t, hasStrace, 'strace is not available')) return;
  const inProcessRoot = tempDir(t);
  const tracedRoot = tempDir(t);
  const inProcessCases = cases(inProcessRoot);
  const tracedCases = cases(tracedRoot);
  for (const c of [...inProcessCases, ...tracedCases]) prepare(c);
  const snapshots = tracedCases.map((c) => snapshot(realDirectory(c.ctx.dir)));
  const run = await runTraced([process.execPath, fixture, tracedRoot], {
    cwd: tracedRoot,
    output: 'ignore',
  });
  assert.equal(run.exitCode, 0);
  const trace = readTrace(run.text);
  let compared = 0;
  for (const [index, c] of inProcessCases.entries()) {
    if (c.path.deterministic === false) continue;
    const traced = tracedCases[index];
    const snap = snapshots[index];
    assert.ok(traced !== undefined && snap !== undefined);
    const root = realDirectory(c.ctx.dir);
    const recorded = await recordInProcess(() => c.path.run(c.ctx), {
      root,
      alias: bytesOf(c.ctx.dir),
      snapshot: snapshot(root),
    });
    assert.equal(recorded.threw, false);
    const { recording: traced0 } = parseTrace(trace, {
      root: realDirectory(traced.ctx.dir),
      cwd: realDirectory(tracedRoot),
      snapshot: snap,
      exitCode: run.exitCode,
    });
    const recording = withoutOwnChowns(traced0);
    const where = `${c.name}, '${c.durability}'`;
    assert.deepEqual(recording.notes, [], where);
    const inProcess = withoutOwnChowns(recorded.recording);
    const inProcessReport = await auditRecording(inProcess, {
      watch: watchOf(c),
    });
    const tracedReport = await auditRecording(recording, {
      watch: watchOf(traced),
      doneMarker: doneMarker(traced),
    });
    // Both see the program report done at the same point: after its last operation.
    assert.deepEqual(normalOps(recording), normalOps(inProcess), where);
    assert.deepEqual(tracedReport.states, inProcessReport.states, where);
    assert.deepEqual(tracedReport.violations, inProcessReport.violations, where);
    assert.equal(tracedReport.done?.after, inProcessReport.done?.after, where);
    compared += 1;
  }
  const deterministic = Object.values(selfPaths).filter((path) => path.deterministic !== false);
  assert.equal(compared, deterministic.length * DURABILITIES.length);
  process.stdout.write(`# front ends agree on ${compared} recordings\n`);
});

test('the fixture can also be audited end to end through auditCommand', async (t) => {
  if (!needs(t, hasStrace, 'strace is not available')) return;
  const root = tempDir(t);
  const c = cases(root).find(
    (entry) => entry.name === 'writeFileSync' && entry.durability === 'full',
  );
  assert.ok(c !== undefined);
  for (const entry of cases(root)) prepare(entry);
  const report = await auditCommand([process.execPath, fixture, root], {
    cwd: root,
    dir: c.ctx.dir,
    output: 'ignore',
    doneMarker: doneMarker(c),
  });
  assert.ok(report.ok, summary(report));
  assert.equal(report.frontEnd, 'strace');
  assert.equal(report.done?.by, 'marker');
  assert.deepEqual(report.watched, ['settings.json']);
});

test('one in-process audit at a time', async (t) => {
  const dir = tempDir(t);
  let release = (): void => undefined;
  const running = audit(() => new Promise<void>((resolve) => (release = resolve)), { dir });
  await assert.rejects(
    audit(() => undefined, { dir }),
    {
      name: 'AuditSetupError',
      message: /another in-process audit is running/,
    },
  );
  release();
  const report = await running;
  // It wrote nothing: nothing was checked, and the report does not call that safe.
  assert.equal(report.status, 'nothing-checked');
  assert.equal(report.ok, false);
  assert.equal(report.done?.by, 'return');
  const failed = await audit(
    () => {
      throw new Error('boom');
    },
    { dir },
  );
  assert.equal(failed.done, undefined);
  assert.equal(failed.status, 'command-failed');
  assert.deepEqual(failed.notes.slice(-1), ['the audited function threw: boom']);
});

test('concurrent writes to two files of one directory, recorded 20 times', async (t) => {
  // The fsyncs of one write run while the other's calls finish: each fsync must be placed
  // where it started, even when another fsync that started earlier is placed after it.
  const dir = tempDir(t);
  for (let round = 0; round < 20; round += 1) {
    fs.writeFileSync(join(dir, 'a'), 'old a');
    fs.writeFileSync(join(dir, 'b'), 'old b');
    const report = await audit(
      () => Promise.all([writeFile(join(dir, 'a'), NEW), writeFile(join(dir, 'b'), NEW)]),
      { dir },
    );
    assert.deepEqual(report.watched, ['a', 'b']);
    assert.ok(
      report.ok,
      `round ${round}: ${summary(report)}: ${report.examples[0]?.message ?? ''}`,
    );
  }
});

test('an fsync that started earlier but finished later is placed where it started', () => {
  const nodes = new Map<number, FsNode>([
    [0, { type: 'dir', mode: 0o755, entries: new Map([['f', 1]]) }],
    [1, { type: 'file', mode: 0o644, data: Buffer.from('x') }],
  ]);
  const b = new RecordingBuilder('in-process', '/v', { root: 0, nodes }, new Map([[1, 'f']]));
  const first = b.beginSync();
  b.write(1, 0, Buffer.from('a'));
  const second = b.beginSync();
  b.write(1, 1, Buffer.from('b'));
  b.endSync(second, 1, false);
  b.endSync(first, 1, true);
  const failed = b.beginSync();
  b.endSync(failed, undefined, false);
  assert.deepEqual(
    b
      .finish(0)
      .ops.map((op) => (op.kind === 'fsync' ? `fsync${op.dataOnly ? ' data' : ''}` : op.kind)),
    ['fsync data', 'write', 'fsync', 'write'],
  );
});
