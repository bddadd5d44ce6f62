/**
 * A secret written with mode 0600 (directories 0700) is never readable by anyone else, at any
 * moment: every temp file, staged directory and lock sidecar is created no wider than the
 * final mode, and only ever narrowed or kept. The umask is 0 throughout, so that it cannot
 * hide a temp created too wide.
 *
 * Two observers:
 * - in process, after every seam call that creates a path or changes a mode (open with
 *   O_CREAT, mkdir, the kernel copy, fchmod, fchown, rename), the path is lstat()ed and the
 *   mode asked for is checked: every state between two system calls is seen, and a mode can
 *   only change at a system call;
 * - another process (test/fixtures/mode-watcher.ts: inotify plus a polling loop) watches the
 *   directory tree the way another user could, and the writer waits after each creation until
 *   the watcher has seen the new path — so the watcher looks at every temp at least once,
 *   deterministically. A second run leaves the seam alone (writes go to the I/O thread) and
 *   lets the watcher look when it can.
 *
 * Controls: a writer that creates its temp 0644 and narrows it to 0600 before the rename is
 * caught by both observers.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { basename, join, relative } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type OpName, restoreSeam, seam } from '../../src/engine/fs.js';
import {
  copyFile,
  openAtomic,
  openAtomicSync,
  updateJson,
  updateJsonSync,
  writeDirectory,
  writeFile,
  writeFileSync,
  writeFiles,
  writeJson,
} from '../../src/index.js';
import { parseStagingName, parseTempName } from '../../src/core/temp-names.js';
import { isLinux, needs, tempDir } from '../support/helpers.js';
import { pathNow } from './plant.js';

const WATCHER = fileURLToPath(new URL('../fixtures/mode-watcher.js', import.meta.url));
const SECRET = 'password=hunter2\n';
const ROUNDS = 3;
const SEEN_TIMEOUT_MS = 30_000;

interface Observation {
  readonly kind: string;
  readonly mode: number;
  readonly path: string;
}

/** The watcher process and what it has logged so far. */
class Watcher {
  readonly #log: string;
  readonly #child: ChildProcess;
  #offset = 0;
  #rest = '';
  readonly observations: Observation[] = [];
  readonly paths = new Set<string>();

  constructor(t: TestContext, root: string) {
    this.#log = join(tempDir(t, 'afs-watch-'), 'log');
    fs.writeFileSync(this.#log, '');
    this.#child = spawn(process.execPath, [WATCHER, root, this.#log], { stdio: 'inherit' });
    t.after(() => this.stop());
  }

  /** Read what the watcher appended since the last call. */
  poll(): void {
    const fd = fs.openSync(this.#log, 'r');
    try {
      const buffer = Buffer.alloc(1 << 16);
      for (;;) {
        const n = fs.readSync(fd, buffer, 0, buffer.length, this.#offset);
        if (n === 0) break;
        this.#offset += n;
        this.#rest += buffer.toString('utf8', 0, n);
      }
    } finally {
      fs.closeSync(fd);
    }
    const lines = this.#rest.split('\n');
    this.#rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'ready') {
        this.paths.add('');
        continue;
      }
      const [kind = '', mode = '', ...rest] = line.split(' ');
      const path = rest.join(' ');
      this.observations.push({ kind, mode: parseInt(mode, 8), path });
      this.paths.add(path);
    }
  }

  /** Wait (blocking this thread: the watcher is another process) until it has seen `path`. */
  waitFor(path: string): void {
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const deadline = Date.now() + SEEN_TIMEOUT_MS;
    for (;;) {
      this.poll();
      if (this.paths.has(path)) return;
      if (this.#child.exitCode !== null) assert.fail('the watcher died');
      if (Date.now() > deadline) assert.fail(`the watcher never saw '${path}'`);
      Atomics.wait(cell, 0, 0, 1);
    }
  }

  stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.#child.once('exit', () => {
        resolve();
      });
      this.#child.kill('SIGKILL');
    });
  }
}

/** Anything another user could read, write or search. */
const open = (mode: number): boolean => (mode & 0o077) !== 0;

function ours(path: string): 'temp' | 'staging' | 'lock' | undefined {
  for (const part of path.split('/')) {
    if (parseTempName(part) !== undefined) return 'temp';
    if (parseStagingName(part) !== undefined) return 'staging';
    if (part.endsWith('.afs-lock')) return 'lock';
  }
  return undefined;
}

interface Inspector {
  /** Every state seen in process, after each call that creates a path or changes a mode. */
  readonly states: Observation[];
  /** Modes asked for (open with O_CREAT, mkdir, fchmod), with the call. */
  readonly asked: { call: string; mode: number; path: string }[];
  /** Paths the writer waited for the watcher to see. */
  readonly handshakes: string[];
}

type AnyFn = (...args: unknown[]) => unknown;

