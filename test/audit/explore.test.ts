/**
 * The explorer and the built-in check on recordings built by hand (no disk, no strace): the
 * four classic writers get the right violation kinds and the right words; the enumeration is
 * bounded, deterministic and covers subsets, partial writes and the done point.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditRecording } from '../../src/audit/audit.js';
import { type OpenIntent, RecordingBuilder } from '../../src/audit/builder.js';
import { Explorer, pointKey } from '../../src/audit/explore.js';
import type { FsNode, PersistenceModel, Recording } from '../../src/audit/model.js';
import type { AuditReport } from '../../src/audit/report.js';

const OLD = Buffer.from('old\n'.repeat(2600));
const NEW = Buffer.from('new!\n'.repeat(2100));
const ROOT = '/virtual/dir';
const DEST = `${ROOT}/settings.json`;
const TMP = `${ROOT}/settings.json.tmp`;

const CREATE: OpenIntent = {
  create: true,
  exclusive: false,
  truncate: true,
  write: true,
  tmpfile: false,
  noFollow: false,
};

/** A builder over a directory holding settings.json (OLD) and other.txt. */
function builder(): RecordingBuilder {
  const nodes = new Map<number, FsNode>([
    [
      0,
      {
        type: 'dir',
        mode: 0o755,
        entries: new Map([
          ['other.txt', 2],
          ['settings.json', 1],
        ]),
      },
    ],
    [1, { type: 'file', mode: 0o644, data: OLD }],
    [2, { type: 'file', mode: 0o644, data: Buffer.from('unrelated') }],
  ]);
  const paths = new Map([
    [0, ''],
    [1, 'settings.json'],
    [2, 'other.txt'],
  ]);
  return new RecordingBuilder('in-process', ROOT, { root: 0, nodes }, paths);
}

function open(b: RecordingBuilder, path: string, intent = CREATE): number {
  const node = b.open(path, intent, 0o644);
  assert.ok(node !== undefined, path);
  return node;
}

/** Writer 1: fs.writeFileSync in place. */
function inPlace(): Recording {
  const b = builder();
  const node = open(b, DEST);
  b.write(node, 0, NEW);
  b.close(node);
  b.done();
  return b.finish(0);
}

/** Writers 2–4: temp file, (fsync), close, rename, (directory fsync). */
function tempRename(fsync: boolean, dirsync: boolean): Recording {
  const b = builder();
  const node = open(b, TMP);
  b.write(node, 0, NEW);
  if (fsync) b.fsync(node, false);
  b.close(node);
  b.rename(TMP, DEST);
  if (dirsync) b.fsync(0, false);
  b.done();
  return b.finish(0);
}

function run(rec: Recording, model: PersistenceModel = 'posix'): Promise<AuditReport> {
  return auditRecording(rec, { model });
}

function message(report: AuditReport, kind: string): string {
  return report.examples.find((example) => example.kind === kind)?.message ?? '';
}

test('in-place write: torn/empty after a crash, stale after done', async () => {
  const report = await run(inPlace());
  assert.deepEqual(report.watched, ['settings.json']);
  assert.ok(report.violations.torn > 0);
  assert.equal(report.violations.missing, 0);
  assert.ok(report.violations['stale-after-done'] > 0);
  assert.equal(
    message(report, 'torn'),
    'settings.json is empty: the truncation at #1 (open with O_TRUNC) can reach disk before the data written at #2: the file is rewritten in place, with no fsync in between',
  );
  assert.match(message(report, 'stale-after-done'), /settings\.json was not fsynced/);
  assert.equal(report.ok, false);
});

test('temp file + rename without fsync: the rename can reach disk before the data', async () => {
  const report = await run(tempRename(false, false));
  assert.ok(report.violations.torn > 0);
  assert.equal(report.violations.missing, 0);
  assert.equal(
    message(report, 'torn'),
    'settings.json is empty: the rename at #4 can reach disk before the data written at #2: settings.json.tmp was not fsynced before it',
  );
  const example = report.examples.find((entry) => entry.kind === 'torn');
  assert.ok(example !== undefined);
  assert.deepEqual(example.ops, [4, 2]);
  assert.equal(example.crash.words, 'a crash after #4 with #2 not on disk');
});

