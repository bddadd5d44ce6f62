/**
 * One audit, end to end: snapshot the audited directory, record the program (strace or
 * in-process), find the done point and the watched files, explore the crash states, judge
 * each one (built-in check or the user's), and put the report together.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { AUDIT_CHECK_TIMEOUT_MS } from './constants.js';
import { direct } from '../engine/fs.js';
import { type OptionKeys, optionList, optionsObject } from '../engine/option-keys.js';
import {
  type Content,
  type Transient,
  type ViolationKind,
  History,
  VIOLATION_KINDS,
  contentAt,
  judge,
  presentTransients,
} from './check.js';
import { AuditSetupError } from './errors.js';
import { type Explanation, Explainer } from './explain.js';
import { type CrashPoint, type ExploredState, Explorer } from './explore.js';
import {
  type Bytes,
  type FsState,
  type Op,
  type PersistenceModel,
  type Recording,
  PERSISTENCE_MODELS,
  bytesOf,
  display,
  modelWords,
  opWords,
} from './model.js';
import { recordInProcess } from './record.js';
import type { AuditReport, AuditStatus, ReportExample } from './report.js';
import { type ScopeOptions, Scope } from './scope.js';
import { type Snapshot, realDirectory, snapshot } from './snapshot.js';
import { StateDir } from './statedir.js';
import { replayed, unseenChanges } from './unseen.js';
import { finalReader, parseTrace, runTraced } from './trace.js';

/** A check of one rebuilt crash state: true when the state is consistent. */
export type CheckFunction = (
  dir: string,
  crash: { readonly words: string; readonly afterDone: boolean },
) => boolean | Promise<boolean>;

/** Options of every audit. */
export interface AuditOptions extends ScopeOptions {
  /**
   * The directory whose crash states are explored: snapshotted before the run, rebuilt for
   * each state. Paths outside it are not modelled; `.git` and `node_modules` are skipped
   * unless `include` names them, and `exclude` skips more; the report lists what was skipped.
   * @default process.cwd()
   * @example
   * import { audit } from 'atomic-fs/audit';
   * const report = await audit(() => save(), { dir: 'data' });
   */
  readonly dir?: string | undefined;
  /**
   * Files to check (relative to the current directory, inside `dir`). By default every
   * regular file that existed before the run and that the run wrote, replaced or removed,
   * and every regular file the run created that is there at its end.
   * @default every file the run changed or created
   * @example
   * import { audit } from 'atomic-fs/audit';
   * const report = await audit(() => save(), { watch: ['data/settings.json'] });
   */
  readonly watch?: readonly string[] | undefined;
  /**
   * The persistence model: `'posix'` (only fsync makes data durable, only a directory fsync
   * makes an entry durable) or `'ext4-ordered'` (also: data reaches disk before the metadata
   * that exposes it).
   * @default 'posix'
   * @example
   * import { audit } from 'atomic-fs/audit';
   * const report = await audit(() => save(), { model: 'ext4-ordered' });
   */
  readonly model?: PersistenceModel | undefined;
  /**
   * Candidate crash states generated at most; the report says when the bound was reached.
   * @default 20000
   * @example
   * import { audit } from 'atomic-fs/audit';
   * const report = await audit(() => save(), { maxStates: 1000 });
   */
  readonly maxStates?: number | undefined;
  /**
   * Replace the built-in check: a shell command run inside each rebuilt state (exit 0 =
   * consistent), or a function given the rebuilt directory.
   * @default the built-in check (old or new, never torn, empty or missing; new after done)
   * @example
   * import { audit } from 'atomic-fs/audit';
   * const report = await audit(() => save(), { check: 'python3 -m json.tool settings.json' });
   */
  readonly check?: string | CheckFunction | undefined;
  /**
   * Checks run at once (a `check` command or function; the built-in check needs none). Each
   * runs in a directory of its own; the report is the same whatever the number. A check
   * function may be called again before an earlier call's promise settled: pass 1 if it
   * must not be.
   * @default os.availableParallelism()
   * @example
   * import { auditCommand } from 'atomic-fs/audit';
   * const report = await auditCommand(['git', 'commit', '-m', 'x'], {
   *   include: ['.git'],
   *   check: 'git fsck',
   *   jobs: 4,
   * });
   */
  readonly jobs?: number | undefined;
}

