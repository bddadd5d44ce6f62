/**
 * The lock of update/updateJson (src/json/lock.ts): the sidecar file, waiting, timeouts, aborts,
 * in-process queueing and re-entrancy, and release on every path — including the death of
 * the holder.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AtomicFsError,
  update,
  updateJson,
  updateJsonSync,
  updateSync,
  writeFile,
} from '../../src/index.js';
import { flags, restoreSeam, seam } from '../../src/engine/fs.js';
import { heldLocks } from '../../src/json/lock.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { hasStrace } from '../support/audit.js';
import {
  fdsInto,
  instrument,
  isLinux,
  isRoot,
  list,
  needs,
  openFdCount,
  realOps,
  rejection,
  tempDir,
  temps,
  thrown,
} from '../support/helpers.js';

const sidecarOf = (dir: string, name: string): string => join(dir, `.${name}.afs-lock`);

/** Hold the lock of `path`'s sidecar through a descriptor of our own, as another process would. */
function holdForeign(sidecar: string): { release: () => void } {
  const fd = realOps.open(sidecar, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o666);
  assert.equal(realOps.tryLock(fd), true, 'the foreign holder got the lock');
  let open = true;
  return {
    release: () => {
      if (!open) return;
      open = false;
      realOps.unlock(fd);
      realOps.close(fd);
    },
  };
}

/** True when nobody holds the lock of `sidecar` (probed through a descriptor of our own). */
function isFree(sidecar: string): boolean {
  const fd = realOps.open(sidecar, flags.lockFile, 0);
  try {
    const free = realOps.tryLock(fd);
    if (free) realOps.unlock(fd);
    return free;
  } finally {
    realOps.close(fd);
  }
}

test('the sidecar: beside the file, created for a file that does not exist, left in place', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'settings.json');
  const result = await updateJson(dest, () => ({ a: 1 }));
  assert.deepEqual(result, { a: 1 });
  assert.deepEqual(list(dir), ['.settings.json.afs-lock', 'settings.json']);
  assert.equal(fs.statSync(sidecarOf(dir, 'settings.json')).size, 0);
  assert.equal(parseTempName('.settings.json.afs-lock'), undefined, 'never a temp name');
  assert.ok(isFree(sidecarOf(dir, 'settings.json')));
  assert.deepEqual(heldLocks(), []);

  // An update that writes nothing still locks (and creates the sidecar), never the destination.
  const other = join(dir, 'never.json');
  assert.equal(await update(other, () => undefined), undefined);
  assert.equal(fs.existsSync(other), false);
  assert.ok(fs.existsSync(sidecarOf(dir, 'never.json')));
});

test('a sidecar name is never a temp name, also for long and odd names', () => {
  for (const name of ['x', 'a.tmp', '.afs-0000-1-0000000000000000.tmp', 'é'.repeat(120), ' ']) {
    const base = `.${name}.afs-lock`;
    assert.equal(parseTempName(base), undefined, base);
  }
});

test('a long file name gets a sidecar name that fits in 255 bytes', async (t) => {
  const dir = tempDir(t);
  const name = `${'n'.repeat(250)}.json`;
  await updateJson(join(dir, name), () => 1);
  const sidecar = list(dir).find((entry) => entry.endsWith('.afs-lock'));
  assert.ok(sidecar !== undefined);
  assert.ok(Buffer.byteLength(sidecar) <= 255);
  // Cut to 200 bytes, then a hash of the whole name: the sidecar stays this file's own.
  assert.match(sidecar, new RegExp(`^\\.${'n'.repeat(200)}\\.[0-9a-f]{16}\\.afs-lock$`));
});

