/** The I/O thread: never keeps a process alive, waits for pending work, and steps aside. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const library = fileURLToPath(new URL('../src/index.js', import.meta.url));
const offload = fileURLToPath(new URL('../src/offload.js', import.meta.url));

function runChild(body: string, dest: string, env: NodeJS.ProcessEnv = {}) {
  const script = join(dirname(dest), 'child.mjs');
  fs.writeFileSync(
    script,
    `const lib = await import(${JSON.stringify(library)});
     const io = await import(${JSON.stringify(offload)});
     const dest = process.argv[2];
     ${body}`,
  );
  return spawnSync(process.execPath, [script, dest], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, ...env },
  });
}

const programs: [string, string][] = [
  ['one write while the thread starts', `await lib.writeFile(dest, 'done');`],
  [
    'writes on the ready thread',
    `await io.ioThreadReady(); await lib.writeFile(dest, 'x'); await lib.writeFile(dest, 'done');`,
  ],
  ['a write not awaited', `await io.ioThreadReady(); void lib.writeFile(dest, 'done');`],
  [
    'a stream and a handle',
    `await lib.writeFile(dest, ['d', 'o']); const f = await lib.openAtomic(dest); await f.write('done'); await f.commit();`,
  ],
  [
    'the thread turned off',
    `await lib.writeFile(dest, 'done'); if (await io.ioThreadReady()) throw new Error('thread on');`,
  ],
];

for (const [name, body] of programs) {
  test(`a process exits by itself after ${name}`, (t) => {
    const dest = join(tempDir(t), 'file');
    const env = name.includes('turned off') ? { ATOMIC_FS_IO_THREAD: '0' } : {};
    const child = runChild(body, dest, env);
    assert.equal(child.signal, null, 'the process had to be killed: something kept it alive');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'done');
  });
}

test('a patched seam keeps every call on the calling thread', async (t) => {
  const { ioThreadReady } = await import('../src/offload.js');
  const { writeFile } = await import('../src/index.js');
  const { instrument } = await import('./helpers.js');
  assert.equal(await ioThreadReady(), true);
  const recorder = instrument(t);
  const dest = join(tempDir(t), 'file');
  await writeFile(dest, 'seen');
  const names = recorder.calls.map((call) => call.name);
  const resolving = names.indexOf('open');
  // Resolving: the directory's realpath and identity, then an lstat of the name (ENOENT) …
  assert.deepEqual(names.slice(0, resolving), ['realpath', 'stat', 'lstat']);
  assert.equal(recorder.calls[resolving - 1]?.subject, dest);
  // … then the plan, which takes what resolving saw instead of looking again.
  assert.deepEqual(names.slice(resolving), [
    'open',
    'write',
    'fsync',
    'close',
    'rename',
    'open',
    'fsync',
    'close',
  ]);
});

test('descriptors are opened and closed on the same thread (no unmanaged-fd warnings)', (t) => {
  const dest = join(tempDir(t), 'file');
  const child = runChild(
    `await io.ioThreadReady();
     // Sequential, so that a number freed on one thread is the next one opened on the other.
     for (let i = 0; i < 20; i += 1) {
       const f = await lib.openAtomic(dest + '.h');
       await f.write('x');
       await (i % 2 ? f.commit() : f.discard());
       await lib.writeFile(dest + '.s', ['a', 'b']);
       await lib.writeFile(dest, 'whole ' + i);
     }
     await lib.writeFile(dest, 'done');
     await new Promise((resolve) => setTimeout(resolve, 100)); // let the thread's warnings arrive`,
    dest,
  );
  assert.equal(child.status, 0, child.stderr);
  assert.doesNotMatch(child.stderr, /unmanaged/, 'a descriptor crossed threads');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'done');
});
