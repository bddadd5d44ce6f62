/**
 * Hunter programs: what they are made of, how fast-check generates them (and so shrinks
 * them), and how they print. A program is a short list of steps run in order without waiting
 * for the calls they start — so the calls run concurrently — with here and there a wait for
 * an earlier call, a turn of the event loop, or an abort; plus faults to inject at the fs seam.
 */
import fc from 'fast-check';
import type { OpName } from '../../src/engine/fs.js';
import type { HuntConfig } from './config.js';
import { ALIASES, type Alias, type Init, aliasNamed } from './world.js';

type Signal = 'none' | 'aborted' | 'step' | 'seam';

export interface CallOptions {
  readonly mode?: number;
  readonly overwrite?: false;
  readonly symlinks?: 'replace';
  readonly durability?: 'file' | 'none';
  readonly coalesce?: false;
  readonly mkdirs?: true;
  /** `aborted`: aborted before the call; `step`: by a later abort step; `seam`: at a seam call. */
  readonly signal?: Signal;
}

type FnReturn = 'append' | 'none' | 'same' | 'throw';

export interface FnSpec {
  readonly ret: FnReturn;
  /** Let the event loop turn before the nested calls (so that other calls get in first). */
  readonly yieldFirst: boolean;
  readonly nested: readonly Op[];
}

type UpdateOp = Extract<Op, { readonly fn: FnSpec }>;

export type Op =
  | {
      readonly k: 'writeFile';
      readonly a: string;
      readonly o: CallOptions;
      readonly stream?: 'ok' | 'fail';
    }
  | { readonly k: 'writeFileSync'; readonly a: string; readonly o: CallOptions }
  | { readonly k: 'writeJson'; readonly a: string; readonly o: CallOptions }
  | { readonly k: 'writeJsonSync'; readonly a: string; readonly o: CallOptions }
  | {
      readonly k: 'openAtomic' | 'openAtomicSync';
      readonly a: string;
      readonly o: CallOptions;
      readonly chunks: number;
      /** Steps until the handle is committed or discarded (0: at once). */
      readonly endAfter: number;
      readonly end: 'commit' | 'discard';
    }
  | {
      readonly k: 'update' | 'updateSync' | 'updateJson' | 'updateJsonSync';
      readonly a: string;
      readonly o: CallOptions;
      readonly fn: FnSpec;
    }
  | { readonly k: 'readJson' | 'readJsonSync'; readonly a: string; readonly dflt: boolean }
  | { readonly k: 'copyFile'; readonly src: string; readonly a: string; readonly o: CallOptions }
  | {
      readonly k: 'download';
      readonly url: 'ok' | '404' | 'short';
      readonly a: string;
      readonly o: CallOptions;
    }
  | { readonly k: 'writeFiles'; readonly as: readonly string[]; readonly o: CallOptions }
  | { readonly k: 'cleanupTemps' }
  /** Switch the symlink `link` to `to` (`force`: also over a file left at its name). */
  | { readonly k: 'replaceSymlink'; readonly to: 'f' | 'g'; readonly force: boolean };

type After = 'none' | 'await' | 'tick';

/** A step as generated. */
interface RawStep {
  readonly op: Op;
  /** After starting the call: go on at once, wait for it to settle, or let the loop turn. */
  readonly after: After;
  /** Before this step: abort the signal of the call started by step `abortStep` (if it has one). */
  readonly abortStep?: number;
  /** Put there to close a cycle (class `nestedCycle`): no wait before it. */
  readonly cycle?: boolean;
}

/** A step as run: a call (numbered by its place among the calls), or a wait for one. */
type Step =
  | {
      readonly kind: 'call';
      readonly index: number;
      readonly op: Op;
      readonly after: After;
      readonly abortStep?: number;
    }
  | { readonly kind: 'wait'; readonly index: number };

export interface Fault {
  readonly op: OpName;
  /** Fail the n-th call (from 0) of this operation in the program. */
  readonly nth: number;
  readonly code: 'EIO' | 'ENOSPC' | 'EMFILE';
}

