/**
 * From trace to logical operations, on traces written by hand in strace's -f -xx -y format:
 * descriptors across fork and threads, dup/dup2/dup3/fcntl, close-on-exec, offsets, relative
 * paths, names with spaces, newlines and bytes that are not UTF-8, refusals, and traces cut
 * at every point.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { AuditSetupError } from '../../src/audit/errors.js';
import { type Op, type Recording, display } from '../../src/audit/model.js';
import { realDirectory, snapshot } from '../../src/audit/snapshot.js';
import { parseTrace } from '../../src/audit/trace.js';
import { tempDir } from '../support/helpers.js';
import { hex } from '../support/audit.js';

interface Setup {
  readonly root: string;
  readonly parse: (lines: readonly string[]) => Recording;
}

/** A real directory (old.txt = "old") and a parser of traces of a run inside it. */
function setup(t: TestContext): Setup {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'old.txt'), 'old');
  fs.mkdirSync(join(dir, 'sub'));
  const root = realDirectory(dir);
  const snap = snapshot(root);
  return {
    root,
    parse: (lines) =>
      parseTrace(lines.join('\n'), { root, cwd: root, snapshot: snap, exitCode: 0 }).recording,
  };
}

/** Ops as short strings: "write a.txt@0=hello". */
function brief(rec: Recording): string[] {
  return rec.ops.map((op: Op) => {
    switch (op.kind) {
      case 'write':
        return op.unknown === true
          ? `write ${display(op.path)}@${op.offset}=?${op.data.length}`
          : `write ${display(op.path)}@${op.offset}=${Buffer.from(op.data).toString('latin1')}`;
      case 'rename':
        return `${op.swapped ? 'exchange' : 'rename'} ${display(op.from)} ${display(op.path)}`;
      case 'create':
        return `create ${display(op.path)}`;
      case 'truncate':
        return `truncate ${display(op.path)} ${op.size}`;
      case 'fsync':
      case 'close':
      case 'unlink':
      case 'link':
      case 'chmod':
        return `${op.kind} ${display(op.path)}`;
      default:
        return op.kind;
    }
  });
}

const CREATE = 'O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644';

test('names with spaces, newlines, quotes, > and bytes that are not UTF-8', (t) => {
  const { root, parse } = setup(t);
  const name = 'a "b" >c\nd\xff.txt';
  const rec = parse([
    `10 openat(AT_FDCWD<${hex(root)}>, "${hex(name)}", ${CREATE}) = 3<${hex(`${root}/${name}`)}>`,
    `10 write(3<${hex(`${root}/${name}`)}>, "${hex('x, y)')}", 5) = 5`,
    `10 close(3<${hex(`${root}/${name}`)}>) = 0`,
    `10 rename("${hex(name)}", "${hex('final name.txt')}") = 0`,
  ]);
  assert.deepEqual(brief(rec), [
    'create a "b" >c\\nd\\xff.txt',
    'write a "b" >c\\nd\\xff.txt@0=x, y)',
    'close a "b" >c\\nd\\xff.txt',
    'rename a "b" >c\\nd\\xff.txt final name.txt',
  ]);
  const created = rec.ops[0];
  assert.equal(created?.kind === 'create' ? created.name : '', name);
  assert.deepEqual(rec.notes, []);
});

test('descriptors inherited across fork share the file offset; the last close publishes', (t) => {
  const { root, parse } = setup(t);
  const file = `3<${hex(`${root}/log`)}>`;
  const rec = parse([
    `20 openat(AT_FDCWD<${hex(root)}>, "${hex('log')}", ${CREATE}) = ${file}`,
    `20 write(${file}, "${hex('hello')}", 5) = 5`,
    '20 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 21',
    `21 write(${file}, "${hex('child')}", 5) = 5`,
    `20 close(${file}) = 0`,
    `21 write(${file}, "${hex('!')}", 1) = 1`,
    '21 exit_group(0)                    = ?',
  ]);
  assert.deepEqual(brief(rec), [
    'create log',
    'write log@0=hello',
    'write log@5=child',
    'write log@10=!',
    'close log',
  ]);
});

