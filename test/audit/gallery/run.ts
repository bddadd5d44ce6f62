/**
 * Running a gallery row (test/audit/gallery/rows.ts) and writing docs/audit-gallery.md. A row
 * runs exactly as a reader would run it: its files and setup commands in an empty directory,
 * then the built command line, `atomic-fs audit --json …`, in a child process.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIOLATION_KINDS } from '../../../src/audit/check.js';
import type { PersistenceModel } from '../../../src/audit/model.js';
import { type AuditReport, AUDIT_EXIT_STATUS, verdict } from '../../../src/audit/report.js';
import { ENV, type Expected, type GalleryRow, ROWS } from './rows.js';

/** The project's root (this file runs from build/test/audit/gallery/). */
export const PROJECT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The command line, built (the same code as dist/cli/bin.js). */
const BIN = fileURLToPath(new URL('../../../src/cli/bin.js', import.meta.url));

export const MODELS: readonly PersistenceModel[] = ['posix', 'ext4-ordered'];

/** Whether an executable is on the PATH. */
export function installed(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

/** The rows whose programs are all installed here. */
export function runnable(row: GalleryRow): boolean {
  return row.needs.every(installed);
}

function environment(row: GalleryRow): NodeJS.ProcessEnv {
  // `node` in a row is this Node.
  const path = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
  return { ...process.env, ...ENV, ...row.env, PATH: path };
}

/** The version of a package in this checkout's node_modules (or of this package). */
function packageVersion(name: string): string {
  const file =
    name === 'atomic-fs'
      ? join(PROJECT, 'package.json')
      : join(PROJECT, 'node_modules', name, 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * Write a row's files, link the packages it needs from this checkout (what `npm install`
 * would put there), and run its setup commands, in the empty directory `dir`.
 */
export function prepare(row: GalleryRow, dir: string): void {
  for (const [name, text] of Object.entries(row.files ?? {})) {
    fs.writeFileSync(join(dir, name), text);
  }
  if (row.packages !== undefined) {
    fs.mkdirSync(join(dir, 'node_modules'));
    for (const name of row.packages) {
      const link = join(dir, 'node_modules', name);
      if (name !== 'atomic-fs') {
        fs.symlinkSync(join(PROJECT, 'node_modules', name), link);
      } else if (fs.existsSync(join(PROJECT, 'dist', 'index.js'))) {
        fs.symlinkSync(PROJECT, link);
      } else {
        // Not built for publishing (npm run test:only): the same code, compiled with the tests.
        const library = fileURLToPath(new URL('../../../src/index.js', import.meta.url));
        fs.mkdirSync(link);
        fs.writeFileSync(
          join(link, 'package.json'),
          JSON.stringify({ name, type: 'module', exports: './index.js' }),
        );
        fs.writeFileSync(join(link, 'index.js'), `export * from ${JSON.stringify(library)};\n`);
      }
    }
  }
  const setup = spawnSync('sh', ['-ec', row.setup.join('\n')], {
    cwd: dir,
    env: environment(row),
    encoding: 'utf8',
  });
  if (setup.status !== 0) {
    throw new Error(`gallery row ${row.id}: the setup failed: ${setup.stderr}`);
  }
}

export interface RowResult {
  readonly row: GalleryRow;
  readonly model: PersistenceModel;
  readonly report: AuditReport;
  /** The exit status of `atomic-fs audit`. */
  readonly exitCode: number;
  /** Wall time of the audit (setup not included). */
  readonly seconds: number;
  /** What the row gave, in the form of its expectations. */
  readonly got: Expected;
}

export interface RunOptions {
  readonly model?: PersistenceModel;
  /** `--jobs` (default: the audit's own default, the number of CPUs). */
  readonly jobs?: number;
}

/** The arguments of `atomic-fs audit` for a row under a model (as run; `--json` added). */
function auditArgs(row: GalleryRow, options: RunOptions = {}): string[] {
  const model = options.model ?? 'posix';
  return [
    ...(model === 'posix' ? [] : ['--model', model]),
    ...(options.jobs === undefined ? [] : ['--jobs', String(options.jobs)]),
    ...row.audit,
  ];
}

/** Run one row in a fresh directory under the system's temp directory. */
export async function runRow(row: GalleryRow, options: RunOptions = {}): Promise<RowResult> {
  const model = options.model ?? 'posix';
  const dir = fs.mkdtempSync(join(tmpdir(), `afs-gallery-${row.id}-`));
  try {
    prepare(row, dir);
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, 'audit', '--json', ...auditArgs(row, options)], {
      cwd: dir,
      env: environment(row),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => {
        resolve(code ?? -1);
      });
    });
    const seconds = (performance.now() - started) / 1000;
    let report: AuditReport;
    try {
      report = JSON.parse(stdout) as AuditReport;
    } catch {
      throw new Error(`gallery row ${row.id}: atomic-fs audit exited ${exitCode}: ${stderr}`);
    }
    const kinds = VIOLATION_KINDS.filter((kind) => report.violations[kind] > 0);
    return { row, model, report, exitCode, seconds, got: { status: report.status, kinds } };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Quote a word for sh, only when it needs it. */
function shellWord(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  // Single quotes, unless the word has some and nothing double quotes would expand.
  if (word.includes("'") && !/["$`\\!]/.test(word)) return `"${word}"`;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The row as a reader types it: files as here-documents, packages, setup, the audit. */
function script(row: GalleryRow): string {
  const lines: string[] = [];
  if (row.needs.includes('git')) {
    lines.push(
      `export ${Object.entries(ENV)
        .map(([name, value]) => `${name}=${shellWord(value)}`)
        .join(' ')}`,
    );
  }
  for (const [name, text] of Object.entries(row.files ?? {})) {
    lines.push(`cat > ${name} <<'EOF'`, text.trimEnd(), 'EOF');
  }
  if (row.packages !== undefined) {
    lines.push(
      `npm install ${row.packages
        .map((name) =>
          name === 'atomic-fs'
            ? '/path/to/atomic-fs  # this checkout, built'
            : `${name}@${packageVersion(name)}`,
        )
        .join(' ')}`,
    );
  }
  lines.push(...row.setup);
  lines.push(`npx atomic-fs audit ${row.audit.map(shellWord).join(' ')}`);
  return lines.join('\n');
}

function versionOf(command: string[], pattern: RegExp): string {
  const [file, ...args] = command;
  if (file === undefined) return 'not installed';
  const run = spawnSync(file, args, { encoding: 'utf8' });
  if (run.status !== 0) return 'not installed';
  return pattern.exec(`${run.stdout}${run.stderr}`)?.[1] ?? '?';
}

/** The versions a gallery ran with. */
function versions(): string[] {
  return [
    `git ${versionOf(['git', '--version'], /git version (\S+)/)}`,
    `sqlite3 ${versionOf(['sqlite3', '--version'], /^(\S+)/)}`,
    `vim ${versionOf(['vim', '--version'], /Vi IMproved (\S+)/)}`,
    `Python ${versionOf(['python3', '--version'], /Python (\S+)/)}`,
    `Node.js ${process.version}`,
    ...['write-file-atomic', 'atomically', 'steno'].map(
      (name) => `${name} ${packageVersion(name)}`,
    ),
    `atomic-fs ${packageVersion('atomic-fs')} (this checkout)`,
    `strace ${versionOf(['strace', '-V'], /version (\S+)/)}`,
  ];
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** A row's status and violation kinds in words, as the page shows them (the test reads them). */
export function expectedWords(expected: Expected): string {
  return expected.kinds.length === 0
    ? expected.status
    : `${expected.status} (${expected.kinds.join(', ')})`;
}

/** What the report says beyond the verdict: the check's messages, or the first examples. */
function findings(report: AuditReport): string[] {
  const notes = [
    ...report.notes.map((note) => `note: ${note}`),
    ...report.unseen.map(
      (change) =>
        `unseen change: ${change.path}: the recorded operations leave ${change.recorded}, the directory has ${change.actual}`,
    ),
  ];
  if (report.check !== 'built-in') {
    return [
      ...report.checkFailures.map((group) => {
        const said = group.output ?? '(other messages)';
        return `${group.states} ${group.states === 1 ? 'state' : 'states'}: \`${said}\` — first: ${group.crash.words}`;
      }),
      ...notes,
    ];
  }
  return [
    ...report.examples.map(
      (example) => `**${example.kind}**: ${example.message} (${example.crash.words})`,
    ),
    ...notes,
  ];
}

export interface GalleryRun {
  readonly results: readonly RowResult[];
  readonly jobs: number;
  readonly date: string;
  readonly load: string;
}

/** docs/audit-gallery.md for a run of every row under every model. */
export function markdown(run: GalleryRun): string {
  const out: string[] = [];
  const result = (row: GalleryRow, model: PersistenceModel): RowResult | undefined =>
    run.results.find((entry) => entry.row === row && entry.model === model);
  out.push(
    '# The audit gallery',
    '',
    '<!-- Generated by `npm run gallery` (scripts/gallery.js from test/audit/gallery/rows.ts); do not edit. -->',
    '',
    'Widely used programs and libraries saving a file, each run under `atomic-fs audit` with the',
    'check that fits it: the built-in check for a program that replaces one file (every crash',
    'state holds the old or the new version, and the new one once the program exited), `git',
    'fsck` for git, `PRAGMA integrity_check` and the expected rows for SQLite. Every row is a',
    'script you can paste into an empty directory; `npm run gallery` runs them all and writes',
    'this page, `npm run gallery -- ID` runs one row, and `test/audit/gallery.test.ts` runs the',
    'rows whose programs CI installs and keeps their verdicts.',
    '',
    '**Models.** `posix` (the default) lets any operation not made durable by an fsync reach',
    'disk or not, in any order; `ext4-ordered` also makes data reach disk before the rename or',
    'link that exposes it. Neither orders directory operations in different directories',
    '(ext4 and XFS do, by journaling them in order). See docs/audit.md, "The model".',
    '',
    '**A check command** runs inside each rebuilt crash state with `ATOMIC_FS_AUDIT_AFTER_DONE`',
    'set to `1` when the crash came after the program exited with status 0 (then the new',
    'version must be there), `0` otherwise.',
    '',
    `Ran on ${run.date} (Linux, ${availableParallelism()} CPUs, load average ${run.load} at the start, checks run ${run.jobs} at a time) with ${versions().join(', ')}.`,
    '',
    '| # | program | what it does | operations | crash states | verdict (`posix`) | `ext4-ordered` | seconds |',
    '| -: | --- | --- | -: | -: | --- | --- | -: |',
  );
  ROWS.forEach((row, index) => {
    const posix = result(row, 'posix');
    const ordered = result(row, 'ext4-ordered');
    out.push(
      `| ${index + 1} | ${cell(row.program)} | [${cell(row.does)}](#${index + 1}-${row.id}) | ${posix?.report.checked.operations ?? '—'} | ${posix?.report.checked.states ?? '—'} | ${posix === undefined ? 'not run' : cell(verdict(posix.report))} | ${ordered === undefined ? 'not run' : cell(verdict(ordered.report))} | ${posix === undefined ? '—' : posix.seconds.toFixed(1)} |`,
    );
  });
  out.push('');
  ROWS.forEach((row, index) => {
    out.push(
      `## ${index + 1}. ${row.id}`,
      '',
      `**${row.program}**: ${row.does}.`,
      '',
      '```sh',
      script(row),
      '```',
      '',
    );
    for (const model of MODELS) {
      const got = result(row, model);
      if (got === undefined) {
        out.push(
          `**\`${model}\`**: not run here (${row.needs.filter((need) => !installed(need)).join(', ') || 'skipped'}).`,
          '',
        );
        continue;
      }
      const { report } = got;
      out.push(
        `**\`${model}\`**${model === 'posix' ? '' : ' (`--model ext4-ordered`)'}: ${report.checked.operations} operations recorded, ${report.checked.states} crash states explored, verdict: ${verdict(report)} (exit status ${got.exitCode}; ${row.ci.includes(model) ? 'kept by the test' : 'expected'} as \`${expectedWords(got.got)}\`).`,
      );
      const found = findings(report);
      if (found.length > 0) out.push('', ...found.map((line) => `- ${line}`));
      out.push('');
    }
    out.push(
      `**Why.** ${row.why.replaceAll('\n', ' ')}`,
      '',
      `**The literature.** ${row.literature.replaceAll('\n', ' ')}`,
      '',
    );
  });
  out.push(...LITERATURE, '');
  return out.join('\n');
}

const LITERATURE = [
  '## Compared with the literature',
  '',
  'ALICE — T. S. Pillai, V. Chidambaram, R. Alagappan, S. Al-Kiswany, A. C. Arpaci-Dusseau and',
  'R. H. Arpaci-Dusseau, *All File Systems Are Not Created Equal: On the Complexity of',
  'Crafting Crash-Consistent Applications*, OSDI 2014 — records the system calls of an',
  "application's update protocol, turns them into logical operations, builds the crash states",
  'an abstract persistence model allows (operations lost, reordered, persisted in part), and',
  "runs the application's own checker on each: the method of `atomic-fs audit`. It studied",
  'storage systems — key-value stores, relational databases, version control, distributed',
  'systems — git and SQLite among them, and none of the editors, Python patterns or npm',
  'libraries of this page. **What follows about the paper is from memory, not from a copy at',
  'hand: its tables are the reference for the exact findings and their number.**',
  '',
  '- **git.** ALICE reported crash vulnerabilities in git: updates whose renames or appends',
  '  can persist before the data they depend on, leaving a repository that `git fsck` rejects',
  '  or that lost what was committed. We agree for the default settings (row 1: empty and',
  '  half-written objects, a torn index, the index or the branch naming an object that is not',
  '  there, and the commit lost after `git commit` returned). git has changed since: 2.36',
  '  (2022) added `core.fsync`; with `core.fsync=all` (row 2) every file is fsynced before it',
  '  is published, and only the missing directory fsyncs remain — a gap both of our models',
  '  show and a real ext4 or XFS would not, since both journal directory operations in order.',
  '- **SQLite.** As we recall, ALICE found SQLite consistent in both journal modes and',
  '  reported at most a durability problem in the rollback-journal mode. We agree: rows 3 and',
  '  5 are consistent in every state; row 3 can lose the committed row after sqlite3 returned,',
  '  because the unlink of the journal that commits is not followed by a directory fsync. That',
  "  is SQLite's documented behaviour of `synchronous=FULL` in rollback mode, and",
  '  `synchronous=EXTRA` (row 4) adds the fsync.',
  "- **Where we differ, and why.** Our `posix` model is at least as permissive as ALICE's",
  '  default model as we remember it (an operation not made durable may be lost or reordered,',
  '  a write may persist in part), so an ordering problem it reports we report too. Our',
  '  `ext4-ordered` model orders data before the rename or link that exposes it — what ext4 in',
  '  its default `data=ordered` mode, with `auto_da_alloc`, gives a file renamed over another',
  '  (for a new name ext4 promises less) — but it does not order directory operations, which a',
  '  journaling file system does: on row 2 that makes us stricter than a real ext4. The other',
  "  difference is time: ALICE's git had no `core.fsync`.",
  '',
  "The rest of the page — vim's two backup strategies, in-place writes in Python and Node, the",
  'temp-file-and-rename libraries — has no counterpart in ALICE: the verdicts follow from the',
  'rules of the model, and each explanation names the missing fsync or ordering.',
  '',
  'Further reading: SQLite, `PRAGMA synchronous` (https://www.sqlite.org/pragma.html#pragma_synchronous);',
  "git, `core.fsync` (`git help config`); ext4, `auto_da_alloc` (the kernel's",
  '`Documentation/admin-guide/ext4.rst`).',
];

/** Every row under every model (the rows whose programs are missing are left out). */
export async function runAll(
  ids: readonly string[] = [],
  jobs?: number,
  progress: (result: RowResult) => void = () => undefined,
): Promise<RowResult[]> {
  const results: RowResult[] = [];
  for (const row of ROWS) {
    if (ids.length > 0 && !ids.includes(row.id)) continue;
    if (!runnable(row)) continue;
    for (const model of MODELS) {
      const result = await runRow(row, { model, jobs });
      progress(result);
      results.push(result);
    }
  }
  return results;
}

/** Whether a result is what its row expects, and why not. */
export function mismatch(result: RowResult): string | undefined {
  const want = result.row.expect[result.model];
  const same =
    want.status === result.got.status &&
    want.kinds.length === result.got.kinds.length &&
    want.kinds.every((kind, index) => result.got.kinds[index] === kind);
  if (same && result.exitCode === AUDIT_EXIT_STATUS[result.got.status]) return undefined;
  return `${result.row.id} (${result.model}): expected ${expectedWords(want)}, got ${expectedWords(result.got)} (exit status ${result.exitCode})`;
}
