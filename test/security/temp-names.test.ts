/**
 * Temp names cannot be guessed, and two processes with the same pid never collide.
 *
 * - Statistics on the random part of 40,000 temp and staging names (64 bits each): no repeat;
 *   every bit set about half the time; every hex digit about equally often at every
 *   position; consecutive names independent bit by bit. Thresholds sit about 7 standard
 *   deviations out (a false alarm is far rarer than one in a billion runs). A counter and a
 *   clock-based name, the usual weak choices, fail the same checks. (Statistics cannot tell a
 *   CSPRNG from a good PRNG; the source is `crypto.randomBytes`.)
 * - Pid namespaces (`unshare --pid --fork`, as root): two writers that are both pid 1, on the
 *   same host, write one destination at the same time — one holding its temp open while the
 *   other writes 100 times, then both in a loop — and nothing collides. The control: a temp
 *   named after the pid alone (`.<name>.<pid>.tmp`) collides at once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type TestContext, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  HOST_TAG,
  parseStagingName,
  parseTempName,
  stagingName,
  tempName,
} from '../../src/core/temp-names.js';
import { isLinux, isRoot, list, needs, tempDir } from '../support/helpers.js';

const NAMES = 40_000;
const BITS = 64;
/** About 7 standard deviations of a count of NAMES fair coin flips. */
const BIT_SLACK = 7 * (Math.sqrt(NAMES) / 2);
/** Chi-square with 15 degrees of freedom: P(X > 90) is about 1e-12. */
const CHI_SQUARE_LIMIT = 90;

/** The problems found in a list of 64-bit values given as 16 hex digits. */
function randomnessProblems(randoms: readonly string[]): string[] {
  const problems: string[] = [];
  if (new Set(randoms).size !== randoms.length) problems.push('repeated values');
  const values = randoms.map((hex) => BigInt(`0x${hex}`));
  const ones = new Array<number>(BITS).fill(0);
  const flips = new Array<number>(BITS).fill(0);
  let previous: bigint | undefined;
  for (const value of values) {
    for (let bit = 0; bit < BITS; bit += 1) {
      if (((value >> BigInt(bit)) & 1n) === 1n) ones[bit] = (ones[bit] ?? 0) + 1;
      if (previous !== undefined && (((value ^ previous) >> BigInt(bit)) & 1n) === 1n) {
        flips[bit] = (flips[bit] ?? 0) + 1;
      }
    }
    previous = value;
  }
  ones.forEach((count, bit) => {
    if (Math.abs(count - randoms.length / 2) > BIT_SLACK)
      problems.push(`bit ${bit}: ${count} ones`);
  });
  flips.forEach((count, bit) => {
    if (Math.abs(count - (randoms.length - 1) / 2) > BIT_SLACK) {
      problems.push(`bit ${bit}: ${count} changes between consecutive values`);
    }
  });
  for (let position = 0; position < 16; position += 1) {
    const counts = new Array<number>(16).fill(0);
    for (const hex of randoms) {
      const digit = parseInt(hex[position] ?? '0', 16);
      counts[digit] = (counts[digit] ?? 0) + 1;
    }
    const expected = randoms.length / 16;
    const chi = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    if (chi > CHI_SQUARE_LIMIT) problems.push(`digit ${position}: chi-square ${chi.toFixed(1)}`);
  }
  return problems;
}

describe('the random part of temp and staging names', () => {
  test(`${NAMES} temp names: 64 unpredictable bits each`, () => {
    const randoms = Array.from({ length: NAMES }, () => parseTempName(tempName('f'))?.random ?? '');
    assert.ok(randoms.every((random) => /^[0-9a-f]{16}$/.test(random)));
    assert.deepEqual(randomnessProblems(randoms), []);
  });

  test(`${NAMES} staging names: 64 unpredictable bits each`, () => {
    const randoms = Array.from(
      { length: NAMES },
      () => parseStagingName(stagingName('d'))?.random ?? '',
    );
    assert.deepEqual(randomnessProblems(randoms), []);
  });

  test('controls: a counter and a clock-based name fail the same checks', () => {
    const start = Date.now() * 1000;
    const counter = Array.from({ length: NAMES }, (_, i) => i.toString(16).padStart(16, '0'));
    const clock = Array.from({ length: NAMES }, (_, i) =>
      (start + i * 7).toString(16).padStart(16, '0'),
    );
    assert.ok(randomnessProblems(counter).length > 0, 'a counter');
    assert.ok(randomnessProblems(clock).length > 0, 'a clock');
    assert.ok(randomnessProblems([...counter.slice(0, 10), ...counter.slice(0, 10)]).length > 0);
  });
});

