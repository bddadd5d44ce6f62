/**
 * A user's check runs `jobs` at a time, each job in a directory of its own that is brought to
 * each state in place: the states a check sees are exactly the rebuilt states, whatever the
 * check did to its directory before, the report is the one a single job gives (same counts,
 * same order, same first examples), checks really do overlap, and a check command is told
 * whether the crash came after the program reported done.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditRecording } from '../../src/audit/audit.js';
import { formatReport } from '../../src/audit/report.js';
import { type OpenIntent, RecordingBuilder } from '../../src/audit/builder.js';
import { Explorer } from '../../src/audit/explore.js';
import type { FsNode, FsState, Recording } from '../../src/audit/model.js';
import { materialize } from '../../src/audit/snapshot.js';
import { StateDir } from '../../src/audit/statedir.js';
import { tempDir } from '../support/helpers.js';

const ROOT = '/virtual/dir';
const CREATE: OpenIntent = {
  create: true,
  exclusive: false,
  truncate: true,
  write: true,
  tmpfile: false,
  noFollow: false,
};

/**
 * A run over a small tree (a file, a subdirectory with a read-only file, a symlink) that
 * rewrites one file in place, writes another through a temp file without fsyncs, makes a
 * directory and removes a file: many distinct states, some of which fail a content check.
 */
function recording(): Recording {
  const nodes = new Map<number, FsNode>([
    [
      0,
      {
        type: 'dir',
        mode: 0o755,
        entries: new Map([
          ['a.txt', 1],
          ['sub', 2],
          ['link', 4],
          ['gone.txt', 5],
        ]),
      },
    ],
    [1, { type: 'file', mode: 0o644, data: Buffer.from('alpha '.repeat(900)) }],
    [2, { type: 'dir', mode: 0o755, entries: new Map([['ro.txt', 3]]) }],
    [3, { type: 'file', mode: 0o444, data: Buffer.from('read only\n') }],
    [4, { type: 'symlink', target: 'a.txt' }],
    [5, { type: 'file', mode: 0o600, data: Buffer.from('to be removed\n') }],
  ]);
  const paths = new Map([
    [0, ''],
    [1, 'a.txt'],
    [2, 'sub'],
    [3, 'sub/ro.txt'],
    [4, 'link'],
    [5, 'gone.txt'],
  ]);
  const b = new RecordingBuilder('in-process', ROOT, { root: 0, nodes }, paths);
  const a = b.open(`${ROOT}/a.txt`, CREATE, 0o644);
  assert.ok(a !== undefined);
  b.write(a, 0, Buffer.from('beta! '.repeat(1200)));
  b.close(a);
  const temp = b.open(`${ROOT}/sub/.b.tmp`, CREATE, 0o640);
  assert.ok(temp !== undefined);
  b.write(temp, 0, Buffer.from('new b\n'));
  b.close(temp);
  b.rename(`${ROOT}/sub/.b.tmp`, `${ROOT}/sub/b.txt`);
  b.mkdir(`${ROOT}/made`, 0o750);
  b.unlink(`${ROOT}/gone.txt`);
  b.done();
  return b.finish(0);
}

/** What a check can see of a directory: every path with its type, mode and content. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const visit = (path: string, rel: string): void => {
    for (const name of fs.readdirSync(path).sort()) {
      const child = join(path, name);
      const key = rel === '' ? name : `${rel}/${name}`;
      const stats = fs.lstatSync(child);
      const mode = (stats.mode & 0o7777).toString(8);
      if (stats.isDirectory()) {
        out.push(`${key}/ d${mode}`);
        visit(child, key);
      } else if (stats.isSymbolicLink()) {
        out.push(`${key} -> ${fs.readlinkSync(child)}`);
      } else {
        const hash = createHash('sha1').update(fs.readFileSync(child)).digest('hex');
        out.push(`${key} f${mode} ${stats.nlink} ${hash}`);
      }
    }
  };
  visit(dir, '');
  return out;
}

/** The listing of a state written from nothing into a fresh directory. */
function fresh(t: test.TestContext, state: FsState): string[] {
  const dir = join(tempDir(t), 'fresh');
  fs.mkdirSync(dir, 0o700);
  materialize(state, dir);
  return listing(dir);
}

function states(): FsState[] {
  return [...new Explorer(recording()).states()].map((explored) => explored.state.freeze());
}

