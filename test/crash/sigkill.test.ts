/**
 * SIGKILL at random moments while a child process writes alternating payloads: after each
 * kill the destination is exactly one complete payload, and the only thing left behind is at
 * most a temp file of the killed process (which cleanupTemps reclaims).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanupTemps } from '../../src/index.js';
import { parseTempName } from '../../src/temp.js';
import { payloads } from '../fixtures/writer.js';
import { tempDir } from '../helpers.js';

const TRIALS = Number(process.env.ATOMIC_FS_SIGKILL_TRIALS ?? 200);
const APIS = ['writeFile', 'writeFileSync', 'stream', 'openAtomic', 'openAtomicSync'];
const writer = fileURLToPath(new URL('../fixtures/writer.js', import.meta.url));

/** A deterministic pseudo-random sequence, so a failing run can be repeated. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

async function killOnce(api: string, dest: string, delayMs: number): Promise<number> {
  const child = spawn(process.execPath, [writer, api, dest], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => {
    child.on('exit', (_code, signal) => {
      resolve(signal);
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => {
      resolve();
    });
    child.once('exit', () => {
      reject(new Error(`writer exited early: ${stderr}`));
    });
  });
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL', stderr);
  return child.pid ?? -1;
}

test(`SIGKILL during writes: ${TRIALS} kills, always exactly old or new`, async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'data.bin');
  const initial = Buffer.from('initial content');
  const [a, b] = payloads() as [Buffer, Buffer];
  fs.writeFileSync(dest, initial);
  const next = random(Number(process.env.ATOMIC_FS_SEED ?? 20261123));
  const seen = { initial: 0, a: 0, b: 0 };
  let tempsLeft = 0;
  for (let trial = 0; trial < TRIALS; trial += 1) {
    const api = APIS[trial % APIS.length] ?? 'writeFile';
    const pid = await killOnce(api, dest, Math.floor(next() * 60));
    const content = fs.readFileSync(dest);
    if (content.equals(a)) seen.a += 1;
    else if (content.equals(b)) seen.b += 1;
    else if (content.equals(initial)) seen.initial += 1;
    else assert.fail(`trial ${trial} (${api}): torn file of ${content.length} bytes`);
    const left = fs.readdirSync(dir).filter((name) => name !== 'data.bin');
    for (const name of left) {
      const parts = parseTempName(name);
      assert.ok(parts !== undefined, `trial ${trial}: unexpected ${name}`);
      assert.equal(parts.pid, pid, `trial ${trial}: a temp of another process`);
    }
    // The writer is dead: cleanupTemps takes exactly its temps.
    const reclaimed = await cleanupTemps(dir);
    assert.deepEqual(reclaimed.map((path) => path.split('/').at(-1)).sort(), left.sort());
    assert.deepEqual(fs.readdirSync(dir), ['data.bin']);
    tempsLeft += left.length;
  }
  process.stdout.write(
    `# ${TRIALS} SIGKILLs: destination was the initial content ${seen.initial}×, payload A ${seen.a}×, payload B ${seen.b}×; ${tempsLeft} temp files left by killed writers, all reclaimed by cleanupTemps\n`,
  );
  assert.ok(seen.a + seen.b > TRIALS / 4, 'most kills landed after some writes completed');
});