const WRITER = fileURLToPath(new URL('../fixtures/ns-writer.js', import.meta.url));

function pidNamespacesWork(): boolean {
  if (!isLinux || !isRoot) return false;
  const probe = spawnSync('unshare', ['--pid', '--fork', '--kill-child', 'true'], {
    stdio: 'ignore',
  });
  return probe.error === undefined && probe.status === 0;
}

interface Child {
  readonly process: ChildProcess;
  /** The next JSON line the child prints. */
  next(): Promise<Record<string, unknown>>;
  exited(): Promise<number | null>;
}

/** Start the writer fixture as pid 1 of a new pid namespace. */
function inNamespace(t: TestContext, args: readonly string[]): Child {
  const child = spawn(
    'unshare',
    ['--pid', '--fork', '--kill-child', process.execPath, WRITER, ...args],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    process: child,
    next: async () => {
      const line = await lines.next();
      assert.ok(line.done !== true, 'the writer ended without reporting');
      return JSON.parse(line.value) as Record<string, unknown>;
    },
    exited: () => exit,
  };
}

describe('writers with the same pid in different pid namespaces', () => {
  test('control: a temp named after the pid alone collides', async (t) => {
    if (!needs(t, pidNamespacesWork(), 'root and unshare --pid (Linux)')) return;
    const dir = tempDir(t);
    const dest = join(dir, 'file');
    const holder = inNamespace(t, ['naive-hold', dest]);
    const held = await holder.next();
    assert.equal(held.pid, 1);
    const other = inNamespace(t, ['naive-once', dest]);
    assert.deepEqual(await other.next(), { pid: 1, error: 'EEXIST' });
    holder.process.stdin?.end();
    assert.deepEqual(await holder.next(), { done: true });
    assert.equal(await holder.exited(), 0);
  });

  test('one holds its temp open while the other writes 100 times: no collision', async (t) => {
    if (!needs(t, pidNamespacesWork(), 'root and unshare --pid (Linux)')) return;
    const dir = tempDir(t);
    const dest = join(dir, 'file');
    const holder = inNamespace(t, ['hold', dest]);
    const held = await holder.next();
    assert.equal(held.pid, 1);
    const heldTemp = parseTempName((held.temp as string).split('/').pop() ?? '');
    assert.equal(heldTemp?.pid, 1);
    assert.equal(heldTemp.host, HOST_TAG, 'the same host');
    const writer = inNamespace(t, ['loop', dest, '100', 'other']);
    const result = await writer.next();
    assert.equal(result.pid, 1);
    assert.deepEqual(result.errors, []);
    assert.equal(result.ok, 100);
    assert.equal(parseTempName(result.sample as string)?.pid, 1);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'other 99');
    assert.ok(fs.existsSync(held.temp as string), 'the held temp was never touched');
    holder.process.stdin?.end();
    assert.deepEqual(await holder.next(), { done: true });
    assert.equal(fs.readFileSync(dest, 'utf8'), 'held');
    assert.deepEqual(list(dir), ['file']);
  });

  test('two writers, both pid 1, 200 writes each at the same time: every write lands', async (t) => {
    if (!needs(t, pidNamespacesWork(), 'root and unshare --pid (Linux)')) return;
    const dir = tempDir(t);
    const dest = join(dir, 'file');
    const writers = ['a', 'b'].map((label) => inNamespace(t, ['loop', dest, '200', label]));
    const results = await Promise.all(writers.map((writer) => writer.next()));
    for (const result of results) {
      assert.equal(result.pid, 1);
      assert.deepEqual(result.errors, []);
      assert.equal(result.ok, 200);
    }
    assert.ok(['a 199', 'b 199'].includes(fs.readFileSync(dest, 'utf8')));
    assert.deepEqual(list(dir), ['file']);
  });
});
