/**
 * Bad input and hostile conditions: each gets a clear error with a code, and the destination
 * is untouched, with no temp file left.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AtomicFsError, openAtomic, writeFile, writeFileSync } from '../src/index.js';
import { ioThreadReady } from '../src/core/io-thread.js';
import { isLinux, isRoot, list, needs, openFdCount, tempDir } from './support/helpers.js';

await ioThreadReady();

function withFile(t: TestContext): { dir: string; dest: string } {
  const dir = tempDir(t);
  const dest = join(dir, 'file.txt');
  fs.writeFileSync(dest, 'precious', { mode: 0o640 });
  return { dir, dest };
}

function assertUntouched(dir: string, dest: string, others: string[] = []): void {
  assert.equal(fs.readFileSync(dest, 'utf8'), 'precious');
  assert.equal(fs.statSync(dest).mode & 0o777, 0o640);
  assert.deepEqual(list(dir), ['file.txt', ...others]);
}

test('arguments are validated before anything is touched', async (t) => {
  const { dir, dest } = withFile(t);
  const fds = openFdCount();
  const cases: [string, () => unknown, string, string][] = [
    ['empty path', () => writeFile('', 'x'), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    ['NUL byte', () => writeFile(`${dest}\0x`, 'x'), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    ['number path', () => writeFile(42 as never, 'x'), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    ['http URL', () => writeFile(new URL('http://x/y'), 'x'), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
    ['number data', () => writeFile(dest, 42 as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    ['null data', () => writeFile(dest, null as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    ['object data', () => writeFile(dest, { a: 1 } as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [
      'mode 0o10000',
      () => writeFile(dest, 'x', { mode: 0o10000 }),
      'RangeError',
      'ERR_OUT_OF_RANGE',
    ],
    ['mode -1', () => writeFile(dest, 'x', { mode: -1 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
    ['mode 1.5', () => writeFile(dest, 'x', { mode: 1.5 }), 'RangeError', 'ERR_OUT_OF_RANGE'],
    [
      'mode "644"',
      () => writeFile(dest, 'x', { mode: '644' as never }),
      'TypeError',
      'ERR_INVALID_ARG_TYPE',
    ],
    [
      'encoding',
      () => writeFile(dest, 'x', 'klingon' as never),
      'TypeError',
      'ERR_INVALID_ARG_VALUE',
    ],
    [
      'durability',
      () => writeFile(dest, 'x', { durability: 'max' as never }),
      'TypeError',
      'ERR_INVALID_ARG_VALUE',
    ],
    [
      'symlinks',
      () => writeFile(dest, 'x', { symlinks: 'skip' as never }),
      'TypeError',
      'ERR_INVALID_ARG_VALUE',
    ],
    [
      'overwrite',
      () => writeFile(dest, 'x', { overwrite: 'no' as never }),
      'TypeError',
      'ERR_INVALID_ARG_TYPE',
    ],
    [
      'chown',
      () => writeFile(dest, 'x', { chown: { uid: 'root' } as never }),
      'TypeError',
      'ERR_INVALID_ARG_VALUE',
    ],
    [
      'signal',
      () => writeFile(dest, 'x', { signal: {} as never }),
      'TypeError',
      'ERR_INVALID_ARG_TYPE',
    ],
    ['options', () => writeFile(dest, 'x', 42 as never), 'TypeError', 'ERR_INVALID_ARG_TYPE'],
    [
      'sync stream',
      () => {
        writeFileSync(dest, ['x'] as never);
      },
      'TypeError',
      'ERR_INVALID_ARG_TYPE',
    ],
    [
      'sync empty',
      () => {
        writeFileSync('', 'x');
      },
      'TypeError',
      'ERR_INVALID_ARG_VALUE',
    ],
    ['handle path', () => openAtomic('', 'utf8'), 'TypeError', 'ERR_INVALID_ARG_VALUE'],
  ];
  for (const [what, call, name, code] of cases) {
    await assert.rejects(
      async () => {
        await call();
      },
      (error: unknown) => {
        assert.equal((error as Error).name, name, what);
        assert.equal((error as NodeJS.ErrnoException).code, code, what);
        return true;
      },
      what,
    );
  }
  // A valid options object is not mutated (it is frozen: mutation would throw).
  await writeFile(dest, 'precious', Object.freeze({ mode: 0o640, encoding: 'utf8' as const }));
  assertUntouched(dir, dest);
  assert.equal(openFdCount(), fds);
});

test('destination is a directory: EISDIR', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(join(dir, 'sub'));
  for (const path of [join(dir, 'sub'), `${join(dir, 'sub')}/`, `${dir}/new/`]) {
    await assert.rejects(writeFile(path, 'x'), { code: 'EISDIR' }, path);
    assert.throws(
      () => {
        writeFileSync(path, 'x');
      },
      { code: 'EISDIR' },
    );
  }
  assert.deepEqual(list(dir), ['sub']);
  assert.deepEqual(list(join(dir, 'sub')), []);
});

test('parent directory missing: ENOENT in phase resolve, nothing created', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'no', 'such', 'file');
  await assert.rejects(writeFile(dest, 'x'), (error: unknown) => {
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.code, 'ENOENT');
    assert.equal(error.phase, 'resolve');
    assert.equal(error.path, dest);
    assert.match(error.message, /mkdirs/);
    return true;
  });
  assert.deepEqual(list(dir), []);
});

test('a name too long: ENAMETOOLONG, never a shortened name', async (t) => {
  const { dir, dest } = withFile(t);
  const long = join(dir, 'x'.repeat(300));
  await assert.rejects(writeFile(long, 'x'), { code: 'ENAMETOOLONG' });
  assert.throws(
    () => {
      writeFileSync(long, 'x');
    },
    { code: 'ENAMETOOLONG' },
  );
  // 255 bytes is the limit: a name of exactly 255 works (its temp name is shortened, not it).
  const longest = join(dir, 'y'.repeat(255));
  await writeFile(longest, 'fits');
  assert.equal(fs.readFileSync(longest, 'utf8'), 'fits');
  fs.unlinkSync(longest);
  assertUntouched(dir, dest);
});

function mount(t: TestContext, options: string): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'afs-mnt-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  t.after(() => {
    spawnSync('umount', [dir]);
    fs.rmdirSync(dir);
  });
  return dir;
}

test('read-only file system: EROFS, nothing changed', async (t) => {
  if (!needs(t, isLinux && isRoot, 'mounting a tmpfs needs Linux and root')) return;
  const dir = mount(t, 'size=1m');
  const dest = join(dir, 'file.txt');
  fs.writeFileSync(dest, 'precious', { mode: 0o640 });
  execFileSync('mount', ['-o', 'remount,ro', dir]);
  const fds = openFdCount();
  await assert.rejects(writeFile(dest, 'new'), { code: 'EROFS', phase: 'create-temp', path: dest });
  assert.throws(
    () => {
      writeFileSync(dest, 'new');
    },
    { code: 'EROFS' },
  );
  assertUntouched(dir, dest);
  assert.equal(openFdCount(), fds);
});

test('disk full: ENOSPC, original intact, no temp, space given back', async (t) => {
  if (!needs(t, isLinux && isRoot, 'mounting a tmpfs needs Linux and root')) return;
  const dir = mount(t, 'size=256k');
  const dest = join(dir, 'file.txt');
  fs.writeFileSync(dest, 'precious', { mode: 0o640 });
  const free = fs.statfsSync(dir).bfree;
  const fds = openFdCount();
  const big = Buffer.alloc(1 << 20, 1);
  await assert.rejects(writeFile(dest, big), { code: 'ENOSPC', phase: 'write' });
  assert.throws(
    () => {
      writeFileSync(dest, big);
    },
    { code: 'ENOSPC' },
  );
  await assert.rejects(
    writeFile(
      dest,
      (function* () {
        for (let i = 0; i < 8; i += 1) yield big.subarray(0, 128 << 10);
      })(),
    ),
    { code: 'ENOSPC' },
  );
  assertUntouched(dir, dest);
  assert.equal(fs.statfsSync(dir).bfree, free);
  assert.equal(openFdCount(), fds);
});

test('permission denied: EACCES at once, nothing changed', async (t) => {
  if (!needs(t, isLinux && isRoot, 'running as another user needs Linux and root')) return;
  const setpriv = spawnSync('setpriv', ['--version']);
  if (!needs(t, setpriv.status === 0, 'setpriv (util-linux) is not installed')) return;
  const { dir, dest } = withFile(t);
  fs.chmodSync(dir, 0o755); // nobody may enter, not write
  const sticky = join(dir, 'sticky');
  fs.mkdirSync(sticky);
  fs.chmodSync(sticky, 0o1777); // like /tmp: nobody may write, not replace root's files
  fs.writeFileSync(join(sticky, 'root.txt'), 'root file');
  const library = fileURLToPath(new URL('../src/index.js', import.meta.url));
  const script = `
    const { writeFile, writeFileSync } = await import(${JSON.stringify(library)});
    const out = [];
    for (const path of process.argv.slice(1)) {
      const started = performance.now();
      try { await writeFile(path, 'intruder'); out.push('written'); }
      catch (e) { out.push([e.code, e.phase, Math.round(performance.now() - started)]); }
      try { writeFileSync(path, 'intruder'); out.push('written'); }
      catch (e) { out.push([e.code, e.phase]); }
    }
    process.stdout.write(JSON.stringify(out));`;
  const child = spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '--input-type=module',
      '-e',
      script,
      dest,
      join(sticky, 'root.txt'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(child.status, 0, child.stderr);
  const [asyncFile, syncFile, asyncSticky, syncSticky] = JSON.parse(child.stdout) as [
    [string, string, number],
    [string, string],
    [string, string, number],
    [string, string],
  ];
  assert.deepEqual(asyncFile.slice(0, 2), ['EACCES', 'create-temp']);
  assert.deepEqual(syncFile, ['EACCES', 'create-temp']);
  assert.ok(asyncFile[2] < 1000, `a permission error took ${asyncFile[2]} ms (no retry loop)`);
  // In a sticky directory the temp file is created, but the rename over root's file is refused.
  assert.deepEqual(asyncSticky.slice(0, 2), ['EPERM', 'rename']);
  assert.deepEqual(syncSticky, ['EPERM', 'rename']);
  assertUntouched(dir, dest, ['sticky']);
  assert.equal(fs.readFileSync(join(sticky, 'root.txt'), 'utf8'), 'root file');
  assert.deepEqual(list(sticky), ['root.txt']);
});