/** Options of `auditCommand` (the strace front end). */
export interface CommandAuditOptions extends AuditOptions {
  /**
   * Where the command runs, and what relative `dir` and `watch` paths are relative to.
   * @default process.cwd()
   * @example
   * import { auditCommand } from 'atomic-fs/audit';
   * const report = await auditCommand(['python3', 'save.py'], { cwd: '/srv/app' });
   */
  readonly cwd?: string | undefined;
  /**
   * The command's environment (`UV_USE_IO_URING=0` is always added).
   * @default process.env
   * @example
   * import { auditCommand } from 'atomic-fs/audit';
   * const report = await auditCommand(['node', 'save.js'], { env: { ...process.env, DEBUG: '1' } });
   */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /**
   * The program reports done when it writes a line containing this text to stdout (instead
   * of when it exits with status 0): the files must hold their new version from then on.
   * @default undefined (done = exit status 0)
   * @example
   * import { auditCommand } from 'atomic-fs/audit';
   * const report = await auditCommand(['./server'], { doneMarker: 'saved' });
   */
  readonly doneMarker?: string | undefined;
  /**
   * The command's output: shown (`'inherit'`), its stdout sent to stderr (`'stderr'`, so a
   * JSON report on stdout stays clean), or dropped (`'ignore'`).
   * @default 'inherit'
   * @example
   * import { auditCommand } from 'atomic-fs/audit';
   * const report = await auditCommand(['make', 'save'], { output: 'ignore' });
   */
  readonly output?: 'inherit' | 'stderr' | 'ignore' | undefined;
}

interface Normalized {
  readonly scope: Scope;
  readonly model: PersistenceModel;
  readonly maxStates: number | undefined;
  readonly check: string | CheckFunction | undefined;
  readonly watch: readonly string[] | undefined;
  readonly jobs: number;
}

const AUDIT_KEYS: OptionKeys<AuditOptions> = {
  dir: true,
  watch: true,
  model: true,
  maxStates: true,
  check: true,
  jobs: true,
  exclude: true,
  include: true,
};
const AUDIT = optionList('audit', AUDIT_KEYS);
const AUDIT_COMMAND = optionList<CommandAuditOptions>('auditCommand', {
  ...AUDIT_KEYS,
  cwd: true,
  env: true,
  doneMarker: true,
  output: true,
});

function invalid(message: string): TypeError {
  const error = new TypeError(message);
  Object.defineProperty(error, 'code', { value: 'ERR_INVALID_ARG_VALUE', enumerable: true });
  return error;
}

function normalize(options: AuditOptions): Normalized {
  const model = options.model ?? 'posix';
  if (!PERSISTENCE_MODELS.includes(model)) {
    throw invalid(
      `The "model" option must be one of ${PERSISTENCE_MODELS.join(', ')}. Received ${JSON.stringify(model)}`,
    );
  }
  const maxStates = options.maxStates;
  if (maxStates !== undefined && (!Number.isSafeInteger(maxStates) || maxStates < 1)) {
    throw invalid(
      `The "maxStates" option must be a positive integer. Received ${String(maxStates)}`,
    );
  }
  const check = options.check;
  if (check !== undefined && typeof check !== 'string' && typeof check !== 'function') {
    throw invalid('The "check" option must be a command string or a function');
  }
  if (options.watch !== undefined && !Array.isArray(options.watch)) {
    throw invalid('The "watch" option must be an array of paths');
  }
  for (const name of ['exclude', 'include'] as const) {
    const list: unknown = options[name];
    if (list !== undefined && (!Array.isArray(list) || list.some((p) => typeof p !== 'string'))) {
      throw invalid(`The "${name}" option must be an array of names or relative paths`);
    }
  }
  const jobs = options.jobs ?? availableParallelism();
  if (!Number.isSafeInteger(jobs) || jobs < 1) {
    throw invalid(`The "jobs" option must be a positive integer. Received ${String(jobs)}`);
  }
  const scope = new Scope({ exclude: options.exclude, include: options.include });
  return { scope, model, maxStates, check, watch: options.watch, jobs };
}

/**
 * A watched path relative to the audited directory. Below the directory itself the path is
 * kept as written, so that a symlink inside it (`current -> releases/2`) is followed in each
 * crash state rather than resolved once, at the end.
 */
