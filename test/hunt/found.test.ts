/**
 * Bugs the hunter found that are not among the known classes it was built to catch, each as a
 * minimal regression test that fails on the code it was found on. Each names the hunter switch
 * that steered around it while it was open (config.ts) and the program the hunter shrank it
 * to.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { AtomicFsError, openAtomic, writeFile } from '../../src/index.js';
import { PACKAGE_ROOT, instrument, list, openFdCount, tempDir, temps } from '../support/helpers.js';

// Fixed: these run (and must pass) everywhere.
const skip = false;

// Hunter switch `commitOrder`. Shrunk program (seed 2):
//   #0 openAtomic('f') → 0 write(s), commit after 0 step(s)   #1 writeFile('f', 'w2')
test(
  'found: a write called after commit() is applied after it (call order)',
  { skip },
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'f');
    const handle = await openAtomic(file);
    await handle.write('handle');
    const committed = handle.commit(); // called first
    const written = writeFile(file, 'later'); // called second
    await Promise.all([committed, written]);
    assert.equal(fs.readFileSync(file, 'utf8'), 'later');
  },
);

// Hunter switch `syncLockAlias`: updateSync through another name of a file whose lock an
// asynchronous update of this process holds waits in the kernel for that lock, forever (the
// in-process lanes are keyed by the sidecar's path as written: `dir/dirlink/.f.afs-lock` is not
// `dir/.f.afs-lock`). It must fail at once with ERR_ATOMIC_LOCK_REENTRANT. In a child process,
// killed after 20 s, since the blocked process cannot end itself.
test(
  'found: updateSync through a directory symlink while update() holds the lock is refused',
  { skip },
  (t) => {
    const dir = tempDir(t);
    fs.symlinkSync('.', join(dir, 'dirlink'));
    const index = join(PACKAGE_ROOT, 'build', 'src', 'index.js');
    const script = `
    import { update, updateSync } from ${JSON.stringify(index)};
    process.chdir(${JSON.stringify(dir)});
    let inner = 'returned';
    await update('f', async () => {
      try { updateSync('dirlink/f', () => 'inner'); } catch (e) { inner = e.code; }
      return 'outer';
    });
    console.log(inner);`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(result.signal, null, 'the process blocked for good');
    assert.equal(result.stdout.trim(), 'ERR_ATOMIC_LOCK_REENTRANT');
    assert.equal(fs.readFileSync(join(dir, 'f'), 'utf8'), 'outer');
  },
);

// Hunter switch `earlyMode`. Shrunk program (seed 2):
//   #0 copyFile('src', 'chain')  #1 openAtomic('sub/../f') → commit
//   temp .f.afs-… was 0o644 before it became 0o640 (wider than its final mode)
// The handle's temp was created when it was opened, with the mode the file had then; a write
// called before it narrowed the mode; the temp held the handle's data with the wider mode.
// A temp opened ahead of its commit is now owner-only until the commit.
test(
  'found: a handle opened behind a write that narrows the mode never has a wider temp',
  { skip },
  async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'f');
    fs.writeFileSync(file, 'old');
    fs.chmodSync(file, 0o644);
    // A streamed write that finishes only when released keeps the next one queued.
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = writeFile(
      file,
      (async function* () {
        yield 'first';
        await gate;
      })(),
    );
    const narrowed = writeFile(file, 'secret v1', { mode: 0o600 }); // called before the handle
    const handle = await openAtomic(file);
    const mode = fs.statSync(handle.tempPath).mode & 0o777;
    release();
    await handle.write('secret v2');
    await Promise.all([first, narrowed, handle.commit()]);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(
      mode & ~0o600,
      0,
      `the temp was 0o${mode.toString(8)}, the file's final mode 0o600`,
    );
  },
);

// Hunter switch `abortCleanup`. Shrunk program (seed 2):
//   #0 openAtomic('h', { signal }) aborted at seam call #0, commit after 0 step(s)
//   temp file left behind; descriptor leaked (when the program ended as commit() rejected)
test(
  'found: commit() of an aborted handle rejects only once its temp is gone',
  { skip },
  async (t) => {
    const dir = tempDir(t);
    const before = openFdCount();
    const controller = new AbortController();
    const handle = await openAtomic(join(dir, 'f'), { signal: controller.signal });
    await handle.write('secret');
    controller.abort();
    await assert.rejects(handle.commit(), { code: 'ABORT_ERR' });
    assert.deepEqual(temps(dir), []);
    assert.deepEqual(list(dir), []);
    assert.equal(openFdCount(), before, 'descriptors after the rejection');
  },
);

// Hunter switch `discardLeftover`. Shrunk program (seed 11):
//   faults: unlink#0 EIO   #0 openAtomic('file://<dir>/f') → discard   #1 writeFile('chain', 'w1')
//   temp file left behind (and nothing said so)
// A discard that cannot remove its temp resolves as if it had: the caller is never told which
// file is left (every other failed cleanup names it as `leftover`).
test('found: discard() that cannot remove its temp says so (leftover)', { skip }, async (t) => {
  const dir = tempDir(t);
  // An existing file: opening the handle unlinks nothing (a new file's mode probe would).
  fs.writeFileSync(join(dir, 'f'), 'old');
  const before = openFdCount();
  const recorder = instrument(t, [{ when: (call) => call.name === 'unlink', code: 'EIO' }]);
  const handle = await openAtomic(join(dir, 'f'));
  await assert.rejects(handle.discard(), (error: unknown) => {
    assert.ok(error instanceof AtomicFsError);
    assert.equal(error.leftover, handle.tempPath);
    return true;
  });
  // The temp is left (and named), its descriptor is not.
  assert.deepEqual(temps(dir), [basename(handle.tempPath)]);
  assert.deepEqual([...recorder.open.values()], [], 'descriptors left open');
  assert.deepEqual(recorder.doubleCloses, []);
  assert.equal(openFdCount(), before, 'descriptors after the discard');
});

// The same for a new file: a write called after the handle was opened creates the file with a
// narrower mode than a new file gets; the handle's temp never had more.
test('found: a handle on a new file is never wider than the mode a write gives it', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'f');
  const handle = await openAtomic(file);
  const mode = fs.statSync(handle.tempPath).mode & 0o777;
  await writeFile(file, 'secret v1', { mode: 0o600 });
  await handle.write('secret v2');
  await handle.commit();
  assert.equal(fs.statSync(file).mode & 0o777, 0o600, "the file's mode at the commit");
  assert.equal(mode & ~0o600, 0, `the temp was 0o${mode.toString(8)}`);
});

// What the owner-only temp must not cost: a new file from a handle gets the mode a new file
// gets (the umask, or the directory's default ACL), read off a probe that leaves nothing.
test("found: a handle's new file gets the mode the umask gives, and no probe is left", async (t) => {
  const dir = tempDir(t);
  const previous = process.umask(0o027);
  t.after(() => process.umask(previous));
  const handle = await openAtomic(join(dir, 'f'));
  assert.equal(fs.statSync(handle.tempPath).mode & 0o777, 0o600, 'owner-only until the commit');
  await handle.write('data');
  await handle.commit();
  assert.equal(fs.statSync(join(dir, 'f')).mode & 0o777, 0o640);
  assert.deepEqual(list(dir), ['f']);
});