export interface Program {
  readonly init: Init;
  /** Run with the seam untouched (the I/O thread on, no faults, no seam aborts). */
  readonly pristine: boolean;
  readonly faults: readonly Fault[];
  /** Seam call index at which `signal: 'seam'` calls are aborted. */
  readonly seamAbortAt: number;
  readonly steps: readonly Step[];
}

const MODES = [0o600, 0o640, 0o644, 0o444, 0o4755, 0o660] as const;
const FAULT_OPS: readonly OpName[] = [
  'open',
  'write',
  'fsync',
  'fstat',
  'fchmod',
  'fchown',
  'close',
  'rename',
  'link',
  'unlink',
  'lstat',
  'stat',
  'mkdir',
  'read',
  'tryLock',
  'copyFile',
  'realpath',
];

/** Whether an op is a synchronous call. */
function isSync(op: Op): boolean {
  return op.k.endsWith('Sync');
}

/** Aliases an op may target. */
export function targetsOf(op: Op): string[] {
  switch (op.k) {
    case 'writeFiles':
      return [...op.as];
    case 'cleanupTemps':
      return [];
    case 'replaceSymlink':
      return ['link'];
    default:
      return [op.a];
  }
}

/** The family of an alias (see world.ts). */
function familyOf(alias: string): string {
  return aliasNamed(alias).family;
}

/** Ops that queue in the per-file queue (or write the file some other way). */
function writes(op: Op): boolean {
  return op.k !== 'readJson' && op.k !== 'readJsonSync' && op.k !== 'cleanupTemps';
}

function aliasArb(config: HuntConfig): fc.Arbitrary<string> {
  const usable = ALIASES.filter((a: Alias) => a.needs === undefined || config.classes.has(a.needs));
  // The main file's names are the point of the exercise: weigh them up.
  const weighted = usable.map((a) => ({
    arbitrary: fc.constant(a.name),
    weight: a.family === 'f' ? 4 : a.needs !== undefined ? 3 : 2,
  }));
  return fc.oneof(...weighted);
}

function optionsArb(abortable: boolean): fc.Arbitrary<CallOptions> {
  return fc
    .record(
      {
        mode: fc.constantFrom(...MODES),
        overwrite: fc.constant(false as const),
        symlinks: fc.constant('replace' as const),
        durability: fc.constantFrom('file' as const, 'none' as const),
        coalesce: fc.constant(false as const),
        mkdirs: fc.constant(true as const),
        signal: abortable
          ? fc.constantFrom<Signal>('aborted', 'step', 'seam', 'step')
          : fc.constant<Signal>('none'),
      },
      { requiredKeys: [] },
    )
    .map((o) => {
      // Each option in about one call of four: most calls are plain.
      return o;
    });
}

function sparseOptions(abortable: boolean): fc.Arbitrary<CallOptions> {
  return fc.oneof(
    { arbitrary: fc.constant<CallOptions>({}), weight: 3 },
    { arbitrary: optionsArb(abortable), weight: 2 },
  );
}

function fnArb(config: HuntConfig, depth: number): fc.Arbitrary<FnSpec> {
  const nested =
    depth > 0
      ? fc.constant<Op[]>([])
      : fc.oneof(
          { arbitrary: fc.constant<Op[]>([]), weight: 3 },
          {
            arbitrary: fc.array(opArb(config, depth + 1), { minLength: 1, maxLength: 2 }),
            weight: 2,
          },
        );
  return fc.record({
    ret: fc.constantFrom<FnReturn>('append', 'append', 'none', 'same', 'throw'),
    yieldFirst: fc.boolean(),
    nested,
  });
}

