/**
 * The audit report: a table of crash states explored and violations by kind, then for each
 * kind the first example in words, the operations, and notes. `formatReport` renders it for
 * people; `JSON.stringify(report)` is the machine form (`--json`).
 */
import type { ViolationKind } from './check.js';
import { Explainer } from './explain.js';
import type { PersistenceModel } from './model.js';

export interface ReportOperation {
  /** 1-based number, as in the messages (#n). */
  readonly n: number;
  readonly text: string;
  /** Where it came from: a trace line, a seam call. */
  readonly where: string;
}

export interface ReportExample {
  readonly kind: ViolationKind;
  /** The watched file (or temp file), relative to the audited directory. */
  readonly path: string;
  readonly message: string;
  /** The crash state: after which op, which ops were not on disk, which write was partial. */
  readonly crash: {
    readonly after: number;
    readonly notOnDisk: readonly number[];
    readonly partial:
      | { readonly op: number; readonly kind: 'pages' | 'size' | 'garbage'; readonly bytes: number }
      | undefined;
    readonly words: string;
  };
  /** Operation numbers the message names. */
  readonly ops: readonly number[];
}

/**
 * What an audit concluded. Only `'safe'` means "checked, and every crash state explored was
 * consistent"; each other status says why that cannot be claimed.
 * - `'unsafe'`: a crash state violates the check (violations and examples say which).
 * - `'command-failed'`: the command exited with a non-zero status (or the audited function
 *   threw) and no crash state was found inconsistent: a failed run is not a safe one.
 * - `'unseen-changes'`: the directory changed after the run in ways the recorded operations
 *   do not explain (`unseen` lists them): the explored states are not all the states a crash
 *   could leave.
 * - `'nothing-checked'`: no file was watched and no check was given, or the run made no file
 *   operation in the audited scope.
 */
export type AuditStatus =
  'safe' | 'unsafe' | 'command-failed' | 'unseen-changes' | 'nothing-checked';

/** The exit status of `atomic-fs audit` for each status (2 is a usage or setup error). */
export const AUDIT_EXIT_STATUS: Readonly<Record<AuditStatus, number>> = {
  safe: 0,
  unsafe: 1,
  'nothing-checked': 3,
  'command-failed': 4,
  'unseen-changes': 5,
};

/** A path left out of the audit. */
export interface SkippedPath {
  /** Relative to the audited directory. */
  readonly path: string;
  /** It was there before the run (so a rebuilt crash state lacks it). */
  readonly present: boolean;
  /** Recorded path operations (open, rename, link, unlink, mkdir, symlink) that fell in it. */
  readonly operations: number;
}

export interface AuditReport {
  /** `status === 'safe'`. */
  readonly ok: boolean;
  readonly status: AuditStatus;
  /**
   * What was checked: watched files (built-in check), crash states explored, and file
   * operations recorded in the audited scope (the done point not counted).
   */
  readonly checked: {
    readonly files: number;
    readonly states: number;
    readonly operations: number;
  };
  /** What the audit left out: the exclusions in force, and skipped paths that mattered. */
  readonly scope: {
    readonly excluded: readonly string[];
    readonly skipped: readonly SkippedPath[];
  };
  /** Paths whose state after the run the recorded operations do not explain (at most 20). */
  readonly unseen: readonly {
    readonly path: string;
    readonly recorded: string;
    readonly actual: string;
  }[];
  readonly frontEnd: 'strace' | 'in-process';
  readonly model: PersistenceModel;
  readonly modelWords: string;
  /** The audited directory. */
  readonly dir: string;
  /** The audited command (strace front end). */
  readonly command: readonly string[] | undefined;
  readonly exitCode: number | undefined;
  /** When the program reported done, and how; undefined if it never did. */
  readonly done: { readonly after: number; readonly by: 'exit' | 'marker' | 'return' } | undefined;
  /** Watched files, relative to the audited directory. */
  readonly watched: readonly string[];
  /** What judged each state: the built-in check, or the user's. */
  readonly check: 'built-in' | 'command' | 'function';
  readonly operations: readonly ReportOperation[];
  readonly states: {
    readonly explored: number;
    readonly generated: number;
    readonly bound: number;
    readonly boundReached: boolean;
  };
  /** Crash states with a violation, by their worst kind. */
  readonly violations: Readonly<Record<ViolationKind, number>>;
  /** The first example of each kind found. */
  readonly examples: readonly ReportExample[];
  /**
   * A user's check that failed, by what it said: the line of output quoted in the messages,
   * how many states gave it, and the first of them. At most 10 lines, in the order they
   * first appeared; the states of any other line are counted under `output: null`.
   */
  readonly checkFailures: readonly {
    readonly output: string | null;
    readonly states: number;
    readonly crash: ReportExample['crash'];
  }[];
  /** Temp files a crash can leave behind, and in how many of the states explored. */
  readonly temps: { readonly states: number; readonly names: readonly string[] };
  readonly notes: readonly string[];
}

