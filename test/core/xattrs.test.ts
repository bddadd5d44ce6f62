/**
 * A replace keeps the replaced file's POSIX ACL, security label and `user.*` attributes, and
 * drops what vouches for the old content (file capabilities, `trusted.*`): checked with the
 * system's own tools (getfacl, getfattr, getcap) on ext4, XFS and btrfs (loop devices) and
 * tmpfs, through every write function. Where the attributes cannot be kept, access never
 * silently widens: the failures are injected at the seam.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type TestContext, describe, test } from 'node:test';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import {
  AtomicFsError,
  copyFile,
  openAtomic,
  openAtomicSync,
  update,
  updateSync,
  writeFile,
  writeFileSync,
  writeFiles,
} from '../../src/index.js';
import { xattrRole } from '../../src/engine/platform.js';
import { errnoError, isLinux, isRoot, needs, tempDir, temps } from '../support/helpers.js';
import { type FsKind, hasCommand, loopFs, missingTools } from '../support/loopfs.js';

const OLD = 'old content\n';
const NEW = 'new content, longer than the old one\n';
const NOBODY = 65534;

function tool(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The ACL as getfacl prints it (without the file name line). */
function acl(path: string): string {
  return tool('getfacl', ['-cp', path]);
}

/** Every extended attribute getfattr shows (all namespaces root may read), by name. */
function xattrs(path: string): Record<string, string> {
  const out = tool('getfattr', ['-d', '-m', '-', '-e', 'hex', '--absolute-names', path]);
  const result: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const match = /^([^#=][^=]*)=(.*)$/.exec(line);
    if (match?.[1] !== undefined) result[match[1]] = match[2] ?? '';
  }
  return result;
}

/** Whether a user in the file's group (root's group 0, not root) may open it for writing. */
function groupMemberMayWrite(path: string): boolean {
  const child = spawnSync(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      '--regid=0',
      '--clear-groups',
      process.execPath,
      '-e',
      `require('fs').openSync(${JSON.stringify(path)}, 'r+')`,
    ],
    { encoding: 'utf8' },
  );
  return child.status === 0;
}

/**
 * A file with everything: an ACL whose mask (rw) is wider than its owning group's entry (r), so
 * that a mode-only copy would let the group write; a user attribute; an SELinux label (set as
 * a plain attribute where no SELinux runs); file capabilities; a trusted attribute.
 */
function richFile(dir: string): string {
  const path = join(dir, 'config');
  fs.writeFileSync(path, OLD);
  fs.chmodSync(path, 0o640);
  tool('setfacl', ['-m', 'u:nobody:rw,g::r', path]);
  tool('setfattr', ['-n', 'user.origin', '-v', 'kept', path]);
  tool('setfattr', ['-n', 'security.selinux', '-v', 'system_u:object_r:etc_t:s0', path]);
  if (hasCommand('setcap')) tool('setcap', ['cap_net_raw+ep', path]);
  tool('setfattr', ['-n', 'trusted.origin', '-v', 'dropped', path]);
  return path;
}

const writers: Record<string, (path: string) => Promise<unknown>> = {
  writeFile: (path) => writeFile(path, NEW),
  writeFileSync: (path) => {
    writeFileSync(path, NEW);
    return Promise.resolve();
  },
  openAtomic: async (path) => {
    const file = await openAtomic(path);
    await file.write(NEW);
    await file.commit();
  },
  openAtomicSync: (path) => {
    const file = openAtomicSync(path);
    file.write(NEW);
    file.commit();
    return Promise.resolve();
  },
  update: (path) => update(path, () => NEW),
  updateSync: (path) => {
    updateSync(path, () => NEW);
    return Promise.resolve();
  },
  writeFiles: async (path) => {
    const [outcome] = await writeFiles([[path, NEW]]);
    assert.equal(outcome?.status, 'written');
  },
  'copyFile (from a source with the same ACL)': async (path) => {
    // copyFile gives the copy the source's permissions (see the copyFile tests below).
    const src = `${path}.src`;
    fs.writeFileSync(src, NEW);
    tool('sh', ['-c', `getfacl -p '${path}' | setfacl --set-file=- '${src}'`]);
    await copyFile(src, path);
    fs.unlinkSync(src);
  },
};

