#!/usr/bin/env node
// `npm run compat`: the compatibility suite (compat/core.js) under Node (this one, 22 and 24),
// Bun and Deno, and the durable-replace sequence of each checked by the crash-state explorer
// (`atomic-fs audit`, Linux with strace), printed as one table. The other runtimes come from
// the npm registry through npx: `node@22`, `node@24`, `bun@1` and `deno@2`, or the exact
// versions in ATOMIC_FS_COMPAT_BUN and ATOMIC_FS_COMPAT_DENO (CI pins them, so that a new
// release cannot turn CI red by itself). Options:
//   --markdown            print the table as Markdown (for the README)
//   --runtimes=node,bun   only these runtimes (node, node22, node24, bun, deno)
// Exit status 1 if a check fails that is not a known gap below (a known gap that passes is
// reported, so that the README can be updated).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const markdown = args.includes('--markdown');
const only = args
  .find((arg) => arg.startsWith('--runtimes='))
  ?.slice('--runtimes='.length)
  .split(',');
const TIMEOUT_MS = 300_000;

/**
 * Deno's permissions: the library reads the host name (`--allow-sys=hostname`: temp names)
 * and one environment variable (ATOMIC_FS_IO_THREAD). The suite itself also reads TMPDIR,
 * sets the umask (which Deno 2.9 lets through `--allow-sys` only as a whole) and loads
 * fs-native-extensions in its probe (`--allow-ffi`).
 */
const DENO_FLAGS = [
  '--allow-read',
  '--allow-write',
  '--allow-ffi',
  '--allow-sys',
  '--allow-env=ATOMIC_FS_IO_THREAD,TMPDIR,TMP,TEMP',
];

const BUN = process.env.ATOMIC_FS_COMPAT_BUN ?? 'bun@1';
const DENO = process.env.ATOMIC_FS_COMPAT_DENO ?? 'deno@2';
const execPathOf = (pkg) => () =>
  locate(['npx', '-y', '-p', pkg, 'node', '-e', 'console.log(process.execPath)']);

const RUNTIMES = [
  { name: 'node', title: 'Node', locate: () => process.execPath, run: (binary) => [binary] },
  { name: 'node22', title: 'Node', locate: execPathOf('node@22'), run: (binary) => [binary] },
  { name: 'node24', title: 'Node', locate: execPathOf('node@24'), run: (binary) => [binary] },
  {
    name: 'bun',
    title: 'Bun',
    locate: () => locate(['npx', '-y', BUN, '-e', 'console.log(process.execPath)']),
    run: (binary) => [binary],
  },
  {
    name: 'deno',
    title: 'Deno',
    locate: () => locate(['npx', '-y', DENO, 'eval', 'console.log(Deno.execPath())']),
    run: (binary) => [binary, 'run', ...DENO_FLAGS],
  },
].filter((runtime) => only === undefined || only.includes(runtime.name));

/** Checks a runtime is known to fail, and why (shown in the table and the README). */
const NATIVE = (runtime) => ({
  'updateJson: no lost update among 40 concurrent increments; lock sidecar kept':
    'no file locks: ERR_ATOMIC_LOCK_UNSUPPORTED (the addon is not loaded, see the last row)',
  'updateJson: two processes, 100 increments each, none lost (the kernel lock)':
    'no file locks (as above)',
  'writeDirectory: replace a whole tree in one atomic exchange':
    'no atomic exchange: ERR_ATOMIC_NO_EXCHANGE unless allowNonAtomic (the addon is not loaded)',
  'fs-native-extensions: an error from the addon is an exception, not a crash':
    runtime === 'bun'
      ? "the addon reports errors through libuv's uv_translate_sys_error: Bun panics (oven-sh/bun#18546)"
      : "the addon reports errors through libuv's uv_translate_sys_error: Deno dies (undefined symbol)",
});
const KNOWN_GAPS = { bun: NATIVE('bun'), deno: NATIVE('deno') };

const AUDIT_ROW =
  'durable sequence audited under strace (writeFile, writeFileSync, openAtomic, copyFile)';

function locate(command) {
  const [file, ...rest] = command;
  const result = spawnSync(file, rest, { encoding: 'utf8', timeout: TIMEOUT_MS });
  if (result.status !== 0) return undefined;
  return result.stdout.trim().split('\n').pop();
}

