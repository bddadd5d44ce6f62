/**
 * Run one hunter program for real: make its world in a fresh directory, start its calls as
 * its steps say (with the directory as working directory, so that relative names work), wait
 * for everything to settle (or time out: a hang), and collect what each call did.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as api from '../../src/index.js';
import { heldLocks } from '../../src/json/lock.js';
import { pathQueue } from '../../src/core/path-queue.js';
import { openFds } from '../support/helpers.js';
import type { HuntConfig } from './config.js';
import { check } from './model.js';
import type { CallOptions, FnSpec, Op, Program } from './program.js';
import { type Patch, type SeamLog, patchSeam } from './seam.js';
import { LONG_1, LONG_2, aliasNamed, buildWorld, initialState } from './world.js';

type Outcome =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** One call as it happened. */
export interface Rec {
  /** `3` for the call of step 3, `3.1` for the second call nested in its fn, `3:commit`. */
  readonly id: string;
  readonly op: Op;
  readonly part: 'call' | 'open' | 'commit' | 'discard';
  /** Order of invocation across the whole program (nested calls included). */
  readonly seq: number;
  readonly sync: boolean;
  /** Records not yet settled when this one was invoked. */
  readonly inFlight: readonly Rec[];
  /** The update whose fn made this call. */
  readonly nestedIn: Rec | undefined;
  /** The handle's open, for a commit or discard. */
  readonly handle?: Rec;
  settled: boolean;
  outcome?: Outcome;
  /** What each call of fn received (update: latin1 text; updateJson: JSON text). */
  readonly fnInputs: (string | undefined)[];
  signal?: AbortSignal;
  /** The bytes this call writes (whole-data writes, streams, handles, downloads). */
  data?: string;
  entryData?: readonly string[];
  /** A handle's temp file (on its open record). */
  tempPath?: string;
}

export interface Run {
  readonly dir: string;
  readonly records: Rec[];
  readonly log: SeamLog | undefined;
  readonly unhandled: unknown[];
  readonly hung: boolean;
  readonly fdsBefore: Map<number, string>;
  readonly fdsAfter: Map<number, string>;
  readonly queuedAfter: number;
  readonly locksAfter: string[];
  /** Names in each watched directory after the program. */
  readonly listing: Map<string, string[]>;
  /** Lock sidecars whose kernel lock another descriptor still holds. */
  readonly locksHeld: string[];
}

const native = createRequire(import.meta.url)('fs-native-extensions') as {
  tryLock(fd: number): boolean;
  unlock(fd: number): void;
};

/** Sidecars in `dir` whose lock cannot be taken by a new open file description. */
function heldSidecars(dir: string, names: readonly string[]): string[] {
  const held: string[] = [];
  for (const name of names) {
    if (!name.endsWith('.afs-lock')) continue;
    const fd = fs.openSync(join(dir, name), fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
    try {
      if (native.tryLock(fd)) native.unlock(fd);
      else held.push(name);
    } finally {
      fs.closeSync(fd);
    }
  }
  return held;
}

/** The test server's base URL, set once (download needs one). */
export interface Env {
  readonly base: string;
  /** Where programs make their directories. */
  readonly root: string;
}

const tick = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

function optionsOf(o: CallOptions, signal: AbortSignal | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.mode !== undefined) out.mode = o.mode;
  if (o.overwrite !== undefined) out.overwrite = o.overwrite;
  if (o.symlinks !== undefined) out.symlinks = o.symlinks;
  if (o.durability !== undefined) out.durability = o.durability;
  if (o.coalesce !== undefined) out.coalesce = o.coalesce;
  if (o.mkdirs !== undefined) out.mkdirs = o.mkdirs;
  if (signal !== undefined) out.signal = signal;
  return out;
}

export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

class Program$ {
  readonly records: Rec[] = [];
  readonly unsettled = new Set<Rec>();
  readonly controllers = new Map<number, AbortController>();
  readonly seamAborts: AbortController[] = [];
  /** The asynchronous handles opened, for the disposal at the end. */
  readonly handles: Promise<api.AtomicFile>[] = [];
  seq = 0;

  constructor(
    readonly dir: string,
    readonly env: Env,
  ) {}

  record(id: string, op: Op, part: Rec['part'], sync: boolean, nestedIn?: Rec, handle?: Rec): Rec {
    const rec: Rec = {
      id,
      op,
      part,
      seq: this.seq,
      sync,
      inFlight: [...this.unsettled],
      nestedIn,
      ...(handle === undefined ? {} : { handle }),
      settled: false,
      fnInputs: [],
    };
    this.seq += 1;
    this.records.push(rec);
    this.unsettled.add(rec);
    return rec;
  }