function opArb(config: HuntConfig, depth = 0): fc.Arbitrary<Op> {
  const a = aliasArb(config);
  const plain = sparseOptions(false);
  const abortable = sparseOptions(true);
  // Options of an update: no overwrite, no coalesce (refused: an update always replaces).
  const updateOptions = abortable.map((o): CallOptions => ({
    ...(o.mode === undefined ? {} : { mode: o.mode }),
    ...(o.symlinks === undefined ? {} : { symlinks: o.symlinks }),
    ...(o.durability === undefined ? {} : { durability: o.durability }),
    ...(o.mkdirs === undefined ? {} : { mkdirs: o.mkdirs }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  }));
  const fn = fnArb(config, depth);
  return fc
    .oneof(
      {
        arbitrary: fc.record({ k: fc.constant('writeFile' as const), a, o: abortable }),
        weight: 6,
      },
      {
        arbitrary: fc.record({
          k: fc.constant('writeFile' as const),
          a,
          o: abortable,
          stream: fc.constantFrom('ok' as const, 'ok' as const, 'fail' as const),
        }),
        weight: 2,
      },
      {
        arbitrary: fc.record({ k: fc.constant('writeFileSync' as const), a, o: plain }),
        weight: 3,
      },
      {
        arbitrary: fc.record({ k: fc.constant('writeJson' as const), a, o: abortable }),
        weight: 2,
      },
      {
        arbitrary: fc.record({ k: fc.constant('writeJsonSync' as const), a, o: plain }),
        weight: 1,
      },
      {
        arbitrary: fc.record({
          k: fc.constantFrom('openAtomic' as const, 'openAtomicSync' as const),
          a,
          o: abortable,
          chunks: fc.integer({ min: 0, max: 2 }),
          endAfter: fc.integer({ min: 0, max: 3 }),
          end: fc.constantFrom('commit' as const, 'commit' as const, 'discard' as const),
        }),
        weight: 3,
      },
      {
        arbitrary: fc.record({
          k: fc.constantFrom('update' as const, 'updateJson' as const),
          a,
          o: updateOptions,
          fn,
        }),
        weight: 4,
      },
      {
        arbitrary: fc.record({
          k: fc.constantFrom('updateSync' as const, 'updateJsonSync' as const),
          a,
          o: updateOptions.map((o) => ({ ...o, signal: 'none' as const })),
          fn: fnArb(config, 1),
        }),
        weight: 2,
      },
      {
        arbitrary: fc.record({
          k: fc.constantFrom('readJson' as const, 'readJsonSync' as const),
          a,
          dflt: fc.boolean(),
        }),
        weight: 1,
      },
      {
        arbitrary: fc.record({
          k: fc.constant('copyFile' as const),
          src: fc.constantFrom('src', 'src', 'link'),
          a,
          o: abortable.map((o) => ({ ...o, coalesce: undefined })),
        }),
        weight: 2,
      },
      {
        arbitrary: fc.record({
          k: fc.constant('download' as const),
          url: fc.constantFrom('ok' as const, 'ok' as const, '404' as const, 'short' as const),
          a,
          // download has no `coalesce` (each body is its own); an unknown option is refused.
          o: abortable.map((o) => ({ ...o, coalesce: undefined })),
        }),
        weight: 1,
      },
      {
        arbitrary: fc.record({
          k: fc.constant('writeFiles' as const),
          as: fc.uniqueArray(a, { minLength: 1, maxLength: 3 }),
          o: abortable.map((o) => ({ ...o, coalesce: undefined })),
        }),
        weight: 3,
      },
      { arbitrary: fc.constant({ k: 'cleanupTemps' as const }), weight: depth > 0 ? 0 : 1 },
      {
        arbitrary: fc.record({
          k: fc.constant('replaceSymlink' as const),
          to: fc.constantFrom('f' as const, 'g' as const),
          force: fc.boolean(),
        }),
        weight: depth > 0 ? 0 : 1,
      },
    )
    .map(tidy);
}

/** Drop option keys left `undefined` (fc.record with required keys only makes none, but map may). */
function tidy(op: Op): Op {
  if (!('o' in op)) return op;
  const o = Object.fromEntries(Object.entries(op.o).filter(([, value]) => value !== undefined));
  return { ...op, o: o };
}

const initArb: fc.Arbitrary<Init> = fc.record({
  f: fc.option(fc.constantFrom(0o644, 0o600, 0o444, 0o4755, 0o640), { nil: undefined, freq: 4 }),
  hard: fc.boolean(),
  g: fc.boolean(),
  subf: fc.boolean(),
});

const faultArb: fc.Arbitrary<Fault> = fc.record({
  op: fc.constantFrom(...FAULT_OPS),
  nth: fc.integer({ min: 0, max: 12 }),
  code: fc.constantFrom('EIO' as const, 'ENOSPC' as const, 'EMFILE' as const),
});

export function programArb(config: HuntConfig, maxSteps = 8): fc.Arbitrary<Program> {
  const step: fc.Arbitrary<RawStep> = fc.record(
    {
      op: opArb(config),
      after: fc.constantFrom<After>('none', 'none', 'none', 'await', 'tick'),
      abortStep: fc.integer({ min: 0, max: maxSteps - 1 }),
    },
    { requiredKeys: ['op', 'after'] },
  );
  return fc
    .record({
      init: initArb,
      pristine: fc.boolean(),
      faults: fc.oneof(
        { arbitrary: fc.constant<Fault[]>([]), weight: 1 },
        { arbitrary: fc.array(faultArb, { minLength: 1, maxLength: 2 }), weight: 2 },
      ),
      seamAbortAt: fc.integer({ min: 0, max: 60 }),
      steps: fc.array(step, { minLength: 1, maxLength: maxSteps }),
    })
    .map((program) => normalize(program, config));
}

/**
 * Make a generated program fit the switches that are off: steer around each known class, so
 * that what the hunter finds with them off is new. Deterministic, so shrinking keeps working.
 */
interface RawProgram extends Omit<Program, 'steps'> {
  readonly steps: readonly RawStep[];
}

function normalize(program: RawProgram, config: HuntConfig): Program {
  const on = config.classes;
  const pristine = program.pristine;
  // replaceSymlink can point `link` (and so `chain`, `<dir>/dirlink/link`) at g: from the
  // generator's view, f and g are then one family.
  const switches = program.steps.some((s) => s.op.k === 'replaceSymlink');
  const fam = (alias: string): string => {
    const family = familyOf(alias);
    return switches && family === 'g' ? 'f' : family;
  };
  // An abort step names an earlier step.
  let steps: RawStep[] = program.steps.map((s, index) => {
    const { abortStep, ...rest } = s;
    return abortStep !== undefined && abortStep < index ? s : rest;
  });
  // Families written by top-level asynchronous calls.
  const asyncFamilies = new Set<string>();
  for (const s of steps) {
    if (!isSync(s.op) && writes(s.op)) for (const a of targetsOf(s.op)) asyncFamilies.add(fam(a));
    // Asynchronous calls made in an fn run whenever that fn runs: count them too.
    if ('fn' in s.op) {
      for (const n of s.op.fn.nested) {
        if (!isSync(n) && writes(n)) for (const a of targetsOf(n)) asyncFamilies.add(fam(a));
      }
    }
  }
  const updateEdges = new Map<string, Set<string>>();
  const nestedBy = new Map<string, Set<string>>();
  const fixNested = (outer: UpdateOp): Op => {
    const outerFamily = fam(outer.a);
    const nested: Op[] = [];
    for (const inner of outer.fn.nested) {
      let op = inner;
      const innerFamilies = targetsOf(op).map(fam);
      const same = innerFamilies.includes(outerFamily);
      const documented =
        op.k === 'writeFile' && op.stream === undefined
          ? true
          : op.k === 'writeJson' ||
            op.k === 'update' ||
            op.k === 'updateJson' ||
            op.k === 'updateSync' ||
            op.k === 'updateJsonSync';
      if (same && !on.has('nestedSame') && !documented) continue;
      if (same && isSync(op) && !op.k.startsWith('update') && !on.has('syncAfterAsync')) continue;
      // A synchronous update of the outer file by another of its names waits in the kernel for
      // the outer's lock (found by the hunter): the whole process blocks.
      if (same && isSync(op) && !on.has('syncLockAlias')) continue;
      // A synchronous nested write of a file some asynchronous call also writes.
      if (
        !same &&
        isSync(op) &&
        !on.has('syncAfterAsync') &&
        innerFamilies.some((f) => asyncFamilies.has(f))
      ) {
        continue;
      }
      if (!same && !on.has('nestedCycle')) {
        // No cycle of nested updates: outer -> inner edges stay acyclic.
        const reaches = (from: string, to: string, seen = new Set<string>()): boolean => {
          if (from === to) return true;
          if (seen.has(from)) return false;
          seen.add(from);
          for (const next of updateEdges.get(from) ?? []) if (reaches(next, to, seen)) return true;
          return false;
        };
        if (innerFamilies.some((f) => reaches(f, outerFamily))) continue;
        for (const f of innerFamilies) {
          const edges = updateEdges.get(outerFamily) ?? new Set<string>();
          edges.add(f);
          updateEdges.set(outerFamily, edges);
          const by = nestedBy.get(outerFamily) ?? new Set<string>();
          by.add(f);
          nestedBy.set(outerFamily, by);
        }
      }
      if (!on.has('longNames') && innerFamilies.some((f) => f === 'L1' || f === 'L2')) continue;
      // Made in fn, they start whenever fn runs: with a top-level write of the same file maybe
      // still in flight, writeFiles (class 6) and the calls that make their temp at once
      // (`earlyMode`) would look at its metadata before their turn.
      const early =
        (op.k === 'writeFiles' && !on.has('writeFilesMode')) ||
        (createsTempAtOnce(op) && !on.has('earlyMode'));
      if (!same && early && innerFamilies.some((f) => asyncFamilies.has(f))) continue;
      op = { ...op };
      nested.push(op);
    }
    return { ...outer, fn: { ...outer.fn, nested } };
  };
  steps = steps.map((s) => ('fn' in s.op ? { ...s, op: fixNested(s.op) } : s));
  if (on.has('nestedCycle')) {
    // Steer into the cycle: right after an update whose fn writes another file, a writeFiles
    // of both files (it takes both queue places at once, and waits for the update's).
    steps = steps.flatMap((s): RawStep[] => {
      const op = s.op;
      if (!('fn' in op) || isSync(op)) return [s];
      const inner = op.fn.nested.flatMap(targetsOf).find((a) => fam(a) !== fam(op.a));
      if (inner === undefined) return [s];
      const group: Op = { k: 'writeFiles', as: [op.a, inner], o: {} };
      return [
        { ...s, after: 'none' },
        { op: group, after: s.after, cycle: true },
      ];
    });
  }
  // A copy from the main file into another one would read it while its own writes run: old or
  // new, the model cannot say which. Only onto one of its own names (the same file) — and not
  // once a call may have turned `link` into a file of its own (`symlinks: 'replace'`): a copy
  // from it onto `f` then reads a file that later calls may be writing (found at program
  // 24,949 of seed 20261225).
  const linkReplaced = steps.some(
    (s) => replacesLink(s.op) || ('fn' in s.op && s.op.fn.nested.some(replacesLink)),
  );
  const fixCopy = (op: Op): Op =>
    op.k === 'copyFile' && op.src === 'link' && (switches || linkReplaced || fam(op.a) !== 'f')
      ? { ...op, src: 'src' }
      : op;
  steps = steps.map((s) => {
    const op = fixCopy(s.op);
    if (!('fn' in op)) return { ...s, op };
    return { ...s, op: { ...op, fn: { ...op.fn, nested: op.fn.nested.map(fixCopy) } } };
  });
  if (!on.has('nestedCycle')) {
    // writeFiles({A, B}) while update(A)'s fn writes B: keep only entries that cannot close a cycle.
    steps = steps.map((s) => {
      if (s.op.k !== 'writeFiles') return s;
      const kept: string[] = [];
      for (const a of s.op.as) {
        const family = fam(a);
        const clash = kept.some((b) => {
          const other = fam(b);
          return (
            (nestedBy.get(family)?.has(other) ?? false) ||
            (nestedBy.get(other)?.has(family) ?? false)
          );
        });
        if (!clash) kept.push(a);
      }
      return { ...s, op: { ...s.op, as: kept } };
    });
  }
  // Waits the switches need: before a synchronous write (or writeFiles, class 6) of a family
  // with asynchronous calls still in flight, wait for them.
  const out: Step[] = [];
  const inFlight = new Map<number, string[]>();
  const waitFor = (families: readonly string[]): void => {
    for (const [index, fams] of inFlight) {
      if (fams.some((f) => families.includes(f))) {
        out.push({ kind: 'wait', index });
        inFlight.delete(index);
      }
    }
  };
  steps = steps.map((s) => {
    const op = s.op;
    if (!('fn' in op)) return s;
    // A nested call that turns a link into a file would change, mid-program, what calls
    // already made resolved to: the model cannot order that.
    const nested = op.fn.nested.map((n) => (replacesLink(n) ? dropReplace(n) : n));
    return { ...s, op: { ...op, fn: { ...op.fn, nested } } };
  });
  if (!on.has('syncAfterAsync')) {
    // A synchronous handle commits at once: a commit some steps later would be a synchronous
    // write while the calls of the steps between are in flight.
    steps = steps.map((s) =>
      s.op.k === 'openAtomicSync' && s.op.endAfter > 0 ? { ...s, op: { ...s.op, endAfter: 0 } } : s,
    );
  }
  steps.forEach((step, index) => {
    // A handle replaces a link when it commits, while later calls are made: they resolve the
    // link as it is when they are made (documented), which the model, keeping call order,
    // cannot follow. Its handles write through the link instead (found at program 14,904 of
    // seed 20261207: writeFile('dangling') called while openAtomic('dangling', { symlinks:
    // 'replace' }) committed wrote the link's target, as documented).
    const s =
      step.op.k === 'openAtomic' && replacesLink(step.op)
        ? { ...step, op: dropReplace(step.op) }
        : step;
    const families = targetsOf(s.op).map(fam);
    // A call that turns a link into a file changes what later calls resolve to (each call
    // resolves its path when it is made): it runs alone, awaited, with nothing in flight.
    if (replacesLink(s.op)) {
      waitFor([...new Set([...inFlight.values()].flat())]);
      out.push({ kind: 'call', index, ...s, after: 'await' });
      return;
    }
    if (isSync(s.op) && writes(s.op) && !on.has('syncAfterAsync')) waitFor(families);
    if (s.op.k === 'writeFiles' && !on.has('writeFilesMode') && s.cycle !== true) waitFor(families);
    if (createsTempAtOnce(s.op) && !on.has('earlyMode')) waitFor(families);
    out.push({
      kind: 'call',
      index,
      op: s.op,
      after: s.after,
      ...(s.abortStep === undefined ? {} : { abortStep: s.abortStep }),
    });
    // A handle's commit comes later: it stays in flight until the program waits for it.
    if ((s.after === 'await' && s.op.k !== 'openAtomic') || isSync(s.op)) return;
    const nestedFamilies = 'fn' in s.op ? s.op.fn.nested.flatMap((n) => targetsOf(n).map(fam)) : [];
    inFlight.set(index, [...families, ...nestedFamilies]);
  });
  return { ...program, pristine, steps: out, faults: pristine ? [] : program.faults };
}

/** Calls that create their temp file when called, not when their turn comes. */
function createsTempAtOnce(op: Op): boolean {
  return (
    (op.k === 'writeFile' && op.stream !== undefined) ||
    op.k === 'download' ||
    op.k === 'openAtomic' ||
    op.k === 'openAtomicSync'
  );
}

/** Whether `op` replaces a symlink itself (`symlinks: 'replace'` on a name that is a link). */
function replacesLink(op: Op): boolean {
  if (op.k === 'replaceSymlink') return true;
  if (!('o' in op) || op.o.symlinks !== 'replace') return false;
  return targetsOf(op).some((a) => LINK_ENTRIES.has(aliasNamed(a).entry));
}

const LINK_ENTRIES = new Set(['link', 'abs', 'chain', 'dangling', 'fifolink']);

function dropReplace<T extends Op>(op: T): T {
  if (!('o' in op)) return op;
  const o = Object.fromEntries(Object.entries(op.o).filter(([key]) => key !== 'symlinks'));
  return { ...op, o };
}

function mode(m: number): string {
  return `0o${m.toString(8)}`;
}

function optionsText(o: CallOptions): string {
  const parts: string[] = [];
  if (o.mode !== undefined) parts.push(`mode: ${mode(o.mode)}`);
  if (o.overwrite === false) parts.push('overwrite: false');
  if (o.symlinks !== undefined) parts.push(`symlinks: '${o.symlinks}'`);
  if (o.durability !== undefined) parts.push(`durability: '${o.durability}'`);
  if (o.coalesce === false) parts.push('coalesce: false');
  if (o.mkdirs === true) parts.push('mkdirs: true');
  if (o.signal !== undefined && o.signal !== 'none') parts.push(`signal: <${o.signal}>`);
  return parts.length === 0 ? '' : `, { ${parts.join(', ')} }`;
}

function opText(op: Op, id: string): string {
  const data = (prefix: string): string => `'${prefix}${id}'`;
  switch (op.k) {
    case 'writeFile':
      return op.stream === undefined
        ? `writeFile('${op.a}', ${data('w')}${optionsText(op.o)})`
        : `writeFile('${op.a}', stream(${data('s')}${op.stream === 'fail' ? ', then error' : ''})${optionsText(op.o)})`;
    case 'writeFileSync':
      return `writeFileSync('${op.a}', ${data('w')}${optionsText(op.o)})`;
    case 'writeJson':
    case 'writeJsonSync':
      return `${op.k}('${op.a}', { w: ${id} }${optionsText(op.o)})`;
    case 'openAtomic':
    case 'openAtomicSync':
      return `${op.k}('${op.a}'${optionsText(op.o)}) → ${op.chunks} write(s), ${op.end} after ${op.endAfter} step(s)`;
    case 'update':
    case 'updateSync':
    case 'updateJson':
    case 'updateJsonSync': {
      const nested = op.fn.nested.map((n, i) => opText(n, `${id}.${i}`));
      const body = [
        ...(op.fn.yieldFirst ? ['await tick'] : []),
        ...nested.map((n) => `await ${n}`),
        `return ${op.fn.ret}`,
      ];
      return `${op.k}('${op.a}', (cur) => { ${body.join('; ')} }${optionsText(op.o)})`;
    }
    case 'readJson':
    case 'readJsonSync':
      return `${op.k}('${op.a}'${op.dflt ? ', { default: {} }' : ''})`;
    case 'copyFile':
      return `copyFile('${op.src}', '${op.a}'${optionsText(op.o)})`;
    case 'download':
      return `download(<${op.url}: ${data('d')}>, '${op.a}'${optionsText(op.o)})`;
    case 'writeFiles':
      return `writeFiles({ ${op.as.map((a, i) => `'${a}': 'w${id}.${i}'`).join(', ')} }${optionsText(op.o)})`;
    case 'cleanupTemps':
      return 'cleanupTemps(<dir>)';
    case 'replaceSymlink':
      return `replaceSymlink('${op.to}', 'link'${op.force ? ', { force: true }' : ''})`;
  }
}

/** The program as readable text, one step a line. */
export function programText(program: Program): string {
  const { init } = program;
  const lines = [
    `world: f ${init.f === undefined ? 'missing' : mode(init.f)}${init.f !== undefined && init.hard ? ', h hard link of f' : ''}${init.g ? ', g' : ''}${init.subf ? ', sub/f' : ''}; ${program.pristine ? 'seam pristine (I/O thread)' : 'seam patched'}`,
  ];
  if (program.faults.length > 0) {
    lines.push(`faults: ${program.faults.map((f) => `${f.op}#${f.nth} ${f.code}`).join(', ')}`);
  }
  if (
    !program.pristine &&
    program.steps.some((s) => s.kind === 'call' && 'o' in s.op && s.op.o.signal === 'seam')
  ) {
    lines.push(`seam aborts at call #${program.seamAbortAt}`);
  }
  program.steps.forEach((s) => {
    if (s.kind === 'wait') {
      lines.push(`  await #${s.index}`);
      return;
    }
    const { index } = s;
    const abort = s.abortStep !== undefined ? `abort #${s.abortStep}; ` : '';
    const after = s.after === 'await' ? '  (awaited)' : s.after === 'tick' ? '  then tick' : '';
    lines.push(`  #${index} ${abort}${opText(s.op, String(index))}${after}`);
  });
  return lines.join('\n');
}
