/** Temp files of writes in flight are removed on SIGINT, SIGTERM, SIGHUP and normal exit. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { list, temps, tempDir } from './helpers.js';

const library = fileURLToPath(new URL('../src/index.js', import.meta.url));

const writers: [string, string][] = [
  [
    'a streaming writeFile',
    `void lib.writeFile(dest, (async function* () { yield 'partial'; console.log('writing'); await new Promise(() => setInterval(() => {}, 1000)); })());`,
  ],
  [
    'an open handle',
    `const f = await lib.openAtomic(dest); await f.write('partial'); console.log('writing'); setInterval(() => {}, 1000);`,
  ],
  [
    'an open sync handle',
    `const f = lib.openAtomicSync(dest); f.write('partial'); console.log('writing'); setInterval(() => {}, 1000);`,
  ],
];

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  for (const [name, body] of writers) {
    test(`${signal} during ${name}: the temp file is removed`, async (t) => {
      const dir = tempDir(t);
      const dest = join(dir, 'file');
      fs.writeFileSync(dest, 'old');
      const script = `const lib = await import(${JSON.stringify(library)}); const dest = process.argv[1]; ${body}`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, dest], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) =>
        child.stdout.once('data', () => {
          resolve();
        }),
      );
      assert.equal(temps(dir).length, 1, 'the write is in flight');
      const exited = new Promise<NodeJS.Signals | null>((resolve) => {
        child.on('exit', (_code, received) => {
          resolve(received);
        });
      });
      child.kill(signal);
      assert.equal(await exited, signal, 'the process still dies of the signal');
      assert.deepEqual(list(dir), ['file']);
      assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    });
  }
}

test('process.exit() during a write removes the temp file', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'file');
  const script = `const lib = await import(${JSON.stringify(library)});
    const f = await lib.openAtomic(process.argv[1]); await f.write('x'); process.exit(3);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, dest], {
    stdio: 'inherit',
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 3);
  assert.deepEqual(list(dir), []);
});
