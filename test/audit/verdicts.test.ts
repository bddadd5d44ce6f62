/**
 * Every verdict means what it says: "safe" only when something was checked and held. A
 * writer of a new file, a failed command, writes the recording did not see, a run that
 * touched nothing — each gets its own status and exit status, through the API and the CLI;
 * and the audited scope (what is skipped) is always in the report.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AUDIT_EXIT_STATUS, audit, auditCommand, formatReport } from '../../src/audit/index.js';
import { writeFile } from '../../src/index.js';
import { cli } from '../support/cli.js';
import { needs, tempDir } from '../support/helpers.js';
import { hasStrace, python } from '../support/audit.js';

const library = new URL('../../src/index.js', import.meta.url).href;

/** A Node command that writes `name` with atomic-fs. */
function atomicWriter(name: string, data: string): string[] {
  return [
    process.execPath,
    '--input-type=module',
    '-e',
    `const { writeFile } = await import(${JSON.stringify(library)}); await writeFile(${JSON.stringify(name)}, ${JSON.stringify(data)});`,
  ];
}

function available(t: test.TestContext): boolean {
  return (
    needs(t, hasStrace, 'strace is not available') &&
    needs(t, python !== undefined, 'python3 is not available')
  );
}

test('a writer of a new file: the new file is watched, missing is fine, torn is not', async (t) => {
  if (!available(t)) return;
  const dir = tempDir(t);
  const naive = await auditCommand(
    [python ?? 'python3', '-c', "open('new.txt','w').write('x' * 5000)"],
    {
      cwd: dir,
      output: 'ignore',
    },
  );
  assert.deepEqual(naive.watched, ['new.txt']);
  assert.equal(naive.status, 'unsafe');
  assert.ok(naive.violations.torn > 0, JSON.stringify(naive.violations));
  assert.equal(naive.violations.missing, 0);
  assert.ok(naive.violations['stale-after-done'] > 0, 'missing after done is stale');

  const atomic = await auditCommand(atomicWriter('fresh.json', '{"a":1}'), {
    cwd: dir,
    output: 'ignore',
  });
  assert.deepEqual(atomic.watched, ['fresh.json']);
  assert.equal(atomic.status, 'safe', formatReport(atomic));
  assert.deepEqual(atomic.checked, {
    files: 1,
    states: atomic.states.explored,
    operations: atomic.operations.length - 1,
  });
  assert.ok(atomic.states.explored > 2);
});

test('a failed command is never "safe": status command-failed, exit status 4', async (t) => {
  if (!available(t)) return;
  const dir = tempDir(t);
  const argv = [python ?? 'python3', '-c', 'import sys; sys.exit(3)'];
  const report = await auditCommand(argv, { cwd: dir, output: 'ignore' });
  assert.equal(report.status, 'command-failed');
  assert.equal(report.ok, false);
  assert.equal(report.exitCode, 3);
  const run = await cli(['audit', '--', ...argv], { cwd: dir });
  assert.equal(run.code, 4);
  assert.equal(AUDIT_EXIT_STATUS['command-failed'], 4);
  assert.match(run.stdout, /^verdict: the command failed \(exit status 3\)/m);
  // A failure that also tears a file is reported as what it is: unsafe.
  fs.writeFileSync(join(dir, 'state.txt'), 'old content '.repeat(500));
  const torn = await cli(
    [
      'audit',
      '--',
      python ?? 'python3',
      '-c',
      "import sys; open('state.txt','w').write('new ' * 2000); sys.exit(1)",
    ],
    { cwd: dir },
  );
  assert.equal(torn.code, 1, torn.stdout);
  assert.match(torn.stdout, /^verdict: unsafe/m);
});

test('nothing checked: a run that writes nothing, exit status 3', async (t) => {
  if (!available(t)) return;
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'untouched.txt'), 'same');
  const run = await cli(['audit', '--', python ?? 'python3', '-c', 'pass'], { cwd: dir });
  assert.equal(run.code, 3, run.stdout);
  assert.match(
    run.stdout,
    /^verdict: nothing checked: the run made no file operation in the audited directory$/m,
  );
  // The in-process front end: a function that writes nothing.
  const report = await audit(() => undefined, { dir });
  assert.equal(report.status, 'nothing-checked');
  assert.equal(report.ok, false);
});

