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

export interface AuditReport {
  /** No violation in any crash state explored. */
  readonly ok: boolean;
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

/** A short verdict for a report. */
export function verdict(report: AuditReport): string {
  const v = report.violations;
  if (report.ok) {
    return report.done === undefined
      ? 'safe: every crash state holds a complete version'
      : 'safe: old or new in every crash state, and the new version once it reported done';
  }
  if (v['check-failed'] > 0) return `unsafe: the check failed in ${v['check-failed']} crash states`;
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
  out.push(
    `front end: ${report.frontEnd} · directory: ${report.dir} · ` +
      `${report.operations.length} file operations · ${done}\n` +
      `model: ${report.modelWords}\n` +
      `watched: ${report.watched.length === 0 ? '(nothing)' : report.watched.join(', ')}` +
      (report.check === 'built-in'
        ? ''
        : ` · check: ${report.check === 'command' ? 'the --check command' : 'a function'}`) +
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
  if (report.temps.names.length > 0) {
    out.push(
      `temp files a crash can leave behind (in ${report.temps.states} of the states): ${report.temps.names.join(', ')}\n`,
    );
  }
  for (const note of report.notes) out.push(`note: ${note}\n`);
  if (report.examples.length > 0 || report.temps.names.length > 0 || report.notes.length > 0) {
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
