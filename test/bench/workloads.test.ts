// The benchmark's instruments (bench/workloads.ts): the event-loop watcher sees a blocked
// loop, and the concurrent workloads check every output. The loop test asserts lower bounds
// only (a loop blocked for 40 ms cannot report less); nothing here asserts a speed.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Contender } from '../../bench/contenders.js';
import type { Place } from '../../bench/places.js';
import { concurrentFiles, concurrentWriters, watchLoop } from '../../bench/workloads.js';
import { tempDir } from '../support/helpers.js';

test('the loop watcher reports a loop blocked right after it starts', async () => {
  const stop = await watchLoop();
  const until = performance.now() + 40;
  while (performance.now() < until) {
    // Block the event loop, as a synchronous system call on the calling thread would.
  }
  await sleep(5);
  const stats = stop();
  assert.ok(stats.delayMaxMs >= 35, `delay ${stats.delayMaxMs} ms`);
  assert.ok(stats.busyMs >= 40, `busy ${stats.busyMs} ms`);
  assert.ok(stats.samples >= 1);
});

function place(dir: string): Place {
  return { kind: 'tmpfs', dir, fsType: 'test', device: 'test' };
}

function contender(name: string, write: Contender['write']): Contender {
  return { name, durability: 'none', role: 'peer', ...(write === undefined ? {} : { write }) };
}

const plain = contender('plain', (path, data) => writeFile(path, data));

test('C and the writers sweep accept right output and count every call', async (t) => {
  const dir = tempDir(t);
  const c = await concurrentFiles(place(dir), 12, 64)(plain, 0);
  assert.deepEqual(c.problems, []);
  assert.equal(c.calls, 12);
  assert.ok(c.issuedMs !== undefined && c.loop !== undefined);
  for (const writers of [1, 5, 12, 50]) {
    const w = await concurrentWriters(place(dir), 12, writers, 64)(plain, 0);
    assert.deepEqual(w.problems, [], `${writers} writers`);
    assert.equal(w.calls, 12);
  }
});

test('C and the writers sweep catch a temp left behind, wrong bytes and a rejection', async (t) => {
  const dir = tempDir(t);
  const leaky = contender('leaky', async (path, data) => {
    await writeFile(path, data);
    writeFileSync(`${path}.tmp`, '');
  });
  const wrong = contender('wrong', (path) => writeFile(path, 'not the data'));
  const failing = contender('failing', (path, data) =>
    path.endsWith('00003.txt') ? Promise.reject(new Error('EIO')) : writeFile(path, data),
  );
  for (const trial of [
    concurrentFiles(place(dir), 6, 64),
    concurrentWriters(place(dir), 6, 2, 64),
  ]) {
    assert.match((await trial(leaky, 0)).problems.join('\n'), /unexpected .*\.tmp/);
    assert.match((await trial(wrong, 0)).problems.join('\n'), /not the expected write/);
    assert.match((await trial(failing, 0)).problems.join('\n'), /1 of \d+ writes rejected \(EIO\)/);
  }
});