function runSuite(runtime, binary) {
  const command = [...runtime.run(binary), 'compat/core.js'];
  const started = Date.now();
  const result = spawnSync(command[0], command.slice(1), {
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
    // How the suite starts a second process of the same runtime.
    env: { ...process.env, COMPAT_SELF: JSON.stringify(runtime.run(binary)) },
  });
  const seconds = (Date.now() - started) / 1000;
  const lines = result.stdout.split('\n');
  const line = lines.find((text) => text.startsWith('COMPAT-RESULT '));
  if (line !== undefined) return { ...JSON.parse(line.slice('COMPAT-RESULT '.length)), seconds };
  // No result: the runtime died. Name the check that was running.
  const begun = lines
    .filter((text) => text.startsWith('BEGIN '))
    .pop()
    ?.slice(6);
  const why = result.signal ?? `exit ${result.status}`;
  const tail = result.stderr.trim().split('\n').slice(-1)[0] ?? '';
  return { crashed: { check: begun, why: `${why}: ${tail}` }, seconds, results: [] };
}

function straceWorks() {
  if (process.platform !== 'linux') return false;
  const probe = spawnSync('strace', ['-f', '-qq', '-e', 'trace=none', 'true'], { stdio: 'ignore' });
  return probe.status === 0;
}

function audit(runtime, binary) {
  const dir = mkdtempSync(join(tmpdir(), `afs-compat-audit-${runtime.name}-`));
  try {
    for (const name of ['a', 'b', 'c', 'd'])
      writeFileSync(join(dir, `${name}.txt`), `old ${name}\n`);
    writeFileSync(join(dir, 'source.txt'), 'the source\n');
    const command = [...runtime.run(binary), 'compat/durable.js', dir];
    const result = spawnSync(
      process.execPath,
      ['dist/cli/bin.js', 'audit', '--json', '--dir', dir, '--', ...command],
      { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
    );
    let report;
    try {
      report = JSON.parse(result.stdout);
    } catch {
      return {
        ok: false,
        error: `audit exit ${result.status}: ${result.stderr.trim().split('\n').pop()}`,
      };
    }
    const violations = Object.values(report.violations ?? {}).reduce((a, b) => a + b, 0);
    const watched = report.watched?.length ?? 0;
    if (result.status === 0 && report.ok === true && watched === 4) return { ok: true };
    return { ok: false, error: `${violations} violations, ${watched} of 4 files watched` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const columns = [];
const rows = new Map();
let unexpected = 0;
const notes = [];
const withAudit = straceWorks();
for (const runtime of RUNTIMES) {
  const binary = runtime.locate();
  if (binary === undefined) {
    columns.push({ runtime: runtime.name, title: `${runtime.name}: unavailable` });
    notes.push(`${runtime.name}: could not be fetched from the npm registry`);
    unexpected += 1;
    continue;
  }
  const outcome = runSuite(runtime, binary);
  const title = `${runtime.title} ${outcome.version ?? '?'}`;
  columns.push({ runtime: runtime.name, title });
  process.stderr.write(`# ${title}: suite ran in ${outcome.seconds.toFixed(1)} s\n`);
  if (outcome.crashed !== undefined) {
    notes.push(`${runtime.name} died during "${outcome.crashed.check}": ${outcome.crashed.why}`);
    unexpected += 1;
  }
  const results = [...outcome.results];
  if (withAudit) results.push({ name: AUDIT_ROW, ...audit(runtime, binary) });
  for (const result of results) {
    if (!rows.has(result.name)) rows.set(result.name, new Map());
    const gap = KNOWN_GAPS[runtime.name]?.[result.name];
    let cell;
    if (result.ok) {
      cell = gap === undefined ? 'pass' : 'pass (listed as a gap: update scripts/compat.js)';
      if (gap !== undefined) notes.push(`${runtime.name}: "${result.name}" passes now`);
    } else if (gap !== undefined) {
      cell = `gap: ${gap}`;
    } else {
      cell = `FAIL: ${result.error}`;
      unexpected += 1;
    }
    rows.get(result.name).set(runtime.name, cell);
  }
}
if (!withAudit) notes.push('the strace audit row needs Linux with strace');

const header = ['check', ...columns.map((column) => column.title)];
const body = [...rows].map(([name, cells]) => [
  name,
  ...columns.map((column) => cells.get(column.runtime) ?? '—'),
]);
if (markdown) {
  const escape = (text) => text.replaceAll('|', '\\|');
  process.stdout.write(`| ${header.map(escape).join(' | ')} |\n`);
  process.stdout.write(`| ${header.map(() => '---').join(' | ')} |\n`);
  for (const row of body) process.stdout.write(`| ${row.map(escape).join(' | ')} |\n`);
} else {
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i].length)));
  const format = (row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${format(header)}\n${format(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of body) process.stdout.write(`${format(row)}\n`);
}
for (const note of notes) process.stdout.write(`note: ${note}\n`);
process.exitCode = unexpected === 0 ? 0 : 1;
