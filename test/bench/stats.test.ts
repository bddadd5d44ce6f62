// The benchmark's pure helpers (bench/stats.ts, bench/data.ts). No timing is measured or
// asserted here: the benchmark itself runs only with `npm run bench`.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  checkBytes,
  checkNames,
  checkPattern,
  patternBuffer,
  smallData,
} from '../../bench/data.js';
import {
  MARK_END,
  MARK_START,
  countByName,
  fmt,
  fmtBytes,
  isFileCall,
  median,
  parseStrace,
  quantile,
  ratio,
  rotation,
  table,
} from '../../bench/stats.js';
import { tempDir } from '../support/helpers.js';

test('quantile interpolates between order statistics; median of none is NaN', () => {
  assert.equal(quantile([3, 1, 2], 0.5), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(quantile([10, 20], 0.99), 19.9);
  assert.equal(quantile([5], 0), 5);
  assert.ok(Number.isNaN(median([])));
});

test('rotation starts each round one contender later and keeps every contender', () => {
  assert.deepEqual(rotation(['a', 'b', 'c'], 0), ['a', 'b', 'c']);
  assert.deepEqual(rotation(['a', 'b', 'c'], 1), ['b', 'c', 'a']);
  assert.deepEqual(rotation(['a', 'b', 'c'], 5), ['c', 'a', 'b']);
  assert.deepEqual(rotation([], 3), []);
});

test('ratio refuses missing or zero denominators; fmt keeps three digits', () => {
  assert.equal(ratio(6, 3), 2);
  assert.ok(Number.isNaN(ratio(1, 0)));
  assert.ok(Number.isNaN(ratio(undefined, 2)));
  assert.equal(fmt(1234.5), '1235');
  assert.equal(fmt(12.345), '12.3');
  assert.equal(fmt(1.2345), '1.23');
  assert.equal(fmt(0.01234), '0.012');
  assert.equal(fmt(Number.NaN), '—');
  assert.equal(fmtBytes(1024), '1 KiB');
  assert.equal(fmtBytes(2 ** 30), '1 GiB');
  assert.equal(fmtBytes(1536), '1536 B');
  assert.equal(table(['a', 'b'], [['1', '2']]), '| a | b |\n| --- | --- |\n| 1 | 2 |');
});

test('parseStrace counts an interrupted call once and keeps only calls', () => {
  const log = [
    `100 access("${MARK_START}", F_OK) = -1 ENOENT (No such file or directory)`,
    '100 openat(AT_FDCWD</x>, "/d/.t.tmp", O_WRONLY|O_CREAT|O_EXCL, 0644) = 3</d/.t.tmp>',
    '101 fsync(3</d/.t.tmp> <unfinished ...>',
    '100 write(7<anon_inode:[eventfd]>, "\\1\\0\\0\\0\\0\\0\\0\\0", 8) = 8',
    '101 <... fsync resumed>) = 0',
    '101 +++ exited with 0 +++',
    '100 --- SIGCHLD {si_signo=SIGCHLD} ---',
    '[pid   101] close(3</d/.t.tmp>) = 0',
    `100 access("${MARK_END}", F_OK) = -1 ENOENT (No such file or directory)`,
  ].join('\n');
  const calls = parseStrace(log);
  assert.deepEqual(
    calls.map((call) => `${call.pid} ${call.name}`),
    ['100 access', '100 openat', '101 fsync', '100 write', '101 close', '100 access'],
  );
  const window = calls.slice(1, -1);
  assert.deepEqual(
    window.filter(isFileCall).map((call) => call.name),
    ['openat', 'fsync', 'close'],
  );
  assert.deepEqual([...countByName(window)].sort(), [
    ['close', 1],
    ['fsync', 1],
    ['openat', 1],
    ['write', 1],
  ]);
});

test('the output checks catch a wrong write, a stray temp file and a displaced chunk', (t) => {
  const dir = tempDir(t);
  const sub = join(dir, 'out');
  mkdirSync(sub);
  const path = join(sub, 'data.bin');
  const data = smallData(64, 'writer', 7);
  assert.equal(data.byteLength, 64);
  writeFileSync(path, data);
  assert.deepEqual(checkBytes(path, data), []);
  assert.equal(checkBytes(path, smallData(64, 'writer', 8)).length, 1);
  assert.deepEqual(checkNames(sub, ['data.bin']), []);
  writeFileSync(join(sub, '.data.bin.tmp'), '');
  assert.match(checkNames(sub, ['data.bin'])[0] ?? '', /unexpected \.data\.bin\.tmp/);

  const size = 3 * 65_536 + 100;
  const large = join(dir, 'large.bin');
  const content = patternBuffer(size);
  writeFileSync(large, content);
  assert.deepEqual(checkPattern(large, size), []);
  // The same bytes with two 64 KiB chunks swapped must not pass.
  const swapped = Buffer.concat([
    content.subarray(65_536, 131_072),
    content.subarray(0, 65_536),
    content.subarray(131_072),
  ]);
  writeFileSync(large, swapped);
  assert.equal(checkPattern(large, size).length, 1);
  assert.equal(checkPattern(large, size + 1).length, 1);
});
