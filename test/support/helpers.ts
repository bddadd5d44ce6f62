/**
 * Shared test helpers: per-test temp directories, descriptor counting, skips that become
 * failures in CI, and fault injection at the fs seam.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type OpName, type Ops, restoreSeam, seam } from '../../src/engine/fs.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { AtomicFsError } from '../../src/engine/errors.js';

/** A fresh directory for one test, removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'afs-test-'): string {
  const dir = fs.mkdtempSync(join(process.env.ATOMIC_FS_TEST_DIR ?? tmpdir(), prefix));
  t.after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Names in a directory, sorted. */
export function list(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

/** Names in a directory that look like this library's temp files. */
export function temps(dir: string): string[] {
  return list(dir).filter((name) => parseTempName(name) !== undefined);
}

/**
 * Files the runtime itself opens at moments of its own choosing: Node 22+ reads the
 * `NODE_EXTRA_CA_CERTS` bundle on a thread of its own shortly after start-up, and a module
 * loader (this process's, or the I/O worker's as it starts) holds a module file of this package
 * or of node_modules open for a moment while it reads it. Such a descriptor may come or go
 * between two looks. Never the library's: tests write only under their temp directories.
 */
const RUNTIME_FILES: ReadonlySet<string> = new Set(
  [process.env.NODE_EXTRA_CA_CERTS]
    .filter((path): path is string => path !== undefined && path !== '')
    .flatMap((path) => {
      try {
        return [path, fs.realpathSync(path)];
      } catch {
        return [path];
      }
    }),
);

/** The package's root (tests run from build/test/). */
export const PACKAGE_ROOT = fs.realpathSync(fileURLToPath(new URL('../../..', import.meta.url)));
const MODULE_DIRS = ['build', 'node_modules'].map((name) => `${join(PACKAGE_ROOT, name)}/`);

/** Whether `target` (a descriptor's link) is one of the runtime's files (see RUNTIME_FILES). */
function isRuntimeFile(target: string): boolean {
  return RUNTIME_FILES.has(target) || MODULE_DIRS.some((dir) => target.startsWith(dir));
}

/** Whether descriptor `name` of this process is the runtime's own (see RUNTIME_FILES). */
export function isRuntimeFd(name: string): boolean {
  try {
    return isRuntimeFile(fs.readlinkSync(`/proc/self/fd/${name}`));
  } catch {
    return false;
  }
}

/** Number of open descriptors of this process (Linux), or undefined elsewhere. */
export function openFdCount(): number | undefined {
  let names: string[];
  try {
    names = fs.readdirSync('/proc/self/fd');
  } catch {
    return undefined;
  }
  // Only descriptors still open when looked at: the one readdir used is closed by then, and
  // so may be a module file the runtime held for a moment (which would count as a leak).
  return names.filter((name) => {
    try {
      return !isRuntimeFile(fs.readlinkSync(`/proc/self/fd/${name}`));
    } catch {
      return false;
    }
  }).length;
}

/** Open descriptors, by number, with what they point to (Linux). */
export function openFds(): Map<number, string> {
  const result = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${name}`);
      if (!isRuntimeFile(target)) result.set(Number(name), target);
    } catch {
      // the directory's own descriptor, gone by now
    }
  }
  return result;
}

/**
 * File descriptors open now that were not open (to the same file) in `before`: the ones a
 * call leaked. Unlike comparing counts, a descriptor something else closed meanwhile (the runtime,
 * an earlier test's stream) cannot hide a leak or fake one.
 */
export function newFds(before: ReadonlyMap<number, string>): string[] {
  return (
    [...openFds()]
      // Files only: an HTTP client's keep-alive sockets and the runtime's pipes come and go.
      .filter(([fd, path]) => path.startsWith('/') && before.get(fd) !== path)
      .map(([fd, path]) => `${fd} -> ${path}`)
  );
}

/** Descriptors of this process open on `dir` or anything under it (Linux). */
export function fdsInto(dir: string): string[] {
  return [...openFds().values()].filter((path) => path === dir || path.startsWith(`${dir}/`));
}

export const isRoot = process.getuid?.() === 0;
export const isLinux = process.platform === 'linux';
export const requireAll = process.env.ATOMIC_FS_REQUIRE_ALL === '1';

/**
 * Skip a test whose precondition does not hold, printing why. Under
 * ATOMIC_FS_REQUIRE_ALL=1 (CI: Linux, root) a missing precondition is a failure instead.
 */
export function needs(t: TestContext, condition: boolean, reason: string): boolean {
  if (condition) return true;
  if (requireAll) assert.fail(`required in CI but unavailable: ${reason}`);
  process.stderr.write(`# skip ${t.name}: ${reason}\n`);
  t.skip(reason);
  return false;
}

/** An errno-style error like the ones node:fs throws. */
export function errnoError(code: string, syscall: string, path?: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(
    `${code}: injected fault, ${syscall}${path === undefined ? '' : ` '${path}'`}`,
  );
  error.code = code;
  error.syscall = syscall;
  if (path !== undefined) error.path = path;
  return error;
}

/**
 * A path named through a pinned directory's descriptor (`/proc/self/fd/<fd>/<name>`, see
 * src/engine/pinned-dir.ts), spelled with the path that descriptor was opened with; other paths as
 * they are.
 */
export function throughDescriptors(path: string, open: ReadonlyMap<number, string>): string {
  const match = /^\/proc\/self\/fd\/(\d+)(\/.*)?$/.exec(path);
  if (match === null) return path;
  const dir = open.get(Number(match[1]));
  return dir === undefined ? path : `${dir}${match[2] ?? ''}`;
}

/** One seam call, as seen by the recorder. */
export interface SeamCall {
  readonly name: OpName;
  readonly args: readonly unknown[];
  /** What the call touched: a path, or for descriptor calls the path it was opened with. */
  readonly subject: string;
}

export interface FaultRule {
  /** Fail the call whose index in the recording is `index` … */
  readonly index?: number;
  /** … or every call matching this predicate. */
  readonly when?: (call: SeamCall, index: number) => boolean;
  readonly code: string;
}

export interface Recorder {
  readonly calls: SeamCall[];
  /** Descriptors closed while not open (a double close), by number. */
  readonly doubleCloses: number[];
  /** Descriptors opened through the seam and still open. */
  readonly open: Map<number, string>;
  /** Indexes (in `calls`) of the calls that were failed by a rule. */
  readonly injected: number[];
}

type AnyFn = (...args: readonly unknown[]) => unknown;

/**
 * Patch every seam operation (both tables) to record calls, track descriptors, and fail
 * the calls named by `rules`. Patching the seam also keeps all work on this thread.
 */
export function instrument(t: TestContext, rules: readonly FaultRule[] = []): Recorder {
  const recorder: Recorder = { calls: [], doubleCloses: [], open: new Map(), injected: [] };
  const realSync = { ...seam.sync };
  const realAsync = { ...seam.async };
  const subjectOf = (args: readonly unknown[]): string => {
    const first = args[0];
    if (typeof first === 'number') return recorder.open.get(first) ?? `fd:${first}`;
    return typeof first === 'string' ? throughDescriptors(first, recorder.open) : '';
  };
  /** Record the call; return the injected fault for it, if any. */
  const before = (name: OpName, args: readonly unknown[]): Error | undefined => {
    const call = { name, args, subject: subjectOf(args) };
    const index = recorder.calls.length;
    recorder.calls.push(call);
    if (name === 'close') {
      const fd = args[0] as number;
      if (!recorder.open.has(fd)) recorder.doubleCloses.push(fd);
      // On Linux a close releases the number whether or not it reports an error.
      recorder.open.delete(fd);
    }
    for (const rule of rules) {
      if (rule.index === index || rule.when?.(call, index) === true) {
        recorder.injected.push(index);
        return errnoError(rule.code, name, call.subject);
      }
    }
    return undefined;
  };
  const after = (name: OpName, args: readonly unknown[], result: unknown): void => {
    if (name === 'open') recorder.open.set(result as number, subjectOf(args));
  };
  for (const name of Object.keys(realSync) as OpName[]) {
    const sync = realSync[name] as AnyFn;
    const async = realAsync[name] as (...args: readonly unknown[]) => Promise<unknown>;
    (seam.sync as unknown as Record<OpName, AnyFn>)[name] = (...args) => {
      const fault = before(name, args);
      if (fault !== undefined) {
        // A failed close still releases the descriptor, as the kernel does.
        if (name === 'close') realSync.close(args[0] as number);
        throw fault;
      }
      const result = sync(...args);
      after(name, args, result);
      return result;
    };
    (seam.async as unknown as Record<OpName, AnyFn>)[name] = async (...args) => {
      const fault = before(name, args);
      if (fault !== undefined) {
        if (name === 'close') realSync.close(args[0] as number);
        throw fault;
      }
      const result = await async(...args);
      after(name, args, result);
      return result;
    };
  }
  t.after(restoreSeam);
  return recorder;
}

/** The real operations, for tests that must call the file system behind the seam. */
export const realOps: Ops = { ...seam.sync };

/** The AtomicFsError `promise` rejects with (failing the test if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<AtomicFsError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AtomicFsError, String(error));
    return error;
  }
  return assert.fail('expected a rejection');
}

/** The AtomicFsError `run` throws (failing the test if it returns or throws otherwise). */
export function thrown(run: () => unknown): AtomicFsError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof AtomicFsError, String(error));
    return error;
  }
  return assert.fail('expected a throw');
}
