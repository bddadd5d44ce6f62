/** Temp files of writes in flight are removed on SIGINT, SIGTERM, SIGHUP and normal exit. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { random } from '../crash/harness.js';
import { list, temps, tempDir } from '../support/helpers.js';

const library = fileURLToPath(new URL('../../src/index.js', import.meta.url));

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

// Exit at a random moment while many writes are in flight: on the I/O thread (which runs on
// while the exit handler does) and on the calling thread (whose open() calls may still be on
// libuv's threadpool, which process.exit() lets finish). ATOMIC_FS_EXIT_RUNS sets the runs per
// case (default 12; `ATOMIC_FS_EXIT_RUNS=60` is the long run); ATOMIC_FS_SEED repeats a run.

const EXIT_RUNS = Number(process.env.ATOMIC_FS_EXIT_RUNS ?? 12);
const EXIT_SEED = Number(process.env.ATOMIC_FS_SEED ?? Date.now() % 2 ** 31);
const exitWriter = fileURLToPath(new URL('../fixtures/exit-writer.js', import.meta.url));
const APIS = ['writeFile', 'writeFiles', 'handle'] as const;
const WRITES = 40;

interface ExitRun {
  readonly api: string;
  readonly moment: number;
  readonly left: string[];
  readonly torn: string[];
  readonly ended: string;
}

async function exitRun(
  parent: string,
  index: number,
  end: string,
  thread: boolean,
  moment: number,
): Promise<ExitRun> {
  const dir = join(parent, String(index));
  fs.mkdirSync(dir);
  const api = APIS[index % APIS.length] ?? 'writeFile';
  const child = spawn(process.execPath, [exitWriter, dir, end, String(moment), api], {
    env: { ...process.env, ATOMIC_FS_IO_THREAD: thread ? '1' : '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const ended = await new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(signal ?? `code ${code}`);
    });
  });
  const torn: string[] = [];
  for (let i = 0; i < WRITES; i += 1) {
    const dest = join(dir, `f${i}`);
    if (fs.existsSync(dest) && fs.readFileSync(dest, 'utf8') !== `new ${i}`) torn.push(dest);
  }
  return {
    api,
    moment,
    left: temps(dir),
    torn,
    ended: stderr === '' ? ended : `${ended}: ${stderr}`,
  };
}

for (const end of ['exit', 'SIGTERM'] as const) {
  for (const thread of [true, false]) {
    test(`${end === 'exit' ? 'process.exit()' : end} at a random moment during ${WRITES} writes, I/O thread ${thread ? 'on' : 'off'}: no temp is left (${EXIT_RUNS} runs)`, async (t) => {
      const parent = tempDir(t);
      const next = random(EXIT_SEED + (end === 'exit' ? 0 : 2) + (thread ? 0 : 1));
      t.diagnostic(`ATOMIC_FS_SEED=${EXIT_SEED}`);
      const moments = Array.from({ length: EXIT_RUNS }, () => Math.floor(next() * 60));
      const runs: ExitRun[] = [];
      let started = 0;
      // A few children at a time: each mostly waits for its writes' fsyncs.
      const lane = async (): Promise<void> => {
        for (let index = started; index < EXIT_RUNS; index = started) {
          started += 1;
          runs.push(await exitRun(parent, index, end, thread, moments[index] ?? 0));
        }
      };
      await Promise.all([lane(), lane(), lane(), lane()]);
      const expected = end === 'exit' ? 'code 0' : end;
      for (const run of runs) {
        const where = `${run.api}, ${run.moment} turns in`;
        assert.equal(run.ended, expected, `${where}: how the child ended`);
        assert.deepEqual(
          run.torn,
          [],
          `${where}: a destination holds neither nothing nor the new content`,
        );
        assert.deepEqual(run.left, [], `${where}: temps left`);
      }
    });
  }
}