function ready(t: TestContext): boolean {
  return (
    needs(t, isLinux && isRoot, 'needs root on Linux (labels, capabilities, loop devices)') &&
    needs(t, hasCommand('setfacl') && hasCommand('getfattr'), 'needs acl and attr')
  );
}

const KINDS: readonly FsKind[] = ['ext4', 'xfs', 'btrfs', 'tmpfs'];

describe('a replace keeps the ACL, the label and user attributes; drops capabilities', () => {
  for (const kind of KINDS) {
    test(`on ${kind}`, async (t) => {
      if (!ready(t)) return;
      if (!needs(t, missingTools(kind).length === 0, `needs ${missingTools(kind).join(', ')}`)) {
        return;
      }
      const mounted = loopFs(t, kind, { sizeMiB: kind === 'xfs' ? 300 : 128 });
      const report: string[] = [];
      for (const [name, write] of Object.entries(writers)) {
        const dir = join(mounted.mnt, name.replace(/\W+/g, '-'));
        fs.mkdirSync(dir);
        const path = richFile(dir);
        const aclBefore = acl(path);
        const before = xattrs(path);
        const modeBefore = fs.statSync(path).mode & 0o7777;
        assert.equal(groupMemberMayWrite(path), false, 'the group may not write (setup)');
        await write(path);
        const where = `${kind}, ${name}`;
        assert.equal(fs.readFileSync(path, 'utf8'), NEW, `${where}: content`);
        assert.equal(acl(path), aclBefore, `${where}: getfacl, before and after`);
        assert.equal(fs.statSync(path).mode & 0o7777, modeBefore, `${where}: mode`);
        const after = xattrs(path);
        assert.equal(after['user.origin'], before['user.origin'], `${where}: user.origin`);
        assert.equal(after['security.selinux'], before['security.selinux'], `${where}: label`);
        assert.equal(after['security.capability'], undefined, `${where}: capabilities dropped`);
        assert.equal(after['trusted.origin'], undefined, `${where}: trusted.* dropped`);
        assert.equal(groupMemberMayWrite(path), false, `${where}: the group may not write`);
        assert.deepEqual(temps(dir), [], `${where}: temp left`);
        report.push(name);
      }
      process.stdout.write(`# ${kind}: ACL, label, user.* kept by ${report.length} writers\n`);
    });
  }

  test('xattrs: false gives only the mode and owner (the mask becomes the group bits)', async (t) => {
    if (!ready(t)) return;
    const dir = tempDir(t);
    const path = richFile(dir);
    await writeFile(path, NEW, { xattrs: false });
    assert.ok(!acl(path).includes('user:nobody'), acl(path));
    assert.equal(xattrs(path)['user.origin'], undefined);
    assert.equal(fs.statSync(path).mode & 0o7777, 0o660, 'the old mask as group bits');
  });

  test('a new file gets what the directory gives new files (its default ACL)', async (t) => {
    if (!ready(t)) return;
    const dir = tempDir(t);
    tool('setfacl', ['-d', '-m', 'u:nobody:r', dir]);
    const path = join(dir, 'new');
    await writeFile(path, NEW);
    assert.match(acl(path), /user:nobody:r--/);
  });

  test('a new file from a handle or a stream: what fs.writeFile gives it there', async (t) => {
    if (!ready(t)) return;
    const dir = tempDir(t);
    tool('setfacl', ['-d', '-m', 'u:nobody:rw,g::r,o::-', dir]);
    const plain = join(dir, 'plain');
    fs.writeFileSync(plain, NEW);
    const handle = await openAtomic(join(dir, 'handle'));
    // Owner-only until the commit: the inherited entries are masked out (mask::---).
    assert.match(acl(handle.tempPath), /mask::---/);
    await handle.write(NEW);
    await handle.commit();
    await writeFile(join(dir, 'stream'), Readable.from([NEW]));
    for (const name of ['handle', 'stream']) {
      const path = join(dir, name);
      assert.equal(acl(path), acl(plain), name);
      assert.equal(fs.statSync(path).mode & 0o7777, fs.statSync(plain).mode & 0o7777, name);
    }
  });
});

