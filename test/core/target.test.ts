/** Where a write lands, and which queue it joins: symlinks, new names, missing parents, loops. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { writeFile } from '../../src/index.js';
import { resolveTarget } from '../../src/core/target.js';
import { isLinux, isRoot, needs, tempDir } from '../support/helpers.js';

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
  // Through a linked directory: the physical directory.
  assert.equal(resolveTarget(join(dir, 'dirlink', 'real'), 'follow', false).dir, join(dir, 'a'));
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
  // With mkdirs, a path whose directories do not exist yet is keyed by the path itself; the
  // directory they are made in is named with its identity (the write must find it again).
  const top = fs.statSync(dir);
  assert.deepEqual(resolveTarget(join(dir, 'x', 'y'), 'follow', true), {
    target: join(dir, 'x', 'y'),
    dir: join(dir, 'x'),
    key: `path:${join(dir, 'x', 'y')}`,
    stats: undefined,
    missing: [join(dir, 'x')],
    top: { path: dir, id: { dev: top.dev, ino: top.ino }, names: [join(dir, 'x')] },
  });
  fs.writeFileSync(join(dir, 'file'), '');
  assert.throws(() => resolveTarget(join(dir, 'file', 'y'), 'follow', false), {
    code: 'ENOTDIR',
  });
  assert.throws(() => resolveTarget(`${dir}/`, 'follow', false), { code: 'EISDIR' });
});

test('`..` after a symlink is the physical parent; every alias of a file has its key', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'app', 'releases', 'v2'), { recursive: true });
  fs.symlinkSync('app/releases/v2', join(dir, 'current'));
  fs.symlinkSync(join(dir, 'app'), join(dir, 'abs'));
  const real = resolveTarget(join(dir, 'app', 'releases', 'config.json'), 'follow', false);
  assert.equal(real.target, join(dir, 'app', 'releases', 'config.json'));
  for (const alias of [
    'current/../config.json',
    'current/../v2/../config.json',
    'abs/releases/v2/../config.json',
    'current/./../config.json',
    'app//releases/config.json',
  ]) {
    const where = resolveTarget(`${dir}/${alias}`, 'follow', false);
    assert.equal(where.target, real.target, alias);
    assert.equal(where.dir, join(dir, 'app', 'releases'), alias);
    assert.equal(where.key, real.key, alias);
  }
  // Relative, after chdir(): the same file, the same key.
  const cwd = process.cwd();
  t.after(() => {
    process.chdir(cwd);
  });
  process.chdir(join(dir, 'current'));
  assert.equal(resolveTarget('../config.json', 'follow', false).key, real.key);
  process.chdir(join(dir, 'app'));
  assert.equal(resolveTarget('releases/config.json', 'follow', false).key, real.key);
  assert.equal(resolveTarget('../current/../config.json', 'follow', false).key, real.key);
});

test('a trailing slash, `.` or `..` names a directory; a file used as one is ENOTDIR', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.writeFileSync(join(dir, 'regular'), '');
  fs.mkdirSync(join(dir, 'sub'));
  for (const [path, code] of [
    ['regular/.', 'ENOTDIR'],
    ['regular/..', 'ENOTDIR'],
    ['regular/x', 'ENOTDIR'],
    ['regular/', 'EISDIR'],
    ['sub/.', 'EISDIR'],
    ['sub/..', 'EISDIR'],
    ['missing/', 'EISDIR'],
    ['missing/.', 'ENOENT'],
    ['missing/../regular', 'ENOENT'],
  ] as const) {
    assert.throws(() => resolveTarget(`${dir}/${path}`, 'follow', false), { code }, path);
  }
  assert.throws(() => resolveTarget('/', 'follow', false), { code: 'EISDIR' });
  assert.throws(() => resolveTarget(`${dir}/${'x'.repeat(256)}`, 'follow', false), {
    code: 'ENAMETOOLONG',
  });
  assert.throws(() => resolveTarget(`${dir}/${'./'.repeat(2100)}x`, 'follow', false), {
    code: 'ENAMETOOLONG',
    phase: 'resolve',
  });
});

test('40 symlinks are followed, the 41st is ELOOP; intermediate links count too', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'd'));
  fs.symlinkSync('d', join(dir, 'l1'));
  for (let i = 2; i <= 41; i += 1) fs.symlinkSync(`l${i - 1}`, join(dir, `l${i}`));
  assert.equal(resolveTarget(join(dir, 'l39', 'f'), 'follow', false).target, join(dir, 'd', 'f'));
  assert.equal(resolveTarget(join(dir, 'l40', 'f'), 'follow', false).target, join(dir, 'd', 'f'));
  assert.throws(() => resolveTarget(join(dir, 'l41', 'f'), 'follow', false), { code: 'ELOOP' });
  // 39 for the directory and 2 for the file: 41 in all.
  fs.writeFileSync(join(dir, 'd', 'f'), '');
  fs.symlinkSync('f', join(dir, 'd', 'm1'));
  fs.symlinkSync('m1', join(dir, 'd', 'm2'));
  assert.equal(resolveTarget(join(dir, 'l38', 'm2'), 'follow', false).target, join(dir, 'd', 'f'));
  assert.throws(() => resolveTarget(join(dir, 'l39', 'm2'), 'follow', false), { code: 'ELOOP' });
});

test('replace: only a link at the last component stays unfollowed', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'real'));
  fs.symlinkSync('real', join(dir, 'dirlink'));
  fs.symlinkSync('elsewhere', join(dir, 'real', 'link'));
  const where = resolveTarget(join(dir, 'dirlink', 'link'), 'replace', false);
  assert.equal(where.target, join(dir, 'real', 'link'));
  assert.ok(where.stats?.isSymbolicLink());
  // Its key is that of the link's own name (a file at the link's place).
  assert.equal(where.key, resolveTarget(join(dir, 'real', 'link'), 'replace', false).key);
});

test('mkdirs: the directories the file lands in, as mkdir -p makes them', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.symlinkSync('nowhere', join(dir, 'dangling'));
  fs.symlinkSync('gone/x', join(dir, 'deep'));
  fs.mkdirSync(join(dir, 'real'));
  fs.symlinkSync('real', join(dir, 'dirlink'));
  const made = resolveTarget(join(dir, 'dirlink', 'a', '.', 'b', 'f'), 'follow', true);
  assert.equal(made.target, join(dir, 'real', 'a', 'b', 'f'));
  assert.deepEqual(made.missing, [join(dir, 'real', 'a'), join(dir, 'real', 'a', 'b')]);
  // A directory the path only passes through is not made: ENOENT, as the kernel says.
  assert.throws(() => resolveTarget(join(dir, 'new') + '/../f', 'follow', true), {
    code: 'ENOENT',
  });
  // Never through a symlink: a dangling link stays dangling (mkdir -p fails there too).
  assert.throws(() => resolveTarget(join(dir, 'dangling', 'f'), 'follow', true), {
    code: 'ENOENT',
  });
  assert.throws(() => resolveTarget(join(dir, 'deep'), 'follow', true), { code: 'ENOENT' });
  assert.equal(fs.existsSync(join(dir, 'nowhere')), false);
  assert.equal(fs.existsSync(join(dir, 'gone')), false);
  // Resolving makes nothing.
  assert.deepEqual(fs.readdirSync(join(dir, 'real')), []);
});

test('a relative path to a link in the working directory: walked from there', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.writeFileSync(join(dir, 'real'), '');
  fs.symlinkSync('real', join(dir, 'link'));
  const cwd = process.cwd();
  t.after(() => {
    process.chdir(cwd);
  });
  process.chdir(dir);
  const where = resolveTarget('link', 'follow', false);
  assert.equal(where.target, join(dir, 'real'));
  assert.equal(where.key, resolveTarget(join(dir, 'real'), 'follow', false).key);
});

test('Windows folds `.` and `..` lexically, before symlinks, as Win32 does', (t) => {
  const dir = fs.realpathSync(tempDir(t));
  fs.mkdirSync(join(dir, 'app', 'v2'), { recursive: true });
  fs.symlinkSync('app/v2', join(dir, 'current'));
  fs.symlinkSync('current', join(dir, 'alias'));
  t.after(restoreSeam);
  seam.platform = 'win32';
  assert.equal(
    resolveTarget(`${dir}/current/../config.json`, 'follow', false).target,
    join(dir, 'config.json'),
  );
  // A link at the end is still followed, relative to its own directory.
  assert.equal(resolveTarget(join(dir, 'alias'), 'follow', false).target, join(dir, 'app', 'v2'));
  assert.throws(() => resolveTarget(`${dir}/x/`, 'follow', false), { code: 'EISDIR' });
});

describe('as root, a symlink another user could have put on the way is not followed', () => {
  /** `shared`, a directory of `uid`'s (0755), holding `link` -> `real` (root's). */
  function sharedLink(t: TestContext, uid: number, linkOwner: number): string {
    const dir = fs.realpathSync(tempDir(t));
    fs.chmodSync(dir, 0o755);
    const shared = join(dir, 'shared');
    fs.mkdirSync(join(dir, 'real'));
    fs.mkdirSync(shared);
    fs.symlinkSync(join(dir, 'real'), join(shared, 'link'));
    fs.lchownSync(join(shared, 'link'), linkOwner, linkOwner);
    fs.chownSync(shared, uid, uid);
    return shared;
  }

  test("a link in another user's directory: ERR_ATOMIC_SHARED_DIRECTORY, unless accepted", (t) => {
    if (!needs(t, isRoot && isLinux, 'root, to own a directory as another user')) return;
    const shared = sharedLink(t, 65534, 65534);
    assert.throws(() => resolveTarget(join(shared, 'link', 'f'), 'follow', false), {
      code: 'ERR_ATOMIC_SHARED_DIRECTORY',
      phase: 'resolve',
    });
    // The last component too: a link to follow to the file itself.
    fs.symlinkSync(join(shared, '..', 'real', 'f'), join(shared, 'file-link'));
    assert.throws(() => resolveTarget(join(shared, 'file-link'), 'follow', false), {
      code: 'ERR_ATOMIC_SHARED_DIRECTORY',
    });
    // Replaced, not followed: nothing to refuse.
    assert.equal(
      resolveTarget(join(shared, 'file-link'), 'replace', false).target,
      join(shared, 'file-link'),
    );
    const accepted = resolveTarget(join(shared, 'link', 'f'), 'follow', false, true);
    assert.equal(accepted.target, join(shared, '..', 'real', 'f'));
  });

  test("root's own link in root's directory, and a link in a sticky root directory: followed", (t) => {
    if (!needs(t, isRoot && isLinux, 'root, to own a directory as another user')) return;
    const own = sharedLink(t, 0, 0);
    assert.equal(
      resolveTarget(join(own, 'link', 'f'), 'follow', false).dir.endsWith('/real'),
      true,
    );
    const sticky = sharedLink(t, 0, 0);
    fs.chmodSync(sticky, 0o1777);
    assert.equal(
      resolveTarget(join(sticky, 'link', 'f'), 'follow', false).dir.endsWith('/real'),
      true,
    );
    // In a sticky directory, another user's link is refused (they may have put it there).
    fs.lchownSync(join(sticky, 'link'), 65534, 65534);
    assert.throws(() => resolveTarget(join(sticky, 'link', 'f'), 'follow', false), {
      code: 'ERR_ATOMIC_SHARED_DIRECTORY',
    });
  });

  test('writeFile through such a link changes nothing; with the option it writes there', async (t) => {
    if (!needs(t, isRoot && isLinux, 'root, to own a directory as another user')) return;
    const shared = sharedLink(t, 65534, 65534);
    const real = join(shared, '..', 'real');
    await assert.rejects(writeFile(join(shared, 'link', 'f'), 'x'), {
      code: 'ERR_ATOMIC_SHARED_DIRECTORY',
    });
    assert.deepEqual(fs.readdirSync(real), []);
    await writeFile(join(shared, 'link', 'f'), 'x', { unsafeSharedDirectories: true });
    assert.equal(fs.readFileSync(join(real, 'f'), 'utf8'), 'x');
  });
});
