/** Per-key ordering and coalescing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AtomicFsError } from '../../src/engine/errors.js';
import { PathQueue } from '../../src/core/path-queue.js';

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
  // Superseded by the third, which failed: the second's own data was tried, and failed too.
  await assert.rejects(second, /second failed/);
  await assert.rejects(third, /third failed/);
  await assert.rejects(fourth, /thrown synchronously/);
  assert.equal(queue.size, 0);
});

test('a superseded caller gets an outcome of its own data: the newest failure is shared only if older data would meet it too', async () => {
  const queue = new PathQueue();
  const ran: string[] = [];
  const settled: string[] = [];
  const gate = deferred();
  const data = (name: string, fails?: string) => () => {
    ran.push(name);
    return fails === undefined ? Promise.resolve() : Promise.reject(new Error(fails));
  };
  const track = (name: string, promise: Promise<void>): Promise<string> =>
    promise.then(
      () => {
        settled.push(name);
        return 'ok';
      },
      (error: unknown) => {
        settled.push(name);
        return error instanceof Error ? error.message : String(error);
      },
    );
  // Data-dependent failures (not shared): newest fails, the next older is written and succeeds.
  const shared = (error: unknown): boolean =>
    error instanceof Error && error.message.startsWith('shared');
  const running = queue.add('k', 'x', () => gate.promise);
  const outcomes = [
    track('a', queue.add('k', 'x', data('a'), { shared })),
    track('b', queue.add('k', 'x', data('b'), { shared })),
    track('c', queue.add('k', 'x', data('c', 'ENOSPC c'), { shared })),
    track('d', queue.add('k', 'x', data('d', 'ENOSPC d'), { shared })),
  ];
  gate.resolve();
  await running;
  assert.deepEqual(await Promise.all(outcomes), ['ok', 'ok', 'ENOSPC c', 'ENOSPC d']);
  assert.deepEqual(ran, ['d', 'c', 'b'], 'newest first, then older data until one lands');
  assert.deepEqual(settled, ['a', 'b', 'c', 'd'], 'settled in call order');

  // A shared failure (older data would meet the same step): everyone gets it, nothing retried.
  ran.length = 0;
  const again = deferred();
  const busy = queue.add('k', 'x', () => again.promise);
  const all = [
    queue.add('k', 'x', data('e'), { shared }),
    queue.add('k', 'x', data('f', 'shared EACCES'), { shared }),
  ];
  again.resolve();
  await busy;
  for (const promise of all) await assert.rejects(promise, /shared EACCES/);
  assert.deepEqual(ran, ['f']);
});

test('a job added from inside a holder for its own key, or closing a cycle, is refused and never run', async () => {
  const queue = new PathQueue();
  const ran: string[] = [];
  const code = async (promise: Promise<void>): Promise<string> =>
    promise.then(
      () => 'ok',
      (error: unknown) => (error instanceof AtomicFsError ? error.code : String(error)),
    );
  // Re-entry, also two holders deep.
  let nested = '';
  let deep = '';
  await queue.add(
    'a',
    undefined,
    async () => {
      nested = await code(queue.add('a', undefined, async () => void ran.push('nested')));
      await queue.add(
        'b',
        undefined,
        async () => {
          assert.ok(queue.refusal('a') instanceof AtomicFsError);
          deep = await code(queue.add('a', undefined, async () => void ran.push('deep')));
        },
        { holds: 'fn', dest: 'b' },
      );
    },
    { holds: 'fn', dest: 'a' },
  );
  assert.equal(nested, 'ERR_ATOMIC_LOCK_REENTRANT');
  assert.equal(deep, 'ERR_ATOMIC_LOCK_REENTRANT');
  assert.equal(ran.length, 0, 'no refused job ran');
  assert.equal(queue.size, 0);

  // A cycle: holder of x waits for y, holder of y then adds to x.
  const bothIn = deferred();
  const xWaits = deferred();
  let inY = '';
  let begun = 0;
  const x = queue.add(
    'x',
    undefined,
    async () => {
      await bothIn.promise;
      const inner = queue.add('y', undefined, async () => void ran.push('y from x'));
      xWaits.resolve();
      await inner;
    },
    { holds: 'fn', dest: 'x' },
  );
  const y = queue.add(
    'y',
    undefined,
    async () => {
      bothIn.resolve();
      await xWaits.promise;
      assert.equal(queue.refusal('x')?.code, 'ERR_ATOMIC_DEADLOCK');
      inY = await code(
        queue.add('x', undefined, async () => void ran.push('x from y'), {
          begin: () => {
            begun += 1;
          },
        }),
      );
    },
    { holds: 'fn', dest: 'y' },
  );
  await Promise.all([x, y]);
  assert.equal(inY, 'ERR_ATOMIC_DEADLOCK');
  assert.equal(begun, 0, 'a refused job begins nothing');
  assert.deepEqual(ran, ['y from x']);
  assert.equal(queue.size, 0);
});

test('a sync write is refused while the key has work: as re-entry from inside its holder, else as a conflict', async () => {
  const queue = new PathQueue();
  assert.equal(queue.syncRefusal('k', 'k'), undefined);
  const gate = deferred();
  const pending = queue.add('k', undefined, () => gate.promise);
  assert.equal(queue.syncRefusal('k', 'k')?.code, 'ERR_ATOMIC_SYNC_CONFLICT');
  assert.equal(queue.syncRefusal('other', 'other'), undefined);
  gate.resolve();
  await pending;
  let inside: string | undefined;
  await queue.add(
    'k',
    undefined,
    async () => {
      inside = queue.syncRefusal('k', 'k')?.code;
    },
    { holds: 'fn' },
  );
  assert.equal(inside, 'ERR_ATOMIC_LOCK_REENTRANT');
  assert.equal(queue.syncRefusal('k', 'k'), undefined);
});