/** Undo everything: what a careless (or a recovering) check may do to its directory. */
function vandalize(dir: string, round: number): void {
  const a = join(dir, 'a.txt');
  const sub = join(dir, 'sub');
  switch (round % 7) {
    case 0:
      fs.rmSync(a, { force: true });
      fs.writeFileSync(join(dir, 'extra.txt'), 'not in any state');
      break;
    case 1:
      if (fs.existsSync(a)) fs.appendFileSync(a, 'x');
      fs.chmodSync(sub, 0o500);
      break;
    case 2:
      if (fs.existsSync(a)) {
        // Same size, other bytes: only a comparison of content can see it.
        const data = fs.readFileSync(a);
        data[0] = (data[0] ?? 0) ^ 0xff;
        fs.writeFileSync(a, data);
      }
      fs.mkdirSync(join(dir, 'gone.txt.d'), { recursive: true });
      break;
    case 3:
      fs.rmSync(sub, { recursive: true, force: true });
      fs.writeFileSync(sub, 'a file where a directory was');
      break;
    case 4:
      // A second name for a file: writing through one must never change the other.
      fs.rmSync(join(dir, 'link'), { force: true });
      if (fs.existsSync(a)) fs.linkSync(a, join(dir, 'link'));
      fs.chmodSync(join(sub, 'ro.txt'), 0o666);
      break;
    case 5:
      fs.rmSync(join(dir, 'link'), { force: true });
      fs.symlinkSync('elsewhere', join(dir, 'link'));
      fs.mkdirSync(join(sub, 'deep', 'er'), { recursive: true });
      fs.writeFileSync(join(sub, 'deep', 'er', 'f'), 'x');
      break;
    default:
      fs.chmodSync(sub, 0o000);
      break;
  }
}

test('a state directory shows each state exactly, whatever was done to it before', (t) => {
  const all = states();
  assert.ok(all.length > 20, `${all.length} states`);
  const shared = new StateDir(join(tempDir(t), 'shared'));
  let round = 0;
  for (const state of all) {
    shared.show(state);
    assert.deepEqual(listing(shared.path), fresh(t, state));
    vandalize(shared.path, round);
    round += 1;
  }
  // Brought to the same state twice in a row, nothing is rewritten.
  const last = all.at(-1);
  assert.ok(last !== undefined);
  shared.show(last);
  const before = shared.changes;
  shared.show(last);
  assert.equal(shared.changes, before);
});

test('a state directory a check removed, or replaced with a file, is made again', (t) => {
  const [first, second, third] = states();
  assert.ok(first !== undefined && second !== undefined && third !== undefined);
  const dir = new StateDir(join(tempDir(t), 'slot'));
  dir.show(first);
  fs.rmSync(dir.path, { recursive: true });
  dir.show(second);
  assert.deepEqual(listing(dir.path), fresh(t, second));
  fs.rmSync(dir.path, { recursive: true });
  fs.writeFileSync(dir.path, 'not a directory');
  dir.show(third);
  assert.deepEqual(listing(dir.path), fresh(t, third));
});

test('the report is the same with one job and with many', async () => {
  // A check that fails on some states, and takes longer on some than on others, so that
  // with several jobs the checks finish out of order.
  const check =
    'n=$(cat a.txt sub/b.txt 2>/dev/null | wc -c); sleep 0.0$((n % 4)); ' +
    'test -d sub && test "$n" -ne 0 || { echo "error: $n bytes in $ATOMIC_FS_AUDIT_STATE"; exit 1; }';
  const one = await auditRecording(recording(), { check, jobs: 1 });
  assert.ok(one.violations['check-failed'] > 0, 'some states fail the check');
  assert.ok(one.violations['check-failed'] < one.states.explored, 'and some pass it');
  assert.match(one.examples[0]?.message ?? '', /error: \d+ bytes in \$ATOMIC_FS_AUDIT_STATE/);
  for (const jobs of [4]) {
    const many = await auditRecording(recording(), { check, jobs });
    assert.deepEqual(many, one, `jobs: ${jobs}`);
  }
  // A check function too, even one that leaves its directory in a mess: it is called in the
  // explorer's order, and each call sees the state a single job shows.
  const seen: string[][] = [];
  const tidy = await auditRecording(recording(), {
    jobs: 1,
    check: (dir) => {
      seen.push(listing(dir));
      return fs.existsSync(join(dir, 'sub', 'b.txt'));
    },
  });
  let calls = 0;
  const wrong: number[] = [];
  const messy = await auditRecording(recording(), {
    jobs: 3,
    check: async (dir) => {
      const call = calls;
      calls += 1;
      if (JSON.stringify(listing(dir)) !== JSON.stringify(seen[call])) wrong.push(call);
      const ok = fs.existsSync(join(dir, 'sub', 'b.txt'));
      await new Promise((resolve) => setTimeout(resolve, call % 3));
      vandalize(dir, call);
      return ok;
    },
  });
  assert.equal(seen.length, tidy.states.explored);
  assert.equal(calls, seen.length);
  assert.deepEqual(wrong, [], 'every check saw the state it was given');
  assert.deepEqual(messy, tidy);
});

