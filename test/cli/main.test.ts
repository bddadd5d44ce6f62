/**
 * The command line, in-process (`main(argv, io)` returns the exit status; output captured)
 * and through the built binary: help and version, usage errors (one line, a hint, exit 2),
 * runtime failures (one line, exit 1, the stack only with --debug), and `audit`'s verdicts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { help as auditHelp } from '../../src/cli/audit.js';
import type { Command } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { main, topHelp } from '../../src/cli/main.js';
import { VERSION } from '../../src/cli/constants.js';
import { needs, tempDir } from '../support/helpers.js';
import { hasStrace } from '../support/audit.js';

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(
  argv: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    cwd: options.cwd,
    env: options.env,
  });
  return { code, stdout, stderr };
}

const repo = fileURLToPath(new URL('../../../', import.meta.url));

test('--help lists every command; --version prints the version of package.json', async () => {
  const helped = await cli(['--help']);
  assert.equal(helped.code, 0);
  for (const name of Object.keys(COMMANDS))
    assert.match(helped.stdout, new RegExp(`^  ${name} `, 'm'));
  const version = await cli(['--version']);
  assert.deepEqual(version, { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  const pkg = JSON.parse(fs.readFileSync(join(repo, 'package.json'), 'utf8')) as {
    version: string;
  };
  assert.equal(VERSION, pkg.version);
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: atomic-fs <command>/);
});

test('every command has --help, docs/cli.md shows the same text, the README lists them all', async () => {
  const page = fs.readFileSync(join(repo, 'docs', 'cli.md'), 'utf8');
  const readme = fs.readFileSync(join(repo, 'README.md'), 'utf8');
  const top = await cli(['--help']);
  assert.equal(top.stdout, topHelp());
  assert.ok(
    page.includes(`# CLI\n\n\`\`\`\n${topHelp()}\`\`\`\n`),
    "docs/cli.md shows 'atomic-fs --help'",
  );
  const listed = [...readme.matchAll(/^\| `atomic-fs (\w+)[ `]/gm)].map((match) => match[1]);
  assert.deepEqual(listed, Object.keys(COMMANDS), "the README's command table lists every command");
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const { command } = await entry.load();
    const result = await cli([name, '--help']);
    assert.deepEqual(result, { code: 0, stdout: command.help, stderr: '' }, name);
    assert.ok(
      page.includes(`\`\`\`\n${command.help}\`\`\`\n`),
      `docs/cli.md shows 'atomic-fs ${name} --help'`,
    );
    assert.match(command.help, new RegExp(`^Usage: atomic-fs ${name} `));
    assert.match(command.help, /^ {2}-h, --help +show this help$/m);
  }
  assert.equal((await cli(['audit', '-h'])).stdout, auditHelp);
});

test('usage errors: one line, a hint to --help, exit status 2', async () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^atomic-fs: unknown command 'frobnicate'\n/],
    [['toString'], /^atomic-fs: unknown command 'toString'\n/],
    [['--frob'], /^atomic-fs: unknown option '--frob'\n/],
    [
      ['audit', '--bogus', '--', 'true'],
      /^atomic-fs audit: unknown option '--bogus' \(an argument that starts with '-' goes after '--'\)\n/,
    ],
    [
      ['cp', 'a', 'b', '--mdoe', '600'],
      /^atomic-fs cp: unknown option '--mdoe'. Did you mean '--mode'\?\n/,
    ],
    [['audit'], /^atomic-fs audit: missing COMMAND \(after --\)\n/],
    [
      ['audit', '--model', 'zfs', '--', 'true'],
      /^atomic-fs audit: --model must be one of posix, ext4-ordered, not 'zfs'\n/,
    ],
    [
      ['audit', '--max-states', '0', '--', 'true'],
      /^atomic-fs audit: --max-states must be a positive integer, not '0'\n/,
    ],
    [['audit', '--dir'], /^atomic-fs audit: option '--dir' needs a value\n/],
    [['demo', 'extra'], /^atomic-fs demo: unexpected argument 'extra'\n/],
    [['ln', '--force=yes', 'a', 'b'], /^atomic-fs ln: option '--force' takes no value\n/],
    [['clean', '--recursive=1', 'd'], /^atomic-fs clean: option '--recursive' takes no value\n/],
    [['write', '--bogus', 'f'], /^atomic-fs write: unknown option '--bogus' \(/],
    [['write', '--hlep'], /^atomic-fs write: unknown option '--hlep'. Did you mean '--help'\?\n/],
    [['cp', 'a'], /^atomic-fs cp: missing DEST\n/],
    [['ln', 'a', 'b', 'c'], /^atomic-fs ln: unexpected argument 'c'\n/],
    [['clean', ''], /^atomic-fs clean: DIR must not be empty\n/],
    [['get', '--timeout'], /^atomic-fs get: option '--timeout' needs a value\n/],
  ];
  for (const [argv, expected] of cases) {
    const result = await cli(argv);
    assert.equal(result.code, 2, argv.join(' '));
    assert.equal(result.stdout, '');
    assert.match(result.stderr, expected, argv.join(' '));
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, result.stderr);
    assert.match(lines[1] ?? '', /^Run 'atomic-fs( \w+)? --help' for usage\.$/);
  }
});

test('runtime failures: one line and exit 1; the stack only with --debug', async () => {
  const failing: Command = {
    help: 'Usage: atomic-fs fail\n',
    options: {},
    positionals: false,
    run: () => Promise.reject(new Error('the disk caught fire\nsecond line')),
  };
  // The library's hints name options ("pass forceIt: true"): shown as the command's flags.
  const hinting: Command = {
    help: 'Usage: atomic-fs hint\n',
    options: { 'force-it': { type: 'boolean' } },
    positionals: false,
    run: () =>
      Promise.reject(
        new Error('EEXIST: pass forceIt: true to replace it (pass allowNonAtomic: true to race)'),
      ),
  };
  // A Node-style argument error from the library: bad usage, not a runtime failure.
  const misusing: Command = {
    help: 'Usage: atomic-fs misuse\n',
    options: {},
    positionals: false,
    run: () =>
      Promise.reject(
        Object.assign(new RangeError('The option "mode" must be an integer'), {
          code: 'ERR_OUT_OF_RANGE',
        }),
      ),
  };
  const commands = {
    fail: { summary: 'fails', load: () => Promise.resolve({ command: failing }) },
    hint: { summary: 'hints', load: () => Promise.resolve({ command: hinting }) },
    misuse: { summary: 'misuses', load: () => Promise.resolve({ command: misusing }) },
  };
  const run = async (argv: string[]): Promise<Captured> => {
    let stderr = '';
    const code = await main(
      argv,
      { stdout: { write: () => true }, stderr: { write: (text: string) => (stderr += text) } },
      commands,
    );
    return { code, stdout: '', stderr };
  };
  const quiet = await run(['fail']);
  assert.equal(quiet.code, 1);
  assert.equal(quiet.stderr, 'atomic-fs fail: the disk caught fire\n');
  const hinted = await run(['hint']);
  assert.equal(hinted.code, 1);
  assert.equal(
    hinted.stderr,
    'atomic-fs hint: EEXIST: pass --force-it to replace it (pass allowNonAtomic: true to race)\n',
  );
  const misused = await run(['misuse']);
  assert.equal(misused.code, 2);
  assert.equal(
    misused.stderr,
    'atomic-fs misuse: The option "mode" must be an integer\nRun \'atomic-fs misuse --help\' for usage.\n',
  );
  const loud = await run(['fail', '--debug']);
  assert.equal(loud.code, 1);
  assert.match(
    loud.stderr,
    /^atomic-fs fail: the disk caught fire\nError: the disk caught fire\nsecond line\n {4}at /,
  );
});

test('audit: a setup problem (no strace on PATH) is one line and exit status 2', async (t) => {
  const empty = tempDir(t);
  const result = await cli(['audit', '--', 'true'], { cwd: empty, env: { PATH: empty } });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^atomic-fs audit: strace is not installed or cannot trace here/);
  assert.equal(result.stderr.trimEnd().split('\n').length, 1);
});

test('audit: exit 1 with violations (table and words), 0 without, --json for machines', async (t) => {
  if (!needs(t, hasStrace, 'strace is not available')) return;
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'state.txt'), 'old');
  const naive = [process.execPath, '-e', "require('fs').writeFileSync('state.txt', 'new')"];
  const flagged = await cli(['audit', '--', ...naive], { cwd: dir });
  assert.equal(flagged.code, 1);
  assert.match(
    flagged.stdout,
    /crash states explored {2}torn\/empty {2}missing {2}stale-after-done {2}leftover temp/,
  );
  assert.match(flagged.stdout, /^torn\/empty: state\.txt is empty: the truncation at #1/m);
  assert.match(flagged.stdout, /^verdict: unsafe: a crash can leave the file torn or empty$/m);
  const json = await cli(['audit', '--json', '--watch', 'state.txt', '--', ...naive], { cwd: dir });
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as {
    ok: boolean;
    violations: Record<string, number>;
    watched: string[];
  };
  assert.equal(report.ok, false);
  assert.deepEqual(report.watched, ['state.txt']);
  assert.ok((report.violations.torn ?? 0) > 0);
  const library = new URL('../../src/index.js', import.meta.url).href;
  const safe = await cli(
    [
      'audit',
      '--',
      process.execPath,
      '--input-type=module',
      '-e',
      `const { writeFile } = await import(${JSON.stringify(library)}); await writeFile('state.txt', 'newer');`,
    ],
    { cwd: dir },
  );
  assert.equal(safe.code, 0, safe.stdout + safe.stderr);
  assert.match(safe.stdout, /^verdict: safe: 1 file in \d+ crash states, old or new in every one/m);
  assert.equal(fs.readFileSync(join(dir, 'state.txt'), 'utf8'), 'newer');
});

test('the built binary runs (shebang, exit status, one-line errors)', () => {
  const bin = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
  assert.match(fs.readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0);
  assert.equal(version.stdout, `${VERSION}\n`);
  const bad = spawnSync(process.execPath, [bin, 'audit', '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trimEnd().split('\n').length, 2);
  const demo = spawnSync(process.execPath, [bin, 'demo', '--in-process'], { encoding: 'utf8' });
  assert.equal(demo.status, 0, demo.stderr);
  assert.match(demo.stdout, /4\. atomic-fs writeFile: safe/);
});