function watchedPath(root: Bytes, cwd: string, path: string): Bytes {
  const below: string[] = [];
  let relative: Bytes | undefined;
  for (let current = resolve(cwd, path); ;) {
    let real: Bytes | undefined;
    try {
      real = direct.realpath(current).toString('latin1');
    } catch {
      // Not there (yet): keep walking up.
    }
    if (real === root) {
      relative = posix.join(...below.map(bytesOf));
      break;
    }
    const parent = dirname(current);
    if (parent === current) break;
    below.unshift(basename(current));
    current = parent;
  }
  if (relative === undefined) {
    // No ancestor exists on this machine (a recording of another one): compare as written.
    const lexical = bytesOf(resolve(cwd, path));
    if (lexical === root) relative = '';
    else if (lexical.startsWith(root === '/' ? '/' : `${root}/`)) {
      relative = lexical.slice(root === '/' ? 1 : root.length + 1);
    }
  }
  if (relative === '') {
    throw new AuditSetupError(
      `watched path '${path}' is the audited directory itself: watch the files in it`,
    );
  }
  if (relative === undefined) {
    throw new AuditSetupError(
      `watched path '${path}' is outside the audited directory ${display(root)} (a relative watched path starts from the current directory, not from the audited one)`,
    );
  }
  return relative;
}

/** Insert the done op at `at` (strace: where the marker was printed, or at the exit). */
function withDone(rec: Recording, at: number): Recording {
  const ops: Op[] = [...rec.ops.slice(0, at), { kind: 'done' }, ...rec.ops.slice(at)];
  const where = [...rec.where.slice(0, at), 'the program reported done', ...rec.where.slice(at)];
  return { ...rec, ops, where };
}

interface DonePoint {
  readonly index: number;
  readonly by: 'exit' | 'marker' | 'return';
}

/** The recording with its done op in place, and where it is. */
function placeDone(
  rec: Recording,
  doneMarker: string | undefined,
): { rec: Recording; done: DonePoint | undefined } {
  const existing = rec.ops.findIndex((op) => op.kind === 'done');
  if (existing !== -1) return { rec, done: { index: existing, by: 'return' } };
  if (doneMarker !== undefined) {
    const mark = rec.marks.find((entry) => entry.text.includes(doneMarker));
    if (mark === undefined) return { rec, done: undefined };
    return { rec: withDone(rec, mark.at), done: { index: mark.at, by: 'marker' } };
  }
  if (rec.exitCode === 0) {
    return { rec: withDone(rec, rec.ops.length), done: { index: rec.ops.length, by: 'exit' } };
  }
  return { rec, done: undefined };
}

interface Judged {
  readonly kind: ViolationKind;
  readonly path: Bytes;
  readonly explain: () => Explanation;
}

/** Distinct messages of a failing check kept apart in the report; the rest are counted together. */
const MAX_CHECK_MESSAGES = 10;

interface CheckOutcome {
  readonly ok: boolean;
  readonly output: string;
}

async function runCheckCommand(
  command: string,
  dir: string,
  cwd: string,
  words: string,
  afterDone: boolean,
): Promise<CheckOutcome> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, {
      shell: true,
      cwd: dir,
      env: {
        ...process.env,
        ATOMIC_FS_AUDIT_STATE: dir,
        ATOMIC_FS_AUDIT_CWD: cwd,
        ATOMIC_FS_AUDIT_CRASH: words,
        ATOMIC_FS_AUDIT_AFTER_DONE: afterDone ? '1' : '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: AUDIT_CHECK_TIMEOUT_MS,
    });
    let output = '';
    const collect = (chunk: Buffer): void => {
      if (output.length < 4096) output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error) => {
      resolvePromise({ ok: false, output: error.message });
    });
    child.once('close', (code, signal) => {
      resolvePromise({
        ok: code === 0,
        output: signal === null ? output : `${output}(killed by ${signal})`,
      });
    });
  });
}

/**
 * The user's check, `jobs` at a time. Each job has a directory of its own, brought to each
 * state it is given in place (see StateDir): what consecutive states share is written once.
 */
class CheckPool {
  readonly #check: string | CheckFunction;
  readonly #cwd: string;
  readonly #jobs: number;
  readonly #scratch: string;
  readonly #free: StateDir[] = [];
  readonly #waiting: ((slot: StateDir) => void)[] = [];
  #made = 0;

  constructor(check: string | CheckFunction, cwd: string, jobs: number) {
    this.#check = check;
    this.#cwd = cwd;
    this.#jobs = jobs;
    this.#scratch = direct.mkdtemp(join(tmpdir(), 'afs-audit-'));
  }

