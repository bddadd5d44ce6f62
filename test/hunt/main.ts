/**
 * `npm run hunt`: the long hunt. ATOMIC_FS_HUNT_RUNS (default 100000) programs with
 * ATOMIC_FS_HUNT_SEED (default: random, printed), the switches of config.ts, on each file
 * system ATOMIC_FS_HUNT_FS names (`tmpfs`, `ext4`, `xfs`, `btrfs`, `overlay`, a comma list, or
 * `all`; default: the temp directory as it is). Exits 1 on a failure, printing the minimal
 * program.
 *
 * Each hunt runs in a child process watched by this one: a synchronous call that blocks
 * forever (a sync lock wait, a FIFO opened for reading) stops a whole process, timers and
 * signal handlers included. The child names the program it is about to run in a heartbeat
 * file; when the heartbeat stops for longer than any program may take, the child is killed and
 * that program is reported as a hang (it cannot be shrunk: each try would block too).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromEnv } from './config.js';
import { hunt, randomSeed } from './hunt.js';
import { type MatrixKind, MATRIX, withFileSystem } from './matrix.js';
import { programText } from './program.js';

const config = configFromEnv();
const runs = Number(process.env.ATOMIC_FS_HUNT_RUNS ?? 100_000);
const seed =
  process.env.ATOMIC_FS_HUNT_SEED === undefined || process.env.ATOMIC_FS_HUNT_SEED === ''
    ? randomSeed()
    : Number(process.env.ATOMIC_FS_HUNT_SEED);
const path = process.env.ATOMIC_FS_HUNT_PATH;
const timeLimitMs =
  process.env.ATOMIC_FS_HUNT_MINUTES === undefined
    ? undefined
    : Number(process.env.ATOMIC_FS_HUNT_MINUTES) * 60_000;

async function child(): Promise<number> {
  const heartbeat = process.env.ATOMIC_FS_HUNT_HEARTBEAT;
  const root = process.env.ATOMIC_FS_HUNT_ROOT;
  const result = await hunt({
    config,
    runs,
    seed,
    path,
    root: root === '' ? undefined : root,
    timeLimitMs,
    progress: (count) => {
      if (count % 1000 === 0) process.stdout.write(`  … ${count} programs\n`);
    },
    beforeEach: (program, count) => {
      if (heartbeat !== undefined) {
        fs.writeFileSync(heartbeat, `program ${count} (seed ${seed}):\n${programText(program)}\n`);
      }
    },
  });
  process.stdout.write(`${result.report}\n`);
  return result.failed ? 1 : 0;
}

/** Run one hunt in a child process; kill it if its heartbeat stops. */
function watched(root: string | undefined): Promise<number> {
  const beat = join(fs.mkdtempSync(join(tmpdir(), 'afs-hunt-beat-')), 'heartbeat');
  fs.writeFileSync(beat, 'starting\n');
  const stallMs = config.settleMs * 4 + 20_000;
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      stdio: 'inherit',
      env: {
        ...process.env,
        ATOMIC_FS_HUNT_CHILD: '1',
        ATOMIC_FS_HUNT_SEED: String(seed),
        ATOMIC_FS_HUNT_ROOT: root ?? '',
        ATOMIC_FS_HUNT_HEARTBEAT: beat,
      },
    });
    let killed = false;
    const timer = setInterval(() => {
      const age = Date.now() - fs.statSync(beat).mtimeMs;
      if (age > stallMs && !killed) {
        killed = true;
        process.stdout.write(
          `hunt: FAILED: the process blocked (no program finished for ${Math.round(age / 1000)} s): a synchronous call never returned\n${fs.readFileSync(beat, 'utf8')}`,
        );
        proc.kill('SIGKILL');
      }
    }, 1000);
    proc.on('exit', (code) => {
      clearInterval(timer);
      fs.rmSync(join(beat, '..'), { recursive: true, force: true });
      resolve(killed ? 1 : (code ?? 1));
    });
  });
}

async function parent(): Promise<number> {
  const choice = process.env.ATOMIC_FS_HUNT_FS;
  const kinds: (MatrixKind | undefined)[] =
    choice === undefined || choice === ''
      ? [undefined]
      : choice === 'all'
        ? [...MATRIX]
        : choice.split(',').map((kind) => {
            if (!(MATRIX as readonly string[]).includes(kind)) {
              throw new Error(`ATOMIC_FS_HUNT_FS: unknown file system '${kind}'`);
            }
            return kind as MatrixKind;
          });
  let failed = false;
  for (const kind of kinds) {
    const classes = [...config.classes].join(',') || 'none';
    process.stdout.write(
      `hunt on ${kind ?? 'the temp directory'}: ${runs} programs, seed ${seed}, classes ${classes}, sync rule ${config.syncRule}\n`,
    );
    const code = await withFileSystem(kind, (root) => watched(root));
    if (code !== undefined && code !== 0) failed = true;
  }
  return failed ? 1 : 0;
}

process.exitCode = process.env.ATOMIC_FS_HUNT_CHILD === '1' ? await child() : await parent();