test('in-process: writes around the seam (node:fs directly) are unseen changes, not "safe"', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'settings.json');
  fs.writeFileSync(file, '{"v":1}');
  const report = await audit(
    async () => {
      fs.writeFileSync(file, '{"v":2}');
      // A library write beside it is recorded and explored as usual.
      await writeFile(join(dir, 'other.json'), '{}');
    },
    { dir },
  );
  assert.equal(report.status, 'unseen-changes', formatReport(report));
  assert.equal(report.ok, false);
  assert.deepEqual(report.unseen, [
    {
      path: 'settings.json',
      recorded: 'a file of 7 bytes',
      actual: 'a file of 7 bytes with other bytes',
    },
  ]);
  assert.match(
    formatReport(report).replace(/\n {2}/g, ' '),
    /^unseen change: settings\.json: the recorded operations leave a file of 7 bytes, the directory has a file of 7 bytes with other bytes$/m,
  );
  assert.match(
    formatReport(report),
    /^verdict: not verified: the directory changed in ways the recording did not see \(1 path\)/m,
  );
  // The same writes all through the library: safe.
  const clean = await audit(() => writeFile(file, '{"v":3}'), { dir });
  assert.equal(clean.status, 'safe', formatReport(clean));
  assert.deepEqual(clean.unseen, []);
});

test('strace: a write through a memory mapping is an unseen change, exit status 5', async (t) => {
  if (!available(t)) return;
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'mapped.bin'), Buffer.alloc(4096, 0x61));
  const script =
    "import mmap\nf = open('mapped.bin', 'r+b')\nm = mmap.mmap(f.fileno(), 0)\nm[0:5] = b'HELLO'\nm.flush()\nm.close()\nf.close()\n";
  const run = await cli(['audit', '--', python ?? 'python3', '-c', script], { cwd: dir });
  assert.equal(run.code, 5, run.stdout);
  assert.match(run.stdout, /^unseen change: mapped\.bin: /m);
  assert.equal(fs.readFileSync(join(dir, 'mapped.bin')).subarray(0, 5).toString(), 'HELLO');
});

test('scope: skipped paths are listed with their operations; --include and --exclude change it', async (t) => {
  if (!available(t)) return;
  const dir = tempDir(t);
  fs.mkdirSync(join(dir, '.git'));
  fs.writeFileSync(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  fs.mkdirSync(join(dir, 'build'));
  const script =
    "import os\nfor p in ['.git/index', 'build/out.o', 'a.txt']:\n    f = open(p + '.tmp', 'w'); f.write('x'); f.flush(); os.fsync(f.fileno()); f.close(); os.rename(p + '.tmp', p)\nd = os.open('.', os.O_RDONLY); os.fsync(d); os.close(d)\nfor d in ['.git', 'build']:\n    fd = os.open(d, os.O_RDONLY); os.fsync(fd); os.close(fd)\n";
  const argv = [python ?? 'python3', '-c', script];

  const byDefault = await auditCommand(argv, { cwd: dir, output: 'ignore' });
  assert.deepEqual(byDefault.scope.excluded, ['.git', 'node_modules']);
  const git = byDefault.scope.skipped.find((entry) => entry.path === '.git');
  assert.ok(
    git !== undefined && git.present && git.operations >= 2,
    JSON.stringify(byDefault.scope),
  );
  assert.ok(!byDefault.watched.includes('.git/index'));
  assert.ok(byDefault.watched.includes('build/out.o') && byDefault.watched.includes('a.txt'));
  assert.match(
    formatReport(byDefault),
    /^scope: skipping \.git, node_modules · skipped here: \.git \(\d+ operations\)$/m,
  );

  const wider = await auditCommand(argv, {
    cwd: dir,
    output: 'ignore',
    include: ['.git'],
    exclude: ['build'],
  });
  assert.deepEqual(wider.scope.excluded, ['node_modules', 'build']);
  assert.ok(wider.watched.includes('.git/index'), wider.watched.join(', '));
  assert.ok(!wider.watched.includes('build/out.o'));
  assert.equal(wider.status, 'safe', formatReport(wider));

  // A check that runs in states without a skipped path is warned about.
  const checked = await cli(['audit', '--check', 'test -f a.txt', '--', ...argv], { cwd: dir });
  assert.match(
    checked.stdout,
    /^note: the check runs in rebuilt crash states without \.git \(outside the audit's scope\); if it needs them, pass --include/m,
  );
  const included = await cli(
    ['audit', '--include', '.git', '--check', 'test -f .git/HEAD', '--', ...argv],
    { cwd: dir },
  );
  assert.equal(included.code, 0, included.stdout);
  assert.doesNotMatch(included.stdout, /rebuilt crash states without/);

  // Patterns are validated.
  const bad = await cli(['audit', '--include', 'nothing-like-it', '--', 'true'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--include nothing-like-it: nothing by that name is excluded/);
  const outside = await cli(['audit', '--exclude', '../x', '--', 'true'], { cwd: dir });
  assert.equal(outside.code, 2);
  await assert.rejects(
    audit(() => undefined, { dir, exclude: 'build' as unknown as string[] }),
    {
      code: 'ERR_INVALID_ARG_VALUE',
    },
  );
});