test('threads share one descriptor table (clone3 with CLONE_FILES, printed with =>)', (t) => {
  const { root, parse } = setup(t);
  const file = `4<${hex(`${root}/shared`)}>`;
  const rec = parse([
    '30 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, child_tid=0x1, exit_signal=0} => {parent_tid=[31]}, 88) = 31',
    '30 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD, exit_signal=0} <unfinished ...>',
    `31 openat(AT_FDCWD<${hex(root)}>, "${hex('shared')}", ${CREATE}) = ${file}`,
    '30 <... clone3 resumed> => {parent_tid=[32]}, 88) = 32',
    `32 write(${file}, "${hex('from 32')}", 7 <unfinished ...>`,
    `30 fsync(${file}) = 0`,
    '32 <... write resumed>) = 7',
    `31 close(${file}) = 0`,
  ]);
  // The fsync started before the write finished: it is placed before it and covers nothing.
  assert.deepEqual(brief(rec), [
    'create shared',
    'fsync shared',
    'write shared@0=from 32',
    'close shared',
  ]);
});

test('dup, dup2, dup3, fcntl F_DUPFD and close-on-exec', (t) => {
  const { root, parse } = setup(t);
  const a = hex(`${root}/a`);
  const b = hex(`${root}/b`);
  const rec = parse([
    `40 openat(AT_FDCWD<${hex(root)}>, "${hex('a')}", ${CREATE}) = 3<${a}>`,
    `40 openat(AT_FDCWD<${hex(root)}>, "${hex('b')}", ${CREATE}) = 4<${b}>`,
    `40 dup(3<${a}>) = 5<${a}>`,
    `40 write(5<${a}>, "${hex('12')}", 2) = 2`,
    `40 fcntl(3<${a}>, F_DUPFD, 10) = 10<${a}>`,
    `40 write(10<${a}>, "${hex('34')}", 2) = 2`,
    // dup2 over fd 4 closes b (its only descriptor): b is complete.
    `40 dup2(3<${a}>, 4<${b}>) = 4<${a}>`,
    `40 write(4<${a}>, "${hex('56')}", 2) = 2`,
    `40 dup3(3<${a}>, 7, O_CLOEXEC) = 7<${a}>`,
    `40 fcntl(3<${a}>, F_DUPFD_CLOEXEC, 20) = 20<${a}>`,
    `40 fcntl(10<${a}>, F_SETFD, FD_CLOEXEC) = 0`,
    `40 execve("${hex('/bin/true')}", ["${hex('true')}"], 0x7ff /* 3 vars */) = 0`,
    // After exec only 3, 4 and 5 still refer to a.
    `40 openat(AT_FDCWD<${hex(root)}>, "${hex('b')}", O_WRONLY|O_APPEND) = 7<${b}>`,
    `40 write(7<${b}>, "${hex('+')}", 1) = 1`,
    `40 close(3<${a}>) = 0`,
    `40 close(4<${a}>) = 0`,
    `40 close(5<${a}>) = 0`,
  ]);
  assert.deepEqual(brief(rec), [
    'create a',
    'create b',
    'write a@0=12',
    'write a@2=34',
    'close b',
    'write a@4=56',
    'write b@0=+',
    'close a',
  ]);
});

test('offsets follow lseek, read (raw) and O_APPEND; pwrite and pwritev do not move them', (t) => {
  const { root, parse } = setup(t);
  const old = `3<${hex(`${root}/old.txt`)}>`;
  const rec = parse([
    `50 openat(AT_FDCWD<${hex(root)}>, "${hex('old.txt')}", O_RDWR) = ${old}`,
    `50 read(0x3, 0x7ff, 0x1000) = 0x3`,
    `50 write(${old}, "${hex('+a')}", 2) = 2`,
    `50 lseek(${old}, 0, SEEK_SET) = 0`,
    `50 pwrite64(${old}, "${hex('P')}", 1, 9) = 1`,
    `50 writev(${old}, [{iov_base="${hex('O')}", iov_len=1}, {iov_base="${hex('K')}", iov_len=1}], 2) = 2`,
    `50 pwritev(${old}, [{iov_base="${hex('Q')}", iov_len=1}], 1, 20) = 1`,
    `50 openat(AT_FDCWD<${hex(root)}>, "${hex('old.txt')}", O_WRONLY|O_APPEND) = 4<${hex(`${root}/old.txt`)}>`,
    `50 write(4<${hex(`${root}/old.txt`)}>, "${hex('end')}", 3) = 3`,
  ]);
  assert.deepEqual(brief(rec), [
    'write old.txt@3=+a',
    'write old.txt@9=P',
    'write old.txt@0=OK',
    'write old.txt@20=Q',
    'write old.txt@21=end',
  ]);
});