test('checks run at once, up to jobs', async (t) => {
  let running = 0;
  let most = 0;
  const check = async (): Promise<boolean> => {
    running += 1;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 5));
    running -= 1;
    return true;
  };
  const report = await auditRecording(recording(), { check, jobs: 3 });
  assert.equal(report.status, 'safe');
  assert.equal(most, 3);
  most = 0;
  await auditRecording(recording(), { check, jobs: 1 });
  assert.equal(most, 1);

  // Commands too: each of the first two checks waits until the other has started, which
  // only happens if they run at once (alone, the wait gives up and the check fails).
  const barrier = tempDir(t);
  const command =
    `touch "${barrier}/$$"; i=0; ` +
    `while [ "$(ls "${barrier}" | wc -l)" -lt 2 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; ` +
    `[ "$(ls "${barrier}" | wc -l)" -ge 2 ]`;
  const together = await auditRecording(recording(), { check: command, jobs: 2 });
  assert.equal(together.violations['check-failed'], 0);
  assert.equal(together.status, 'safe');
});

test('a check command is told whether the crash came after done', async (t) => {
  const log = join(tempDir(t), 'log');
  const expected: string[] = [];
  await auditRecording(recording(), {
    jobs: 1,
    check: (_dir, crash) => {
      expected.push(crash.afterDone ? '1' : '0');
      return true;
    },
  });
  assert.ok(expected.includes('0') && expected.includes('1'));
  const report = await auditRecording(recording(), {
    jobs: 1,
    check: `echo "$ATOMIC_FS_AUDIT_AFTER_DONE" >> "${log}"`,
  });
  assert.equal(report.status, 'safe');
  assert.deepEqual(fs.readFileSync(log, 'utf8').trim().split('\n'), expected);
});

test('jobs is validated', async () => {
  for (const jobs of [0, -1, 1.5, Number.NaN]) {
    await assert.rejects(auditRecording(recording(), { check: 'true', jobs }), {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /The "jobs" option must be a positive integer/,
    });
  }
});

test('failed checks are grouped by what the check said', async () => {
  const check =
    'if [ ! -e sub/b.txt ]; then echo "error: no b"; exit 1; fi; ' +
    'test -s a.txt || { echo "error: a is empty"; exit 1; }';
  const report = await auditRecording(recording(), { check, jobs: 2 });
  const groups = report.checkFailures;
  assert.deepEqual(
    groups.map((group) => group.output),
    ['error: no b', 'error: a is empty'],
  );
  assert.equal(
    groups.reduce((sum, group) => sum + group.states, 0),
    report.violations['check-failed'],
  );
  // The first group's first state is the report's example.
  assert.deepEqual(groups[0]?.crash, report.examples[0]?.crash);
  const text = formatReport(report);
  assert.match(
    text,
    /^the check failed with these messages \(crash states, message, the first state\):\n {2} *\d+ {2}error: no b\n {4,}\(a crash after #\d+[^)]*\)\n {2} *\d+ {2}error: a is empty\n/m,
  );
  // A line of its own for every state: ten are kept, the rest counted together.
  const chatty = await auditRecording(recording(), {
    check: 'echo "error: $ATOMIC_FS_AUDIT_CRASH"; exit 1',
  });
  assert.equal(chatty.checkFailures.length, 11);
  assert.equal(chatty.checkFailures.at(-1)?.output, null);
  assert.equal(chatty.checkFailures.at(-1)?.states, chatty.states.explored - 10);
  assert.match(formatReport(chatty), /^ {2} *\d+ {2}\(other messages\)$/m);
});