  settle(rec: Rec, outcome: Outcome): void {
    rec.outcome = outcome;
    rec.settled = true;
    this.unsettled.delete(rec);
  }

  /** Track a promise's outcome on `rec`; the promise returned never rejects. */
  track(rec: Rec, promise: Promise<unknown>): Promise<void> {
    return promise.then(
      (value) => {
        this.settle(rec, { ok: true, value });
      },
      (error: unknown) => {
        this.settle(rec, { ok: false, error });
      },
    );
  }

  runSync(rec: Rec, body: () => unknown): void {
    try {
      this.settle(rec, { ok: true, value: body() });
    } catch (error) {
      this.settle(rec, { ok: false, error });
    }
  }

  signalFor(o: CallOptions, step: number | undefined): AbortSignal | undefined {
    switch (o.signal) {
      case undefined:
      case 'none':
        return undefined;
      case 'aborted':
        return AbortSignal.abort(new Error('aborted before the call'));
      case 'step': {
        const controller = new AbortController();
        if (step !== undefined) this.controllers.set(step, controller);
        return controller.signal;
      }
      case 'seam': {
        const controller = new AbortController();
        this.seamAborts.push(controller);
        return controller.signal;
      }
    }
  }

  path(alias: string): string | URL {
    return aliasNamed(alias).path(this.dir);
  }

  fn(rec: Rec, spec: FnSpec, json: boolean): (current: unknown) => Promise<unknown> {
    return async (current) => {
      rec.fnInputs.push(
        current === undefined
          ? undefined
          : json
            ? JSON.stringify(current)
            : (current as Buffer).toString('latin1'),
      );
      if (spec.yieldFirst) await tick();
      for (const [i, inner] of spec.nested.entries()) {
        const started = this.call(inner, `${rec.id}.${i}`, undefined, rec);
        await started.done;
        // A handle opened in fn is committed (or discarded) in fn.
        if (started.end !== undefined) await started.end();
      }
      return this.returned(rec, spec, current, json);
    };
  }

  fnSync(rec: Rec, spec: FnSpec, json: boolean): (current: unknown) => unknown {
    return (current) => {
      rec.fnInputs.push(
        current === undefined
          ? undefined
          : json
            ? JSON.stringify(current)
            : (current as Buffer).toString('latin1'),
      );
      for (const [i, inner] of spec.nested.entries()) {
        // Nested calls of a synchronous fn start, and settle later.
        const started = this.call(inner, `${rec.id}.${i}`, undefined, rec);
        if (started.end !== undefined) void started.done.then(started.end);
      }
      return this.returned(rec, spec, current, json);
    };
  }

  returned(rec: Rec, spec: FnSpec, current: unknown, json: boolean): unknown {
    switch (spec.ret) {
      case 'append':
        return json
          ? { w: rec.id, prev: current ?? null }
          : `${current === undefined ? '' : (current as Buffer).toString('latin1')}u${rec.id};`;
      case 'none':
        return undefined;
      case 'same':
        return current;
      case 'throw':
        throw Object.assign(new Error(`fn of ${rec.id} throws`), { huntFn: rec.id });
    }
  }

