/**
 * The hunt: generate programs with fast-check, run and check each one, and on a failure let
 * fast-check shrink it to a minimal program, printed with its seed and path so that it can be
 * replayed (`ATOMIC_FS_HUNT_SEED=<seed> ATOMIC_FS_HUNT_PATH=<path>`).
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { serve, type TestServer } from '../support/http.js';
import type { HuntConfig } from './config.js';
import { type Program, programArb, programText } from './program.js';
import { type Env, runAndCheck } from './runner.js';

export interface HuntOptions {
  readonly config: HuntConfig;
  readonly runs: number;
  readonly seed: number;
  /** Replay one shrunk case (fast-check's counterexample path). */
  readonly path?: string | undefined;
  /** Where programs make their directories (a mounted test file system, or the temp dir). */
  readonly root?: string | undefined;
  /** Stop after this long (ms), reporting how many programs ran. */
  readonly timeLimitMs?: number | undefined;
  /** Called every `every` programs with the count so far. */
  readonly progress?: ((count: number) => void) | undefined;
  readonly maxSteps?: number | undefined;
  /** Called before each program runs (the watchdog's heartbeat). */
  readonly beforeEach?: ((program: Program, count: number) => void) | undefined;
}

export interface HuntResult {
  readonly seed: number;
  readonly runs: number;
  readonly failed: boolean;
  readonly ms: number;
  /** The shrunk failing program and its violations. */
  readonly counterexample?: {
    readonly program: Program;
    readonly text: string;
    readonly violations: string[];
  };
  readonly path?: string | undefined;
  /** Programs run before the first failure was seen (1-based), if any. */
  readonly firstFailureAt?: number | undefined;
  readonly report: string;
}

/** A server for `download`: /ok/<body>, /short/<body> (cut before its Content-Length), /404. */
function downloadServer(): Promise<TestServer> {
  return serve((req, res) => {
    const [, kind = '', body = ''] = (req.url ?? '').split('/');
    if (kind === 'ok') {
      res.writeHead(200, { 'Content-Length': String(body.length) });
      res.end(body);
    } else if (kind === 'short') {
      res.writeHead(200, { 'Content-Length': String(body.length + 5) });
      res.write(body);
      setTimeout(() => res.socket?.destroy(), 5);
    } else {
      res.writeHead(404, { 'Content-Length': '0' });
      res.end();
    }
  });
}

export async function hunt(options: HuntOptions): Promise<HuntResult> {
  const server = await downloadServer();
  const root = fs.mkdtempSync(
    join(options.root ?? process.env.ATOMIC_FS_TEST_DIR ?? tmpdir(), 'afs-hunt-'),
  );
  const env: Env = { base: server.base, root };
  const umask = process.umask(0o022);
  const started = performance.now();
  let count = 0;
  let firstFailureAt: number | undefined;
  let lastViolations: string[] = [];
  const deadline = options.timeLimitMs === undefined ? Infinity : started + options.timeLimitMs;
  try {
    const property = fc.asyncProperty(
      programArb(options.config, options.maxSteps),
      async (program) => {
        if (performance.now() > deadline && firstFailureAt === undefined) {
          fc.pre(false);
        }
        count += 1;
        options.progress?.(count);
        options.beforeEach?.(program, count);
        const violations = await runAndCheck(program, options.config, env);
        if (violations.length > 0) {
          firstFailureAt ??= count;
          lastViolations = violations;
          return false;
        }
        return true;
      },
    );
    const details = await fc.check(property, {
      seed: options.seed,
      numRuns: options.runs,
      ...(options.path === undefined ? {} : { path: options.path, endOnFailure: false }),
      maxSkipsPerRun: Number.MAX_SAFE_INTEGER,
      // A hang costs the settle timeout per try: bound the shrinking.
      interruptAfterTimeLimit:
        options.timeLimitMs === undefined ? undefined : options.timeLimitMs + 180_000,
      markInterruptAsFailure: false,
    });
    const ms = performance.now() - started;
    const ran = firstFailureAt ?? count;
    if (!details.failed || details.counterexample === null) {
      return {
        seed: options.seed,
        runs: count,
        failed: false,
        ms,
        report: `hunt: ${count} programs, no failure (seed ${options.seed}, ${(ms / 1000).toFixed(1)} s, ${(count / (ms / 1000)).toFixed(1)} programs/s)`,
      };
    }
    const [program] = details.counterexample;
    // Run the shrunk program once more, for its violations.
    const violations = await runAndCheck(program, options.config, env);
    const shown = violations.length > 0 ? violations : lastViolations;
    const text = programText(program);
    const report = [
      `hunt: FAILED after ${ran} programs (seed ${options.seed}, path '${details.counterexamplePath}', ${details.numShrinks} shrinks)`,
      'minimal program:',
      text,
      'violations:',
      ...shown.map((line) => `  - ${line}`),
      `replay: ATOMIC_FS_HUNT_SEED=${options.seed} ATOMIC_FS_HUNT_PATH='${details.counterexamplePath}'`,
    ].join('\n');
    return {
      seed: options.seed,
      runs: count,
      failed: true,
      ms,
      counterexample: { program, text, violations: shown },
      path: details.counterexamplePath,
      firstFailureAt,
      report,
    };
  } finally {
    process.umask(umask);
    await server.close();
    // Directories of hung programs stay (their queues may live on); remove the rest.
    for (const name of fs.readdirSync(root)) {
      if (!name.startsWith('hung-')) fs.rmSync(join(root, name), { recursive: true, force: true });
    }
    if (fs.readdirSync(root).length === 0) fs.rmdirSync(root);
  }
}

/** A random seed, as fast-check would pick one. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x7fffffff) ^ Date.now();
}
