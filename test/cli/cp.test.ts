/**
 * `atomic-fs cp`: exact bytes and mode, the flags, one-line failures that leave DEST as it
 * was, and when the progress bar is drawn (a terminal, a large source, not --quiet).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CLI_COPY_PROGRESS_MIN_BYTES } from '../../src/cli/constants.js';
import { instrument, openFdCount, temps, tempDir } from '../support/helpers.js';
import { cli, screenLines, spawnCli } from '../support/cli.js';

const mode = (path: string): number => fs.statSync(path).mode & 0o7777;

test('cp: bytes and the source mode; --mode; nothing printed off a terminal', async (t) => {
  const dir = tempDir(t);
  const bytes = randomBytes(300_000);
  fs.writeFileSync(join(dir, 'src.bin'), bytes);
  fs.chmodSync(join(dir, 'src.bin'), 0o640);
  const plain = await cli(['cp', 'src.bin', 'copy.bin'], { cwd: dir });
  assert.deepEqual(plain, { code: 0, stdout: '', stderr: '' });
  assert.ok(fs.readFileSync(join(dir, 'copy.bin')).equals(bytes));
  assert.equal(mode(join(dir, 'copy.bin')), 0o640);
  const readOnly = await cli(['cp', '--mode', '0o444', 'src.bin', 'copy.bin'], { cwd: dir });
  assert.equal(readOnly.code, 0, readOnly.stderr);
  assert.equal(mode(join(dir, 'copy.bin')), 0o444);
  assert.ok(fs.readFileSync(join(dir, 'copy.bin')).equals(bytes));
  const deep = await cli(['cp', '--mkdirs', '--durability', 'none', 'src.bin', 'a/b/c.bin'], {
    cwd: dir,
  });
  assert.equal(deep.code, 0, deep.stderr);
  assert.ok(fs.readFileSync(join(dir, 'a/b/c.bin')).equals(bytes));
  assert.deepEqual(temps(dir), []);
});

test('cp: failures are one line naming the path and the code; DEST stays', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'src'), 'new');
  fs.writeFileSync(join(dir, 'dest'), 'old');
  const cases: [string[], RegExp][] = [
    [['cp', 'missing', 'dest'], /^atomic-fs cp: ENOENT: .*'[^']*\/missing'/],
    [['cp', '--no-overwrite', 'src', 'dest'], /^atomic-fs cp: EEXIST: .*'[^']*\/dest'/],
    [['cp', 'src', 'src'], /^atomic-fs cp: ERR_ATOMIC_SAME_FILE: .*'[^']*\/src'/],
    [['cp', '.', 'dest'], /^atomic-fs cp: EISDIR: /],
    [
      ['cp', 'src', 'no/dir/dest'],
      /^atomic-fs cp: ENOENT: parent directory does not exist \(while .*\); pass --mkdirs to create it\n$/,
    ],
  ];
  for (const [argv, expected] of cases) {
    const result = await cli(argv, { cwd: dir });
    assert.equal(result.code, 1, argv.join(' '));
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
  }
  assert.equal(fs.readFileSync(join(dir, 'dest'), 'utf8'), 'old');
  assert.equal(fs.readFileSync(join(dir, 'src'), 'utf8'), 'new');
  assert.deepEqual(temps(dir), []);
});

test('cp: usage errors exit 2', async () => {
  for (const argv of [
    ['cp'],
    ['cp', 'a'],
    ['cp', 'a', 'b', 'c'],
    ['cp', '--mode', '999', 'a', 'b'],
    ['cp', '--durability', 'max', 'a', 'b'],
    ['cp', '--progress', 'a', 'b'],
  ]) {
    const result = await cli(argv);
    assert.equal(result.code, 2, argv.join(' '));
    assert.match(result.stderr, /\nRun 'atomic-fs cp --help' for usage\.\n$/);
  }
});

test('cp: DEST names the copy itself; a directory there is an error that says so', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'src.txt'), 'source\n');
  fs.mkdirSync(join(dir, 'out'));
  for (const dest of ['out', 'out/']) {
    const result = await cli(['cp', 'src.txt', dest], { cwd: dir });
    assert.equal(result.code, 1, dest);
    assert.equal(
      result.stderr,
      `atomic-fs cp: EISDIR: DEST '${dest}' is a directory: name the copy itself, such as '${join(dest, 'src.txt')}'\n`,
    );
    assert.deepEqual(fs.readdirSync(join(dir, 'out')), [], 'nothing was written into it');
  }
  // The library says it too, in its own words.
  const write = await cli(['write', 'out'], { cwd: dir, stdin: Readable.from(['x']) });
  assert.equal(write.code, 1);
  assert.match(
    write.stderr,
    /^atomic-fs write: EISDIR: .*\. The destination names the file itself, not a directory to put it in\n$/,
  );
});

test('cp: a progress bar on a terminal for a large source, not with --quiet or a small one', async (t) => {
  const dir = tempDir(t);
  const large = Buffer.alloc(CLI_COPY_PROGRESS_MIN_BYTES, 7);
  fs.writeFileSync(join(dir, 'large'), large);
  fs.writeFileSync(join(dir, 'small'), 'small');
  const tty = { columns: 100 };
  const drawn = await cli(['cp', 'large', 'copy'], { cwd: dir, tty });
  assert.equal(drawn.code, 0, drawn.stderr);
  assert.ok(fs.readFileSync(join(dir, 'copy')).equals(large));
  assert.match(drawn.stderr, /^\r +0% \[-{30}\] {2}0 B \/ 32\.0 MiB {2}/);
  const last = screenLines(drawn.stderr);
  assert.deepEqual(last.slice(1), ['']);
  assert.match(
    last[0] ?? '',
    /^100% \[#{30}\] {2}32\.0 MiB \/ 32\.0 MiB {2}[\d.]+ [KMG]iB\/s {2}in [\d.]+s$/,
  );
  assert.ok((last[0] ?? '').length < 100);
  const quiet = await cli(['cp', '-q', 'large', 'copy'], { cwd: dir, tty });
  assert.deepEqual(quiet, { code: 0, stdout: '', stderr: '' });
  const small = await cli(['cp', 'small', 'copy'], { cwd: dir, tty });
  assert.deepEqual(small, { code: 0, stdout: '', stderr: '' });
  const missing = await cli(['cp', 'missing', 'copy'], { cwd: dir, tty });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^atomic-fs cp: ENOENT: /);
});

test('cp: a failure after the bar started erases it; the error is one line, DEST stays', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'large'), Buffer.alloc(CLI_COPY_PROGRESS_MIN_BYTES, 1));
  fs.writeFileSync(join(dir, 'copy'), 'old');
  const fds = openFdCount();
  instrument(t, [{ when: (call) => call.name === 'fsync', code: 'EIO' }]);
  const failed = await cli(['cp', 'large', 'copy'], { cwd: dir, tty: { columns: 80 } });
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /^\r +0% \[/);
  const [erased, line = ''] = failed.stderr.split('\r\x1b[K').slice(-2);
  assert.match(erased ?? '', /\d+% \[[#-]+\]/);
  assert.match(
    line,
    /^atomic-fs cp: EIO: [^\n]*\(while flushing the temp file to disk for '[^']*\/copy'[^\n]*\n$/,
  );
  assert.equal(fs.readFileSync(join(dir, 'copy'), 'utf8'), 'old');
  assert.deepEqual(temps(dir), []);
  assert.equal(openFdCount(), fds);
});

test('cp (spawned): the built binary copies, and fails with one line and exit 1', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'src'), 'spawned');
  const done = await spawnCli(['cp', 'src', 'dest'], { cwd: dir });
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stderr, '');
  assert.equal(fs.readFileSync(join(dir, 'dest'), 'utf8'), 'spawned');
  const failed = await spawnCli(['cp', 'nothing', 'dest'], { cwd: dir });
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /^atomic-fs cp: ENOENT: [^\n]*nothing[^\n]*\n$/);
  const debug = await spawnCli(['cp', '--debug', 'nothing', 'dest'], { cwd: dir });
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /^atomic-fs cp: ENOENT: [^\n]*\nAtomicFsError: ENOENT[^\n]*\n {4}at /);
});
