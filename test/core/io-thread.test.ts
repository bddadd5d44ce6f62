/** The I/O thread: never keeps a process alive, waits for pending work, and steps aside. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { writeFile } from '../../src/index.js';
import { ioThreadReady, setThreadFactory } from '../../src/core/io-thread.js';
import { needs, tempDir } from '../support/helpers.js';

const library = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const offload = fileURLToPath(new URL('../../src/core/io-thread.js', import.meta.url));

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
  const { ioThreadReady } = await import('../../src/core/io-thread.js');
  const { writeFile } = await import('../../src/index.js');
  const { instrument } = await import('../support/helpers.js');
  assert.equal(await ioThreadReady(), true);
  const recorder = instrument(t);
  const dest = join(tempDir(t), 'file');
  await writeFile(dest, 'seen');
  const names = recorder.calls.map((call) => call.name);
  const resolving = names.indexOf('open');
  // Resolving: the directory's realpath and identity, then an lstat of the name (ENOENT); as
  // root, an lstat of every component instead, to see each symlink on the way …
  const walked = dest
    .split('/')
    .slice(1)
    .map(() => 'lstat');
  const expected = process.geteuid?.() === 0 ? walked : ['realpath', 'stat', 'lstat'];
  assert.deepEqual(names.slice(0, resolving), expected);
  assert.equal(recorder.calls[resolving - 1]?.subject, dest);
  // … then the plan, which takes what resolving saw instead of looking again: the directory
  // pinned (open, fstat, stat of its descriptor link), the temp, and that directory fsynced.
  assert.deepEqual(names.slice(resolving), [
    'open',
    'fstat',
    'stat',
    'open',
    'write',
    'fsync',
    'close',
    'rename',
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

test('no descriptor left while the I/O thread starts (a real EMFILE): a later start succeeds', (t) => {
  if (!needs(t, process.platform !== 'win32', 'needs a POSIX shell for ulimit')) return;
  const dir = tempDir(t);
  const script = join(dir, 'child.mjs');
  fs.writeFileSync(
    script,
    `import * as fs from 'node:fs';
     const io = await import(${JSON.stringify(offload)});
     const fillers = [];
     try { for (;;) fillers.push(fs.openSync(process.execPath, 'r')); } catch {}
     const first = await io.ioThreadReady();
     for (const fd of fillers) fs.closeSync(fd);
     let later = false;
     // After the start failed, a new one is tried after a short backoff.
     for (let i = 0; i < 400 && !later; i += 1) {
       await new Promise((resolve) => setTimeout(resolve, 25));
       later = await io.ioThreadReady();
     }
     console.log(JSON.stringify({ first, later }));`,
  );
  const child = spawnSync(
    '/bin/sh',
    ['-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, script],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), { first: false, later: true });
});

/** Threads made through the factory, and the names of the plans sent to each. */
async function spyingFactory(t: TestContext, failures: (() => Worker)[] = []) {
  const threads: { worker: Worker; sent: string[] }[] = [];
  await setThreadFactory((url, options) => {
    const fail = failures.shift();
    if (fail !== undefined) return fail();
    const worker = new Worker(url, options);
    const thread = { worker, sent: [] as string[] };
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (message: { name: string }) => {
      thread.sent.push(message.name);
      post(message);
    };
    threads.push(thread);
    return worker;
  });
  t.after(() => setThreadFactory());
  return threads;
}

/** Write until a write goes to a new thread (a failed start is retried after a backoff). */
async function writeUntilOffloaded(
  dest: string,
  threads: readonly { sent: string[] }[],
  count: number,
): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    await writeFile(dest, `write ${i}`);
    assert.equal(fs.readFileSync(dest, 'utf8'), `write ${i}`);
    if (threads.length >= count && threads[count - 1]?.sent.includes('writeWhole') === true) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail('no write went to the I/O thread again');
}

const startFailures: [string, () => Worker][] = [
  [
    'the thread cannot be made (EAGAIN)',
    () => {
      throw Object.assign(new Error('EAGAIN: resource temporarily unavailable, uv_thread_create'), {
        code: 'EAGAIN',
      });
    },
  ],
  [
    'the thread fails while it loads (EMFILE)',
    () =>
      new Worker('throw Object.assign(new Error("EMFILE"), { code: "EMFILE" })', { eval: true }),
  ],
];

for (const [name, failure] of startFailures) {
  test(`a failed start of the I/O thread, ${name}: later writes go to the thread again`, async (t) => {
    const threads = await spyingFactory(t, [failure]);
    const dest = join(tempDir(t), 'file');
    // Writes made meanwhile run on the calling thread.
    await writeFile(dest, 'first');
    assert.equal(await ioThreadReady(), false);
    await writeFile(dest, 'second');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'second');
    await writeUntilOffloaded(dest, threads, 1);
    assert.equal(await ioThreadReady(), true);
  });
}

test('an I/O thread that died is replaced for later writes', async (t) => {
  const threads = await spyingFactory(t);
  const dest = join(tempDir(t), 'file');
  assert.equal(await ioThreadReady(), true);
  await writeUntilOffloaded(dest, threads, 1);
  await threads[0]?.worker.terminate();
  await writeUntilOffloaded(dest, threads, 2);
  assert.equal(threads.length, 2);
});