  /** Judge one state; never rejects for what the check does (a throw is a failed check). */
  async check(state: FsState, words: string, afterDone: boolean): Promise<CheckOutcome> {
    const slot = await this.#acquire();
    try {
      slot.show(state);
      let outcome: CheckOutcome;
      if (typeof this.#check === 'string') {
        outcome = await runCheckCommand(this.#check, slot.path, this.#cwd, words, afterDone);
      } else {
        try {
          outcome = { ok: await this.#check(slot.path, { words, afterDone }), output: '' };
        } catch (error) {
          outcome = { ok: false, output: error instanceof Error ? error.message : String(error) };
        }
      }
      // Which job's directory a state was shown in is not part of the result.
      return {
        ok: outcome.ok,
        output: outcome.output.replaceAll(slot.path, '$ATOMIC_FS_AUDIT_STATE'),
      };
    } finally {
      this.#release(slot);
    }
  }

  async #acquire(): Promise<StateDir> {
    const slot = this.#free.pop();
    if (slot !== undefined) return slot;
    if (this.#made < this.#jobs) {
      this.#made += 1;
      return new StateDir(join(this.#scratch, String(this.#made)));
    }
    return new Promise((resolvePromise) => this.#waiting.push(resolvePromise));
  }

  #release(slot: StateDir): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#free.push(slot);
    else next(slot);
  }

  /** Remove the directories (every check has settled). */
  close(): void {
    direct.rm(this.#scratch);
  }
}

/** Explore and judge a recording. */
export async function auditRecording(
  recording: Recording,
  options: AuditOptions & {
    readonly cwd?: string | undefined;
    readonly doneMarker?: string | undefined;
    readonly command?: readonly string[] | undefined;
    /** The snapshot taken before the run (what skipped paths were there). */
    readonly before?: Snapshot | undefined;
    /** The directory read again after the run, to find changes the recording did not see. */
    readonly after?: Snapshot | undefined;
  } = {},
): Promise<AuditReport> {
  const settings = normalize(options);
  const cwd = options.cwd ?? process.cwd();
  const { rec, done } = placeDone(recording, options.doneMarker);
  const history = new History(rec, done?.index);
  const watched = (
    settings.watch === undefined
      ? [...new Set([...history.changedFiles(), ...history.createdFiles()])].sort()
      : [...new Set(settings.watch.map((path) => watchedPath(rec.root, cwd, path)))]
  ).map((path) => history.watch(path));
  const transients = history.transients();
  const explorer = new Explorer(rec, {
    model: settings.model,
    maxStates: settings.maxStates,
    done: done?.index,
  });
  const explainer = new Explainer(rec.ops, done?.index);
  const counts = Object.fromEntries(VIOLATION_KINDS.map((kind) => [kind, 0])) as Record<
    ViolationKind,
    number
  >;
  const examples = new Map<ViolationKind, ReportExample>();
  const temps = new Map<Bytes, number>();
  let tempStates = 0;
  const check = settings.check;
  const notes = [...rec.notes];
  /** Failed checks by the line of output quoted (null: any line past the first few). */
  const failures = new Map<string | null, { states: number; crash: ReportExample['crash'] }>();

  /** Count one judged state: its worst violation, and its first example of each kind. */
  const tally = (explored: ExploredState, found: Judged[]): void => {
    const { point, state, afterDone } = explored;
    const present = presentTransients(state, transients);
    if (present.length > 0) {
      tempStates += 1;
      for (const temp of present) temps.set(temp.path, (temps.get(temp.path) ?? 0) + 1);
      const temp: Transient | undefined = present[0];
      if (afterDone && check === undefined && temp !== undefined) {
        found.push({
          kind: 'leftover-temp',
          path: temp.path,
          explain: () => explainer.leftover(point, temp),
        });
      }
    }
    const worst = VIOLATION_KINDS.map((kind) => found.find((entry) => entry.kind === kind)).find(
      (entry) => entry !== undefined,
    );
    if (worst === undefined) return;
    counts[worst.kind] += 1;
    if (!examples.has(worst.kind)) {
      const explanation = worst.explain();
      examples.set(worst.kind, example(worst.kind, worst.path, point, explanation, explainer));
    }
  };

  if (check === undefined) {
    for (const explored of explorer.states()) {
      const { point, state, afterDone } = explored;
      const found: Judged[] = [];
      for (const watch of watched) {
        const content: Content = contentAt(state, watch.path);
        const kind = judge(watch, content, afterDone);
        if (kind === undefined) continue;
        found.push({
          kind,
          path: watch.path,
          explain: () => {
            if (kind === 'torn') return explainer.torn(point, watch.path, content, state);
            if (kind === 'missing') return explainer.missing(point, watch.path);
            return explainer.stale(point, watch.path, doneNode(rec, done, watch.path));
          },
        });
      }
      tally(explored, found);
    }
  } else {
    // The checks run `jobs` at a time, but are counted in the explorer's order, so that the
    // report (counts, first examples) is the one a run with one job gives.
    const pool = new CheckPool(check, cwd, settings.jobs);
    const window: { explored: ExploredState; words: string; result: Promise<CheckOutcome> }[] = [];
    const settle = async (): Promise<void> => {
      const head = window.shift();
      if (head === undefined) return;
      const { ok, output } = await head.result;
      if (ok) {
        tally(head.explored, []);
        return;
      }
      const first = summaryLine(output);
      const { point } = head.explored;
      const explain = (): Explanation => ({
        message: `the check failed on the state left by ${head.words}${first === '' ? '' : `: ${first}`}`,
        ops: point.dropped,
      });
      const key = failures.has(first) || failures.size < MAX_CHECK_MESSAGES ? first : null;
      const group = failures.get(key);
      if (group === undefined) {
        failures.set(key, {
          states: 1,
          crash: example('check-failed', '', point, explain(), explainer).crash,
        });
      } else {
        group.states += 1;
      }
      tally(head.explored, [{ kind: 'check-failed', path: '', explain }]);
    };
    try {
      for (const explored of explorer.states()) {
        const words = explainer.crash(explored.point);
        const result = pool.check(explored.state.freeze(), words, explored.afterDone);
        // Awaited in order below; until then a setup failure must not count as unhandled.
        result.catch(() => undefined);
        window.push({ explored, words, result });
        // A few states ahead of the oldest unfinished one keep every job busy; no more, so
        // that a slow check does not let the states queued behind it pile up.
        while (window.length >= settings.jobs * 2) await settle();
      }
      while (window.length > 0) await settle();
    } finally {
      await Promise.allSettled(window.map((entry) => entry.result));
      pool.close();
    }
  }
  const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
  const unseen =
    options.after === undefined ? [] : unseenChanges(replayed(rec), options.after.state);
  const operations = rec.ops.filter((op) => op.kind !== 'done').length;
  const skippedOps = new Map(rec.skipped ?? []);
  const present = new Set(options.before?.skipped ?? []);
  const skipped = [...new Set([...present, ...skippedOps.keys()])].sort().map((path) => ({
    path: display(path),
    present: present.has(path),
    operations: skippedOps.get(path) ?? 0,
  }));
  if (check !== undefined && present.size > 0) {
    notes.push(
      `the check runs in rebuilt crash states without ${[...present].map(display).join(', ')} (outside the audit's scope); if it needs them, pass --include (include in the API)`,
    );
  }
  const status: AuditStatus =
    total > 0
      ? 'unsafe'
      : rec.exitCode !== undefined && rec.exitCode !== 0
        ? 'command-failed'
        : unseen.length > 0
          ? 'unseen-changes'
          : operations === 0 || (watched.length === 0 && check === undefined)
            ? 'nothing-checked'
            : 'safe';
  return {
    ok: status === 'safe',
    status,
    checked: {
      files: check === undefined ? watched.length : 0,
      states: explorer.stats.explored,
      operations,
    },
    scope: { excluded: settings.scope.shown, skipped },
    unseen: unseen.map((change) => ({ ...change, path: display(change.path) })),
    frontEnd: rec.frontEnd,
    model: settings.model,
    modelWords: modelWords(settings.model),
    dir: display(rec.root),
    command: options.command,
    exitCode: rec.exitCode,
    done: done === undefined ? undefined : { after: done.index, by: done.by },
    watched: watched.map((watch) => display(watch.path)),
    check: check === undefined ? 'built-in' : typeof check === 'string' ? 'command' : 'function',
    operations: rec.ops.map((op, index) => ({
      n: index + 1,
      text: opWords(op),
      where: rec.where[index] ?? '',
    })),
    states: { ...explorer.stats },
    violations: counts,
    examples: VIOLATION_KINDS.flatMap((kind) => {
      const found = examples.get(kind);
      return found === undefined ? [] : [found];
    }),
    checkFailures: [...failures].map(([output, group]) => ({ output, ...group })),
    temps: { states: tempStates, names: [...temps.keys()].map(display) },
    notes,
  };
}

/** The line of a check's output worth quoting: the last that names an error, else the first. */
function summaryLine(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return lines.findLast((line) => /error|exception|failed/i.test(line)) ?? lines[0] ?? '';
}

function doneNode(rec: Recording, done: DonePoint | undefined, path: Bytes): number | undefined {
  if (done === undefined) return undefined;
  // The file at `path` when the program reported done: the last op that put a node there.
  let node: number | undefined;
  for (let index = 0; index < done.index; index += 1) {
    const op = rec.ops[index];
    if (
      (op?.kind === 'rename' || op?.kind === 'link' || op?.kind === 'create') &&
      op.path === path
    ) {
      node = op.node;
    }
    if ((op?.kind === 'write' || op?.kind === 'truncate') && op.path === path) node = op.node;
  }
  return node;
}

function example(
  kind: ViolationKind,
  path: Bytes,
  point: CrashPoint,
  explanation: Explanation,
  explainer: Explainer,
): ReportExample {
  return {
    kind,
    path: display(path),
    message: explanation.message,
    crash: {
      after: point.prefix,
      notOnDisk: point.dropped.map((index) => index + 1),
      partial:
        point.partial === undefined
          ? undefined
          : { op: point.partial.index + 1, kind: point.partial.kind, bytes: point.partial.bytes },
      words: explainer.crash(point),
    },
    ops: explanation.ops.map((index) => index + 1),
  };
}

/**
 * Audit a function in-process: the library's own file calls are recorded through its fs
 * seam (calls made with `node:fs` directly are not seen). The function reports done when it
 * returns or its promise resolves.
 *
 * @example
 * import { writeFile } from 'atomic-fs';
 * import { audit, formatReport } from 'atomic-fs/audit';
 * const report = await audit(() => writeFile('data/settings.json', '{}'), { dir: 'data' });
 * console.log(formatReport(report));
 */
export async function audit(fn: () => unknown, given?: AuditOptions): Promise<AuditReport> {
  if (typeof fn !== 'function') throw invalid('The "fn" argument must be a function');
  const options = optionsObject<AuditOptions>(given, AUDIT);
  const { scope } = normalize(options);
  const alias = bytesOf(resolve(options.dir ?? '.'));
  const root = realDirectory(resolve(options.dir ?? '.'));
  const before = snapshot(root, {}, scope);
  const { recording, threw, error } = await recordInProcess(fn, { root, alias, snapshot: before });
  const after = snapshot(root, {}, scope);
  const notes = threw
    ? [
        ...recording.notes,
        `the audited function threw: ${error instanceof Error ? error.message : String(error)}`,
      ]
    : recording.notes;
  return auditRecording({ ...recording, notes }, { ...options, before, after });
}

/**
 * Audit any command with the strace front end (Linux): the command runs under `strace -f`,
 * its file operations inside `dir` are modelled, and every crash state is checked.
 *
 * @example
 * import { auditCommand, formatReport } from 'atomic-fs/audit';
 * const report = await auditCommand(['python3', 'save.py'], { watch: ['settings.json'] });
 * process.stdout.write(formatReport(report));
 */
export async function auditCommand(
  command: readonly string[],
  given?: CommandAuditOptions,
): Promise<AuditReport> {
  if (!Array.isArray(command) || command.some((part) => typeof part !== 'string')) {
    throw invalid('The "command" argument must be an array of strings');
  }
  const options = optionsObject<CommandAuditOptions>(given, AUDIT_COMMAND);
  const { scope } = normalize(options);
  const cwd = resolve(options.cwd ?? '.');
  const dirPath = resolve(cwd, options.dir ?? '.');
  const root = realDirectory(dirPath);
  const before = snapshot(root, {}, scope);
  const run = await runTraced(command, { cwd, env: options.env, output: options.output });
  const after = snapshot(root, {}, scope);
  const { recording } = parseTrace(run.text, {
    root,
    alias: bytesOf(dirPath),
    cwd: realDirectory(cwd),
    snapshot: before,
    exitCode: run.exitCode,
    readFinal: finalReader(root),
  });
  return auditRecording(recording, { ...options, cwd, command, before, after });
}
