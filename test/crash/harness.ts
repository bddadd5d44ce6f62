/**
 * What the crash harnesses share: a writer child running one operation of the table in
 * fixtures/ops.ts, the verdict "exactly old or new" on what a crash left, and the
 * classification of leftovers (and whether `cleanupTemps` reclaims them).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupTemps } from '../../src/index.js';
import { runSync } from '../../src/engine/executors.js';
import { parseStagingName, parseTempName } from '../../src/core/temp-names.js';
import { reclaimStaged } from '../../src/core/remove-tree.js';
import type { Operation, Reading } from '../fixtures/ops.js';

const WRITER = fileURLToPath(new URL('../fixtures/op-writer.js', import.meta.url));

/** A deterministic pseudo-random sequence (xorshift32), so a failing run can be repeated. */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** A running op-writer child. */
export class Writer {
  readonly child: ChildProcessWithoutNullStreams;
  /** The last version the child reported resolved, if any. */
  confirmed: number | undefined;
  /** How long each resolved write took, in ms, as the child measured it. */
  readonly durations: number[] = [];
  /** Each resolved version, with when it resolved (process.hrtime.bigint(), all processes). */
  readonly resolutions: { readonly v: number; readonly at: bigint }[] = [];
  /** `error <v> <code> <phase>` lines: a write that failed. */
  readonly errors: string[] = [];
  /** Settles once the child has exited and its output is read: its signal, or exit code. */
  readonly closed: Promise<NodeJS.Signals | number | null>;
  /** Whether the child has exited. */
  exited = false;
  private stdout = '';
  private stderr = '';
  private readonly listeners: (() => void)[] = [];

  constructor(op: Operation, dir: string, first: number, mode: 'loop' | 'step') {
    // A child that is SIGKILLed never writes its coverage: spare it the cost of collecting it.
    const env = { ...process.env };
    delete env.NODE_V8_COVERAGE;
    this.child = spawn(process.execPath, [WRITER, op.name, dir, String(first), mode], { env });
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      for (let end = this.stdout.indexOf('\n'); end >= 0; end = this.stdout.indexOf('\n')) {
        this.line(this.stdout.slice(0, end));
        this.stdout = this.stdout.slice(end + 1);
      }
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    // A step-mode child may be killed while its stdin is being written to.
    this.child.stdin.on('error', () => undefined);
    this.closed = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        this.exited = true;
        resolve(signal ?? code);
        this.notify();
      });
    });
  }

  private line(text: string): void {
    const [word, v, ms, at] = text.split(' ');
    if (word === 'done') {
      this.confirmed = Number(v);
      this.durations.push(Number(ms));
      this.resolutions.push({ v: Number(v), at: BigInt(at ?? '0') });
    } else if (word === 'error') {
      this.errors.push(text);
    }
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners.splice(0)) listener();
  }

  /** Output on stderr so far (for failure messages). */
  get output(): string {
    return this.stderr;
  }

  /** The last version that resolved before `at` (process.hrtime.bigint()), if any. */
  confirmedBefore(at: bigint): number | undefined {
    return this.resolutions.filter((resolution) => resolution.at < at).at(-1)?.v;
  }

  /** Every resolution counts (a process kill: nothing resolves after it). */
  get all(): Confirmed {
    return { trusted: this.confirmed, latest: this.confirmed };
  }

  /** Wait until `count` writes have resolved; throws if the child stops first. */
  async resolved(count: number): Promise<void> {
    while (this.durations.length < count) {
      if (this.exited || this.errors.length > 0) {
        throw new Error(`writer stopped: ${this.errors.join('; ')} ${this.stderr}`.trim());
      }
      await new Promise<void>((resolve) => this.listeners.push(resolve));
    }
  }

  /** Let a step-mode child start its next write. */
  proceed(): void {
    this.child.stdin.write('\n');
  }

  /** SIGKILL the child and wait until it is gone. */
  async kill(): Promise<NodeJS.Signals | number | null> {
    this.child.kill('SIGKILL');
    return this.closed;
  }
}