  /** Start `op`; `done` settles (never rejects) when everything it started has settled. */
  call(
    op: Op,
    id: string,
    step: number | undefined,
    nestedIn?: Rec,
  ): { done: Promise<void>; end?: () => Promise<void> } {
    const dir = this.dir;
    switch (op.k) {
      case 'writeFile': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        const signal = (rec.signal = this.signalFor(op.o, step));
        const options = optionsOf(op.o, signal);
        if (op.stream === undefined) {
          rec.data = `w${id}`;
          return { done: this.track(rec, api.writeFile(this.path(op.a), rec.data, options)) };
        }
        rec.data = `s${id}:a:b`;
        const fail = op.stream === 'fail';
        const source = Readable.from(
          (async function* () {
            yield `s${id}`;
            await tick();
            yield ':a';
            if (fail) throw new Error('the source broke');
            yield ':b';
          })(),
        );
        return { done: this.track(rec, api.writeFile(this.path(op.a), source, options)) };
      }
      case 'writeFileSync': {
        const rec = this.record(id, op, 'call', true, nestedIn);
        rec.data = `w${id}`;
        this.runSync(rec, () => {
          api.writeFileSync(this.path(op.a), rec.data ?? '', optionsOf(op.o, undefined));
        });
        return { done: Promise.resolve() };
      }
      case 'writeJson': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        rec.data = jsonText({ w: id });
        const signal = (rec.signal = this.signalFor(op.o, step));
        return {
          done: this.track(rec, api.writeJson(this.path(op.a), { w: id }, optionsOf(op.o, signal))),
        };
      }
      case 'writeJsonSync': {
        const rec = this.record(id, op, 'call', true, nestedIn);
        rec.data = jsonText({ w: id });
        this.runSync(rec, () => {
          api.writeJsonSync(this.path(op.a), { w: id }, optionsOf(op.o, undefined));
        });
        return { done: Promise.resolve() };
      }
      case 'openAtomic': {
        const open = this.record(id, op, 'open', false, nestedIn);
        const signal = (open.signal = this.signalFor(op.o, step));
        const chunks = Array.from({ length: op.chunks }, (_, i) => `o${id}.${i};`);
        const opened = api.openAtomic(this.path(op.a), optionsOf(op.o, signal));
        this.handles.push(opened);
        void opened.then(
          (handle) => (open.tempPath = handle.tempPath),
          () => undefined,
        );
        const writes = opened.then((handle) =>
          Promise.allSettled(chunks.map((chunk) => handle.write(chunk))),
        );
        const openDone = this.track(
          open,
          writes.then(() => opened),
        );
        let ended: Promise<void> | undefined;
        const end = (): Promise<void> => {
          ended ??= opened.then(
            async (handle) => {
              await writes;
              const rec = this.record(`${id}:${op.end}`, op, op.end, false, nestedIn, open);
              rec.data = chunks.join('');
              rec.signal = signal;
              await this.track(rec, op.end === 'commit' ? handle.commit() : handle.discard());
            },
            () => undefined,
          );
          return ended;
        };
        return { done: openDone, end };
      }
      case 'openAtomicSync': {
        const open = this.record(id, op, 'open', true, nestedIn);
        const chunks = Array.from({ length: op.chunks }, (_, i) => `o${id}.${i};`);
        let handle: api.AtomicFileSync | undefined;
        this.runSync(open, () => {
          handle = api.openAtomicSync(this.path(op.a), optionsOf(op.o, undefined));
          open.tempPath = handle.tempPath;
          return handle;
        });
        let ended = false;
        if (handle !== undefined) {
          for (const chunk of chunks) {
            try {
              handle.write(chunk);
            } catch {
              // The handle has failed: its commit reports why.
              break;
            }
          }
        }
        const end = (): Promise<void> => {
          if (ended || handle === undefined) return Promise.resolve();
          ended = true;
          const h = handle;
          const rec = this.record(`${id}:${op.end}`, op, op.end, true, nestedIn, open);
          rec.data = chunks.join('');
          this.runSync(rec, () => {
            if (op.end === 'commit') h.commit();
            else h.discard();
          });
          return Promise.resolve();
        };
        return { done: Promise.resolve(), end };
      }
      case 'update':
      case 'updateJson': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        const signal = (rec.signal = this.signalFor(op.o, step));
        const json = op.k === 'updateJson';
        const options = optionsOf(op.o, signal);
        const promise = json
          ? api.updateJson(this.path(op.a), this.fn(rec, op.fn, true), {
              ...options,
              default: { w: 0 },
            })
          : api.update(this.path(op.a), this.fn(rec, op.fn, false) as api.UpdateFunction, options);
        return { done: this.track(rec, promise) };
      }
      case 'updateSync':
      case 'updateJsonSync': {
        const rec = this.record(id, op, 'call', true, nestedIn);
        const json = op.k === 'updateJsonSync';
        const options = optionsOf(op.o, undefined);
        this.runSync(rec, () =>
          json
            ? api.updateJsonSync(this.path(op.a), this.fnSync(rec, op.fn, true), {
                ...options,
                default: { w: 0 },
              })
            : api.updateSync(
                this.path(op.a),
                this.fnSync(rec, op.fn, false) as api.UpdateSyncFunction,
                options,
              ),
        );
        return { done: Promise.resolve() };
      }
      case 'readJson': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        return {
          done: this.track(
            rec,
            api.readJson(this.path(op.a), op.dflt ? { default: {} } : undefined),
          ),
        };
      }
      case 'readJsonSync': {
        const rec = this.record(id, op, 'call', true, nestedIn);
        this.runSync(rec, () =>
          api.readJsonSync(this.path(op.a), op.dflt ? { default: {} } : undefined),
        );
        return { done: Promise.resolve() };
      }
      case 'copyFile': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        const signal = (rec.signal = this.signalFor(op.o, step));
        return {
          done: this.track(
            rec,
            api.copyFile(
              op.src === 'src' ? join(dir, 'src') : this.path(op.src),
              this.path(op.a),
              optionsOf(op.o, signal),
            ),
          ),
        };
      }
      case 'download': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        const signal = (rec.signal = this.signalFor(op.o, step));
        rec.data = `d${id}`;
        const url =
          op.url === '404' ? `${this.env.base}/404` : `${this.env.base}/${op.url}/${rec.data}`;
        return {
          done: this.track(rec, api.download(url, this.path(op.a), optionsOf(op.o, signal))),
        };
      }
      case 'writeFiles': {
        const entryData = op.as.map((_, i) => `w${id}.${i}`);
        const rec = this.record(id, op, 'call', false, nestedIn);
        rec.entryData = entryData;
        const signal = (rec.signal = this.signalFor(op.o, step));
        const entries = op.as.map(
          (a, i) => [this.path(a), entryData[i] ?? ''] as [string | URL, string],
        );
        return { done: this.track(rec, api.writeFiles(entries, optionsOf(op.o, signal))) };
      }
      case 'cleanupTemps': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        return { done: this.track(rec, api.cleanupTemps(dir)) };
      }
      case 'replaceSymlink': {
        const rec = this.record(id, op, 'call', false, nestedIn);
        return {
          done: this.track(rec, api.replaceSymlink(op.to, 'link', op.force ? { force: true } : {})),
        };
      }
    }
  }
}

