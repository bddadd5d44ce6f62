/**
 * The reference model, and the checks made after every program.
 *
 * The model replays the calls of a program in the order they were made (nested calls
 * included), each with the outcome it really had, over a tiny file system of its own: names,
 * inodes (content and mode), symlinks. What the README promises becomes a few rules:
 * calls to one file apply in call order; a call that failed changed nothing (unless its error
 * says `committed`); an update's fn sees everything called before it; a new file gets
 * 0o666 & ~umask, an existing one keeps its mode unless `mode` is given (a copy takes its
 * source's); `overwrite: false` refuses anything at the name; a link is followed unless
 * `symlinks: 'replace'`; a call made from inside an update's fn for the same file is refused
 * with ERR_ATOMIC_LOCK_REENTRANT; a synchronous write while an asynchronous write of the file
 * is in flight follows `config.syncRule`. Without injected faults and aborts, every call must
 * have exactly the outcome the model gives it; with them, any AtomicFsError is allowed, but the
 * state must still follow. Then: what is on disk is what the model holds, nothing else is
 * left, locks are free, descriptors are as they were, nothing was closed twice, and no temp
 * file was ever wider than the mode it ended with.
 */
import { basename } from 'node:path';
import { AtomicFsError } from '../../src/engine/errors.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { type HuntConfig, isSyncRefusal } from './config.js';
import { type CallOptions, type Op, type Program, targetsOf } from './program.js';
import { type Rec, type Run, jsonText } from './runner.js';
import { faultTagOf } from './seam.js';
import {
  type Entry,
  type EntryName,
  type State,
  LONG_1,
  LONG_2,
  SOURCE,
  aliasNamed,
  initialState,
  look,
} from './world.js';

const NEW_MODE = 0o644; // 0o666 & ~umask, with the hunter's umask 022
const REENTRANT = 'ERR_ATOMIC_LOCK_REENTRANT';

/** What the model expects of one call. */
type Expected =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /**
       * Acceptable codes; `special`: any AtomicFsError (a special file refused); `mayPass`:
       * success is acceptable too (the model cannot know the timing that decides).
       */
      readonly codes: readonly string[];
      readonly why: string;
    };

const OK: Expected = { ok: true };

/** Every failure that applies (any of their codes will do), or OK if none does. */
function any(...expected: (Expected | undefined)[]): Expected {
  const failures = expected.filter((e): e is Expected & { ok: false } => e !== undefined && !e.ok);
  if (failures.length === 0) return OK;
  return {
    ok: false,
    codes: failures.flatMap((f) => f.codes),
    why: failures.map((f) => f.why).join('; '),
  };
}
function fail(why: string, ...codes: string[]): Expected {
  return { ok: false, codes, why };
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = codeOf(error);
    return `${code === undefined ? error.name : code}: ${error.message.split('\n')[0] ?? ''}`;
  }
  return String(error);
}

type Dirs = 'absent' | 'present' | 'unknown';

class Model {
  readonly state: State;
  readonly history = new Map<EntryName, string[]>();
  dirs: Dirs = 'absent';
  /** Where each record landed (its resolved target), once the model has seen it. */
  readonly targets = new Map<Rec, EntryName[]>();

  /** Names that were files when the program started. */
  readonly existedAtStart: Set<EntryName>;

  constructor(state: State) {
    this.state = state;
    this.existedAtStart = new Set(
      [...state.entries].filter(([, e]) => e.kind === 'file').map(([name]) => name),
    );
    for (const [name, entry] of state.entries) {
      if (entry.kind === 'file') this.history.set(name, [this.inode(entry.ino)?.content ?? '']);
    }
  }

  inode(ino: number): { content: string; mode: number } | undefined {
    return this.state.inodes.get(ino);
  }

  /** Entries seen instead of the current ones (see `check`). */
  overrides: Map<EntryName, Entry | undefined> | undefined;

  get(name: EntryName): Entry | undefined {
    if (this.overrides?.has(name) === true) return this.overrides.get(name);
    return this.state.entries.get(name);
  }

  kind(name: EntryName): string {
    return this.get(name)?.kind ?? 'missing';
  }

  file(name: EntryName): { content: string; mode: number } | undefined {
    const entry = this.get(name);
    return entry?.kind === 'file' ? this.inode(entry.ino) : undefined;
  }

  /** Follow links from `name` (the kernel's way), as far as they go. */
  follow(name: EntryName): EntryName {
    let current = name;
    for (let hops = 0; hops < 8; hops += 1) {
      const entry = this.get(current);
      if (entry?.kind !== 'link') return current;
      current = entry.to;
    }
    return current;
  }

  /** The entry a write to `alias` replaces, or the codes the kernel's path walk gives. */
  target(alias: string, o: CallOptions | undefined): { name: EntryName } | { codes: string[] } {
    const a = aliasNamed(alias);
    if (a.kernelError !== undefined) {
      // The path is walked when the call is made: a write of f still in flight may or may not
      // have created f by then, so either answer of the kernel will do here (the exact one is
      // checked where nothing is in flight: test/kernel-paths.test.ts).
      // With mkdirs, a missing f would be made a directory, and `f/.` names it: EISDIR.
      const made = o?.mkdirs === true ? ['EISDIR'] : [];
      return { codes: [...new Set([a.kernelError(true), a.kernelError(false), ...made])] };
    }
    if (a.deep === true && o?.mkdirs !== true) {
      if (this.dirs === 'absent') return { codes: ['ENOENT'] };
      // They may have been made meanwhile: either answer will do.
      if (this.dirs === 'unknown') return { codes: ['ENOENT', 'maybe', 'mayPass'] };
    }
    return { name: o?.symlinks === 'replace' ? a.entry : this.follow(a.entry) };
  }