export type Outcome = 'old' | 'new';

/** What a writer had reported when the crash came. */
export interface Confirmed {
  /** The last version certainly resolved before the crash (must be on disk), if any. */
  readonly trusted: number | undefined;
  /** The last version that may have resolved before it (the same, unless the crash's moment is blurred). */
  readonly latest: number | undefined;
}

/**
 * The verdict on one watched item after a crash. `first`: the version the writer started
 * with; `before`: what the item held before the writer started. With `exact` (the crash came
 * right after `trusted` resolved, nothing else in flight) only `trusted` itself is right;
 * otherwise `trusted` ("old") or a version the writer was writing when the crash came
 * ("new": the one after `latest`, or between the two when the crash's moment is blurred).
 * Anything else — torn, older, or never written — is a violation.
 */
export function judge(
  before: number,
  first: number,
  confirmed: Confirmed,
  after: Reading,
  exact: boolean,
): Outcome | { violation: string } {
  if (typeof after !== 'number') return { violation: after.torn };
  const old = confirmed.trusted ?? before;
  const newest = confirmed.latest === undefined ? first : confirmed.latest + 1;
  if (after === old) return 'old';
  if (!exact && after > old && after <= newest) return 'new';
  const expected = exact
    ? `v${old}`
    : newest === old + 1
      ? `v${old} or v${newest}`
      : `v${old}…v${newest}`;
  return { violation: `v${after} where ${expected} was expected` };
}

export type LeftoverKind = 'temp file' | 'staged tree' | 'temp symlink' | 'other';

/** What kind of leftover `name` in `dir` is. */
function kindOf(dir: string, name: string): LeftoverKind {
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(join(dir, name));
  } catch {
    return 'other';
  }
  if (parseTempName(name) !== undefined) {
    if (stats.isFile()) return 'temp file';
    if (stats.isSymbolicLink()) return 'temp symlink';
  }
  if (parseStagingName(name) !== undefined && stats.isDirectory()) return 'staged tree';
  return 'other';
}

/** Names in `dir` that are not part of the operation's live state. */
function leftovers(dir: string, op: Operation): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => !op.live.includes(name))
    .sort();
}

export interface Reclaim {
  /** Leftovers found after the crash, by kind. */
  readonly found: Map<LeftoverKind, number>;
  /** Of those, what `cleanupTemps` did not remove (name and kind). */
  readonly unreclaimed: { name: string; kind: LeftoverKind }[];
}

/**
 * Classify what a crash left in `dir`, run `cleanupTemps(dir)` (the writer is dead by now),
 * and report what it left; then remove those too (staged trees the way writeDirectory
 * reclaims them), so the next trial starts clean.
 */
export async function reclaim(dir: string, op: Operation): Promise<Reclaim> {
  const found = new Map<LeftoverKind, number>();
  const kinds = new Map<string, LeftoverKind>();
  for (const name of leftovers(dir, op)) {
    const kind = kindOf(dir, name);
    kinds.set(name, kind);
    found.set(kind, (found.get(kind) ?? 0) + 1);
  }
  await cleanupTemps(dir);
  const unreclaimed = leftovers(dir, op).map((name) => ({
    name,
    kind: kinds.get(name) ?? kindOf(dir, name),
  }));
  for (const { name, kind } of unreclaimed) {
    const path = join(dir, name);
    if (kind === 'staged tree') runSync(reclaimStaged(path));
    else fs.rmSync(path, { recursive: true, force: true });
  }
  return { found, unreclaimed };
}

/** Add `count` to `map[key]`. */
export function bump<K>(map: Map<K, number>, key: K, count = 1): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

/** "a 3, b 2" from a map, in insertion order; "none" when empty. */
export function describe<K>(map: ReadonlyMap<K, number>): string {
  const parts = [...map].filter(([, n]) => n > 0).map(([k, n]) => `${String(k)} ${n}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}
