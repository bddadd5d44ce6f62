// What each system call of a write is for (bench/syscalls.ts), and the per-thread counts of
// the strace probe (bench/probes.ts). The pure tests use lines strace printed for one
// atomic-fs overwrite; the live ones trace real writes, and fail when atomic-fs makes a
// file-system call that bench/syscalls.ts has no reason for, so that BENCHMARKS.md's
// call-by-call listing never shows an "unexplained" call without a test saying so first.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { countSyscalls, listOneWrite } from '../../bench/probes.js';
import { parseStrace } from '../../bench/stats.js';
import {
  REASONS,
  UNEXPLAINED,
  kindOf,
  listCalls,
  matchFloor,
  operationOf,
  pathOf,
  shorten,
} from '../../bench/syscalls.js';
import { isLinux, needs, tempDir } from '../support/helpers.js';

const DIR = '/tmp/perf-st/w';
const TEMP = `${DIR}/.data.bin.afs-5bce-13235-cd5fa707411bd874.tmp`;
const DEST = `${DIR}/data.bin`;

/** One atomic-fs overwrite as strace -f -y printed it (calling thread 13235, I/O thread 13271). */
const ONE_WRITE = [
  `13235 statx(AT_FDCWD</tmp/perf-st>, "${DEST}", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_ALL, {stx_mask=STATX_ALL|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0644, stx_size=1024, ...}) = 0`,
  `13235 statx(AT_FDCWD</tmp/perf-st>, "${DIR}", AT_STATX_SYNC_AS_STAT, STATX_ALL, {stx_mask=STATX_ALL|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFDIR|0755, stx_size=4096, ...}) = 0`,
  '13235 write(21<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8',
  '13271 read(21<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 1024) = 8',
  `13271 openat(AT_FDCWD</tmp/perf-st>, "${TEMP}", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0644) = 22<${TEMP}>`,
  `13271 write(22<${TEMP}>, "atomic-fs #30\\n.................."..., 1024) = 1024`,
  `13271 statx(22<${TEMP}>, "", AT_STATX_SYNC_AS_STAT|AT_EMPTY_PATH, STATX_ALL, {stx_mask=STATX_ALL|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0644, stx_size=1024, ...}) = 0`,
  `13271 fsync(22<${TEMP}>) = 0`,
  `13271 close(22<${TEMP}>) = 0`,
  `13271 rename("${TEMP}", "${DEST}") = 0`,
  `13271 openat(AT_FDCWD</tmp/perf-st>, "${DIR}", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 22<${DIR}>`,
  `13271 fsync(22<${DIR}>)         = 0`,
  `13271 close(22<${DIR}>)         = 0`,
  '13271 write(17<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8 <unfinished ...>',
].join('\n');

const OVERWRITE_KINDS = [
  'lstat destination',
  'stat directory',
  'open temp',
  'write temp',
  'fstat temp',
  'fsync temp',
  'close temp',
  'rename temp',
  'open directory',
  'fsync directory',
  'close directory',
];

const FLOOR_KINDS = [
  'open temp',
  'write temp',
  'fsync temp',
  'close temp',
  'rename temp',
  'open directory',
  'fsync directory',
  'close directory',
];

test('one overwrite is classified call by call, with its thread and a reason for each', () => {
  const listed = listCalls(parseStrace(ONE_WRITE), 13235, DEST);
  assert.deepEqual(
    listed.map((call) => call.kind),
    OVERWRITE_KINDS,
  );
  assert.deepEqual(
    listed.map((call) => call.thread),
    ['calling', 'calling', ...Array<string>(9).fill('other')],
  );
  for (const call of listed) assert.notEqual(call.reason, UNEXPLAINED, call.kind);
  assert.equal(listed[0]?.reason, REASONS['lstat destination']);
  // The listing's text: the directory abbreviated, structures and data elided, the result kept.
  assert.equal(
    listed[0]?.text,
    'statx(AT_FDCWD, "<dir>/data.bin", AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW, STATX_ALL, {…}) = 0',
  );
  assert.equal(listed[3]?.text, 'write(22, "…", 1024) = 1024');
  assert.equal(
    listed[7]?.text,
    'rename("<dir>/.data.bin.afs-5bce-13235-cd5fa707411bd874.tmp", "<dir>/data.bin") = 0',
  );
});

test("names through a pinned directory (/proc/self/fd/<fd>/…) are the directory's entries", () => {
  const link = '/proc/self/fd/22';
  const temp = TEMP.split('/').at(-1) ?? '';
  const listed = listCalls(
    parseStrace(
      [
        // The open's result on a line of its own: the descriptor's path comes from its fstat.
        `1 openat(AT_FDCWD</x>, "${DIR}", O_RDONLY|O_CLOEXEC|O_DIRECTORY <unfinished ...>`,
        `2 write(21<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8`,
        `1 <... openat resumed>) = 22<${DIR}>`,
        `1 statx(22<${DIR}>, "", AT_STATX_SYNC_AS_STAT|AT_EMPTY_PATH, STATX_ALL, {…}) = 0`,
        `1 statx(AT_FDCWD</x>, "${link}", AT_STATX_SYNC_AS_STAT, STATX_ALL, {…}) = 0`,
        `1 openat(AT_FDCWD</x>, "${link}/${temp}", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600) = 23<${TEMP}>`,
        `1 rename("${link}/${temp}", "${link}/data.bin") = 0`,
        `1 fsync(22<${DIR}>) = 0`,
      ].join('\n'),
    ),
    1,
    DEST,
  );
  assert.deepEqual(
    listed.map((call) => call.kind),
    [
      'open directory',
      'fstat directory',
      'stat descriptor link',
      'open temp',
      'rename temp',
      'fsync directory',
    ],
  );
  for (const call of listed) assert.notEqual(call.reason, UNEXPLAINED, call.kind);
});