test('fsync + rename without directory fsync: stale after done, and nothing else', async () => {
  const report = await run(tempRename(true, false));
  assert.equal(report.violations.torn, 0);
  assert.equal(report.violations.missing, 0);
  assert.equal(report.violations['leftover-temp'], 0);
  assert.ok(report.violations['stale-after-done'] > 0);
  assert.equal(
    message(report, 'stale-after-done'),
    'settings.json can still hold an older version after the program reported done: the rename at #5 had not reached disk when the program reported done (#6): the audited directory was not fsynced after it',
  );
});

test('fsync, rename, directory fsync: no violation', async () => {
  const report = await run(tempRename(true, true));
  assert.ok(report.ok);
  assert.deepEqual(report.examples, []);
  assert.ok(report.states.explored >= 8);
  assert.deepEqual(report.temps.names, ['settings.json.tmp']);
});

test('ext4-ordered: a rename carries the data it exposes; an in-place rewrite still tears', async () => {
  const renamed = await run(tempRename(false, false), 'ext4-ordered');
  assert.equal(renamed.violations.torn, 0);
  assert.ok(renamed.violations['stale-after-done'] > 0);
  assert.match(renamed.modelWords, /^ext4-ordered/);
  const inPlaceReport = await run(inPlace(), 'ext4-ordered');
  assert.ok(inPlaceReport.violations.torn > 0);
});

test('a file removed before its replacement is renamed in: missing', async () => {
  const b = builder();
  const node = open(b, TMP);
  b.write(node, 0, NEW);
  b.fsync(node, false);
  b.close(node);
  b.unlink(DEST);
  b.rename(TMP, DEST);
  b.fsync(0, false);
  b.done();
  const report = await run(b.finish(0));
  assert.ok(report.violations.missing > 0);
  assert.equal(
    message(report, 'missing'),
    'settings.json is missing: the unlink at #5 can reach disk before the rename at #6: the old file is removed before the new one is in place',
  );
});