  put(name: EntryName, content: string, mode: number): void {
    const ino = this.state.nextIno;
    this.state.nextIno += 1;
    this.state.inodes.set(ino, { content, mode });
    this.state.entries.set(name, { kind: 'file', ino });
    const list = this.history.get(name) ?? [];
    list.push(content);
    this.history.set(name, list);
    if (name.startsWith('mk/')) {
      this.state.entries.set('mk', { kind: 'dir' });
      this.state.entries.set('mk/a', { kind: 'dir' });
      this.dirs = 'present';
    }
  }

  /** The mode a whole write gives `name`: `mode`, else the existing file's, else a new file's. */
  modeFor(name: EntryName, o: CallOptions): number {
    return o.mode ?? this.file(name)?.mode ?? NEW_MODE;
  }

  /** Why writing `name` must fail (empty: it may succeed). */
  refusals(name: EntryName, o: CallOptions): Expected | undefined {
    const kind = this.kind(name);
    if (kind === 'dir') return fail(`${name} is a directory`, 'EISDIR');
    if (kind === 'fifo' || kind === 'chr') return fail(`${name} is a ${kind}`, 'special');
    if (o.overwrite === false && kind !== 'missing') {
      return fail(`${name} exists and overwrite is false`, 'EEXIST');
    }
    return undefined;
  }
}

/** Ops whose calls queue in the per-file queue of their target (and so are "in flight"). */
function queued(rec: Rec): boolean {
  if (rec.sync) return false;
  if (rec.part === 'open' || rec.part === 'discard') return false;
  // Aborted before the call, or failed while its path was resolved (when called): rejected
  // at once, it never takes a place in a queue. copyFile's "same file" is found in its turn
  // (the source is opened there): it waited in the queue like any copy.
  if ('o' in rec.op && rec.op.o.signal === 'aborted') return false;
  const outcome = rec.outcome;
  if (outcome?.ok === false && outcome.error instanceof AtomicFsError) {
    const inTurn = outcome.error.code === 'ERR_ATOMIC_SAME_FILE';
    if (outcome.error.phase === 'resolve' && !inTurn) return false;
  }
  const k = rec.op.k;
  return k !== 'readJson' && k !== 'cleanupTemps';
}

function errorCodeOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String(error.code)
    : undefined;
}

/** Whether a failed outcome is one superseded coalesced writes may share (see above). */
function sharesFailure(outcome: Rec['outcome']): boolean {
  if (outcome === undefined || outcome.ok) return false;
  const error = outcome.error;
  if (!(error instanceof AtomicFsError)) return false;
  return error.committed || !['write', 'fsync', 'close', 'worker'].includes(error.phase);
}

/** Whether two records are writes that may be coalesced into one. */
function coalescable(rec: Rec): boolean {
  const op = rec.op;
  if (op.k !== 'writeFile' && op.k !== 'writeJson') return false;
  if (op.k === 'writeFile' && op.stream !== undefined) return false;
  const o = op.o;
  return o.signal === undefined && o.overwrite !== false && o.coalesce !== false;
}