test('relative paths follow chdir; renameat2 exchange; O_TMPFILE linked in; mkdir, unlink', (t) => {
  const { root, parse } = setup(t);
  const rec = parse([
    `60 chdir("${hex('sub')}") = 0`,
    `60 openat(AT_FDCWD<${hex(`${root}/sub`)}>, "${hex('.')}", O_WRONLY|O_TMPFILE, 0600) = 3<${hex(`${root}/sub/#123`)}>(deleted)`,
    `60 write(3<${hex(`${root}/sub/#123`)}>(deleted), "${hex('anon')}", 4) = 4`,
    `60 linkat(3<${hex(`${root}/sub/#123`)}>(deleted), "", AT_FDCWD<${hex(`${root}/sub`)}>, "${hex('named')}", AT_EMPTY_PATH) = 0`,
    `60 mkdir("${hex('deeper')}", 0755) = 0`,
    `60 renameat2(AT_FDCWD<${hex(`${root}/sub`)}>, "${hex('named')}", AT_FDCWD<${hex(root)}>, "${hex('old.txt')}", RENAME_EXCHANGE) = 0`,
    `60 unlink("${hex('named')}") = 0`,
    `60 rename("${hex('../old.txt')}", "${hex('/elsewhere/outside')}") = 0`,
  ]);
  assert.deepEqual(brief(rec), [
    'create #3',
    'write #3@0=anon',
    'link sub/named',
    'create sub/deeper',
    'exchange sub/named old.txt',
    'unlink sub/named',
    'unlink old.txt',
  ]);
});

test('sendfile copies data the model knows; a writable shared mapping is reported', (t) => {
  const { root, parse } = setup(t);
  const rec = parse([
    `70 openat(AT_FDCWD<${hex(root)}>, "${hex('old.txt')}", O_RDONLY) = 3<${hex(`${root}/old.txt`)}>`,
    `70 openat(AT_FDCWD<${hex(root)}>, "${hex('copy')}", ${CREATE}) = 4<${hex(`${root}/copy`)}>`,
    `70 sendfile(4<${hex(`${root}/copy`)}>, 3<${hex(`${root}/old.txt`)}>, NULL, 8388608) = 3`,
    `70 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, 4<${hex(`${root}/copy`)}>, 0) = 0x7f00`,
    `70 sync_file_range(4<${hex(`${root}/copy`)}>, 0, 0, SYNC_FILE_RANGE_WRITE) = 0`,
    `70 fallocate(4<${hex(`${root}/copy`)}>, 0, 0, 100) = 0`,
    `70 fallocate(4<${hex(`${root}/copy`)}>, FALLOC_FL_KEEP_SIZE|FALLOC_FL_PUNCH_HOLE, 0, 10) = 0`,
  ]);
  assert.deepEqual(brief(rec), ['create copy', 'write copy@0=old', 'truncate copy 100']);
  assert.equal(rec.notes.length, 3);
  assert.match(rec.notes[0] ?? '', /mapped shared and writable/);
  assert.match(rec.notes[1] ?? '', /sync_file_range on copy is not a durability barrier/);
  assert.match(rec.notes[2] ?? '', /fallocate with mode FALLOC_FL_KEEP_SIZE\|FALLOC_FL_PUNCH_HOLE/);
});

test('lines written to standard output are kept as marks (for --done-marker)', (t) => {
  const { root, parse } = setup(t);
  const rec = parse([
    `80 openat(AT_FDCWD<${hex(root)}>, "${hex('x')}", ${CREATE}) = 3<${hex(`${root}/x`)}>`,
    `80 write(1<pipe:[99]>, "${hex('saved\n')}", 6) = 6`,
  ]);
  assert.deepEqual(rec.marks, [{ at: 1, text: 'saved\n' }]);
});

test('io_uring in the trace is refused', (t) => {
  const { parse } = setup(t);
  assert.throws(
    () => parse(['90 io_uring_setup(8, 0x7ff) = 3']),
    (error: unknown) => {
      assert.ok(error instanceof AuditSetupError);
      assert.match(error.message, /uses io_uring \(io_uring_setup at strace line 1\)/);
      return true;
    },
  );
  assert.throws(() => parse(['90 io_uring_enter(12, 2, 2, IORING_ENTER_GETEVENTS, NULL, 0) = 2']), {
    name: 'AuditSetupError',
  });
  // The ENOSYS strace injects (Node 22+ tries to set up a ring whatever UV_USE_IO_URING says).
  parse([
    '90 io_uring_setup(256, {flags=0x10000 /* IORING_SETUP_??? */, sq_thread_cpu=0, sq_thread_idle=0}) = -1 ENOSYS (Function not implemented) (INJECTED)',
  ]);
});