test('a temp name left after done is a leftover temp', async () => {
  // Create-only publishing (link, then unlink the temp name) without a directory fsync.
  const b = builder();
  const node = open(b, `${ROOT}/.new.tmp`);
  b.write(node, 0, NEW);
  b.fsync(node, false);
  b.close(node);
  b.link(`${ROOT}/.new.tmp`, `${ROOT}/new.json`);
  b.unlink(`${ROOT}/.new.tmp`);
  b.done();
  const rec = b.finish(0);
  const report = await auditRecording(rec, { watch: [`${ROOT}/new.json`] });
  assert.deepEqual(report.watched, ['new.json']);
  assert.equal(report.violations.torn, 0);
  assert.ok(report.violations['leftover-temp'] > 0);
  assert.match(
    message(report, 'leftover-temp'),
    /^the temp file \.new\.tmp \(created at #1\) is still there after the program reported done: the unlink at #6 that removes it had not reached disk/,
  );
});

test('no done point (non-zero exit): crash states are checked, stale versions are not', async () => {
  const b = builder();
  const node = open(b, TMP);
  b.write(node, 0, NEW);
  b.fsync(node, false);
  b.close(node);
  b.rename(TMP, DEST);
  const report = await run(b.finish(1));
  assert.equal(report.done, undefined);
  assert.deepEqual(
    Object.values(report.violations).filter((count) => count > 0),
    [],
  );
  // Every state held a complete version, but the run failed: that is not "safe".
  assert.equal(report.status, 'command-failed');
  assert.equal(report.ok, false);
});

test('the enumeration is deterministic and bounded', () => {
  const rec = tempRename(false, false);
  const keys = (bound?: number): string[] =>
    [...new Explorer(rec, { maxStates: bound, done: rec.ops.length - 1 }).states()].map((s) =>
      pointKey(s.point),
    );
  assert.deepEqual(keys(), keys());
  const bounded = new Explorer(rec, { maxStates: 5 });
  const states = [...bounded.states()];
  assert.equal(bounded.stats.boundReached, true);
  assert.equal(bounded.stats.generated, 5);
  assert.ok(states.length <= 5 && states.length === bounded.stats.explored);
  const full = new Explorer(rec);
  assert.ok([...full.states()].length > 5);
  assert.equal(full.stats.boundReached, false);
  assert.ok(full.stats.generated > full.stats.explored, 'duplicates are checked once');
});

test('every subset of a few unsynced operations', () => {
  const b = builder();
  const names = ['a', 'b', 'c', 'd', 'e'];
  for (const name of names) open(b, `${ROOT}/${name}`);
  const rec = b.finish(0);
  // States equal on disk are explored once, whatever the crash point that produced them.
  const states = [...new Explorer(rec).states()];
  const seen = new Set(
    states.map((s) => names.map((name) => (s.state.lookup(name) === undefined ? 0 : 1)).join('')),
  );
  assert.equal(seen.size, 32);
  assert.equal(states.length, 32);
});

test('writes reach disk in part: at page boundaries, or as a size with zeros or garbage', () => {
  const b = builder();
  const big = open(b, `${ROOT}/big`);
  b.write(big, 0, Buffer.alloc(10_000, 1));
  const rec = b.finish(0);
  const states = [...new Explorer(rec).states()];
  const partials = states.flatMap((s) => (s.point.partial === undefined ? [] : [s.point.partial]));
  assert.deepEqual([...new Set(partials.map((p) => `${p.kind}:${p.bytes}`))].sort(), [
    'garbage:0',
    'pages:4096',
    'pages:8192',
    'size:0',
  ]);
  const ordered = [...new Explorer(rec, { model: 'ext4-ordered' }).states()];
  assert.deepEqual(
    [
      ...new Set(
        ordered.flatMap((s) => (s.point.partial === undefined ? [] : [s.point.partial.kind])),
      ),
    ],
    ['pages'],
  );
});

test('a check function replaces the built-in check and sees each rebuilt state', async () => {
  const seen: string[] = [];
  const check = (dir: string): boolean => {
    const data = readFileSync(join(dir, 'settings.json'));
    seen.push(
      data.length === 0 ? 'empty' : data.equals(NEW) ? 'new' : data.equals(OLD) ? 'old' : 'torn',
    );
    assert.equal(readFileSync(join(dir, 'other.txt'), 'utf8'), 'unrelated');
    return data.equals(NEW) || data.equals(OLD);
  };
  const bad = await auditRecording(inPlace(), { check });
  assert.equal(bad.check, 'function');
  assert.ok(bad.violations['check-failed'] > 0);
  assert.equal(bad.violations.torn, 0, 'the built-in check did not run');
  assert.ok(seen.includes('empty') && seen.includes('torn'));
  const good = await auditRecording(tempRename(true, true), { check });
  assert.ok(good.ok);
  assert.equal(good.violations['check-failed'], 0);
});

test('a check command runs inside each rebuilt state', async () => {
  const report = await auditRecording(tempRename(false, false), {
    check: 'test -s settings.json',
  });
  assert.equal(report.check, 'command');
  assert.ok(report.violations['check-failed'] > 0);
  assert.match(
    message(report, 'check-failed'),
    /^the check failed on the state left by a crash after #/,
  );
});

test('data not seen in the trace is read back from the final file, or noted', () => {
  const b = builder();
  const node = open(b, TMP);
  b.write(node, 0, undefined, 4);
  b.rename(TMP, DEST);
  const filled = b.finish(0, (path) =>
    path === 'settings.json' ? Buffer.from('final!') : undefined,
  );
  const op = filled.ops[1];
  assert.equal(op?.kind === 'write' ? Buffer.from(op.data).toString() : '', 'fina');
  const c = builder();
  const other = open(c, TMP);
  c.write(other, 0, undefined, 4);
  const unfilled = c.finish(0);
  assert.match(unfilled.notes[0] ?? '', /was not in the trace and could not be read back/);
});

test('options are validated', async () => {
  await assert.rejects(auditRecording(inPlace(), { model: 'zfs' as PersistenceModel }), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
  await assert.rejects(auditRecording(inPlace(), { maxStates: 0 }), {
    code: 'ERR_INVALID_ARG_VALUE',
  });
  await assert.rejects(auditRecording(inPlace(), { watch: ['/elsewhere/x'] }), {
    name: 'AuditSetupError',
  });
});