test("a new sidecar takes the destination's mode (never executable)", async (t) => {
  if (!needs(t, process.platform !== 'win32', 'POSIX modes')) return;
  const dir = tempDir(t);
  const dest = join(dir, 'secret.json');
  fs.writeFileSync(dest, '{}');
  fs.chmodSync(dest, 0o760);
  await updateJson(dest, () => ({ b: 2 }));
  assert.equal(fs.statSync(sidecarOf(dir, 'secret.json')).mode & 0o7777, 0o660);
  // Whatever the file's owner bits, the owner may open the sidecar to lock it.
  const readOnly = join(dir, 'read-only.json');
  fs.writeFileSync(readOnly, '{}');
  fs.chmodSync(readOnly, 0o440);
  await updateJson(readOnly, () => ({ c: 3 }));
  assert.equal(fs.statSync(sidecarOf(dir, 'read-only.json')).mode & 0o7777, 0o640);
  assert.equal(fs.statSync(readOnly).mode & 0o7777, 0o440);
  assert.equal(fs.statSync(dest).mode & 0o7777, 0o760);

  const fresh = join(dir, 'fresh.json');
  await updateJson(fresh, () => ({}), { mode: 0o600 });
  assert.equal(fs.statSync(sidecarOf(dir, 'fresh.json')).mode & 0o7777, 0o600);
});

test('a read-only file (0444) can be updated by its owner again and again, not once (as a non-root user)', async (t) => {
  if (!needs(t, isLinux && isRoot, 'running as another user needs Linux and root')) return;
  if (!needs(t, spawnSync('setpriv', ['--version']).status === 0, 'setpriv is not installed')) {
    return;
  }
  const dir = tempDir(t);
  fs.chownSync(dir, 65534, 65534);
  fs.chmodSync(dir, 0o755);
  const dest = join(dir, 'readonly.txt');
  fs.writeFileSync(dest, 'v');
  fs.chownSync(dest, 65534, 65534);
  fs.chmodSync(dest, 0o444);
  const child = fileURLToPath(new URL('../fixtures/update-child.js', import.meta.url));
  const run = () =>
    spawnSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, child, dest, '4'],
      { encoding: 'utf8' },
    );
  for (const round of [1, 2]) {
    const result = run();
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ['ok', 'ok', 'ok', 'ok'], `round ${round}`);
  }
  assert.equal(fs.readFileSync(dest, 'utf8'), 'v++++++++');
  assert.equal(fs.statSync(dest).mode & 0o7777, 0o444, 'the file stays read-only');
  const sidecar = fs.statSync(sidecarOf(dir, 'readonly.txt'));
  assert.equal(sidecar.uid, 65534);
  // The owner may read and write it (the lock needs that); group and others no more than the file.
  assert.equal(sidecar.mode & 0o7777, 0o644);
});

test("as root, a new sidecar takes the destination's owner (usable after sudo)", async (t) => {
  if (!needs(t, isRoot && isLinux, 'root on Linux')) return;
  const dir = tempDir(t);
  const dest = join(dir, 'user.json');
  fs.writeFileSync(dest, '{}');
  fs.chownSync(dest, 4321, 4322);
  await updateJson(dest, () => ({ c: 3 }));
  const stats = fs.statSync(sidecarOf(dir, 'user.json'));
  assert.deepEqual([stats.uid, stats.gid], [4321, 4322]);
  assert.deepEqual([fs.statSync(dest).uid, fs.statSync(dest).gid], [4321, 4322]);
});

test('a symlink planted at the sidecar name is refused, never followed', async (t) => {
  if (!needs(t, process.platform !== 'win32', 'O_NOFOLLOW')) return;
  const dir = tempDir(t);
  const victim = join(dir, 'victim');
  fs.writeFileSync(victim, 'precious');
  fs.symlinkSync(victim, sidecarOf(dir, 'c.json'));
  const error = await rejection(updateJson(join(dir, 'c.json'), () => 1));
  assert.equal(error.code, 'ELOOP');
  assert.equal(error.phase, 'lock');
  assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
  assert.equal(fs.existsSync(join(dir, 'c.json')), false);
});

