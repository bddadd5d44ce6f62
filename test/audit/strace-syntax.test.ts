/**
 * Reading strace output: escapes, argument syntax, results, and lines from several threads
 * interrupted and resumed, cut short, or padded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hex } from '../support/audit.js';
import {
  type Syscall,
  type TraceProblems,
  annotation,
  boxed,
  field,
  flagsOf,
  numberOf,
  parseArgs,
  parseResult,
  readSyscalls,
  unescape,
  word,
} from '../../src/audit/strace-syntax.js';

function read(text: string): { calls: Syscall[]; problems: TraceProblems } {
  const problems: TraceProblems = { unreadable: 0, unfinished: [], orphans: 0 };
  return { calls: [...readSyscalls(text.split('\n'), problems, 7)], problems };
}

test('unescape: hex, octal and C escapes; annotations are hex paths or plain text', () => {
  assert.equal(unescape('\\x61\\x20\\x0a\\xff'), 'a \n\xff');
  assert.equal(unescape('a\\nb\\t\\"\\\\\\0\\177'), 'a\nb\t"\\\0\x7f');
  assert.equal(annotation(hex('/tmp/a b')), '/tmp/a b');
  assert.equal(annotation('pipe:[1234]'), 'pipe:[1234]');
});

test('parseArgs: strings (cut or not), descriptors with paths, flags, structs, arrays, arrows, comments', () => {
  const args = parseArgs(
    `3<${hex('/d/x y')}>(deleted), "${hex('ab')}"..., O_WRONLY|O_CREAT, 0644, NULL, ` +
      `[{iov_base="${hex('hi')}", iov_len=2}, {iov_base="", iov_len=0}], [0] => [4096], ` +
      `{flags=CLONE_VM|CLONE_FILES, exit_signal=0} => {parent_tid=[12]}, /* 2 entries */ 88`,
  );
  assert.equal(args.length, 9);
  assert.deepEqual(args[0], { t: 'word', text: '3', path: '/d/x y' });
  assert.deepEqual(args[1], { t: 'str', bytes: 'ab', truncated: true });
  assert.deepEqual([...flagsOf(args[2])], ['O_WRONLY', 'O_CREAT']);
  assert.equal(numberOf(args[3]), 0o644);
  assert.equal(word(args[4]), 'NULL');
  const iov = args[5];
  assert.ok(iov?.t === 'list');
  assert.deepEqual(field(iov.items[0], 'iov_base'), { t: 'str', bytes: 'hi', truncated: false });
  assert.equal(boxed(args[6]), 0);
  assert.deepEqual([...flagsOf(field(args[7], 'flags'))], ['CLONE_VM', 'CLONE_FILES']);
  assert.equal(numberOf(args[8]), 88);
  assert.equal(numberOf({ t: 'word', text: '0x1f' }), 31);
  assert.equal(numberOf({ t: 'word', text: 'O_RDONLY' }), undefined);
});

test('parseResult: numbers, hex, descriptors with paths, errors, unknown', () => {
  assert.deepEqual(parseResult(`3<${hex('/a')}>`), { value: 3, path: '/a', errno: undefined });
  assert.deepEqual(parseResult('-1 ENOENT (No such file or directory)'), {
    value: -1,
    path: undefined,
    errno: 'ENOENT',
  });
  assert.equal(parseResult('0x323').value, 0x323);
  assert.equal(parseResult('? <unavailable>').value, undefined);
  assert.equal(parseResult('garbage').value, undefined);
});

test('readSyscalls: unfinished and resumed calls from several threads are joined', () => {
  const text = [
    '101 write(3, "\\x61", 1 <unfinished ...>',
    '102 openat(AT_FDCWD, "\\x62", O_RDONLY <unfinished ...>',
    '103 fsync(4)                       = 0',
    '101 <... write resumed>)          = 1',
    '102 <... openat resumed>) = 5',
    '104 read(0x3, 0x7ff, 0x10 <unfinished ...>',
    '104 <... read resumed>, 0x10 <unfinished ...>',
    '104 <... read resumed>) = 0x10',
    '+++ exited with 0 +++',
    '105 --- SIGCHLD {si_signo=SIGCHLD} ---',
    'close(9) = 0',
  ].join('\n');
  const { calls, problems } = read(text);
  assert.deepEqual(
    calls.map((call) => [call.pid, call.name, call.line, call.endLine, call.result.value]),
    [
      [103, 'fsync', 3, 3, 0],
      [101, 'write', 1, 4, 1],
      [102, 'openat', 2, 5, 5],
      [104, 'read', 6, 8, 0x10],
      [7, 'close', 11, 11, 0],
    ],
  );
  assert.equal(calls[1]?.args.length, 3);
  assert.equal(calls[3]?.args.length, 4);
  assert.deepEqual(problems, { unreadable: 0, unfinished: [], orphans: 0 });
});

test('readSyscalls: a cut trace — a partial last line, calls never resumed, orphans', () => {
  const text = [
    '201 <... write resumed>) = 1',
    '202 fsync(3 <unfinished ...>',
    '203 rename("\\x61", "\\x62") = 0',
    '204 write(3, "\\x61\\x62',
  ].join('\n');
  const { calls, problems } = read(text);
  assert.deepEqual(
    calls.map((call) => call.name),
    ['rename'],
  );
  assert.deepEqual(problems, {
    unreadable: 1,
    unfinished: [{ pid: 202, name: 'fsync', line: 2 }],
    orphans: 1,
  });
});