test('a trace cut at any point still parses, and says that it was cut', (t) => {
  const { root, parse } = setup(t);
  const tmp = hex(`${root}/.old.txt.tmp`);
  const lines = [
    `100 openat(AT_FDCWD<${hex(root)}>, "${hex('.old.txt.tmp')}", O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 3<${tmp}>`,
    `100 write(3<${tmp}>, "${hex('new content')}", 11 <unfinished ...>`,
    '101 clone(child_stack=NULL, flags=SIGCHLD) = 102',
    `100 <... write resumed>) = 11`,
    `100 fsync(3<${tmp}>) = 0`,
    `100 close(3<${tmp}>) = 0`,
    `100 rename("${hex(`${root}/.old.txt.tmp`)}", "${hex(`${root}/old.txt`)}") = 0`,
    `100 openat(AT_FDCWD<${hex(root)}>, "${hex(root)}", O_RDONLY|O_DIRECTORY) = 4<${hex(root)}>`,
    `100 fsync(4<${hex(root)}>) = 0`,
    `100 close(4<${hex(root)}>) = 0`,
  ];
  const text = lines.join('\n');
  const full = brief(parse(lines));
  assert.equal(full.length, 6);
  let cuts = 0;
  for (let end = 0; end <= text.length; end += 7) {
    const rec = parse(text.slice(0, end).split('\n'));
    const ops = brief(rec);
    // Whatever is read is the start of the full run; nothing is invented.
    assert.deepEqual(ops, full.slice(0, ops.length), `cut at ${end}`);
    // A last line cut before its result cannot be read: the report says so.
    const last = text.slice(0, end).split('\n').at(-1) ?? '';
    if (last !== '' && !/\) += /.test(last)) {
      assert.ok(rec.notes.length > 0, `cut at ${end}: a note`);
    }
    cuts += 1;
  }
  assert.ok(cuts > 100);
});