describe('copyFile: the copy gets the source permissions (mode and ACL)', () => {
  test('the source ACL, through the kernel copy and the read/write loop', async (t) => {
    if (!ready(t)) return;
    const dir = tempDir(t);
    const src = richFile(dir);
    for (const [name, options] of [
      ['kernel', {}],
      ['loop', { onProgress: () => undefined }],
    ] as const) {
      const dest = join(dir, `copy-${name}`);
      fs.writeFileSync(dest, 'old');
      await copyFile(src, dest, options);
      assert.equal(acl(dest), acl(src), name);
      assert.equal(groupMemberMayWrite(dest), false, `${name}: the group may not write`);
      // The label and user attributes are the destination's, as with any replace: none here.
      assert.equal(xattrs(dest)['user.origin'], undefined, name);
    }
  });

  test('a source without an ACL removes the destination ACL; an explicit mode is exact', async (t) => {
    if (!ready(t)) return;
    const dir = tempDir(t);
    const src = join(dir, 'plain');
    fs.writeFileSync(src, NEW);
    fs.chmodSync(src, 0o640);
    const dest = richFile(dir);
    await copyFile(src, dest);
    assert.ok(!acl(dest).includes('user:nobody'), acl(dest));
    assert.equal(fs.statSync(dest).mode & 0o7777, 0o640);
    const withAcl = richFile(tempDir(t));
    const other = join(dir, 'other');
    await copyFile(withAcl, other, { mode: 0o600 });
    assert.ok(!acl(other).includes('user:nobody'), acl(other));
    assert.equal(fs.statSync(other).mode & 0o7777, 0o600);
  });
});

