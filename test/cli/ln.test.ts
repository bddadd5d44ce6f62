/**
 * `atomic-fs ln`: the symlink switch — created, switched, TARGET stored as given, anything but
 * a symlink refused unless --force, and the same through the built binary.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { list, tempDir } from '../support/helpers.js';
import { cli, spawnCli } from '../support/cli.js';

test('ln: creates, then switches the link; TARGET is stored as given', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(join(dir, 'releases/41'), { recursive: true });
  fs.mkdirSync(join(dir, 'releases/42'));
  const first = await cli(['ln', 'releases/41', 'current'], { cwd: dir });
  assert.deepEqual(first, { code: 0, stdout: '', stderr: '' });
  assert.equal(fs.readlinkSync(join(dir, 'current')), 'releases/41');
  const second = await cli(['ln', 'releases/42', 'current'], { cwd: dir });
  assert.equal(second.code, 0, second.stderr);
  assert.equal(fs.readlinkSync(join(dir, 'current')), 'releases/42');
  // A dangling target is fine, as with ln -s.
  const dangling = await cli(['ln', 'releases/99', 'current'], { cwd: dir });
  assert.equal(dangling.code, 0, dangling.stderr);
  assert.equal(fs.readlinkSync(join(dir, 'current')), 'releases/99');
  const deep = await cli(
    ['ln', '--mkdirs', '--durability', 'none', '../../releases/42', 'a/b/current'],
    {
      cwd: dir,
    },
  );
  assert.equal(deep.code, 0, deep.stderr);
  assert.equal(fs.readlinkSync(join(dir, 'a/b/current')), '../../releases/42');
  assert.deepEqual(list(dir), ['a', 'current', 'releases']);
});

test('ln: a file or a directory at LINK is refused (naming --force), replaced with --force', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'current'), 'a file');
  fs.mkdirSync(join(dir, 'empty'));
  fs.mkdirSync(join(dir, 'full'));
  fs.writeFileSync(join(dir, 'full/x'), 'x');
  const file = await cli(['ln', 'target', 'current'], { cwd: dir });
  assert.equal(file.code, 1);
  assert.match(
    file.stderr,
    /^atomic-fs ln: EEXIST: not a symlink \(pass --force to replace it\) \(while resolving the destination for '[^']*\/current'\)\n$/,
  );
  assert.equal(file.stderr.trimEnd().split('\n').length, 1);
  assert.equal(fs.readFileSync(join(dir, 'current'), 'utf8'), 'a file');
  const directory = await cli(['ln', 'target', 'empty'], { cwd: dir });
  assert.equal(directory.code, 1);
  assert.match(
    directory.stderr,
    /^atomic-fs ln: EISDIR: a directory \(pass --force to replace an empty one\)/,
  );
  const full = await cli(['ln', '--force', 'target', 'full'], { cwd: dir });
  assert.equal(full.code, 1);
  assert.match(full.stderr, /^atomic-fs ln: ENOTEMPTY: /);
  assert.equal(fs.readFileSync(join(dir, 'full/x'), 'utf8'), 'x');
  assert.equal((await cli(['ln', '-f', 'target', 'current'], { cwd: dir })).code, 0);
  assert.equal(fs.readlinkSync(join(dir, 'current')), 'target');
  assert.equal((await cli(['ln', '--force', 'target', 'empty'], { cwd: dir })).code, 0);
  assert.equal(fs.readlinkSync(join(dir, 'empty')), 'target');
  assert.deepEqual(list(dir), ['current', 'empty', 'full']);
});

test('ln: usage errors exit 2', async () => {
  for (const argv of [
    ['ln'],
    ['ln', 'target'],
    ['ln', '', 'link'],
    ['ln', 'a', 'b', 'c'],
    ['ln', '-s', 'a', 'b'],
  ]) {
    const result = await cli(argv);
    assert.equal(result.code, 2, argv.join(' '));
    assert.match(result.stderr, /\nRun 'atomic-fs ln --help' for usage\.\n$/);
  }
});

test('ln (spawned): the built binary switches the link', async (t) => {
  const dir = tempDir(t);
  const done = await spawnCli(['ln', 'v1', 'current'], { cwd: dir });
  assert.equal(done.code, 0, done.stderr);
  assert.equal(fs.readlinkSync(join(dir, 'current')), 'v1');
  fs.writeFileSync(join(dir, 'plain'), '');
  const refused = await spawnCli(['ln', 'v1', 'plain'], { cwd: dir });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^atomic-fs ln: EEXIST: [^\n]*--force[^\n]*\n$/);
});
