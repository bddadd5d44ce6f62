/**
 * What the explorer tells people: violations in words (partial writes, in-place rewrites,
 * removals, stale versions, leftovers), the report's table, verdicts and notes; and the
 * snapshot of the audited directory and its rebuilt states.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type OpenIntent, RecordingBuilder } from '../../src/audit/builder.js';
import { contentAt } from '../../src/audit/check.js';
import { Explainer } from '../../src/audit/explain.js';
import { type CrashPoint, Explorer } from '../../src/audit/explore.js';
import type { FsNode, Recording } from '../../src/audit/model.js';
import { type AuditReport, formatReport, table, verdict, wrap } from '../../src/audit/report.js';
import { materialize, realDirectory, snapshot } from '../../src/audit/snapshot.js';
import { isLinux, tempDir } from '../support/helpers.js';

const ROOT = '/virtual';
const OPEN: OpenIntent = {
  create: true,
  exclusive: false,
  truncate: false,
  write: true,
  tmpfile: false,
  noFollow: false,
};

function builder(): RecordingBuilder {
  const nodes = new Map<number, FsNode>([
    [0, { type: 'dir', mode: 0o755, entries: new Map([['f', 1]]) }],
    [1, { type: 'file', mode: 0o644, data: Buffer.from('old content') }],
  ]);
  return new RecordingBuilder(
    'in-process',
    ROOT,
    { root: 0, nodes },
    new Map([
      [0, ''],
      [1, 'f'],
    ]),
  );
}

function explain(rec: Recording, point: CrashPoint): string {
  const explorer = new Explorer(rec);
  const state = explorer.build(point);
  return new Explainer(rec.ops, undefined).torn(point, 'f', contentAt(state, 'f'), state).message;
}

test('torn: a write that reached disk in part, in place or behind a rename', () => {
  const b = builder();
  const node = b.open(`${ROOT}/f`, OPEN, 0o644) ?? -1;
  b.write(node, 0, Buffer.alloc(9000, 65));
  const rec = b.finish(0);
  assert.equal(
    explain(rec, { prefix: 1, dropped: [], partial: { index: 0, kind: 'pages', bytes: 4096 } }),
    'f is torn (9000 bytes, none of its complete versions): the write at #1 reached disk only in part (the first 4096 of 9000 bytes): f is rewritten in place and was not fsynced',
  );
  assert.match(
    explain(rec, { prefix: 1, dropped: [], partial: { index: 0, kind: 'garbage', bytes: 0 } }),
    /the write at #1 can grow the file before its data reaches disk \(the new bytes read as garbage\)/,
  );
  const c = builder();
  const tmp = c.open(`${ROOT}/t`, OPEN, 0o644) ?? -1;
  c.write(tmp, 0, Buffer.alloc(9000, 66));
  c.rename(`${ROOT}/t`, `${ROOT}/f`);
  const renamed = c.finish(0);
  assert.match(
    explain(renamed, { prefix: 3, dropped: [], partial: { index: 1, kind: 'size', bytes: 0 } }),
    /\(the new bytes read as zeros\); the rename at #3 put it in place before it was fsynced$/,
  );
});

test('torn: writes and truncations of an in-place rewrite reaching disk out of order', () => {
  const b = builder();
  const node = b.open(`${ROOT}/f`, OPEN, 0o644) ?? -1;
  b.write(node, 0, Buffer.from('NEW'));
  b.write(node, 3, Buffer.from('more'));
  b.truncate(node, 7);
  const rec = b.finish(0);
  assert.equal(
    explain(rec, { prefix: 2, dropped: [0] }),
    'f is torn (11 bytes, none of its complete versions): the data written at #2 can reach disk while the data written at #1 does not: the file is rewritten in place without fsync',
  );
  assert.equal(
    explain(rec, { prefix: 1, dropped: [0] }),
    'f is torn (11 bytes, none of its complete versions): the data written at #1 had not reached disk: the file was not fsynced',
  );
  assert.equal(
    explain(rec, { prefix: 3, dropped: [2] }),
    'f is torn (11 bytes, none of its complete versions): the data written at #1 can reach disk without the truncation at #3: the new bytes land over the old file',
  );
});

test('torn: a file created under its final name before its data is written (vim -N)', () => {
  // vim with backupcopy=auto: the old file is renamed away, a new one is created under the
  // name, then written and fsynced. A crash between the creation and the write leaves it empty.
  const b = builder();
  b.rename(`${ROOT}/f`, `${ROOT}/f~`);
  const node = b.open(`${ROOT}/f`, OPEN, 0o644) ?? -1;
  b.write(node, 0, Buffer.from('new content'));
  b.fsync(node, false);
  const rec = b.finish(0);
  assert.equal(
    explain(rec, { prefix: 2, dropped: [] }),
    'f is empty: the creation at #2 gives the file its name before the data written at #3: it is written under its final name, not renamed into place once complete',
  );
  // The same when the write was issued but had not reached disk.
  assert.equal(
    explain(rec, { prefix: 3, dropped: [2] }),
    'f is empty: the creation at #2 gives the file its name before the data written at #3: it is written under its final name, not renamed into place once complete',
  );
});

test('missing, stale and leftover: the words when the usual culprit is not there', () => {
  const b = builder();
  b.mkdir(`${ROOT}/d`, 0o755);
  const node = b.open(`${ROOT}/d/t`, OPEN, 0o644) ?? -1;
  b.write(node, 0, Buffer.from('x'));
  b.unlink(`${ROOT}/f`);
  const rec = b.finish(0);
  const explainer = new Explainer(rec.ops, 3);
  assert.equal(
    explainer.missing({ prefix: 4, dropped: [] }, 'f').message,
    'f is missing: the unlink at #4 removed it, and nothing had replaced it on disk',
  );
  assert.equal(
    explainer.missing({ prefix: 4, dropped: [0] }, 'd/t').message,
    'd/t is missing: the mkdir at #1 had not reached disk',
  );
  assert.equal(
    explainer.missing({ prefix: 1, dropped: [] }, 'g').message,
    'g is missing after a crash after #1',
  );
  assert.equal(
    explainer.stale({ prefix: 4, dropped: [0] }, 'd/t', node).message,
    'd/t can still hold an older version after the program reported done: the mkdir at #1 had not reached disk when the program reported done (#4): the audited directory was not fsynced after it',
  );
  assert.equal(
    explainer.stale({ prefix: 4, dropped: [] }, 'f', undefined).message,
    'f can still hold an older version after the program reported done (a crash after #4)',
  );
  assert.equal(
    explainer.leftover({ prefix: 4, dropped: [] }, { dir: 2, name: 't', path: 'd/t', createdAt: 1 })
      .message,
    'the temp file d/t (created at #2) is still there after the program reported done',
  );
  assert.equal(
    new Explainer(rec.ops, undefined).crash({
      prefix: 4,
      dropped: [0, 2],
      partial: { index: 2, kind: 'pages', bytes: 1 },
    }),
    'a crash after #4 with #1 and #3 not on disk and #3 only in part',
  );
  assert.equal(Explainer.kindWords('check-failed'), 'check failed');
});

function report(overrides: Partial<AuditReport>): AuditReport {
  return {
    ok: true,
    status: 'safe',
    checked: { files: 1, states: 3, operations: 1 },
    scope: { excluded: ['.git', 'node_modules'], skipped: [] },
    unseen: [],
    frontEnd: 'strace',
    model: 'posix',
    modelWords: 'posix: …',
    dir: '/d',
    command: ['prog', 'arg'],
    exitCode: 0,
    done: { after: 1, by: 'exit' },
    watched: ['f'],
    check: 'built-in',
    operations: [{ n: 1, text: 'write 1 bytes at offset 0 of f', where: 'line 1' }],
    states: { explored: 3, generated: 4, bound: 4, boundReached: false },
    violations: {
      torn: 0,
      missing: 0,
      'stale-after-done': 0,
      'leftover-temp': 0,
      'check-failed': 0,
    },
    examples: [],
    checkFailures: [],
    temps: { states: 0, names: [] },
    notes: [],
    ...overrides,
  };
}

test('verdicts name the worst kind found', () => {
  const none = {
    torn: 0,
    missing: 0,
    'stale-after-done': 0,
    'leftover-temp': 0,
    'check-failed': 0,
  };
  const unsafe = { ok: false, status: 'unsafe' } as const;
  assert.equal(
    verdict(report({})),
    'safe: 1 file in 3 crash states, old or new in every one, and the new version once it reported done',
  );
  assert.equal(
    verdict(report({ done: undefined, checked: { files: 2, states: 1, operations: 1 } })),
    'safe: 2 files in 1 crash state, every one holds a complete version',
  );
  assert.equal(
    verdict(report({ check: 'command' })),
    'safe: the --check command in 3 crash states, it passed in every one',
  );
  assert.equal(
    verdict(report({ ...unsafe, violations: { ...none, missing: 1, torn: 2 } })),
    'unsafe: a crash can leave the file torn or empty or missing',
  );
  assert.equal(
    verdict(report({ ...unsafe, violations: { ...none, 'leftover-temp': 1 } })),
    'leaves temp files: a crash after it reported done can leave a temp file behind',
  );
  assert.equal(
    verdict(report({ ...unsafe, check: 'command', violations: { ...none, 'check-failed': 3 } })),
    'unsafe: the check failed in 3 crash states',
  );
  assert.equal(
    verdict(report({ ...unsafe, check: 'command', violations: { ...none, 'check-failed': 1 } })),
    'unsafe: the check failed in 1 crash state',
  );
  assert.equal(
    verdict(report({ ok: false, status: 'nothing-checked', watched: [] })),
    'nothing checked: no file was watched (the run created or changed no regular file; pass --watch or --check)',
  );
  assert.equal(
    verdict(
      report({
        ok: false,
        status: 'nothing-checked',
        checked: { files: 0, states: 1, operations: 0 },
      }),
    ),
    'nothing checked: the run made no file operation in the audited directory',
  );
  assert.equal(
    verdict(report({ ok: false, status: 'command-failed', exitCode: 3, done: undefined })),
    'the command failed (exit status 3); no crash state was inconsistent (1 file in 3 crash states), but a failed run is not a safe one',
  );
  assert.equal(
    verdict(report({ ok: false, status: 'command-failed', command: undefined })),
    'the function failed (it threw); no crash state was inconsistent (1 file in 3 crash states), but a failed run is not a safe one',
  );
  assert.equal(
    verdict(
      report({
        ok: false,
        status: 'unseen-changes',
        unseen: [{ path: 'f', recorded: 'a file of 1 bytes', actual: 'nothing' }],
      }),
    ),
    'not verified: the directory changed in ways the recording did not see (1 path); the states explored are not all a crash could leave',
  );
});

test('formatReport: bound reached, notes, no done point, many operations', () => {
  const operations = Array.from({ length: 70 }, (_, index) => ({
    n: index + 1,
    text: `fsync f${index}`,
    where: '',
  }));
  const text = formatReport(
    report({
      command: undefined,
      frontEnd: 'in-process',
      exitCode: 3,
      done: undefined,
      check: 'function',
      states: { explored: 4, generated: 10, bound: 10, boundReached: true },
      notes: ['something was not modelled'],
      temps: { states: 2, names: ['.f.tmp'] },
      operations,
    }),
  );
  assert.match(text, /^atomic-fs audit: an in-process function$/m);
  assert.match(
    text,
    /exited with status 3: never reported done, so stale versions are not checked/,
  );
  assert.match(text, /check: a function/);
  assert.match(text, /^crash states explored {2}check failed$/m);
  assert.match(
    text,
    /^\(bound reached: 10 candidate states generated, the limit; raise --max-states/m,
  );
  assert.match(text, /^note: something was not modelled$/m);
  assert.match(text, /^temp files a crash can leave behind \(in 2 of the states\): \.f\.tmp$/m);
  assert.match(text, /^ {2}… 10 more \(--json lists them all\)$/m);
  assert.match(
    formatReport(report({ done: { after: 2, by: 'marker' } })),
    /done: marker printed after #2/,
  );
  assert.match(
    formatReport(report({ done: { after: 2, by: 'return' }, watched: [] })),
    /done: returned after #2[^]*watched: \(nothing\)/,
  );
  assert.equal(wrap('aaa bbb ccc', 7, '> '), 'aaa bbb\n> ccc');
  assert.equal(table(['a', 'b'], [['x', '1']]), 'a  b\n-  -\nx  1\n');
});

test('snapshot: files, directories, symlinks, hard links, other nodes; limits; rebuilt states', (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(join(dir, 'sub'));
  fs.writeFileSync(join(dir, 'sub', 'a.txt'), 'alpha', { mode: 0o640 });
  fs.chmodSync(join(dir, 'sub', 'a.txt'), 0o640);
  fs.linkSync(join(dir, 'sub', 'a.txt'), join(dir, 'hard'));
  fs.symlinkSync('sub/a.txt', join(dir, 'link'));
  fs.mkdirSync(join(dir, 'node_modules'));
  fs.writeFileSync(join(dir, 'node_modules', 'big'), 'skipped');
  const named = Buffer.concat([Buffer.from(`${dir}/bad`), Buffer.from([0xff])]);
  fs.writeFileSync(named, 'not utf-8');
  if (isLinux) execFileSync('mkfifo', [join(dir, 'fifo')]);
  const root = realDirectory(dir);
  const { state, paths } = snapshot(root);
  const rootNode = state.nodes.get(state.root);
  assert.ok(rootNode?.type === 'dir');
  assert.deepEqual(
    [...rootNode.entries.keys()].sort(),
    ['bad\xff', 'hard', 'link', 'sub', ...(isLinux ? ['fifo'] : [])].sort(),
  );
  assert.equal(paths.get(rootNode.entries.get('sub') ?? -1), 'sub');
  const sub = state.nodes.get(rootNode.entries.get('sub') ?? -1);
  assert.ok(sub?.type === 'dir');
  assert.equal(sub.entries.get('a.txt'), rootNode.entries.get('hard'), 'hard links share a node');
  assert.deepEqual(state.nodes.get(rootNode.entries.get('link') ?? -1), {
    type: 'symlink',
    target: 'sub/a.txt',
  });
  assert.throws(() => snapshot(root, { maxEntries: 2 }), {
    name: 'AuditSetupError',
    message: /more than 2 entries/,
  });
  assert.throws(() => snapshot(root, { maxBytes: 3 }), {
    name: 'AuditSetupError',
    message: /more than 3 bytes/,
  });
  assert.throws(() => snapshot(`${root}/sub/a.txt`), {
    name: 'AuditSetupError',
    message: /is not a directory/,
  });
  assert.throws(() => snapshot(`${root}/missing`), {
    name: 'AuditSetupError',
    message: /cannot read the audited directory/,
  });
  assert.throws(() => realDirectory(join(dir, 'missing')), { name: 'AuditSetupError' });
  const out = tempDir(t);
  materialize(state, out);
  assert.equal(fs.readFileSync(join(out, 'sub', 'a.txt'), 'utf8'), 'alpha');
  assert.equal(fs.statSync(join(out, 'sub', 'a.txt')).mode & 0o777, 0o640);
  assert.equal(fs.readFileSync(join(out, 'hard'), 'utf8'), 'alpha');
  assert.equal(fs.readlinkSync(join(out, 'link')), 'sub/a.txt');
  assert.equal(
    fs.readFileSync(Buffer.concat([Buffer.from(`${out}/bad`), Buffer.from([0xff])]), 'utf8'),
    'not utf-8',
  );
  assert.equal(fs.existsSync(join(out, 'node_modules')), false);
  if (isLinux) {
    assert.deepEqual(state.nodes.get(rootNode.entries.get('fifo') ?? -1), { type: 'other' });
    assert.equal(fs.existsSync(join(out, 'fifo')), false);
  }
});
