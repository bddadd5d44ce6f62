/**
 * Descriptors opened on the I/O thread are handed to the calling thread, which closes them.
 * The worker must not track them as its own: Node would warn (from the worker, on its
 * stderr) when a number comes back — "opened in unmanaged mode twice" — and would close them
 * again when the worker exits. Run in a child process to see the worker's stderr.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir, temps } from '../support/helpers.js';

test('temp descriptors opened on the I/O thread and closed here raise no warning', (t) => {
  const dir = tempDir(t);
  const index = pathToFileURL(new URL('../../src/index.js', import.meta.url).pathname).href;
  const offload = pathToFileURL(
    new URL('../../src/core/io-thread.js', import.meta.url).pathname,
  ).href;
  const script = `
    const { openAtomic } = await import(${JSON.stringify(index)});
    const { ioThreadReady } = await import(${JSON.stringify(offload)});
    if (!(await ioThreadReady())) throw new Error('no I/O thread');
    for (let i = 0; i < 5; i += 1) {
      const file = await openAtomic(${JSON.stringify(join(dir, 'f'))});
      await file.discard();
    }
    console.log('done');
  `;
  // A file, not -e: a Worker cannot inherit -e in its execArgv.
  const file = join(dir, 'child.mjs');
  writeFileSync(file, script);
  const child = spawnSync(process.execPath, [file], {
    encoding: 'utf8',
    env: { ...process.env, ATOMIC_FS_IO_THREAD: '1' },
  });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'done');
  assert.doesNotMatch(child.stderr, /unmanaged mode/);
  assert.deepEqual(temps(dir), []);
});
