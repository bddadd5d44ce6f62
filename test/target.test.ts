/** Where a write lands, and which queue it joins: symlinks, new names, missing parents, loops. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveTarget } from '../src/target.js';
import { tempDir } from './helpers.js';

test('follow: chains of links lead to the file; every path to its name has one key', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'a'));
  fs.writeFileSync(join(dir, 'a', 'real'), '');
  fs.symlinkSync('a/real', join(dir, 'l1'));
  fs.symlinkSync(join(dir, 'l1'), join(dir, 'l2'));
  fs.symlinkSync('a', join(dir, 'dirlink'));
  fs.linkSync(join(dir, 'a', 'real'), join(dir, 'hardlink'));
  const real = resolveTarget(join(dir, 'a', 'real'), 'follow', false);
  assert.deepEqual(
    { target: real.target, dir: real.dir },
    { target: join(dir, 'a', 'real'), dir: join(dir, 'a') },
  );
  assert.match(real.key, /^in:\d+:\d+\/real$/);
  // Through links, through a linked directory, through `..`: one file, one key.
  for (const alias of ['l2', 'l1', 'dirlink/real', 'a/../a/real']) {
    assert.equal(resolveTarget(join(dir, alias), 'follow', false).key, real.key, alias);
  }
  // A hard link is another name: a replace through it breaks the link, it is its own file.
  assert.notEqual(resolveTarget(join(dir, 'hardlink'), 'follow', false).key, real.key);
  // The key survives a replace of the file (a new inode under the same name).
  fs.renameSync(join(dir, 'hardlink'), join(dir, 'a', 'real'));
  assert.equal(resolveTarget(join(dir, 'a', 'real'), 'follow', false).key, real.key);
  assert.equal(resolveTarget(join(dir, 'l2'), 'follow', false).target, join(dir, 'a', 'real'));
  // Through a linked directory the path may keep the link: it names the same directory.
  assert.equal(
    fs.realpathSync(resolveTarget(join(dir, 'dirlink', 'real'), 'follow', false).dir),
    join(dir, 'a'),
  );
});

test('follow: a dangling link resolves to the file it would create, keyed like that name', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'a', 'nowhere'), { recursive: true });
  fs.symlinkSync('a', join(dir, 'dirlink'));
  // Relative to the link's real directory (a/), not to the path it was named by.
  fs.symlinkSync('nowhere/x', join(dir, 'a', 'dangling'));
  const dangling = resolveTarget(join(dir, 'dirlink', 'dangling'), 'follow', false);
  assert.equal(dangling.target, join(dir, 'a', 'nowhere', 'x'));
  assert.equal(dangling.dir, join(dir, 'a', 'nowhere'));
  assert.match(dangling.key, /^in:\d+:\d+\/x$/);
  assert.equal(resolveTarget(join(dir, 'a', 'nowhere', 'x'), 'follow', false).key, dangling.key);
  // A new name in a directory reached two ways: one key.
  assert.equal(
    resolveTarget(join(dir, 'dirlink', 'new'), 'follow', false).key,
    resolveTarget(join(dir, 'a', 'new'), 'follow', false).key,
  );
});

test('replace: the link itself is the file replaced', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'a'));
  fs.writeFileSync(join(dir, 'a', 'elsewhere'), '');
  fs.symlinkSync('elsewhere', join(dir, 'a', 'link'));
  const replaced = resolveTarget(join(dir, 'a', 'link'), 'replace', false);
  assert.equal(replaced.target, join(dir, 'a', 'link'));
  assert.equal(replaced.dir, join(dir, 'a'));
  assert.notEqual(replaced.key, resolveTarget(join(dir, 'a', 'elsewhere'), 'replace', false).key);
});

test('loops, missing parents, files used as directories', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.symlinkSync('loop2', join(dir, 'loop1'));
  fs.symlinkSync('loop1', join(dir, 'loop2'));
  assert.throws(() => resolveTarget(join(dir, 'loop1'), 'follow', false), { code: 'ELOOP' });
  assert.throws(() => resolveTarget(join(dir, 'x', 'y'), 'follow', false), {
    code: 'ENOENT',
    phase: 'resolve',
  });
  // With mkdirs, a path whose directories do not exist yet is keyed by the path itself.
  assert.deepEqual(resolveTarget(join(dir, 'x', 'y'), 'follow', true), {
    target: join(dir, 'x', 'y'),
    dir: join(dir, 'x'),
    key: `path:${join(dir, 'x', 'y')}`,
  });
  fs.writeFileSync(join(dir, 'file'), '');
  assert.throws(() => resolveTarget(join(dir, 'file', 'y'), 'follow', false), {
    code: 'ENOTDIR',
  });
  assert.throws(() => resolveTarget(`${dir}/`, 'follow', false), { code: 'EISDIR' });
});