test('timeoutMs: a lock held elsewhere fails with ERR_ATOMIC_LOCK_TIMEOUT, nothing touched', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  fs.writeFileSync(dest, '{"n":1}\n');
  const holder = holdForeign(sidecarOf(dir, 'c.json'));
  t.after(holder.release);
  // Only descriptors on this directory are counted (the holder's among them): the runtime
  // may open descriptors of its own meanwhile.
  const fdsBefore = fdsInto(fs.realpathSync(dir));
  for (const timeoutMs of [0, 30]) {
    let called = false;
    const error = await rejection(
      updateJson(
        dest,
        () => {
          called = true;
          return { n: 2 };
        },
        { timeoutMs },
      ),
    );
    assert.equal(error.code, 'ERR_ATOMIC_LOCK_TIMEOUT');
    assert.equal(error.phase, 'lock');
    assert.match(
      error.message,
      new RegExp(`within ${timeoutMs} ms \\(another process holds it\\)`),
    );
    assert.equal(called, false);
    const syncError = thrown(() => updateSync(dest, () => 'x', { timeoutMs }));
    assert.equal(syncError.code, 'ERR_ATOMIC_LOCK_TIMEOUT');
  }
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"n":1}\n');
  assert.deepEqual(list(dir), ['.c.json.afs-lock', 'c.json']);
  assert.deepEqual(fdsInto(fs.realpathSync(dir)), fdsBefore);
  assert.deepEqual(heldLocks(), []);
  holder.release();
  assert.deepEqual(await updateJson(dest, () => ({ n: 3 }), { timeoutMs: 0 }), { n: 3 });
});

test('a waiter gets the lock when the holder lets go (kernel wait, and polling)', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  for (const options of [{}, { timeoutMs: 10_000 }, { signal: new AbortController().signal }]) {
    const holder = holdForeign(sidecarOf(dir, 'c.json'));
    let entered = false;
    const pending = updateJson(
      dest,
      (n: number | undefined) => {
        entered = true;
        return (n ?? 0) + 1;
      },
      options,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(entered, false, 'fn must not run while another holds the lock');
    holder.release();
    await pending;
    assert.equal(entered, true);
  }
  assert.equal(fs.readFileSync(dest, 'utf8'), '3\n');
});

test('signal: aborting a wait for the lock rejects with ABORT_ERR', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const holder = holdForeign(sidecarOf(dir, 'c.json'));
  t.after(holder.release);
  const fds = openFdCount();

  const controller = new AbortController();
  const pending = updateJson(dest, () => 1, { signal: controller.signal });
  setTimeout(() => {
    controller.abort(new Error('user gave up'));
  }, 20);
  const error = await rejection(pending);
  assert.equal(error.code, 'ABORT_ERR');
  assert.equal(error.name, 'AbortError');

  const already = AbortSignal.abort();
  assert.equal((await rejection(update(dest, () => 'x', { signal: already }))).code, 'ABORT_ERR');
  assert.equal(thrown(() => updateSync(dest, () => 'x', { signal: already })).code, 'ABORT_ERR');
  assert.equal(fs.existsSync(dest), false);
  assert.equal(openFdCount(), fds);
  assert.deepEqual(heldLocks(), []);
});

test('in one process: concurrent updates queue (none lost); timeouts and aborts leave the queue', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const all = Array.from({ length: 100 }, (_, i) =>
    // Mixed: async and sync functions, awaiting in between.
    updateJson(
      dest,
      i % 2 === 0
        ? (n: number | undefined) => (n ?? 0) + 1
        : async (n: number | undefined) => {
            await new Promise((resolve) => setImmediate(resolve));
            return (n ?? 0) + 1;
          },
    ),
  );
  const results = (await Promise.all(all)).sort((a, b) => (a ?? 0) - (b ?? 0));
  assert.deepEqual(
    results,
    Array.from({ length: 100 }, (_, i) => i + 1),
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), '100\n');

  // A call waiting behind another in this process: its timeout and its signal still apply.
  let release: () => void = () => undefined;
  const first = updateJson(
    dest,
    () =>
      new Promise<number>(
        (resolve) =>
          (release = () => {
            resolve(0);
          }),
      ),
  );
  await new Promise((resolve) => setTimeout(resolve, 10));
  const timedOut = rejection(updateJson(dest, () => 7, { timeoutMs: 20 }));
  const immediate = rejection(updateJson(dest, () => 7, { timeoutMs: 0 }));
  const controller = new AbortController();
  const aborted = rejection(updateJson(dest, () => 7, { signal: controller.signal }));
  const queued = updateJson(dest, (n: number | undefined) => (n ?? 0) + 5);
  controller.abort();
  const timeoutError = await timedOut;
  assert.equal(timeoutError.code, 'ERR_ATOMIC_LOCK_TIMEOUT');
  assert.match(timeoutError.message, /behind earlier writes of this file in this process/);
  assert.equal((await immediate).code, 'ERR_ATOMIC_LOCK_TIMEOUT');
  assert.equal((await aborted).code, 'ABORT_ERR');
  release();
  assert.equal(await first, 0);
  assert.equal(await queued, 5);
  assert.equal(fs.readFileSync(dest, 'utf8'), '5\n');
  assert.deepEqual(heldLocks(), []);
});