test('a call with no reason in the table is unexplained', () => {
  const listed = listCalls(
    parseStrace(
      [
        `1 fchmodat(AT_FDCWD</x>, "/elsewhere/file", 0644) = 0`,
        `1 flock(3<${DEST}>, LOCK_EX) = 0`,
        `1 fdatasync(3<${TEMP}>) = 0`,
      ].join('\n'),
    ),
    1,
    DEST,
  );
  assert.deepEqual(
    listed.map((call) => [call.kind, call.reason === UNEXPLAINED]),
    [
      ['chmod other', true],
      ['flock destination', true],
      ['fdatasync temp', false],
    ],
  );
});

test('operations are named for what they do, whatever the kernel calls them', () => {
  const call = (text: string) => parseStrace(text)[0] ?? assert.fail(text);
  assert.equal(
    operationOf(call('1 newfstatat(AT_FDCWD, "/a", {…}, AT_SYMLINK_NOFOLLOW) = 0')),
    'lstat',
  );
  assert.equal(operationOf(call('1 newfstatat(AT_FDCWD, "/a", {…}, 0) = 0')), 'stat');
  assert.equal(operationOf(call('1 newfstatat(3</a>, "", {…}, AT_EMPTY_PATH) = 0')), 'fstat');
  assert.equal(operationOf(call('1 lstat("/a", {…}) = 0')), 'lstat');
  assert.equal(operationOf(call('1 renameat2(AT_FDCWD, "/a", AT_FDCWD, "/b", 0) = 0')), 'rename');
  assert.equal(operationOf(call('1 unlinkat(AT_FDCWD, "/a", AT_REMOVEDIR) = 0')), 'rmdir');
  assert.equal(operationOf(call('1 pwrite64(3</a>, "x", 1, 0) = 1')), 'write');
  // A write's data is not a path, even when it looks like one.
  assert.equal(pathOf(call(`1 write(3<${TEMP}>, "/etc/passwd", 11) = 11`)), TEMP);
  // A relative path of an *at call is taken relative to its directory descriptor.
  assert.equal(pathOf(call(`1 openat(5<${DIR}>, "data.bin", O_RDONLY) = 6`)), DEST);
  assert.equal(kindOf(call(`1 unlink("${TEMP}") = 0`), DEST), 'unlink temp');
  assert.equal(shorten(call(`1 fsync(22<${DIR}>)         = 0`), DEST), 'fsync(22) = 0');
});

test("matching against the floor marks exactly the calls beyond the floor's", () => {
  const mine = listCalls(parseStrace(ONE_WRITE), 13235, DEST);
  const floor = FLOOR_KINDS.map((kind) => ({
    thread: 'other' as const,
    name: kind.split(' ')[0] ?? '',
    kind,
    text: '',
    reason: '',
  }));
  const matched = matchFloor(mine, floor);
  assert.deepEqual(
    mine.filter((_, i) => matched[i] === false).map((call) => call.kind),
    ['lstat destination', 'stat directory', 'fstat temp'],
  );
  // Each floor call matches one call at most: two writes of mine against one of the floor's.
  const twice = [...mine, ...mine.filter((call) => call.kind === 'write temp')];
  assert.equal(matchFloor(twice, floor).filter((hit) => !hit).length, 4);
});

const hasStrace = spawnSync('strace', ['-V']).status === 0;

test('every file-system call of a traced atomic-fs overwrite has a reason (async and sync)', (t) => {
  if (!needs(t, isLinux && hasStrace, 'needs strace on Linux')) return;
  const dir = tempDir(t);
  for (const mode of ['async', 'sync'] as const) {
    const probe = listOneWrite('atomic-fs', mode, dir, 1024);
    assert.ok('ok' in probe, `traced: ${'skipped' in probe ? probe.skipped : ''}`);
    const calls = probe.ok.calls;
    // The durable sequence is in there: the trace saw the write.
    for (const kind of ['open temp', 'fsync temp', 'rename temp', 'fsync directory']) {
      assert.ok(
        calls.some((call) => call.kind === kind),
        `${mode}: ${kind} in ${calls.map((c) => c.kind).join(', ')}`,
      );
    }
    const unexplained = calls.filter((call) => call.reason === UNEXPLAINED);
    assert.deepEqual(
      unexplained.map((call) => call.text),
      [],
      `${mode}: add a reason to bench/syscalls.ts REASONS for these calls`,
    );
    if (mode === 'sync') assert.ok(calls.every((call) => call.thread === 'calling'));
  }
});

test("the floor's traced overwrite is its eight calls; strace attributes them to threads", (t) => {
  if (!needs(t, isLinux && hasStrace, 'needs strace on Linux')) return;
  const dir = tempDir(t);
  const listing = listOneWrite('floor: fs/promises', 'async', dir, 1024);
  assert.ok('ok' in listing);
  assert.deepEqual(
    listing.ok.calls.map((call) => call.kind),
    FLOOR_KINDS,
  );
  // fs/promises runs every call on libuv's threadpool; the sync floor on the calling thread.
  const pooled = countSyscalls('floor: fs/promises', 'async', dir, 10, 1024);
  assert.ok('ok' in pooled);
  assert.equal(pooled.ok.file, 8);
  assert.equal(pooled.ok.calling, 0);
  const sync = countSyscalls('floor: sync calls', 'sync', dir, 10, 1024);
  assert.ok('ok' in sync);
  assert.equal(sync.ok.calling, 8);
  assert.equal(sync.ok.file, 8);
});
