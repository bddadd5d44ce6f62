/**
 * The strace front end on real programs (Linux, strace; CI has both): Python writers from
 * the seeds the project grew from are told apart — the naive one and the ones without fsync
 * or moving across filesystems are flagged, `atomic_write` passes — and the parser holds up
 * on a real trace with threads, a fork, dup'ed descriptors and awkward names.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { auditCommand } from '../../src/audit/index.js';
import type { AuditReport } from '../../src/audit/report.js';
import { isLinux, isRoot, needs, tempDir } from '../support/helpers.js';
import { hasStrace, python } from '../support/audit.js';

const NEW = 'new settings line, longer than the old one\n'.repeat(240);
const OLD = 'old settings\n'.repeat(700);

/** A directory with settings.json (the old version), and the script outside it. */
function subject(t: TestContext, source: string): { dir: string; script: string } {
  const outside = tempDir(t, 'afs-script-');
  const dir = tempDir(t, 'afs-audited-');
  fs.writeFileSync(join(dir, 'settings.json'), OLD);
  const script = join(outside, 'writer.py');
  fs.writeFileSync(script, source);
  return { dir, script };
}

function runPython(dir: string, script: string, ...args: string[]): Promise<AuditReport> {
  assert.ok(python !== undefined);
  return auditCommand([python, script, 'settings.json', ...args], { cwd: dir, output: 'ignore' });
}

function available(t: TestContext): boolean {
  return (
    needs(t, hasStrace, 'strace is not available') &&
    needs(t, python !== undefined, 'python3 is not installed')
  );
}

const DATA = `DATA = ${JSON.stringify(NEW)}\n`;