test('nested and sync-while-async calls fail with ERR_ATOMIC_LOCK_REENTRANT instead of hanging', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const other = join(dir, 'other.json');

  // async inside async
  let inner: unknown;
  await updateJson(dest, async () => {
    inner = await updateJson(dest, () => 2).catch((error: unknown) => error);
    // A different file is a different lock: fine.
    await updateJson(other, () => 'ok');
    return 1;
  });
  assert.ok(inner instanceof AtomicFsError);
  assert.equal(inner.code, 'ERR_ATOMIC_LOCK_REENTRANT');
  assert.equal(inner.phase, 'lock');
  assert.match(inner.message, /from inside that update's fn/);
  assert.equal(fs.readFileSync(dest, 'utf8'), '1\n');
  assert.equal(fs.readFileSync(other, 'utf8'), '"ok"\n');

  // A plain write of the same file from inside fn would wait behind the update: refused too.
  let writeInside: unknown;
  await update(dest, async (current) => {
    writeInside = await writeFile(dest, 'inside').catch((error: unknown) => error);
    return current;
  });
  assert.ok(writeInside instanceof AtomicFsError);
  assert.equal(writeInside.code, 'ERR_ATOMIC_LOCK_REENTRANT');
  assert.equal(fs.readFileSync(dest, 'utf8'), '1\n');

  // sync inside sync, async inside sync, sync inside async — by another name for the file too
  fs.symlinkSync(dest, join(dir, 'alias.json'));
  const syncInner = thrown(() =>
    updateJsonSync(dest, () => {
      updateJsonSync(join(dir, 'alias.json'), () => 3);
      return 4;
    }),
  );
  assert.equal(syncInner.code, 'ERR_ATOMIC_LOCK_REENTRANT');
  let asyncInSync: Promise<unknown> = Promise.resolve();
  updateJsonSync(dest, () => {
    asyncInSync = updateJson(dest, () => 5);
    return 6;
  });
  assert.equal((await rejection(asyncInSync)).code, 'ERR_ATOMIC_LOCK_REENTRANT');
  const syncInAsync = await rejection(
    updateJson(dest, () => {
      updateJsonSync(dest, () => 7);
      return 8;
    }),
  );
  assert.equal(syncInAsync.code, 'ERR_ATOMIC_LOCK_REENTRANT');
  assert.equal(fs.readFileSync(dest, 'utf8'), '6\n');

  // A sync call while an async update of the file is in flight (not nested).
  const inFlight = updateJson(dest, async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return 9;
  });
  await new Promise((resolve) => setImmediate(resolve));
  const concurrentSync = thrown(() => updateJsonSync(dest, () => 10));
  assert.equal(concurrentSync.code, 'ERR_ATOMIC_LOCK_REENTRANT');
  assert.match(concurrentSync.message, /a synchronous call cannot wait for it/);
  assert.equal(await inFlight, 9);

  // Work started inside fn that runs after the outer update returned is not nested.
  let outerDone: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (outerDone = resolve));
  let later: Promise<unknown> = Promise.resolve();
  await updateJson(dest, () => {
    later = gate.then(() => updateJson(dest, () => 11));
    return 10;
  });
  outerDone();
  assert.equal(await later, 11);
  assert.equal(fs.readFileSync(dest, 'utf8'), '11\n');
  assert.deepEqual(heldLocks(), []);
});

test('the lock is released when fn throws, and when reading or writing fails', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const sidecar = sidecarOf(dir, 'c.json');
  const boom = new Error('boom');
  await assert.rejects(
    updateJson(dest, () => {
      throw boom;
    }),
    (error) => error === boom,
  );
  assert.throws(
    () =>
      updateSync(dest, () => {
        throw boom;
      }),
    (error) => error === boom,
  );
  assert.ok(isFree(sidecar));
  assert.equal(fs.existsSync(dest), false);
  fs.mkdirSync(dest);
  const error = await rejection(update(dest, () => 'x'));
  assert.equal(error.code, 'EISDIR');
  assert.ok(isFree(sidecar));
  assert.deepEqual(heldLocks(), []);
});

