/** Per-key ordering and coalescing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PathQueue } from '../src/queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

test('jobs of one key run one at a time, in order; other keys run alongside', async () => {
  const queue = new PathQueue();
  const log: string[] = [];
  const gate = deferred();
  const a = queue.add('k', undefined, async () => {
    log.push('a start');
    await gate.promise;
    log.push('a end');
  });
  const b = queue.add('k', undefined, async () => {
    log.push('b');
  });
  const other = queue.add('other', undefined, async () => {
    log.push('other');
  });
  await other;
  assert.deepEqual(log, ['a start', 'other']);
  gate.resolve();
  await Promise.all([a, b]);
  assert.deepEqual(log, ['a start', 'other', 'a end', 'b']);
  assert.equal(queue.size, 0);
});

test('queued jobs with one coalescing key collapse into the newest; the running one is kept', async () => {
  const queue = new PathQueue();
  const ran: number[] = [];
  const gate = deferred();
  const settled: number[] = [];
  const jobs = Array.from({ length: 10 }, (_, i) =>
    queue
      .add('k', 'same', async () => {
        ran.push(i);
        if (i === 0) await gate.promise;
      })
      .then(() => settled.push(i)),
  );
  gate.resolve();
  await Promise.all(jobs);
  assert.deepEqual(ran, [0, 9]);
  assert.equal(settled.length, 10);
  assert.equal(settled[0], 0, 'the first settles with its own write, before the others');
});

test('a different coalescing key, or none, breaks the run', async () => {
  const queue = new PathQueue();
  const ran: string[] = [];
  const gate = deferred();
  const add = (name: string, key: string | undefined) =>
    queue.add('k', key, async () => {
      ran.push(name);
      if (name === 'first') await gate.promise;
    });
  const all = [
    add('first', 'x'),
    add('a1', 'x'),
    add('a2', 'x'),
    add('b', 'y'),
    add('c', undefined),
    add('d1', 'x'),
    add('d2', 'x'),
  ];
  gate.resolve();
  await Promise.all(all);
  assert.deepEqual(ran, ['first', 'a2', 'b', 'c', 'd2']);
});

test('a failure rejects only the callers of that job', async () => {
  const queue = new PathQueue();
  const gate = deferred();
  const first = queue.add('k', 'x', async () => {
    await gate.promise;
  });
  const second = queue.add('k', 'x', () => Promise.reject(new Error('second failed')));
  const third = queue.add('k', 'x', () => Promise.reject(new Error('third failed')));
  const fourth = queue.add('k', undefined, () => {
    throw new Error('thrown synchronously');
  });
  gate.resolve();
  await first;
  await assert.rejects(second, /third failed/, 'superseded by the third, which failed');
  await assert.rejects(third, /third failed/);
  await assert.rejects(fourth, /thrown synchronously/);
  assert.equal(queue.size, 0);
});