test('Python: naive open(path, "w").write(data) is torn or empty after a crash', async (t) => {
  if (!available(t)) return;
  const { dir, script } = subject(t, `import sys\n${DATA}open(sys.argv[1], 'w').write(DATA)\n`);
  const report = await runPython(dir, script);
  assert.equal(report.frontEnd, 'strace');
  assert.equal(fs.readFileSync(join(dir, 'settings.json'), 'utf8'), NEW);
  assert.ok(report.violations.torn > 0, JSON.stringify(report.violations));
  assert.ok(report.violations['stale-after-done'] > 0);
  assert.match(report.examples[0]?.message ?? '', /truncation at #1 \(open with O_TRUNC\)/);
});

test("Python: seed 000's atomic_write (temp, fsync, os.replace, directory fsync) passes", async (t) => {
  if (!available(t)) return;
  const { dir, script } = subject(
    t,
    `import os, sys, tempfile
${DATA}
def atomic_write(path, data):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dirfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except BaseException:
        os.unlink(tmp)
        raise

atomic_write(sys.argv[1], DATA)
`,
  );
  const report = await runPython(dir, script);
  assert.equal(fs.readFileSync(join(dir, 'settings.json'), 'utf8'), NEW);
  assert.ok(report.ok, JSON.stringify([report.violations, report.examples]));
  assert.ok(report.states.explored > 5);
  assert.equal(report.temps.names.length, 1);
  assert.match(report.temps.names[0] ?? '', /^\.tmp-/);
});

test("Python: seed 004's save_atomically (mkstemp, write, rename, no fsync) is flagged", async (t) => {
  if (!available(t)) return;
  const { dir, script } = subject(
    t,
    `import os, sys, tempfile, pathlib
${DATA}
def save_atomically(path, data):
    fd, tmp_path = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.rename(tmp_path, path)

save_atomically(pathlib.Path(sys.argv[1]).absolute(), DATA)
`,
  );
  const report = await runPython(dir, script);
  assert.ok(report.violations.torn > 0);
  assert.match(
    report.examples.find((example) => example.kind === 'torn')?.message ?? '',
    /the rename at #\d+ can reach disk before the data written at #\d+: .*\.tmp was not fsynced before it/,
  );
  // Under ext4-ordered (data before the metadata that exposes it) only durability is lost.
  fs.writeFileSync(join(dir, 'settings.json'), OLD);
  const ordered = await auditCommand([python ?? 'python3', script, 'settings.json'], {
    cwd: dir,
    output: 'ignore',
    model: 'ext4-ordered',
  });
  assert.equal(ordered.violations.torn, 0);
  assert.ok(ordered.violations['stale-after-done'] > 0);
});

test('Python: a temp file on another filesystem moved with shutil.move tears the file', async (t) => {
  if (!available(t)) return;
  if (!needs(t, isRoot && isLinux, 'mounting a tmpfs needs root on Linux')) return;
  const { dir, script } = subject(
    t,
    `import os, shutil, sys, tempfile
${DATA}
fd, tmp = tempfile.mkstemp(dir=sys.argv[2])
with os.fdopen(fd, "w") as f:
    f.write(DATA)
    f.flush()
    os.fsync(f.fileno())
shutil.move(tmp, sys.argv[1])
`,
  );
  const mount = fs.mkdtempSync(join(tmpdir(), 'afs-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
  t.after(() => {
    execFileSync('umount', [mount]);
    fs.rmdirSync(mount);
  });
  const report = await runPython(dir, script, mount);
  assert.equal(fs.readFileSync(join(dir, 'settings.json'), 'utf8'), NEW);
  assert.deepEqual(fs.readdirSync(mount), []);
  assert.ok(report.violations.torn > 0, JSON.stringify(report.violations));
  // The copy's data went through sendfile (not shown by strace): it was read back.
  assert.ok(report.operations.some((op) => op.text.includes('(data read back)')));
});

test('a real trace with threads, a fork, dup and awkward names becomes the right operations', async (t) => {
  if (!available(t)) return;
  const dir = tempDir(t, 'afs-audited-');
  const outside = tempDir(t, 'afs-script-');
  const script = join(outside, 'busy.py');
  fs.writeFileSync(
    script,
    `import os, threading, fcntl
name = b'a b\\nc\\xff>"x'
fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b'parent;')
copy = os.dup(fd)
high = fcntl.fcntl(fd, fcntl.F_DUPFD, 50)
pid = os.fork()
if pid == 0:
    os.write(copy, b'child;')
    os._exit(0)
os.waitpid(pid, 0)
os.write(high, b'high;')
def work(i):
    f = os.open('t%d' % i, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(f, b'thread %d' % i)
    os.fsync(f)
    os.close(f)
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
os.close(fd); os.close(copy); os.close(high)
os.rename(name, b'final')
`,
  );
  const report = await auditCommand([python ?? 'python3', script], {
    cwd: dir,
    output: 'ignore',
    watch: [join(dir, 'final')],
  });
  const texts = report.operations.map((op) => op.text);
  assert.deepEqual(
    texts.filter((text) => text.includes('a b')),
    [
      'create a b\\nc\\xff>"x',
      'write 7 bytes at offset 0 of a b\\nc\\xff>"x',
      'write 6 bytes at offset 7 of a b\\nc\\xff>"x',
      'write 5 bytes at offset 13 of a b\\nc\\xff>"x',
      'close a b\\nc\\xff>"x',
      'rename a b\\nc\\xff>"x -> final',
    ],
  );
  for (let i = 0; i < 4; i += 1) {
    assert.ok(texts.includes(`write 8 bytes at offset 0 of t${i}`), `thread ${i}`);
    assert.ok(texts.includes(`fsync t${i}`), `thread ${i}`);
  }
  assert.deepEqual(report.notes, []);
  assert.equal(fs.readFileSync(join(dir, 'final'), 'utf8'), 'parent;child;high;');
});

test('the traced command runs with UV_USE_IO_URING=0', async (t) => {
  if (!needs(t, hasStrace, 'strace is not available')) return;
  const dir = tempDir(t);
  const report = await auditCommand(
    [
      process.execPath,
      '-e',
      "require('fs').writeFileSync('env', String(process.env.UV_USE_IO_URING))",
    ],
    { cwd: dir, output: 'ignore', env: { ...process.env, UV_USE_IO_URING: '1' } },
  );
  assert.equal(fs.readFileSync(join(dir, 'env'), 'utf8'), '0');
  // A file the command created is watched too: written in place without fsync, it can be
  // left empty by a crash.
  assert.deepEqual(report.watched, ['env']);
  assert.equal(report.status, 'unsafe');
  assert.ok(report.violations.torn > 0);
});

test('a done marker: files must be final from the moment it is printed', async (t) => {
  if (!available(t)) return;
  // Prints "saved" after the rename but before the directory fsync.
  const { dir, script } = subject(
    t,
    `import os, sys
${DATA}
with open('settings.json.tmp', 'w') as f:
    f.write(DATA)
    f.flush()
    os.fsync(f.fileno())
os.rename('settings.json.tmp', 'settings.json')
print('saved', flush=True)
d = os.open('.', os.O_RDONLY)
os.fsync(d)
os.close(d)
`,
  );
  const early = await auditCommand([python ?? 'python3', script], {
    cwd: dir,
    output: 'ignore',
    doneMarker: 'saved',
  });
  assert.equal(early.done?.by, 'marker');
  assert.ok(early.violations['stale-after-done'] > 0);
  fs.writeFileSync(join(dir, 'settings.json'), OLD);
  const atExit = await auditCommand([python ?? 'python3', script], { cwd: dir, output: 'ignore' });
  assert.equal(atExit.done?.by, 'exit');
  assert.ok(atExit.ok);
});

test('refusals: strace missing, a command that cannot start', async (t) => {
  if (!needs(t, hasStrace, 'strace is not available')) return;
  const dir = tempDir(t);
  const empty = tempDir(t);
  await assert.rejects(
    auditCommand(['true'], { cwd: dir, env: { PATH: empty }, output: 'ignore' }),
    { name: 'AuditSetupError', message: /strace is not installed or cannot trace here/ },
  );
  await assert.rejects(
    auditCommand([join(empty, 'no-such-program')], { cwd: dir, output: 'ignore' }),
    { name: 'AuditSetupError', message: /strace could not run|could not start/ },
  );
});