/** The violation kinds the table shows for a report. */
function tableKinds(report: AuditReport): ViolationKind[] {
  return report.check === 'built-in'
    ? ['torn', 'missing', 'stale-after-done', 'leftover-temp']
    : ['check-failed'];
}

/** A table with left-aligned first column and right-aligned numbers. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)]
    .map((text) => `${text}\n`)
    .join('');
}

/** Words wrapped at `width` columns; lines after the first start with `indent`. */
export function wrap(text: string, width = 92, indent = '  '): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

function checkedWords(report: AuditReport): string {
  const { files, states } = report.checked;
  const what =
    report.check === 'built-in'
      ? `${files} ${files === 1 ? 'file' : 'files'}`
      : report.check === 'command'
        ? 'the --check command'
        : 'the check function';
  return `${what} in ${states} crash ${states === 1 ? 'state' : 'states'}`;
}

/** A short verdict for a report. */
export function verdict(report: AuditReport): string {
  const v = report.violations;
  switch (report.status) {
    case 'safe':
      if (report.check !== 'built-in') {
        // The user's check decided what consistent means; the verdict claims no more.
        return `safe: ${checkedWords(report)}, it passed in every one`;
      }
      return report.done === undefined
        ? `safe: ${checkedWords(report)}, every one holds a complete version`
        : `safe: ${checkedWords(report)}, old or new in every one, and the new version once it reported done`;
    case 'nothing-checked':
      return report.checked.operations === 0
        ? 'nothing checked: the run made no file operation in the audited directory'
        : 'nothing checked: no file was watched (the run created or changed no regular file; pass --watch or --check)';
    case 'command-failed':
      return report.command === undefined
        ? `the function failed (it threw); no crash state was inconsistent (${checkedWords(report)}), but a failed run is not a safe one`
        : `the command failed (exit status ${String(report.exitCode)}); no crash state was inconsistent (${checkedWords(report)}), but a failed run is not a safe one`;
    case 'unseen-changes':
      return `not verified: the directory changed in ways the recording did not see (${report.unseen.length === 20 ? '20 or more' : report.unseen.length} ${report.unseen.length === 1 ? 'path' : 'paths'}); the states explored are not all a crash could leave`;
    case 'unsafe':
      break;
  }
  if (v['check-failed'] > 0) {
    return `unsafe: the check failed in ${v['check-failed']} crash ${v['check-failed'] === 1 ? 'state' : 'states'}`;
  }
  if (v.torn > 0 || v.missing > 0) {
    const what = [v.torn > 0 ? 'torn or empty' : '', v.missing > 0 ? 'missing' : '']
      .filter((word) => word !== '')
      .join(' or ');
    return `unsafe: a crash can leave the file ${what}`;
  }
  if (v['stale-after-done'] > 0) {
    return 'not durable: a crash after it reported done can bring back the old version';
  }
  return 'leaves temp files: a crash after it reported done can leave a temp file behind';
}

const MAX_LISTED_OPS = 60;

