/** Where a write lands: symlinks, missing parents, loops. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveTarget } from '../src/target.js';
import { tempDir } from './helpers.js';

test('follow: chains of links, relative and absolute, dangling ones', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'a'));
  fs.writeFileSync(join(dir, 'a', 'real'), '');
  fs.symlinkSync('a/real', join(dir, 'l1'));
  fs.symlinkSync(join(dir, 'l1'), join(dir, 'l2'));
  fs.symlinkSync('a', join(dir, 'dirlink'));
  fs.symlinkSync('nowhere/x', join(dir, 'a', 'dangling'));
  fs.mkdirSync(join(dir, 'a', 'nowhere'));
  const real = { target: join(dir, 'a', 'real'), dir: join(dir, 'a') };
  assert.deepEqual(resolveTarget(join(dir, 'l2'), 'follow', false), real);
  assert.deepEqual(resolveTarget(join(dir, 'dirlink', 'real'), 'follow', false), real);
  assert.deepEqual(resolveTarget(join(dir, 'dirlink', 'dangling'), 'follow', false), {
    target: join(dir, 'a', 'nowhere', 'x'),
    dir: join(dir, 'a', 'nowhere'),
  });
  assert.deepEqual(resolveTarget(join(dir, 'dirlink', 'new'), 'follow', false), {
    target: join(dir, 'a', 'new'),
    dir: join(dir, 'a'),
  });
});

test('replace: the link itself, in its real directory', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'a'));
  fs.symlinkSync('a', join(dir, 'dirlink'));
  fs.symlinkSync('elsewhere', join(dir, 'a', 'link'));
  assert.deepEqual(resolveTarget(join(dir, 'dirlink', 'link'), 'replace', false), {
    target: join(dir, 'a', 'link'),
    dir: join(dir, 'a'),
  });
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
  assert.deepEqual(resolveTarget(join(dir, 'x', 'y'), 'follow', true), {
    target: join(dir, 'x', 'y'),
    dir: join(dir, 'x'),
  });
  fs.writeFileSync(join(dir, 'file'), '');
  assert.throws(() => resolveTarget(join(dir, 'file', 'y'), 'follow', false), {
    code: 'ENOTDIR',
  });
  assert.throws(() => resolveTarget(`${dir}/`, 'follow', false), { code: 'EISDIR' });
});