/**
 * Patch the seam: after each call that creates a path or changes a mode, record the path's
 * state; after each creation, wait until the watcher has seen it. `widen` replaces the mode
 * of the temp file's creation (the control).
 */
function inspect(
  t: TestContext,
  root: string,
  watcher: Watcher | undefined,
  widen?: number,
): Inspector {
  const inspector: Inspector = { states: [], asked: [], handshakes: [] };
  const fdPaths = new Map<number, string>();
  const realSync = { ...seam.sync };
  const realAsync = { ...seam.async };
  // Paths named through a pinned directory's descriptor are spelled as the directory's path.
  const rel = (path: string): string => relative(root, pathNow(path));
  const record = (path: string): void => {
    // Only the directory under watch (a copy's source lies elsewhere).
    if (rel(path).startsWith('..')) return;
    try {
      const stats = fs.lstatSync(path);
      const kind = stats.isDirectory() ? 'd' : stats.isFile() ? 'f' : 'l';
      inspector.states.push({ kind, mode: stats.mode & 0o7777, path: rel(path) });
    } catch {
      // Gone (a rename moved it; its new name is recorded instead).
    }
  };
  const before = (name: OpName, args: unknown[]): void => {
    const [first, second] = args;
    if (name === 'open' && typeof second === 'number' && (second & fs.constants.O_CREAT) !== 0) {
      if (widen !== undefined && parseTempName(basename(first as string)) !== undefined) {
        args[2] = widen;
      }
      inspector.asked.push({ call: 'open', mode: args[2] as number, path: rel(first as string) });
    }
    if (name === 'mkdir') {
      inspector.asked.push({ call: 'mkdir', mode: second as number, path: rel(first as string) });
    }
    if (name === 'fchmod') {
      const path = fdPaths.get(first as number) ?? '?';
      inspector.asked.push({ call: 'fchmod', mode: second as number, path: rel(path) });
    }
  };
  const after = (name: OpName, args: readonly unknown[], result: unknown): void => {
    const [first, second] = args;
    let created: string | undefined;
    if (name === 'open' && typeof result === 'number') {
      fdPaths.set(result, pathNow(first as string));
      if (((second as number) & fs.constants.O_CREAT) !== 0) created = first as string;
      else record(first as string);
    } else if (name === 'mkdir') {
      created = first as string;
    } else if (name === 'copyFile') {
      created = second as string;
    } else if (name === 'rename') {
      record(second as string);
    } else if (name === 'fchmod' || name === 'fchown') {
      const path = fdPaths.get(first as number);
      if (path !== undefined) record(path);
    } else if (name === 'close') {
      fdPaths.delete(first as number);
    }
    if (created === undefined) return;
    record(created);
    if (watcher !== undefined && ours(rel(created)) !== undefined) {
      watcher.waitFor(rel(created));
      inspector.handshakes.push(rel(created));
    }
  };
  for (const name of Object.keys(realSync) as OpName[]) {
    const sync = realSync[name] as AnyFn;
    const asyncOp = realAsync[name] as (...a: unknown[]) => Promise<unknown>;
    (seam.sync as unknown as Record<OpName, AnyFn>)[name] = (...args) => {
      before(name, args);
      const result = sync(...args);
      after(name, args, result);
      return result;
    };
    (seam.async as unknown as Record<OpName, AnyFn>)[name] = async (...args) => {
      before(name, args);
      const result = await asyncOp(...args);
      after(name, args, result);
      return result;
    };
  }
  t.after(restoreSeam);
  return inspector;
}

function withUmask(t: TestContext, mask: number): void {
  const previous = process.umask(mask);
  t.after(() => {
    process.umask(previous);
  });
}

/** Every secret-writing operation, a few rounds each, into `dir` (sources in `elsewhere`). */
async function writeSecrets(dir: string, elsewhere: string, rounds: number): Promise<void> {
  const src644 = join(elsewhere, 'public-source');
  fs.writeFileSync(src644, SECRET, { mode: 0o644 });
  fs.chmodSync(src644, 0o644);
  const src600 = join(elsewhere, 'secret-source');
  fs.writeFileSync(src600, SECRET, { mode: 0o600 });
  const secret = { mode: 0o600 };
  for (let round = 0; round < rounds; round += 1) {
    const text = `${SECRET}round ${round}\n`;
    await writeFile(join(dir, 'writeFile'), text, secret);
    // An existing 0600 file keeps its mode without being told.
    await writeFile(join(dir, 'writeFile'), text);
    writeFileSync(join(dir, 'writeFileSync'), text, secret);
    const handle = await openAtomic(join(dir, 'openAtomic'), secret);
    await handle.write(text);
    await handle.commit();
    const handleSync = openAtomicSync(join(dir, 'openAtomicSync'), secret);
    handleSync.write(text);
    handleSync.commit();
    // A 0644 source narrowed by `mode` (read/write loop), and a 0600 source (kernel copy).
    await copyFile(src644, join(dir, 'copyFile-mode'), secret);
    await copyFile(src600, join(dir, 'copyFile-source-mode'));
    await writeJson(join(dir, 'writeJson.json'), { secret: text }, secret);
    await updateJson(join(dir, 'updateJson.json'), () => ({ secret: text }), secret);
    updateJsonSync(join(dir, 'updateJsonSync.json'), () => ({ round }), secret);
    await writeFiles(
      { [join(dir, 'writeFiles-a')]: text, [join(dir, 'writeFiles-b')]: text },
      secret,
    );
    await writeDirectory(
      join(dir, 'vault'),
      { 'key.pem': text, 'nested/deeper/token': text, [`round-${round}`]: text },
      { mode: 0o600, dirMode: 0o700 },
    );
  }
}