test('every other modelled call: creat, open, openat2, truncate, links, modes, syncs, copies', (t) => {
  const { root, parse } = setup(t);
  const r = hex(root);
  const f = (name: string): string => hex(`${root}/${name}`);
  const rec = parse([
    `110 creat("${f('c')}", 0600) = 3<${f('c')}>`,
    `110 open("${f('o')}", O_WRONLY|O_CREAT|O_SYNC, 0644) = 4<${f('o')}>`,
    `110 write(4<${f('o')}>, "${hex('sync')}", 4) = 4`,
    `110 openat2(AT_FDCWD<${r}>, "${hex('o2')}", {flags=O_WRONLY|O_CREAT, mode=0600, resolve=0}, 24) = 5<${f('o2')}>`,
    `110 ftruncate(5<${f('o2')}>, 10) = 0`,
    `110 truncate("${f('o2')}", 2) = 0`,
    `110 pwritev2(5<${f('o2')}>, [{iov_base="${hex('v')}", iov_len=1}], 1, -1, RWF_DSYNC) = 1`,
    `110 fdatasync(5<${f('o2')}>) = 0`,
    `110 write(5<${f('o2')}>, "${hex('abc')}"..., 100) = 100`,
    `110 symlink("${hex('c')}", "${f('sl')}") = 0`,
    `110 symlinkat("${hex('o')}", AT_FDCWD<${r}>, "${hex('sl2')}") = 0`,
    `110 link("${f('c')}", "${f('hard')}") = 0`,
    `110 linkat(AT_FDCWD<${r}>, "/proc/self/fd/3", AT_FDCWD<${r}>, "${hex('viaproc')}", AT_SYMLINK_FOLLOW) = 0`,
    `110 mkdirat(AT_FDCWD<${r}>, "${hex('dd')}", 0700) = 0`,
    `110 unlinkat(AT_FDCWD<${r}>, "${hex('dd')}", AT_REMOVEDIR) = 0`,
    `110 rmdir("${f('sub')}") = 0`,
    `110 chmod("${f('c')}", 0640) = 0`,
    `110 fchmodat(AT_FDCWD<${r}>, "${hex('o')}", 0600) = 0`,
    `110 fchmod(3<${f('c')}>, 0644) = 0`,
    `110 chown("${f('c')}", 1, 2) = 0`,
    `110 lchown("${f('sl')}", 1, 2) = 0`,
    `110 fchown(3<${f('c')}>, 3, 4) = 0`,
    `110 fchownat(AT_FDCWD<${r}>, "${hex('o')}", 5, 6, 0) = 0`,
    `110 openat(AT_FDCWD<${r}>, "${hex('old.txt')}", O_RDONLY) = 6<${f('old.txt')}>`,
    `110 copy_file_range(6<${f('old.txt')}>, NULL, 3<${f('c')}>, [1] => [4], 3, 0) = 3`,
    `110 splice(7<pipe:[5]>, NULL, 3<${f('c')}>, NULL, 2, 0) = 2`,
    `110 renameat(AT_FDCWD<${r}>, "${hex('hard')}", AT_FDCWD<${r}>, "${hex('hard2')}") = 0`,
    `110 renameat2(AT_FDCWD<${r}>, "${hex('hard2')}", AT_FDCWD<${r}>, "${hex('hard3')}", RENAME_WHITEOUT) = 0`,
    `110 rename("/elsewhere/file", "${f('moved-in')}") = 0`,
    `110 unlink("${f('nothing-there')}") = -1 ENOENT (No such file or directory)`,
    `110 write(9<${f('old.txt')}>, "${hex('inherited')}", 9) = 9`,
    `110 syncfs(6<${f('old.txt')}>) = 0`,
    `110 sync() = 0`,
    `110 close_range(3, 4, CLOSE_RANGE_CLOEXEC) = 0`,
    `110 close_range(5, 5, 0) = 0`,
    '110 vfork() = 111',
    `111 fchdir(6<${f('old.txt')}>) = 0`,
    '111 exit_group(0) = ?',
  ]);
  assert.deepEqual(brief(rec), [
    'create c',
    'create o',
    'write o@0=sync',
    'fsync o',
    'create o2',
    'truncate o2 10',
    'truncate o2 2',
    'write o2@0=v',
    'fsync o2',
    'write o2@1=?100',
    'create sl',
    'create sl2',
    'link hard',
    'link viaproc',
    'create dd',
    'unlink dd',
    'unlink sub',
    'chmod c',
    'chmod o',
    'chmod c',
    'chown',
    'chown',
    'chown',
    'chown',
    'write c@1=old',
    'write c@0=?2',
    'rename hard hard2',
    'rename hard2 hard3',
    'create moved-in',
    'write moved-in@0=?0',
    'write old.txt@0=inherited',
    'sync',
    'sync',
    'close o2',
  ]);
  assert.deepEqual(
    rec.notes.map((note) => note.slice(0, 60)),
    [
      'splice wrote data the trace does not show into c: it is read',
      'renameat2 with RENAME_WHITEOUT is modelled as a plain rename',
      'moved-in was moved in from outside the audited directory; it',
      'the data written at #10 to o2 was not in the trace and could',
      'the data written at #26 to c was not in the trace and could ',
      'the data written at #30 to moved-in was not in the trace and',
    ],
  );
});

test('a reflink (ioctl FICLONE) copies the whole source; other ioctls change nothing', (t) => {
  const { root, parse } = setup(t);
  const f = (name: string): string => hex(`${root}/${name}`);
  const r = hex(root);
  const rec = parse([
    `120 openat(AT_FDCWD<${r}>, "${hex('src')}", O_WRONLY|O_CREAT|O_EXCL, 0644) = 3<${f('src')}>`,
    `120 write(3<${f('src')}>, "${hex('source data')}", 11) = 11`,
    `120 close(3<${f('src')}>) = 0`,
    `120 openat(AT_FDCWD<${r}>, "${hex('src')}", O_RDONLY) = 3<${f('src')}>`,
    `120 openat(AT_FDCWD<${r}>, "${hex('copy')}", O_WRONLY|O_CREAT|O_EXCL, 0644) = 4<${f('copy')}>`,
    `120 ioctl(4<${f('copy')}>, BTRFS_IOC_CLONE or FICLONE, 3<${f('src')}>) = 0`,
    `120 ioctl(4<${f('copy')}>, FIONREAD, [0]) = 0`,
    `120 close(4<${f('copy')}>) = 0`,
  ]);
  assert.deepEqual(brief(rec), [
    'create src',
    'write src@0=source data',
    'close src',
    'create copy',
    'write copy@0=source data',
    'close copy',
  ]);
});