export function check(program: Program, config: HuntConfig, run: Run): string[] {
  const v: string[] = [];
  const on = config.classes;
  const injected = run.log?.injected.length ?? 0;
  if (run.hung) {
    const open = run.records.filter((r) => !r.settled).map((r) => `#${r.id}`);
    v.push(`calls never settled (hang): ${open.join(', ') || '(a step waited forever)'}`);
  }
  for (const reason of run.unhandled) v.push(`unhandled rejection: ${describe(reason)}`);

  const model = new Model(initialState(program.init, on.has('special'), on.has('longNames')));
  const leftovers = new Set<string>();
  const noteLeftover = (error: unknown): void => {
    if (error instanceof AtomicFsError && error.leftover !== undefined) {
      leftovers.add(basename(error.leftover));
    }
  };
  const ordered = [...run.records].sort((a, b) => a.seq - b.seq);
  if (process.env.ATOMIC_FS_HUNT_DEBUG === '1') {
    for (const r of ordered) {
      const o = r.outcome;
      process.stderr.write(
        `  [seq ${r.seq}] #${r.id} ${r.op.k}/${r.part} ${o === undefined ? 'unsettled' : o.ok ? 'ok' : `failed ${describe(o.error)}`}${r.signal?.aborted === true ? ' (aborted)' : ''} fn=${JSON.stringify(r.fnInputs)}\n`,
      );
    }
  }
  /** For an update that wrote: its target's entry before the write. */
  const preWrite = new Map<Rec, Map<EntryName, Entry | undefined>>();

  /** Calls that may close a cycle of nested updates (`mayCloseCycle`): refused or not. */
  const mayDeadlock = new Set<Rec>();

  /** Judge an outcome against what was expected; returns whether the effect happened. */
  const judge = (rec: Rec, expected: Expected, label: string): boolean => {
    const outcome = rec.outcome;
    if (outcome === undefined) return false;
    if (outcome.ok) {
      if (!expected.ok && !expected.codes.includes('mayPass')) {
        v.push(
          `#${rec.id} ${label} succeeded, but must fail (${expected.why}: ${expected.codes.join('|')})`,
        );
      }
      return true;
    }
    const { error } = outcome;
    noteLeftover(error);
    const code = codeOf(error);
    const committed = error instanceof AtomicFsError && error.committed;
    // Refused when called, before any other check: nothing changed.
    if (code === 'ERR_ATOMIC_DEADLOCK' && mayDeadlock.has(rec)) return false;
    if (!expected.ok) {
      if (expected.codes.includes('special') && error instanceof AtomicFsError) return committed;
      if (expected.codes.includes('sync') && isSyncRefusal(config, code)) return committed;
      if (code !== undefined && expected.codes.includes(code)) return committed;
    }
    if (code === 'ABORT_ERR' && rec.signal?.aborted === true) return committed;
    if ((error as { huntFn?: string } | null)?.huntFn === rec.id) return false;
    if (injected > 0 && error instanceof AtomicFsError) return committed;
    const wanted = expected.ok ? 'success' : `${expected.codes.join('|')} (${expected.why})`;
    v.push(`#${rec.id} ${label} failed with ${describe(error)}; the model expects ${wanted}`);
    return committed;
  };

  /** The outer update's target, for a call made inside its fn. */
  const outerTargets = (rec: Rec): EntryName[] =>
    rec.nestedIn === undefined ? [] : (model.targets.get(rec.nestedIn) ?? []);

  /**
   * Whether a call made inside the fn of an update may close a cycle of waits: with the class
   * on, the generator lets two updates nest each other's files (update(A)'s fn writes B while
   * update(B)'s fn writes A). The queue refuses the call whose add would close the cycle with
   * ERR_ATOMIC_DEADLOCK (conservatively, and which one depends on when each fn runs: found at
   * program 11,213 of seed 20261220); the model accepts that refusal besides whatever else it
   * expects of the call (`mayDeadlock`, found at program 12,738 of seed 20261224: a FIFO).
   */
  const mayCloseCycle = (rec: Rec, name: EntryName): boolean => {
    if (!on.has('nestedCycle') || rec.sync) return false;
    const outer = outerTargets(rec);
    if (outer.length === 0) return false;
    // An edge from each update's file to the files its fn writes.
    const edges = new Map<EntryName, EntryName[]>();
    for (const r of run.records) {
      if (!('fn' in r.op) || r.part !== 'call') continue;
      for (const from of model.targets.get(r) ?? []) {
        for (const inner of r.op.fn.nested) {
          for (const alias of targetsOf(inner)) {
            const where = model.target(alias, 'o' in inner ? inner.o : {});
            if ('name' in where) edges.set(from, [...(edges.get(from) ?? []), where.name]);
          }
        }
      }
    }
    const seen = new Set<EntryName>();
    const reaches = (from: EntryName): boolean => {
      if (outer.includes(from)) return true;
      if (seen.has(from)) return false;
      seen.add(from);
      return (edges.get(from) ?? []).some(reaches);
    };
    return reaches(name);
  };

  /** Rules for a synchronous write and a nested one, before the file's own checks. */
  const precheck = (rec: Rec, name: EntryName): Expected | undefined => {
    if (outerTargets(rec).includes(name)) {
      return fail(`made inside the fn of the update of ${name}`, REENTRANT, 'sync');
    }
    if (mayCloseCycle(rec, name)) mayDeadlock.add(rec);
    if (rec.sync && rec.op.k !== 'readJsonSync') {
      const busy = rec.inFlight.filter(
        (r) => queued(r) && (model.targets.get(r) ?? []).includes(name),
      );
      if (busy.length > 0) {
        const which = busy.map((r) => `#${r.id}`).join(', ');
        if (config.syncRule === 'refuse') {
          // writeFiles holds a file's place only while that file is written, not until the
          // whole group settles: a sync write after that file's turn may go ahead.
          // A write that failed may have left the queue before its promise settled (an abort
          // releases its place at once): the sync write may then go ahead.
          const mayPass = busy.every((r) => r.op.k === 'writeFiles' || r.outcome?.ok === false)
            ? ['mayPass']
            : [];
          return fail(
            `a synchronous write of ${name} while ${which} is in flight`,
            'sync',
            REENTRANT,
            ...mayPass,
          );
        }
        if (rec.op.k.startsWith('update')) {
          return fail(`updateSync while ${which} is in flight`, REENTRANT);
        }
      }
    }
    return undefined;
  };

  const writeWhole = (
    rec: Rec,
    alias: string,
    o: CallOptions,
    content: string,
    label: string,
    extra?: Expected,
    modeOverride?: number,
  ): void => {
    const where = model.target(alias, o);
    if ('codes' in where && rec.sync && a_deep(alias)) {
      // Its directories missing, while a write of the same file that makes them is queued: a
      // synchronous write is refused as with any write of that file in flight (the code finds
      // that write's queue, keyed by the path, before it looks for the directories).
      const refused = precheck(rec, aliasNamed(alias).entry);
      if (refused !== undefined) {
        judge(rec, refused, label);
        return;
      }
    }
    if ('codes' in where) {
      if (where.codes.includes('maybe')) {
        // Queued for that file like any write of it (a synchronous one beside it is refused).
        model.targets.set(rec, [aliasNamed(alias).entry]);
        // A call that fails of itself (a 404, a failing source) fails so whether or not the
        // directories are there by its turn: it fetches or reads before its turn (found at
        // program 21,135 of seed 20261209: a download of a 404 behind an aborted mkdirs).
        const own = extra !== undefined && !extra.ok ? extra.codes : [];
        const codes =
          own.length > 0 ? [...where.codes.filter((c) => c !== 'mayPass'), ...own] : where.codes;
        if (judge(rec, { ok: false, codes, why: 'maybe' }, label) || rec.outcome?.ok === true) {
          model.put(aliasNamed(alias).entry, content, o.mode ?? NEW_MODE);
        }
        return;
      }
      judge(rec, fail(`the kernel refuses '${alias}'`, ...where.codes), label);
      return;
    }
    const name = where.name;
    model.targets.set(rec, [name]);
    const expected = any(precheck(rec, name), model.refusals(name, o), extra);
    const mode = modeOverride ?? model.modeFor(name, o);
    if (judge(rec, expected, label)) model.put(name, content, mode);
    if (a_deep(alias) && o.mkdirs === true && rec.outcome?.ok !== true)
      model.dirs = model.dirs === 'present' ? 'present' : 'unknown';
  };

  const a_deep = (alias: string): boolean => aliasNamed(alias).deep === true;

  const handleTargets = new Map<Rec, EntryName>();

  const readChecks: (() => void)[] = [];
  const parses = (text: string | undefined): boolean => {
    if (text === undefined) return false;
    try {
      JSON.parse(text);
      return true;
    } catch {
      return false;
    }
  };
  const judgeRead = (
    rec: Rec,
    dflt: boolean,
    name: EntryName,
    candidates: readonly (string | undefined)[],
    label: string,
  ): void => {
    const outcome = rec.outcome;
    if (outcome === undefined) return;
    if (outcome.ok) {
      const got = JSON.stringify(outcome.value);
      const fits = candidates.some((c) =>
        c === undefined ? dflt && got === '{}' : parses(c) && JSON.stringify(JSON.parse(c)) === got,
      );
      if (!fits) {
        v.push(`#${rec.id} ${label} read ${got}, but ${name} held ${JSON.stringify(candidates)}`);
      }
      return;
    }
    const codes: string[] = [];
    for (const c of candidates) {
      if (c === undefined && !dflt) codes.push('ENOENT');
      if (c !== undefined && !parses(c)) codes.push('ERR_ATOMIC_JSON_PARSE');
    }
    judge(rec, codes.length > 0 ? fail('read', ...codes) : OK, label);
  };
  for (const rec of ordered) {
    // A call made in an update's fn runs before that update writes: it sees the outer
    // target as it was (a link that the update replaces is still a link for it).
    const outer = rec.nestedIn === undefined ? undefined : preWrite.get(rec.nestedIn);
    model.overrides = outer;
    step(rec);
    model.overrides = undefined;
  }

  function step(rec: Rec): void {
    if (!rec.settled) return;
    const op = rec.op;
    const label = op.k;
    switch (op.k) {
      case 'writeFile':
        writeWhole(
          rec,
          op.a,
          op.o,
          rec.data ?? '',
          label,
          op.stream === 'fail' ? fail('the source fails', 'ERR_ATOMIC_SOURCE') : undefined,
        );
        break;
      case 'writeFileSync':
      case 'writeJson':
      case 'writeJsonSync':
        writeWhole(rec, op.a, op.o, rec.data ?? '', label);
        break;
      case 'download':
        writeWhole(
          rec,
          op.a,
          op.o,
          rec.data ?? '',
          label,
          op.url === '404'
            ? fail('the server answers 404', 'ERR_ATOMIC_HTTP_STATUS')
            : op.url === 'short'
              ? fail('the body is shorter than its Content-Length', 'ERR_ATOMIC_SIZE_MISMATCH')
              : undefined,
        );
        break;
      case 'copyFile': {
        if (op.src === 'src') {
          writeWhole(
            rec,
            op.a,
            op.o,
            SOURCE.content,
            label,
            undefined,
            op.o.mode ?? SOURCE.mode & 0o777,
          );
          break;
        }
        const where = model.target(op.a, op.o);
        const from = model.follow(aliasNamed(op.src).entry);
        const source = model.file(from);
        if ('codes' in where) {
          judge(rec, fail(`the kernel refuses '${op.a}'`, ...where.codes), label);
          break;
        }
        model.targets.set(rec, [where.name]);
        // Made inside the fn of an update of the same file: refused when called, before the
        // source is looked at (that happens in the copy's turn, which would never come).
        const nested = precheck(rec, where.name);
        if (nested !== undefined) {
          judge(rec, nested, label);
          break;
        }
        const codes: string[] = [];
        if (source === undefined) codes.push('ENOENT');
        const refusal = model.refusals(where.name, op.o);
        if (refusal !== undefined && !refusal.ok) codes.push(...refusal.codes);
        if (source !== undefined && from === where.name) codes.push('ERR_ATOMIC_SAME_FILE');
        // The source written meanwhile by a call that runs at once (a synchronous write, or a
        // write of its own queue: the source is read in the copy's turn) makes the copy fail
        // with ERR_ATOMIC_SOURCE_CHANGED when the bytes it copied are not the source's: the
        // copy refused, nothing published (found at program 4,121 of seed 20261212).
        if (
          rec.outcome?.ok === false &&
          errorCodeOf(rec.outcome.error) === 'ERR_ATOMIC_SOURCE_CHANGED'
        ) {
          judge(
            rec,
            fail('the source changed during the copy', 'ERR_ATOMIC_SOURCE_CHANGED'),
            label,
          );
          break;
        }
        const expected = codes.length > 0 ? fail('copy refused', ...codes) : OK;
        if (judge(rec, expected, label) && source !== undefined) {
          model.put(where.name, source.content, op.o.mode ?? source.mode & 0o777);
        }
        break;
      }
      case 'openAtomic':
      case 'openAtomicSync': {
        if (rec.part === 'open') {
          const where = model.target(op.a, op.o);
          if ('codes' in where) {
            judge(
              rec,
              fail(`the kernel refuses '${op.a}'`, ...where.codes.filter((c) => c !== 'maybe')),
              `${label} (open)`,
            );
            break;
          }
          // Its directories are being made by a write still in flight (mkdirs): a handle's temp
          // is created when it is opened, not in the file's queue, so they may not exist yet.
          const making =
            a_deep(op.a) &&
            op.o.mkdirs !== true &&
            rec.inFlight.some(
              (r) =>
                queued(r) &&
                'o' in r.op &&
                r.op.o.mkdirs === true &&
                // a single write, or a writeFiles entry (found at program 42,205 of seed 20261213)
                (('a' in r.op && a_deep(r.op.a)) || ('as' in r.op && r.op.as.some(a_deep))),
            );
          if (making && rec.outcome?.ok === false && errorCodeOf(rec.outcome.error) === 'ENOENT') {
            judge(rec, fail('its directories are still being made', 'ENOENT'), `${label} (open)`);
            break;
          }
          // A handle opened with mkdirs makes its directories while it opens (its temp is in
          // them), not in any queue: a call made meanwhile may or may not find them (found at
          // program 42,876 of seed 20261214 and 16,258 of seed 20261216).
          if (op.o.mkdirs === true && a_deep(op.a) && rec.outcome?.ok === true) {
            if (model.dirs !== 'present') model.dirs = 'unknown';
          }
          // A failed open with mkdirs that could not remove its temp (or its mode probe) leaves
          // the directories it made around it, as every call with a leftover does.
          if (
            op.o.mkdirs === true &&
            a_deep(op.a) &&
            rec.outcome?.ok === false &&
            rec.outcome.error instanceof AtomicFsError &&
            rec.outcome.error.leftover !== undefined &&
            model.dirs !== 'present'
          ) {
            model.dirs = 'unknown';
          }
          handleTargets.set(rec, where.name);
          // Opened inside the fn of an update of the same file: refused at once (its commit
          // could never take its turn), nothing created.
          // Opened there for another file, it may close a cycle of nested updates (refused at
          // once, as a write would be: found at program 8,103 of seed 20261223).
          const nested = outerTargets(rec).includes(where.name)
            ? fail(`opened inside the fn of the update of ${where.name}`, REENTRANT)
            : undefined;
          if (mayCloseCycle(rec, where.name)) mayDeadlock.add(rec);
          const refusal = any(nested, model.refusals(where.name, op.o));
          // Create-only: a write called after the open but run before the handle's commit
          // (a synchronous one, at once) may create the file first; the commit's link then
          // refuses with EEXIST, and that is the handle's outcome.
          if (
            op.o.overwrite === false &&
            rec.outcome?.ok === false &&
            errorCodeOf(rec.outcome.error) === 'EEXIST'
          ) {
            judge(rec, fail('created before the commit', 'EEXIST'), `${label} (open)`);
            break;
          }
          // Opening looks at the file as it is then, not in the file's queue: with writes of
          // it in flight, an early EEXIST may or may not come (the commit decides).
          const busy = rec.inFlight.some(
            (r) => queued(r) && (model.targets.get(r) ?? []).includes(where.name),
          );
          if (busy && !refusal.ok && refusal.codes.includes('EEXIST')) {
            if (rec.outcome?.ok !== true) judge(rec, refusal, `${label} (open)`);
            break;
          }
          judge(rec, refusal, `${label} (open)`);
          break;
        }
        const open = rec.handle;
        const name = open === undefined ? undefined : handleTargets.get(open);
        if (name === undefined || open?.outcome?.ok !== true) break;
        model.targets.set(rec, [name]);
        if (rec.part === 'discard') {
          judge(rec, OK, `${label} (discard)`);
          break;
        }
        const expected = any(precheck(rec, name), model.refusals(name, op.o));
        if (judge(rec, expected, `${label} (commit)`)) {
          model.put(name, rec.data ?? '', model.modeFor(name, op.o));
        }
        break;
      }
      case 'update':
      case 'updateSync':
      case 'updateJson':
      case 'updateJsonSync': {
        const json = op.k === 'updateJson' || op.k === 'updateJsonSync';
        const target = model.target(op.a, op.o);
        // Directories that may have been made meanwhile, and were: judged as any update.
        const where =
          'codes' in target && target.codes.includes('maybe') && rec.outcome?.ok === true
            ? { name: aliasNamed(op.a).entry }
            : target;
        if ('codes' in where) {
          // Directories that may not be there yet: a synchronous update may be refused first
          // for the write in flight that is making them (found at program 15,053 of seed
          // 20270101).
          const pre = where.codes.includes('maybe')
            ? precheck(rec, aliasNamed(op.a).entry)
            : undefined;
          const codes = pre !== undefined && !pre.ok ? [...where.codes, ...pre.codes] : where.codes;
          judge(rec, fail(`the kernel refuses '${op.a}'`, ...codes), label);
          if (rec.fnInputs.length > 0)
            v.push(`#${rec.id} ${label}: fn was called, but the path is refused`);
          break;
        }
        const name = where.name;
        model.targets.set(rec, [name]);
        const checked = precheck(rec, name);
        // Refused unless it came after that file's turn of a writeFiles in flight (`mayPass`):
        // an fn that was called says it did, and the update is then judged as any other.
        const passed =
          checked !== undefined &&
          !checked.ok &&
          checked.codes.includes('mayPass') &&
          rec.fnInputs.length > 0;
        const pre = passed ? undefined : checked;
        const kind = model.kind(model.follow(name));
        const refusal =
          kind === 'fifo' || kind === 'chr' ? fail(`${name} is a ${kind}`, 'special') : undefined;
        let current = model.file(model.follow(name))?.content;
        let parsed: unknown;
        let parseError = false;
        if (json && current !== undefined) {
          try {
            parsed = JSON.parse(current.replace(/^\uFEFF/, ''));
          } catch {
            parseError = true;
          }
        }
        const before =
          pre ??
          refusal ??
          (parseError ? fail(`${name} is not JSON`, 'ERR_ATOMIC_JSON_PARSE') : undefined);
        if (before !== undefined) {
          judge(rec, before, label);
          if (rec.fnInputs.length > 0 && pre !== undefined) {
            v.push(
              `#${rec.id} ${label}: fn was called, but the call must be refused (${before.ok ? '' : before.why})`,
            );
          }
          break;
        }
        let value = json ? (current === undefined ? { w: 0 } : parsed) : undefined;
        let input = json ? JSON.stringify(value) : current;
        if (rec.fnInputs.length > 1)
          v.push(`#${rec.id} ${label}: fn was called ${rec.fnInputs.length} times`);
        const seen = rec.fnInputs[0];
        // With `symlinks: 'replace'` on a link, fn reads through the link: the file it names
        // is written in a queue of its own, so any of its versions may be read.
        const through = model.follow(name) !== name;
        if (through && rec.fnInputs.length > 0 && seen !== input) {
          const versions = model.history.get(model.follow(name)) ?? [];
          const fits = (text: string | undefined): boolean =>
            json
              ? text === JSON.stringify({ w: 0 }) ||
                versions.some((c) => {
                  try {
                    return JSON.stringify(JSON.parse(c)) === text;
                  } catch {
                    return false;
                  }
                })
              : text === undefined || versions.includes(text);
          if (fits(seen)) {
            input = seen;
            value = json && seen !== undefined ? (JSON.parse(seen) as unknown) : undefined;
            if (!json) current = seen;
          }
        }
        if (rec.fnInputs.length > 0 && seen !== input) {
          v.push(
            `#${rec.id} ${label}: fn got ${JSON.stringify(seen)}, but the file held ${JSON.stringify(input)} (everything called before it)`,
          );
        }
        if (op.o.mkdirs === true && a_deep(op.a) && model.dirs !== 'present') {
          if (rec.fnInputs.length > 0) {
            model.state.entries.set('mk', { kind: 'dir' });
            model.state.entries.set('mk/a', { kind: 'dir' });
            model.dirs = 'present';
          } else if (rec.outcome?.ok !== true) {
            // The lock's sidecar (kept) may have made the directories before the failure.
            model.dirs = 'unknown';
          }
        }
        let next: string | undefined;
        switch (op.fn.ret) {
          case 'append':
            next = json
              ? jsonText({ w: rec.id, prev: value ?? null })
              : `${current ?? ''}u${rec.id};`;
            break;
          case 'same':
            next = json ? jsonText(value) : current;
            break;
          case 'none':
          case 'throw':
            next = undefined;
            break;
        }
        const same = json ? next === jsonText(value) : next === current;
        const writesNow = next !== undefined && !same && op.fn.ret !== 'throw';
        const expected: Expected = op.fn.ret === 'throw' ? fail('fn throws', 'fn') : OK;
        if (rec.outcome?.ok === true && rec.fnInputs.length === 0) {
          v.push(`#${rec.id} ${label} resolved without calling fn`);
        }
        const happened = judge(rec, expected, label);
        if (happened && writesNow && next !== undefined) {
          preWrite.set(rec, new Map([[name, model.state.entries.get(name)]]));
          model.put(name, next, model.modeFor(name, op.o));
        }
        if (rec.outcome?.ok === true) {
          const now = model.file(model.follow(name))?.content;
          const value2 = rec.outcome.value;
          const got = json
            ? value2 === undefined
              ? undefined
              : jsonText(value2)
            : value2 === undefined
              ? undefined
              : (value2 as Buffer).toString('latin1');
          const want = json ? (now === undefined ? jsonText(value) : now) : now;
          if (got !== want && !(json && !writesNow && got === jsonText(value))) {
            v.push(
              `#${rec.id} ${label} resolved with ${JSON.stringify(got)}, but the file holds ${JSON.stringify(want)}`,
            );
          }
        }
        break;
      }
      case 'readJson':
      case 'readJsonSync': {
        // Reading a name in a directory that does not exist is reading a missing file.
        const where = model.target(op.a, { mkdirs: true });
        if ('codes' in where) {
          // ENOENT is a missing file: with a default, the read gives the default.
          const maybe = where.codes.includes('ENOENT') ? ['mayPass'] : [];
          judge(rec, fail(`the kernel refuses '${op.a}'`, ...where.codes, ...maybe), label);
          break;
        }
        const name = where.name;
        model.targets.set(rec, [name]);
        const kind = model.kind(name);
        if (kind === 'fifo' || kind === 'chr') {
          judge(rec, fail(`${name} is a ${kind}`, 'special'), label);
          break;
        }
        const busy = rec.inFlight.some(
          (r) => queued(r) && (model.targets.get(r) ?? []).includes(name),
        );
        const content = model.file(name)?.content;
        const atStart = model.existedAtStart.has(name);
        // A read takes no place in the file's queue: an asynchronous one (or one with writes in
        // flight) may see any complete version, also one written by a call made after it.
        const exact = !busy && op.k === 'readJsonSync';
        readChecks.push(() => {
          const versions = model.history.get(name) ?? [];
          const candidates = exact
            ? [content]
            : [...(atStart ? [] : [undefined]), ...versions, content];
          judgeRead(rec, op.dflt, name, candidates, label);
        });
        break;
      }
      case 'writeFiles':
        writeFilesModel(rec, op);
        break;
      case 'replaceSymlink': {
        const kind = model.kind('link');
        const expected = kind === 'file' && !op.force ? fail('a file is at link', 'EEXIST') : OK;
        if (judge(rec, expected, label))
          model.state.entries.set('link', { kind: 'link', to: op.to });
        break;
      }
      case 'cleanupTemps': {
        const outcome = rec.outcome;
        if (outcome?.ok === true && Array.isArray(outcome.value) && outcome.value.length > 0) {
          v.push(
            `#${rec.id} cleanupTemps removed ${JSON.stringify(outcome.value)}: a live writer's temp`,
          );
        } else judge(rec, OK, label);
        break;
      }
    }
  }

  function writeFilesModel(rec: Rec, op: Op & { k: 'writeFiles' }): void {
    const label = 'writeFiles';
    const data = rec.entryData ?? [];
    const wheres = op.as.map((a) => model.target(a, op.o));
    const names = wheres.flatMap((w) => ('name' in w ? [w.name] : []));
    model.targets.set(rec, names);
    const early: string[] = [];
    for (const w of wheres) if ('codes' in w) early.push(...w.codes);
    if (new Set(names).size < names.length) early.push('ERR_INVALID_ARG_VALUE');
    // A special file at an entry is refused when the call is made, for the whole call (as an
    // entry that cannot be resolved): nothing is written.
    for (const name of names) {
      const kind = model.kind(name);
      if (kind === 'fifo' || kind === 'chr') early.push('special');
      // An entry whose update's fn this call is made from: the whole call is refused at once.
      if (outerTargets(rec).includes(name)) early.push(REENTRANT);
      // Another entry may close a cycle of nested updates: the queue may find that first and
      // refuse the call with ERR_ATOMIC_DEADLOCK instead (found at program 94,943 of seed
      // 20261208: one entry re-entrant, the other closing a cycle).
      if (mayCloseCycle(rec, name)) mayDeadlock.add(rec);
    }
    const outcome = rec.outcome;
    if (outcome === undefined) return;
    if (early.length > 0) {
      if (early.includes('maybe') && outcome.ok) {
        // The directories are there after all: judge the entries below.
      } else {
        // Refused when called: it never took a place in any file's queue.
        model.targets.set(rec, []);
        judge(rec, fail('an entry cannot be resolved at call time', ...early), label);
        return;
      }
    }
    if (!outcome.ok) {
      judge(rec, OK, label);
      return;
    }
    const results = outcome.value as {
      path: string;
      status: string;
      error?: unknown;
      leftover?: string;
    }[];
    op.as.forEach((alias, i) => {
      const where = wheres[i];
      const result = results[i];
      if (where === undefined || result === undefined) return;
      const name = 'name' in where ? where.name : aliasNamed(alias).entry;
      // An entry whose directories may or may not exist (a mkdirs write before it failed):
      // written if they do, ENOENT in its turn if not (found at program 12,567 of seed
      // 20261211).
      const expected =
        'codes' in where
          ? fail(
              'its directories may be missing',
              ...where.codes.filter((c) => c !== 'maybe'),
              'mayPass',
            )
          : any(precheck(rec, name), model.refusals(name, op.o));
      if (result.leftover !== undefined) leftovers.add(basename(result.leftover));
      const entry: Rec = {
        ...rec,
        outcome:
          result.status === 'written'
            ? { ok: true, value: undefined }
            : { ok: false, error: result.error },
      };
      if (result.status === 'skipped') {
        v.push(`#${rec.id} writeFiles entry '${alias}' skipped without stopOnError`);
        return;
      }
      if (judge(entry, expected, `${label} entry '${alias}'`)) {
        model.put(name, data[i] ?? '', model.modeFor(name, op.o));
      }
      // A failed entry may have made its directories before its failure, as a single write
      // does (found at program 89,687 of seed 20261212: create-only, link() failing EIO).
      if (a_deep(alias) && op.o.mkdirs === true && result.status !== 'written')
        model.dirs = model.dirs === 'present' ? 'present' : 'unknown';
    });
  }

  for (const later of readChecks) later();
  // What is on disk is what the model holds.
  const names = new Set<string>([
    ...model.state.entries.keys(),
    'f',
    'g',
    'h',
    'sub/f',
    'new',
    'mk',
    'mk/a',
    'mk/a/f',
    'link',
    'abs',
    'chain',
    'dangling',
    ...(on.has('longNames') ? [LONG_1, LONG_2] : []),
  ]);
  for (const name of names) {
    if (
      (name === 'mk' || name === 'mk/a' || name === 'mk/a/f') &&
      model.dirs === 'unknown' &&
      model.kind(name) !== 'file'
    )
      continue;
    const seen = look(run.dir, name);
    const entry = model.state.entries.get(name);
    const expect = entry?.kind ?? 'missing';
    const short = name.length > 20 ? `${name.slice(0, 3)}…${name.slice(-2)}` : name;
    if (seen.kind !== expect) {
      v.push(
        `${short} is ${seen.kind === 'file' ? `a file holding ${JSON.stringify(seen.content)}` : seen.kind}, but the model says ${expect}${entry?.kind === 'file' ? ` holding ${JSON.stringify(model.inode(entry.ino)?.content)}` : ''}`,
      );
      continue;
    }
    if (entry?.kind === 'link' && seen.kind === 'link' && name === 'link' && seen.to !== entry.to) {
      v.push(`link points to '${seen.to}', but the model says '${entry.to}'`);
    }
    if (entry?.kind === 'file' && seen.kind === 'file') {
      const inode = model.inode(entry.ino);
      if (inode === undefined) continue;
      if (seen.content !== inode.content) {
        v.push(
          `${short} holds ${JSON.stringify(seen.content)}, but the model says ${JSON.stringify(inode.content)} (the last committed write in call order)`,
        );
      }
      if (seen.mode !== inode.mode) {
        v.push(
          `${short} has mode 0o${seen.mode.toString(8)}, but the model says 0o${inode.mode.toString(8)}`,
        );
      }
    }
  }
  // A handle discarded while faults were injected may leave its temp without a word (class
  // `discardLeftover`): excused while that class is off.
  const silentLeftovers = new Set<string>();
  if (!on.has('discardLeftover') && injected > 0) {
    for (const rec of run.records) {
      if (rec.part === 'discard' && rec.handle?.tempPath !== undefined) {
        silentLeftovers.add(basename(rec.handle.tempPath));
      }
    }
  }
  // Nothing else is left: no temp file (but those an error names as leftover), no stray file.
  for (const dir of ['.', 'sub', 'sub/deep', 'mk', 'mk/a']) {
    let listing: string[];
    try {
      listing = run.listing.get(dir) ?? [];
    } catch {
      continue;
    }
    for (const entryName of listing) {
      const name = dir === '.' ? entryName : `${dir}/${entryName}`;
      if (names.has(name) || model.state.entries.has(name)) continue;
      if (['dirlink', 'jump', 'src', 'sub', 'mk', 'fifo', 'null', 'fifolink'].includes(name))
        continue;
      if (/^\..*\.afs-lock$/.test(entryName)) continue;
      if (leftovers.has(entryName)) continue;
      if (silentLeftovers.has(entryName)) continue;
      const what = parseTempName(entryName) !== undefined ? 'temp file' : 'stray entry';
      v.push(`${what} left behind: ${name}`);
    }
  }
  if (run.locksHeld.length > 0) v.push(`lock still held: ${run.locksHeld.join(', ')}`);
  if (run.locksAfter.length > 0) v.push(`in-process lock lanes left: ${run.locksAfter.length}`);
  if (run.queuedAfter > 0) v.push(`per-file queues not empty: ${run.queuedAfter}`);
  // Descriptors: none leaked, none of someone else's closed.
  const files = (m: Map<number, string>): Map<number, string> =>
    new Map([...m].filter(([, path]) => path.startsWith('/')));
  const before = files(run.fdsBefore);
  const after = files(run.fdsAfter);
  for (const [fd, path] of after) {
    if (before.get(fd) !== path)
      v.push(`descriptor leaked: ${fd} -> ${path.replace(run.dir, '<dir>')}`);
  }
  for (const [fd, path] of before) {
    if (after.get(fd) !== path)
      v.push(`descriptor closed that was not the library's: ${fd} -> ${path}`);
  }
  for (const fd of run.log?.doubleCloses ?? [])
    v.push(`descriptor ${fd} closed while not open (a double close)`);
  // No temp ever wider than the mode it ended with.
  if (run.log !== undefined) {
    // The owner's own bits are the writer's (copyFile's kernel copy relies on that), unless
    // asked for: ATOMIC_FS_HUNT_OWNER_BITS=1.
    const modeBits = config.ownerBits ? 0o7777 : 0o7077;
    const last = new Map<string, number>();
    for (const s of run.log.samples) last.set(`${s.ino}:${s.birth}`, s.mode);
    const reported = new Set<string>();
    // With the class off: the temp of a handle whose file another write changed between the
    // handle's open and its commit (its mode was right when it was made).
    const excused = new Set<string>();
    if (!on.has('earlyMode')) {
      for (const end of run.records) {
        const open = end.handle;
        if (end.part !== 'commit' || open?.tempPath === undefined) continue;
        const target = model.targets.get(end)?.[0];
        const between = run.records.some(
          (r) =>
            r.seq > open.seq &&
            r.seq < end.seq &&
            r !== end &&
            target !== undefined &&
            (model.targets.get(r) ?? []).includes(target),
        );
        if (between) excused.add(basename(open.tempPath));
      }
    }
    // Only temps that became a file have a final mode to compare with: a temp removed after a
    // failure may have been narrowed on its way (copyFile's kernel copy gives it the source's
    // mode before the one asked for), and its last mode says nothing of the final one.
    const published = new Set(
      run.log.samples
        .filter((s) => parseTempName(basename(s.name)) === undefined)
        .map((s) => `${s.ino}:${s.birth}`),
    );
    for (const s of run.log.samples) {
      if (parseTempName(basename(s.name)) === undefined) continue;
      if (excused.has(basename(s.name))) continue;
      if (!published.has(`${s.ino}:${s.birth}`)) continue;
      const final = last.get(`${s.ino}:${s.birth}`) ?? s.mode;
      if ((s.mode & ~final & modeBits) !== 0 && !reported.has(s.name)) {
        reported.add(s.name);
        v.push(
          `temp ${basename(s.name).slice(0, 12)}… was 0o${s.mode.toString(8)} before it became 0o${final.toString(8)} (wider than its final mode)`,
        );
      }
    }
  }
  // One injected fault, one failed call (coalesced writes share their newer write's).
  const blamed = new Map<number, Rec[]>();
  for (const rec of run.records) {
    const outcome = rec.outcome;
    if (outcome === undefined) continue;
    const errors = outcome.ok
      ? Array.isArray(outcome.value)
        ? (outcome.value as { error?: unknown }[]).map((r) => r.error)
        : []
      : [outcome.error];
    const tags = new Set(errors.map(faultTagOf).filter((t): t is number => t !== undefined));
    for (const tag of tags) blamed.set(tag, [...(blamed.get(tag) ?? []), rec]);
  }
  for (const [tag, recs] of blamed) {
    if (recs.length < 2) continue;
    const targets = new Set(recs.flatMap((r) => model.targets.get(r) ?? []));
    const coalesced = recs.every(coalescable) && targets.size === 1;
    if (coalesced && !on.has('coalescedFault')) continue;
    // The fixed rule (class 10): superseded callers share a failure their own data would meet
    // at the same step too (creating the temp, renaming, anything after the publish), never
    // one of a step that depends on the data (write, fsync, close) or a lost I/O thread.
    if (coalesced && recs.every((r) => sharesFailure(r.outcome))) continue;
    const fault = run.log?.injected.find((i) => i.tag === tag);
    v.push(
      `one injected fault (${fault?.op ?? '?'} on ${basename(fault?.subject ?? '?').slice(0, 16)}) failed ${recs.length} calls: ${recs.map((r) => `#${r.id}`).join(', ')}${coalesced ? ' (coalesced away: their own data was never attempted)' : ''}`,
    );
  }
  return v;
}