function assertNarrow(observations: readonly Observation[], who: string): void {
  const wide = observations.filter(
    (seen) => (seen.kind === 'f' || seen.kind === 'd') && open(seen.mode),
  );
  assert.deepEqual(
    wide.map((seen) => `${seen.kind} ${seen.mode.toString(8)} ${seen.path}`),
    [],
    `${who} saw something readable by others`,
  );
}

test('0600 secrets: no temp, staged tree or lock file is ever wider, seen from inside and outside', async (t) => {
  if (!needs(t, isLinux, 'inotify and /proc (Linux)')) return;
  withUmask(t, 0);
  const root = tempDir(t);
  fs.chmodSync(root, 0o700);
  const watcher = new Watcher(t, root);
  watcher.waitFor('');
  const inspector = inspect(t, root, watcher);
  await writeSecrets(root, tempDir(t), ROUNDS);
  restoreSeam();
  await watcher.stop();
  watcher.poll();
  const askedWide = inspector.asked.filter((asked) => open(asked.mode));
  assert.deepEqual(askedWide, [], 'a mode asked of the kernel was wider than 0600/0700');
  assertNarrow(inspector.states, 'the in-process check');
  assertNarrow(watcher.observations, 'the watcher');
  const kinds = new Map<string, number>();
  for (const path of inspector.handshakes) {
    const kind = ours(path) ?? '?';
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  // Every kind of name was created, and the watcher looked at each one.
  assert.ok((kinds.get('temp') ?? 0) >= ROUNDS * 11, `temps seen: ${kinds.get('temp') ?? 0}`);
  assert.ok((kinds.get('staging') ?? 0) >= ROUNDS * 4, 'staged trees seen');
  assert.equal(kinds.get('lock'), 2, 'both lock sidecars seen when created');
  const ourSeen = watcher.observations.filter((seen) => ours(seen.path) !== undefined).length;
  process.stdout.write(
    `# secret modes: ${inspector.states.length} states checked in process, ${inspector.asked.length} modes asked; the watcher logged ${watcher.observations.length} observations (${ourSeen} of temps, staged trees, lock files), ${inspector.handshakes.length} of them awaited\n`,
  );
});

test('0600 secrets on the I/O thread: the watcher, unaided, never sees a wider mode', async (t) => {
  if (!needs(t, isLinux, 'inotify and /proc (Linux)')) return;
  withUmask(t, 0);
  const root = tempDir(t);
  fs.chmodSync(root, 0o700);
  const watcher = new Watcher(t, root);
  watcher.waitFor('');
  for (let i = 0; i < 100; i += 1) {
    await writeFile(join(root, 'secret'), `${SECRET}${i}\n`, { mode: 0o600 });
  }
  await writeSecrets(root, tempDir(t), 2);
  await watcher.stop();
  watcher.poll();
  assertNarrow(watcher.observations, 'the watcher');
  const temps = watcher.observations.filter((seen) => ours(seen.path) !== undefined).length;
  assert.ok(watcher.observations.length > 0, 'the watcher saw the files');
  process.stdout.write(
    `# secret modes, unaided watcher: ${watcher.observations.length} observations, ${temps} of temps, staged trees and lock files\n`,
  );
});

test('control: a temp created 0666 and narrowed before the rename is caught by both', async (t) => {
  if (!needs(t, isLinux, 'inotify and /proc (Linux)')) return;
  withUmask(t, 0);
  const root = tempDir(t);
  fs.chmodSync(root, 0o700);
  const watcher = new Watcher(t, root);
  watcher.waitFor('');
  const inspector = inspect(t, root, watcher, 0o666);
  await writeFile(join(root, 'secret'), SECRET, { mode: 0o600 });
  restoreSeam();
  await watcher.stop();
  watcher.poll();
  assert.equal(fs.statSync(join(root, 'secret')).mode & 0o777, 0o600, 'narrowed in the end');
  assert.throws(() => {
    assertNarrow(inspector.states, 'the in-process check');
  }, /f 666 \.secret\.afs-/);
  assert.throws(() => {
    assertNarrow(watcher.observations, 'the watcher');
  }, /f 666 \.secret\.afs-/);
});