/** The report for people. */
export function formatReport(report: AuditReport): string {
  const out: string[] = [];
  const done =
    report.done === undefined
      ? report.exitCode === undefined || report.exitCode === 0
        ? 'never reported done'
        : `exited with status ${report.exitCode}: never reported done, so stale versions are not checked`
      : report.done.by === 'exit'
        ? `done: exit status 0 after #${report.done.after}`
        : report.done.by === 'marker'
          ? `done: marker printed after #${report.done.after}`
          : `done: returned after #${report.done.after}`;
  const subject =
    report.command === undefined ? 'an in-process function' : report.command.join(' ');
  out.push(`atomic-fs audit: ${subject}\n`);
  const skipped = report.scope.skipped.map(
    (entry) =>
      `${entry.path} (${entry.operations} ${entry.operations === 1 ? 'operation' : 'operations'})`,
  );
  out.push(
    `front end: ${report.frontEnd} · directory: ${report.dir} · ` +
      `${report.operations.length} file operations · ${done}\n` +
      `model: ${report.modelWords}\n` +
      `watched: ${report.watched.length === 0 ? '(nothing)' : report.watched.join(', ')}` +
      (report.check === 'built-in'
        ? ''
        : ` · check: ${report.check === 'command' ? 'the --check command' : 'a function'}`) +
      '\n' +
      `scope: skipping ${report.scope.excluded.length === 0 ? 'nothing' : report.scope.excluded.join(', ')}` +
      (skipped.length === 0 ? '' : ` · skipped here: ${skipped.join(', ')}`) +
      '\n\n',
  );
  const kinds = tableKinds(report);
  out.push(
    table(
      ['crash states explored', ...kinds.map((kind) => Explainer.kindWords(kind))],
      [[String(report.states.explored), ...kinds.map((kind) => String(report.violations[kind]))]],
    ),
  );
  if (report.states.boundReached) {
    out.push(
      `(bound reached: ${report.states.generated} candidate states generated, the limit; raise --max-states to explore more)\n`,
    );
  }
  out.push('\n');
  for (const example of report.examples) {
    out.push(
      `${wrap(`${Explainer.kindWords(example.kind)}: ${example.message}.`)}\n  (${example.crash.words})\n`,
    );
  }
  if (report.checkFailures.length > 1) {
    out.push('the check failed with these messages (crash states, message, the first state):\n');
    const width = Math.max(...report.checkFailures.map((group) => String(group.states).length));
    for (const group of report.checkFailures) {
      const said =
        group.output === null
          ? '(other messages)'
          : group.output === ''
            ? '(no output)'
            : group.output;
      out.push(
        `  ${wrap(`${String(group.states).padStart(width)}  ${said}`, 90, ' '.repeat(width + 4))}\n` +
          `${' '.repeat(width + 4)}(${group.crash.words})\n`,
      );
    }
  }
  if (report.temps.names.length > 0) {
    out.push(
      `temp files a crash can leave behind (in ${report.temps.states} of the states): ${report.temps.names.join(', ')}\n`,
    );
  }
  for (const change of report.unseen) {
    out.push(
      `${wrap(`unseen change: ${change.path}: the recorded operations leave ${change.recorded}, the directory has ${change.actual}`)}\n`,
    );
  }
  for (const note of report.notes) out.push(`note: ${note}\n`);
  if (
    report.examples.length > 0 ||
    report.temps.names.length > 0 ||
    report.notes.length > 0 ||
    report.unseen.length > 0
  ) {
    out.push('\n');
  }
  out.push('operations:\n');
  for (const op of report.operations.slice(0, MAX_LISTED_OPS)) {
    out.push(`  #${op.n}  ${op.text}\n`);
  }
  if (report.operations.length > MAX_LISTED_OPS) {
    out.push(`  … ${report.operations.length - MAX_LISTED_OPS} more (--json lists them all)\n`);
  }
  out.push(`\nverdict: ${verdict(report)}\n`);
  return out.join('');
}
