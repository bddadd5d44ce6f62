/**
 * The hunter in CI: a bounded number of random programs of concurrent calls, checked against
 * the reference model (model.ts) — with a fixed seed, and with a random one printed in the log
 * — first in the temp directory, then on each file system of the matrix (tmpfs, ext4, XFS,
 * btrfs, overlayfs; as root). A failure prints the shrunk program and how to replay it. Each
 * hunt runs in a child process (main.ts), whose watchdog also catches a synchronous call that
 * blocks the whole process. `npm run hunt` runs the long hunt (100,000 programs).
 *
 * ATOMIC_FS_HUNT_CI_RUNS (default 100) and ATOMIC_FS_HUNT_CI_FS_RUNS (default 40 per file
 * system) bound the counts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needs } from '../support/helpers.js';
import { randomSeed } from './hunt.js';
import { MATRIX, unavailable } from './matrix.js';

const MAIN = fileURLToPath(new URL('main.js', import.meta.url));
const FIXED_SEED = 20_261_207;
// Every known class on: the generator makes programs that reach each fixed defect, so that
// CI would catch any of them coming back (`none` steers around them all: see config.ts).
const FIXED_CLASSES = process.env.ATOMIC_FS_HUNT_CLASSES ?? 'all';
const runs = Number(process.env.ATOMIC_FS_HUNT_CI_RUNS ?? 100);
const fsRuns = Number(process.env.ATOMIC_FS_HUNT_CI_FS_RUNS ?? 40);

function huntIn(env: Record<string, string>): { code: number | null; output: string } {
  const result = spawnSync(process.execPath, [MAIN], {
    encoding: 'utf8',
    env: {
      ...process.env,
      ATOMIC_FS_HUNT_CLASSES: FIXED_CLASSES,
      ...env,
    },
    timeout: 240_000,
  });
  const output = `${result.stdout}${result.stderr}`;
  process.stdout.write(output.replace(/^(?=.)/gm, '# '));
  return { code: result.status, output };
}

test(`hunter: ${runs} programs, fixed seed ${FIXED_SEED}`, () => {
  const { code, output } = huntIn({
    ATOMIC_FS_HUNT_RUNS: String(runs),
    ATOMIC_FS_HUNT_SEED: String(FIXED_SEED),
  });
  assert.equal(code, 0, output);
  assert.match(output, new RegExp(`hunt: ${runs} programs, no failure`));
});

test(`hunter: ${runs} programs, random seed (printed)`, () => {
  const seed = randomSeed();
  process.stdout.write(
    `# hunter random seed: ${seed} (replay: ATOMIC_FS_HUNT_SEED=${seed} npm run hunt)\n`,
  );
  const { code, output } = huntIn({
    ATOMIC_FS_HUNT_RUNS: String(runs),
    ATOMIC_FS_HUNT_SEED: String(seed),
  });
  assert.equal(code, 0, output);
});

for (const kind of MATRIX) {
  test(`hunter on ${kind}: ${fsRuns} programs`, (t) => {
    const why = unavailable(kind);
    if (!needs(t, why === undefined, `hunt on ${kind}: ${why ?? ''}`)) return;
    const { code, output } = huntIn({
      ATOMIC_FS_HUNT_RUNS: String(fsRuns),
      ATOMIC_FS_HUNT_SEED: String(FIXED_SEED + 1),
      ATOMIC_FS_HUNT_FS: kind,
    });
    assert.equal(code, 0, output);
    assert.match(output, new RegExp(`hunt: ${fsRuns} programs, no failure`));
  });
}
