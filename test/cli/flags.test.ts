/** The text forms of the shared flags: what each accepts, and the one-line refusal otherwise. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/cli/command.js';
import {
  durabilityOf,
  durationOf,
  headersOf,
  httpUrlOf,
  modeOf,
  secondsOf,
  sha256Of,
} from '../../src/cli/flags.js';

test('modeOf: octal with or without 0 / 0o, up to 7777', () => {
  assert.equal(modeOf(undefined), undefined);
  for (const [text, mode] of [
    ['0', 0],
    ['644', 0o644],
    ['0644', 0o644],
    ['0o644', 0o644],
    ['0O7777', 0o7777],
    ['000600', 0o600],
  ] as const) {
    assert.equal(modeOf(text), mode, text);
  }
  for (const text of ['', '0o', '8', '10000', '0x1a4', '-644', '644 ', 'rw-r--r--', '6.4']) {
    assert.throws(() => modeOf(text), UsageError, text);
  }
});

test('durabilityOf: full, file, none', () => {
  assert.equal(durabilityOf('none'), 'none');
  assert.equal(durabilityOf(undefined), undefined);
  assert.throws(
    () => durabilityOf('FULL'),
    /--durability must be one of full, file, none, not 'FULL'/,
  );
});

test('durationOf: a number with ms, s, m, h or d', () => {
  const cases: [string, number][] = [
    ['0s', 0],
    ['250ms', 250],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2d', 172_800_000],
  ];
  for (const [text, ms] of cases) assert.equal(durationOf(text, '--age'), ms, text);
  assert.equal(durationOf(undefined, '--age'), undefined);
  for (const text of ['1', 'h', '1H', '1 h', '-1h', '1w', '.5h', '1h30m']) {
    assert.throws(() => durationOf(text, '--age'), /^UsageError: --age must be a duration/, text);
  }
});

test('secondsOf: seconds with decimals, up to the largest timer', () => {
  assert.equal(secondsOf('0', '--t'), 0);
  assert.equal(secondsOf('2.5', '--t'), 2500);
  assert.equal(secondsOf('2147483', '--t'), 2_147_483_000);
  for (const text of ['2147484', '-1', '1e3', 'Infinity', '', '5s']) {
    assert.throws(
      () => secondsOf(text, '--t'),
      /--t must be a number of seconds from 0 to 2147483/,
    );
  }
});

test('headersOf, sha256Of, httpUrlOf', () => {
  const args = (header: string[]) => ({ values: { header }, positionals: [] });
  assert.deepEqual(headersOf(args(['A: b', 'X-Y:z:w', 'Empty:']), 'header'), [
    ['A', 'b'],
    ['X-Y', 'z:w'],
    ['Empty', ''],
  ]);
  assert.deepEqual(headersOf({ values: {}, positionals: [] }, 'header'), []);
  for (const bad of ['novalue', ':x', ' : x', 'a b: c', 'A: line\nbreak']) {
    assert.throws(() => headersOf(args([bad]), 'header'), UsageError, JSON.stringify(bad));
  }
  assert.equal(sha256Of('AB'.repeat(32)), 'ab'.repeat(32));
  assert.throws(() => sha256Of('ab'.repeat(31)), UsageError);
  assert.equal(httpUrlOf('https://example.com/a?b').href, 'https://example.com/a?b');
  for (const bad of ['example.com', 'file:///etc/passwd', 'ftp://x/y', '']) {
    assert.throws(() => httpUrlOf(bad), /^UsageError: URL must be an http/);
  }
});