/** Wait for `promise`, at most `ms`: false if it did not settle in time. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  const result = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return result;
}

/**
 * This program's keys still in the per-file queue (another program's hang must not count
 * here): a key is a directory's identity and a name (see src/core/target.ts), or a path.
 */
function queuesOf(dir: string): string[] {
  const names = new Set<string>([
    'f',
    'g',
    'h',
    'new',
    'src',
    'link',
    'abs',
    'chain',
    'dangling',
    'fifo',
    'fifolink',
    'null',
    LONG_1,
    LONG_2,
  ]);
  const keys: string[] = [];
  for (const sub of ['.', 'sub', 'mk/a']) {
    let stats: fs.Stats;
    try {
      stats = fs.statSync(join(dir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      const key = `in:${stats.dev}:${stats.ino}/${name}`;
      if (pathQueue.has(key)) keys.push(key);
    }
  }
  const byPath = `path:${join(dir, 'mk/a/f')}`;
  if (pathQueue.has(byPath)) keys.push(byPath);
  return keys;
}

/** Directories a program's temps can appear in. */
const WATCHED_DIRS = ['.', 'sub', 'mk/a'];

let serial = 0;

/** Run `program`; returns what happened (the checks are in model.ts). */
async function runProgram(program: Program, config: HuntConfig, env: Env): Promise<Run> {
  serial += 1;
  const dir = fs.mkdtempSync(join(env.root, `p${serial}-`));
  const state = initialState(
    program.init,
    config.classes.has('special'),
    config.classes.has('longNames'),
  );
  buildWorld(dir, state);
  const cwd = process.cwd();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  const fdsBefore = openFds();
  const running = new Program$(dir, env);
  let patch: Patch | undefined;
  if (!program.pristine) {
    patch = patchSeam(dir, WATCHED_DIRS, program.faults, program.seamAbortAt, () => {
      for (const controller of running.seamAborts)
        controller.abort(new Error('aborted at a seam call'));
    });
  }
  /** What each step's call started (by step index), and what else was started (handle ends). */
  const doneOf = new Map<number, Promise<void>>();
  const dones: Promise<void>[] = [];
  const endOf = new Map<number, Promise<void>>();
  const ends = new Map<number, { at: number; end: () => Promise<void> }>();
  let hung = false;
  process.chdir(dir);
  try {
    let position = 0;
    for (const step of program.steps) {
      if (step.kind === 'wait') {
        const done = doneOf.get(step.index);
        const end = ends.get(step.index);
        if (end !== undefined) {
          ends.delete(step.index);
          if (
            !config.classes.has('commitOrder') &&
            !(await within(Promise.all(dones), config.settleMs))
          ) {
            hung = true;
            break;
          }
          const ended = end.end();
          endOf.set(step.index, ended);
          dones.push(ended);
        }
        const waited = [done, endOf.get(step.index)].filter((p) => p !== undefined);
        if (!(await within(Promise.all(waited), config.settleMs))) {
          hung = true;
          break;
        }
        continue;
      }
      if (step.abortStep !== undefined)
        running.controllers.get(step.abortStep)?.abort(new Error('aborted by a step'));
      // With the handle-commit class off, a commit is awaited before the program goes on:
      // it has then surely taken its place in the queue before any later call.
      const strict = !config.classes.has('commitOrder');
      for (const [index, end] of ends) {
        if (end.at <= position) {
          ends.delete(index);
          // Strict: nothing else in flight either (a call made in some fn meanwhile would
          // race the commit's flush just the same).
          if (strict && !(await within(Promise.all(dones), config.settleMs))) {
            hung = true;
            break;
          }
          const ended = end.end();
          endOf.set(index, ended);
          dones.push(ended);
          if (strict && !(await within(ended, config.settleMs))) hung = true;
        }
      }
      if (hung) break;
      const started = running.call(step.op, String(step.index), step.index);
      doneOf.set(step.index, started.done);
      dones.push(started.done);
      if (started.end !== undefined && 'endAfter' in step.op) {
        if (step.op.endAfter === 0 && step.op.k === 'openAtomicSync') {
          dones.push(started.end());
        } else if (step.op.endAfter === 0) {
          const end = started.end;
          const before = strict ? Promise.all(dones) : started.done;
          const ended = before.then(() => end());
          endOf.set(step.index, ended);
          dones.push(ended);
          if (strict && !(await within(ended, config.settleMs))) {
            hung = true;
            break;
          }
        } else ends.set(step.index, { at: position + step.op.endAfter, end: started.end });
      }
      position += 1;
      if (step.after === 'await') {
        if (!(await within(started.done, config.settleMs))) {
          hung = true;
          break;
        }
      } else if (step.after === 'tick') await tick();
    }
    if (!hung) {
      for (const end of ends.values()) dones.push(end.end());
      ends.clear();
      // Ends may add records; wait until nothing is left unsettled.
      const all = async (): Promise<void> => {
        for (let round = 0; round < 20; round += 1) {
          await Promise.all(dones);
          if (running.unsettled.size === 0) return;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      if (!(await within(all(), config.settleMs))) hung = true;
      // As `await using` would: dispose of every handle (a no-op once committed or failed).
      // The discard an abort started in the background is awaited here, unless its class is
      // on (then a temp still there when commit() rejected counts).
      if (!hung && !config.classes.has('abortCleanup')) {
        const disposed = Promise.allSettled(
          running.handles.map((h) => h.then((handle) => handle.discard())),
        );
        if (!(await within(disposed, config.settleMs))) hung = true;
      }
    }
  } finally {
    process.chdir(cwd);
    patch?.restore();
    process.off('unhandledRejection', onUnhandled);
  }
  // A rejection nobody handled is reported on a later turn: give it one.
  await tick();
  const listing = new Map<string, string[]>();
  for (const sub of ['.', 'sub', 'sub/deep', 'mk', 'mk/a']) {
    try {
      listing.set(sub, fs.readdirSync(join(dir, sub)));
    } catch {
      // not there
    }
  }
  return {
    listing,
    locksHeld: [...listing].flatMap(([sub, names]) =>
      heldSidecars(join(dir, sub), names).map((n) => `${sub}/${n}`),
    ),
    dir,
    records: running.records,
    log: patch?.log,
    unhandled,
    hung: hung || running.unsettled.size > 0,
    fdsBefore,
    fdsAfter: openFds(),
    queuedAfter: queuesOf(dir).length,
    locksAfter: heldLocks().filter((path) => path.startsWith(`${dir}/`)),
  };
}

/** Run and check one program; returns the violations (empty: it passed). */
export async function runAndCheck(
  program: Program,
  config: HuntConfig,
  env: Env,
): Promise<string[]> {
  const run = await runProgram(program, config, env);
  const violations = check(program, config, run);
  if (run.hung) {
    // Something may still hold a queue keyed by this directory's inode: never reuse it.
    fs.renameSync(run.dir, join(env.root, `hung-${String(serial)}-${Date.now()}`));
  } else {
    fs.rmSync(run.dir, { recursive: true, force: true });
  }
  return violations;
}