describe('where the attributes cannot be kept, access never silently widens', () => {
  function existing(t: TestContext): string {
    const path = join(tempDir(t), 'f');
    fs.writeFileSync(path, OLD);
    return path;
  }

  function unavailable(how: 'load' | 'runtime'): Error {
    return Object.assign(new Error('ERR_ATOMIC_NO_XATTRS: simulated'), {
      code: 'ERR_ATOMIC_NO_XATTRS',
      unavailable: how,
    });
  }

  function failXattrs(t: TestContext, error: () => Error, names = ['listXattrs']): void {
    for (const name of names) {
      const op = name as 'listXattrs';
      seam.sync[op] = () => {
        throw error();
      };
      seam.async[op] = () => Promise.reject(error());
    }
    t.after(restoreSeam);
  }

  test('the addon did not load (Linux): refused, nothing changed; xattrs: false writes', async (t) => {
    if (!needs(t, isLinux, 'the Linux rule')) return;
    const path = existing(t);
    failXattrs(t, () => unavailable('load'));
    for (const write of [
      () => writeFile(path, NEW),
      async () => {
        writeFileSync(path, NEW);
      },
    ]) {
      await assert.rejects(write(), (error: unknown) => {
        assert.ok(error instanceof AtomicFsError);
        assert.equal(error.code, 'ERR_ATOMIC_NO_XATTRS');
        assert.equal(error.phase, 'xattrs');
        assert.match(error.message, /xattrs: false/);
        return true;
      });
      assert.equal(fs.readFileSync(path, 'utf8'), OLD);
      assert.deepEqual(temps(join(path, '..')), []);
    }
    await writeFile(path, NEW, { xattrs: false });
    assert.equal(fs.readFileSync(path, 'utf8'), NEW);
  });

  test('a runtime that never loads the addon (Bun, Deno): one warning, then mode only', async (t) => {
    const path = existing(t);
    failXattrs(t, () => unavailable('runtime'));
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }): void => {
      if (warning.code === 'ATOMIC_FS_NO_XATTRS') warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    await writeFile(path, NEW);
    await writeFile(path, NEW);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(fs.readFileSync(path, 'utf8'), NEW);
    assert.equal(warnings.length, 1, 'warned once');
  });

  test('a file system without extended attributes (ENOTSUP): nothing to keep', async (t) => {
    const path = existing(t);
    failXattrs(t, () => errnoError('ENOTSUP', 'flistxattr'), ['listXattrs', 'getXattr']);
    await writeFile(path, NEW);
    assert.equal(fs.readFileSync(path, 'utf8'), NEW);
  });

  test('an ACL that cannot be set fails the replace; a user attribute is dropped', async (t) => {
    if (!ready(t)) return;
    const dir = tempDir(t);
    const path = richFile(dir);
    const realSet = seam.async.setXattr;
    t.after(restoreSeam);
    seam.async.setXattr = (fd, name, value) =>
      name === 'system.posix_acl_access'
        ? Promise.reject(errnoError('EPERM', 'fsetxattr'))
        : realSet(fd, name, value);
    const aclBefore = acl(path);
    await assert.rejects(writeFile(path, NEW), { code: 'EPERM', phase: 'xattrs' });
    assert.equal(fs.readFileSync(path, 'utf8'), OLD);
    assert.equal(acl(path), aclBefore);
    assert.deepEqual(temps(dir), []);
    seam.async.setXattr = (fd, name, value) =>
      name.startsWith('user.')
        ? Promise.reject(errnoError('EPERM', 'fsetxattr'))
        : realSet(fd, name, value);
    await writeFile(path, NEW);
    assert.equal(acl(path), aclBefore);
    assert.equal(xattrs(path)['user.origin'], undefined, 'dropped, as it could not be set');
  });

  test('a destination this process cannot read: EACCES, nothing changed', async (t) => {
    if (!ready(t) || !needs(t, hasCommand('setpriv'), 'needs setpriv')) return;
    const dir = tempDir(t);
    fs.chmodSync(dir, 0o777);
    const path = join(dir, 'unreadable');
    fs.writeFileSync(path, OLD);
    fs.chmodSync(path, 0o200);
    fs.chownSync(path, NOBODY, NOBODY);
    const library = new URL('../../src/index.js', import.meta.url).pathname;
    const script = `const { writeFile } = await import(${JSON.stringify(library)});
      const out = [];
      try { await writeFile(process.argv[1], 'x'); out.push('written'); } catch (e) { out.push(e.code, e.phase); }
      await writeFile(process.argv[1], 'y', { xattrs: false }); out.push('written');
      process.stdout.write(JSON.stringify(out));`;
    const child = spawnSync(
      'setpriv',
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        process.execPath,
        '--input-type=module',
        '-e',
        script,
        path,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), ['EACCES', 'xattrs', 'written']);
  });
});

test('which attributes are kept, per platform', () => {
  assert.equal(xattrRole('linux', 'system.posix_acl_access'), 'access');
  assert.equal(xattrRole('linux', 'security.selinux'), 'access');
  assert.equal(xattrRole('linux', 'user.mime_type'), 'plain');
  assert.equal(xattrRole('linux', 'security.capability'), undefined);
  assert.equal(xattrRole('linux', 'security.ima'), undefined);
  assert.equal(xattrRole('linux', 'trusted.overlay.origin'), undefined);
  assert.equal(xattrRole('linux', 'system.posix_acl_default'), undefined);
  assert.equal(xattrRole('darwin', 'com.apple.quarantine'), 'plain');
  assert.equal(xattrRole('darwin', 'com.apple.ResourceFork'), undefined);
  assert.equal(xattrRole('freebsd', 'user.note'), 'plain');
});

describe('hard links are split by every replace', () => {
  test('writeFile to one name of a two-link file: the other name keeps the old content', async (t) => {
    const dir = tempDir(t);
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    fs.writeFileSync(a, OLD);
    fs.linkSync(a, b);
    assert.equal(fs.statSync(a).nlink, 2);
    await writeFile(a, NEW);
    assert.equal(fs.readFileSync(a, 'utf8'), NEW);
    assert.equal(fs.readFileSync(b, 'utf8'), OLD, 'the other name is the old file');
    assert.equal(fs.statSync(a).nlink, 1);
    assert.equal(fs.statSync(b).nlink, 1);
    assert.notEqual(fs.statSync(a).ino, fs.statSync(b).ino);
  });
});