test('a lock file removed while a waiter waits on it is opened and locked again', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const sidecar = sidecarOf(dir, 'c.json');
  for (const options of [{}, { timeoutMs: 10_000 }]) {
    const holder = holdForeign(sidecar);
    const recorder = instrument(t);
    const pending = updateJson(dest, (n: number | undefined) => (n ?? 0) + 1, options);
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Someone removes the lock file while we wait on it, then a newcomer creates and holds a
    // new one: the waiter must not believe that the old file still protects anything.
    fs.unlinkSync(sidecar);
    const newcomer = holdForeign(sidecar);
    holder.release();
    await new Promise((resolve) => setTimeout(resolve, 30));
    let done = false;
    void pending.then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(done, false, 'the waiter must wait for the holder of the new lock file');
    newcomer.release();
    await pending;
    restoreSeam();
    const opens = recorder.calls.filter((c) => c.name === 'open' && c.subject === sidecar);
    assert.equal(opens.length, 2, 'opened again after finding its lock file gone');
  }
  assert.equal(fs.readFileSync(dest, 'utf8'), '2\n');
});

test('a lock file that never stays put fails with ERR_ATOMIC_LOCK_UNSTABLE', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const sidecar = sidecarOf(dir, 'c.json');
  // As if another program kept replacing it: lstat always names another inode.
  const realLstat = seam.sync.lstat;
  const realAsyncLstat = seam.async.lstat;
  // The sidecar is named through its pinned directory (/proc/self/fd/<fd>/<name>).
  const spelled = (path: string): string => {
    const pinned = /^\/proc\/self\/fd\/(\d+)\/([^/]+)$/.exec(path);
    if (pinned === null) return path;
    return join(fs.readlinkSync(`/proc/self/fd/${pinned[1] ?? ''}`), pinned[2] ?? '');
  };
  const fake = (path: string): fs.Stats => {
    const stats = realLstat(path);
    if (spelled(path) === sidecar)
      return Object.assign(Object.create(stats) as fs.Stats, { ino: -1 });
    return stats;
  };
  seam.sync.lstat = fake;
  seam.async.lstat = (path) =>
    spelled(path) === sidecar ? Promise.resolve(fake(path)) : realAsyncLstat(path);
  t.after(restoreSeam);
  const fds = openFdCount();
  const error = await rejection(updateJson(dest, () => 1));
  assert.equal(error.code, 'ERR_ATOMIC_LOCK_UNSTABLE');
  assert.equal(thrown(() => updateJsonSync(dest, () => 1)).code, 'ERR_ATOMIC_LOCK_UNSTABLE');
  assert.equal(openFdCount(), fds);
  restoreSeam();
  assert.ok(isFree(sidecar));
  assert.equal(fs.existsSync(dest), false);
});

test('timeoutMs and fn are validated', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  for (const [timeoutMs, code] of [
    [-1, 'ERR_OUT_OF_RANGE'],
    [Number.NaN, 'ERR_OUT_OF_RANGE'],
    ['5', 'ERR_INVALID_ARG_TYPE'],
  ] as const) {
    await assert.rejects(
      updateJson(dest, () => 1, { timeoutMs: timeoutMs as number }),
      { code },
    );
    assert.throws(() => updateSync(dest, () => 'x', { timeoutMs: timeoutMs as number }), { code });
  }
  await assert.rejects(update(dest, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(
    update(dest, () => 'x', { overwrite: false } as never),
    {
      code: 'ERR_INVALID_ARG_VALUE',
    },
  );
  await assert.rejects(
    update(dest, () => 'x', 'utf8' as never),
    { code: 'ERR_INVALID_ARG_TYPE' },
  );
  assert.deepEqual(list(dir), [], 'nothing touched, not even the sidecar');
});

function spawnHolder(sidecar: string, holdMs: number): ChildProcess {
  // Takes the lock through its own descriptor, says so, holds it for holdMs (or until killed).
  const script = `
    const fs = require('node:fs');
    const locks = require('fs-native-extensions');
    const fd = fs.openSync(process.argv[1], fs.constants.O_RDWR | fs.constants.O_CREAT, 0o666);
    locks.waitForLockSync(fd);
    process.stdout.write('locked\\n');
    setTimeout(() => process.exit(0), Number(process.argv[2]));
  `;
  return spawn(process.execPath, ['-e', script, sidecar, String(holdMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

async function untilLocked(child: ChildProcess): Promise<void> {
  const out = child.stdout;
  assert.ok(out !== null);
  let text = '';
  for await (const chunk of out) {
    text += String(chunk);
    if (text.includes('locked')) return;
  }
  assert.fail('the holder exited without taking the lock');
}

test('another process: the sync twin waits in the kernel until the holder exits', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const child = spawnHolder(sidecarOf(dir, 'c.json'), 300);
  const exited = once(child, 'exit');
  await untilLocked(child);
  // Blocks this thread until the child lets go; then it runs.
  const value = updateJsonSync(dest, (n: number | undefined) => (n ?? 0) + 1);
  assert.equal(value, 1);
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, 'the holder ran to its end before we got the lock');
});

test('another process killed with SIGKILL while holding the lock: the kernel releases it', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const child = spawnHolder(sidecarOf(dir, 'c.json'), 600_000);
  t.after(() => child.kill('SIGKILL'));
  await untilLocked(child);
  await assert.rejects(
    updateJson(dest, () => 1, { timeoutMs: 0 }),
    {
      code: 'ERR_ATOMIC_LOCK_TIMEOUT',
    },
  );
  const pending = updateJson(dest, (n: number | undefined) => (n ?? 0) + 1);
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  const [, signal] = (await exited) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL');
  assert.equal(await pending, 1);
});

test('two files whose long names share their first 200 bytes have locks of their own', async (t) => {
  const dir = tempDir(t);
  const prefix = 'p'.repeat(210);
  const a = join(dir, `${prefix}-a.txt`);
  const b = join(dir, `${prefix}-b.txt`);
  // Nested: b is another file, so an update of it inside a's fn is no re-entry (it was, when
  // the two shared a sidecar: refused with ERR_ATOMIC_LOCK_REENTRANT).
  const inner = await update(a, async () => {
    await update(b, () => 'b1');
    return 'a1';
  });
  assert.equal(String(inner), 'a1');
  assert.equal(fs.readFileSync(a, 'utf8'), 'a1');
  assert.equal(fs.readFileSync(b, 'utf8'), 'b1');
  const sidecars = list(dir).filter((name) => name.endsWith('.afs-lock'));
  assert.equal(sidecars.length, 2, 'one sidecar each');
  assert.ok(sidecars.every((name) => Buffer.byteLength(name) <= 255));

  // Each lock excludes exactly its own file: another process holding a's lock keeps a's
  // updates waiting and lets b's through, and the other way round.
  const outcome = (file: string): Promise<string> =>
    update(file, (c) => c, { timeoutMs: 0 }).then(
      () => 'written',
      (error: unknown) => (error instanceof AtomicFsError ? error.code : String(error)),
    );
  const blocked: string[][] = [];
  for (const name of sidecars) {
    const foreign = holdForeign(join(dir, name));
    try {
      blocked.push([await outcome(a), await outcome(b)]);
    } finally {
      foreign.release();
    }
  }
  assert.deepEqual(
    blocked.sort(),
    [
      ['ERR_ATOMIC_LOCK_TIMEOUT', 'written'],
      ['written', 'ERR_ATOMIC_LOCK_TIMEOUT'],
    ].sort(),
  );
  assert.deepEqual(heldLocks(), []);
});

test('a directory gone when the update takes its turn: never looked for again by path', async (t) => {
  if (!needs(t, process.platform === 'linux', 'Linux, where the directory is pinned')) return;
  const dir = tempDir(t);
  const app = join(dir, 'app');
  fs.mkdirSync(app);
  const dest = join(app, 'c.json');
  const fds = openFdCount();
  // The first update holds the file's turn; meanwhile the directory is moved away.
  let release = (): void => undefined;
  let started = (): void => undefined;
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const first = updateJson(dest, async () => {
    started();
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    return 1;
  });
  await running;
  // Called from outside that fn (not nested): they queue behind it.
  const second = updateJson(dest, () => 2).catch((error: unknown) => error);
  const secondMkdirs = updateJson(dest, () => 3, { mkdirs: true }).catch((error: unknown) => error);
  fs.renameSync(app, join(dir, 'moved'));
  release();
  await first;
  const refused = await second;
  assert.ok(refused instanceof AtomicFsError, String(refused));
  assert.equal(refused.code, 'ENOENT');
  assert.equal(refused.phase, 'lock');
  // With mkdirs the missing directory is made anew, through its parent, and pinned.
  assert.equal(await secondMkdirs, 3);
  assert.equal(fs.readFileSync(join(app, 'c.json'), 'utf8'), '3\n');
  assert.equal(fs.readFileSync(join(dir, 'moved', 'c.json'), 'utf8'), '1\n');
  assert.deepEqual(temps(dir), []);
  assert.deepEqual(temps(join(dir, 'moved')), []);
  assert.deepEqual(temps(app), []);
  assert.equal(openFdCount(), fds);
});

test("a symlink put at the missing directory's name after the turn began is never followed", async (t) => {
  if (!needs(t, process.platform === 'linux', 'Linux, where the directory is pinned')) return;
  const dir = tempDir(t);
  const app = join(dir, 'app');
  const other = join(dir, 'other');
  fs.mkdirSync(app);
  fs.mkdirSync(other);
  const dest = join(app, 'c.json');
  const fds = openFdCount();
  // The directory goes away after the call, and its turn finds it missing; a symlink appears
  // at its name at once, before the lock file is opened (as another user could make it).
  const realOpen = seam.async.open;
  seam.async.open = async (path, flag, mode) => {
    if (path !== app) return realOpen(path, flag, mode);
    fs.renameSync(app, join(dir, 'moved'));
    try {
      return await realOpen(path, flag, mode);
    } finally {
      fs.symlinkSync(other, app);
    }
  };
  t.after(restoreSeam);
  const error = await rejection(updateJson(dest, () => 2));
  restoreSeam();
  assert.equal(error.code, 'ENOENT');
  assert.equal(error.phase, 'lock');
  assert.deepEqual(fs.readdirSync(other), [], 'nothing was created through the symlink');
  assert.deepEqual(fs.readdirSync(join(dir, 'moved')), []);
  assert.deepEqual(temps(dir), []);
  assert.equal(openFdCount(), fds);
});

test('without /proc, an update closes its directory once, on the thread that opened it', async (t) => {
  if (!needs(t, isLinux && isRoot, 'root on Linux, to hide /proc in a mount namespace')) return;
  if (!needs(t, hasStrace, 'strace, to see every close')) return;
  const unshare = spawnSync('unshare', ['--mount', '--fork', 'true']);
  if (!needs(t, unshare.status === 0, 'unshare (util-linux) with mount namespaces')) return;
  const dir = tempDir(t);
  const script = join(dir, 'updates.mjs');
  const library = new URL('../../src/index.js', import.meta.url).href;
  const thread = new URL('../../src/core/io-thread.js', import.meta.url).href;
  // The I/O thread online, so that the write may go there: the directory the update holds
  // (a descriptor, not pinned without /proc) must not travel with it.
  fs.writeFileSync(
    script,
    `import { updateJson, readJsonSync } from ${JSON.stringify(library)};
import { ioThreadReady } from ${JSON.stringify(thread)};
import { existsSync } from 'node:fs';
if (existsSync('/proc/self/fd') || !(await ioThreadReady())) process.exit(3);
const file = ${JSON.stringify(join(dir, 'c.json'))};
for (let i = 0; i < 20; i += 1) await updateJson(file, (n) => n + 1, { default: 0 });
process.stdout.write(String(readJsonSync(file)));
`,
  );
  const trace = join(dir, 'trace');
  const run = spawnSync(
    'unshare',
    [
      '--mount',
      '--fork',
      'sh',
      '-c',
      'mount -t tmpfs none /proc && exec strace -f -qq -e trace=close -o "$0" "$1" "$2"',
      trace,
      process.execPath,
      script,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, '20');
  const twice = fs
    .readFileSync(trace, 'utf8')
    .split('\n')
    .filter((line) => line.includes('EBADF'));
  assert.deepEqual(twice, [], 'a descriptor closed twice');
});
