/**
 * Resolved means durable for every directory a write depends on — also one that another
 * write of this process created a moment ago. Write A (`mkdirs`) makes `new/` and is held
 * just before it fsyncs `new`'s entry into the parent; write B of `new/b` must not resolve
 * until that entry is durable: it fsyncs the parent itself. Seam calls are recorded with
 * what they touched, and a held call completes only when the test lets it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type OpName, seam } from '../../src/engine/fs.js';
import {
  openAtomic,
  openAtomicSync,
  writeFile,
  writeFileSync,
  writeFiles,
} from '../../src/index.js';
import {
  type Recorder,
  instrument,
  openFdCount,
  tempDir,
  temps,
  throughDescriptors,
} from '../support/helpers.js';

interface Held {
  /** Resolves when the held call is made (it waits). */
  readonly reached: Promise<void>;
  /** Let it run; or fail it with `code`. */
  release(code?: string): void;
}

interface Watch {
  /** Directories whose fsync completed, in order. */
  readonly synced: string[];
  /** Hold the first asynchronous call `name` whose subject `matches`. */
  hold(name: OpName, matches: (subject: string) => boolean): Held;
}

/** Record completed directory fsyncs, and hold chosen calls (over `instrument`'s recording). */
function watch(t: TestContext): Watch & { recorder: Recorder } {
  const recorder = instrument(t);
  const synced: string[] = [];
  const holds: { name: OpName; matches: (s: string) => boolean; gate: Promise<string> }[] = [];
  const subject = (args: readonly unknown[]): string => {
    const first = args[0];
    if (typeof first === 'number') return recorder.open.get(first) ?? '';
    // A name through a pinned directory (`/proc/self/fd/<fd>/<name>`), spelled by its path.
    return throughDescriptors(String(first), recorder.open);
  };
  const asyncOps = seam.async as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const syncOps = seam.sync as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['fsync', 'open', 'mkdir'] as OpName[]) {
    const inner = asyncOps[name];
    assert.ok(inner !== undefined);
    asyncOps[name] = async (...args) => {
      const at = subject(args);
      const index = holds.findIndex((h) => h.name === name && h.matches(at));
      const held = holds[index];
      if (held !== undefined) {
        holds.splice(index, 1);
        const code = await held.gate;
        if (code !== '') {
          throw Object.assign(new Error(`${code}: injected`), { code, syscall: name });
        }
      }
      const result = await inner(...args);
      if (name === 'fsync') synced.push(at);
      return result;
    };
    const innerSync = syncOps[name];
    assert.ok(innerSync !== undefined);
    syncOps[name] = (...args) => {
      const at = subject(args);
      const result = innerSync(...args);
      if (name === 'fsync') synced.push(at);
      return result;
    };
  }
  return {
    recorder,
    synced,
    hold(name, matches) {
      let arrive = (): void => undefined;
      let open: (code: string) => void = () => undefined;
      const reached = new Promise<void>((resolve) => {
        arrive = resolve;
      });
      const gate = new Promise<string>((resolve) => {
        open = resolve;
      });
      holds.push({
        name,
        matches: (s) => {
          if (!matches(s)) return false;
          arrive();
          return true;
        },
        gate,
      });
      return {
        reached,
        release: (code = '') => {
          open(code);
        },
      };
    },
  };
}

/** Write A: makes `root/new` and stops before fsyncing `root` (the new entry's directory). */
async function heldCreator(t: TestContext) {
  const root = fs.realpathSync(tempDir(t));
  const seen = watch(t);
  const held = seen.hold('fsync', (subject) => subject === root);
  const first = writeFile(join(root, 'new', 'a'), 'a', { mkdirs: true });
  await held.reached;
  assert.ok(fs.statSync(join(root, 'new')).isDirectory(), 'A made the directory');
  assert.deepEqual(seen.synced, [], "nothing fsynced yet: new's entry is not durable");
  return { root, seen, held, first };
}

const OBSERVERS: Record<string, (path: string) => Promise<void>> = {
  writeFile: (path) => writeFile(path, 'b'),
  'writeFile, mkdirs': (path) => writeFile(path, 'b', { mkdirs: true }),
  writeFileSync: (path) => {
    writeFileSync(path, 'b');
    return Promise.resolve();
  },
  openAtomic: async (path) => {
    const file = await openAtomic(path);
    await file.write('b');
    await file.commit();
  },
  writeFiles: async (path) => {
    const [result] = await writeFiles({ [path]: 'b' });
    assert.equal(result?.status, 'written');
  },
};

for (const [name, observe] of Object.entries(OBSERVERS)) {
  test(`${name} into a directory another write just made resolves once its entry is durable`, async (t) => {
    const { root, seen, held, first } = await heldCreator(t);
    await observe(join(root, 'new', 'b'));
    // B resolved: `new` and its entry in `root` are on disk, whatever A is doing.
    assert.ok(seen.synced.includes(join(root, 'new')), 'B fsynced its own directory');
    assert.ok(seen.synced.includes(root), "B fsynced root: new's entry is durable");
    held.release();
    await first;
    assert.equal(fs.readFileSync(join(root, 'new', 'a'), 'utf8'), 'a');
    assert.equal(fs.readFileSync(join(root, 'new', 'b'), 'utf8'), 'b');
  });
}

test('a write resolved before the directory existed, run after another made it, waits too', async (t) => {
  const root = fs.realpathSync(tempDir(t));
  const seen = watch(t);
  // Both writes find `new` missing when called. The first to open `root` (its first step) is
  // held there: it is the observer, and the other one makes `new` and is held before it
  // fsyncs root. Which of the two is which is the scheduler's choice, so the test does not
  // assume it.
  const observerHeld = seen.hold('open', (subject) => subject === root);
  const creatorHeld = seen.hold('fsync', (subject) => subject === root);
  const writes = [
    writeFile(join(root, 'new', 'a'), 'a', { mkdirs: true }),
    writeFile(join(root, 'new', 'b'), 'b', { mkdirs: true }),
  ];
  await observerHeld.reached;
  await creatorHeld.reached;
  assert.ok(fs.statSync(join(root, 'new')).isDirectory(), 'the creator made the directory');
  observerHeld.release();
  // The observer resolves while the creator is still held before its fsync of root.
  await Promise.race(writes);
  assert.ok(seen.synced.includes(root), "the observer fsynced root: new's entry is durable");
  creatorHeld.release();
  await Promise.all(writes);
  assert.equal(fs.readFileSync(join(root, 'new', 'a'), 'utf8'), 'a');
  assert.equal(fs.readFileSync(join(root, 'new', 'b'), 'utf8'), 'b');
});

test('a directory left behind by a failed write is made durable by the next write in it', async (t) => {
  const { root, seen, held, first } = await heldCreator(t);
  await writeFile(join(root, 'new', 'b'), 'b');
  // A's fsync of root fails: A removes what it made, but `new` holds B's file and stays.
  held.release('EIO');
  await assert.rejects(first, { code: 'EIO', phase: 'mkdirs' });
  assert.deepEqual(fs.readdirSync(join(root, 'new')), ['b']);
  const before = seen.synced.length;
  await writeFile(join(root, 'new', 'c'), 'c');
  assert.ok(seen.synced.slice(before).includes(root), 'C fsynced root');
  // Once durable, no more: D fsyncs only its own directory.
  const then = seen.synced.length;
  await writeFile(join(root, 'new', 'd'), 'd');
  assert.ok(seen.synced.slice(then).includes(join(root, 'new')));
  assert.ok(!seen.synced.slice(then).includes(root), 'D did not fsync root again');
  assert.deepEqual(temps(join(root, 'new')), []);
});

test('a write without mkdirs called behind one that makes its directories waits for them, in call order', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a', 'b', 'f');
  const made = writeFile(file, 'first', { mkdirs: true });
  // The directories are missing now; in call order they exist when this write's turn comes.
  const next = writeFile(file, 'second');
  // A synchronous write cannot wait: it is refused as with any write of the file in flight.
  assert.throws(
    () => {
      writeFileSync(file, 'sync');
    },
    { code: 'ERR_ATOMIC_SYNC_CONFLICT' },
  );
  // A streamed write starts reading at once, but creates its temp only in its turn.
  const streamed = writeFile(
    file,
    (async function* () {
      yield 'third';
    })(),
  );
  await Promise.all([made, next, streamed]);
  assert.equal(fs.readFileSync(file, 'utf8'), 'third');
  assert.deepEqual(temps(join(dir, 'a', 'b')), []);
  // Nothing queued: the directory is missing, and that is the error at once.
  await assert.rejects(writeFile(join(dir, 'x', 'f'), 'y'), { code: 'ENOENT', phase: 'resolve' });
});

test('a write without mkdirs behind a mkdirs write that fails: ENOENT in its turn, nothing made', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a', 'f');
  fs.writeFileSync(join(dir, 'blocker'), '');
  const before = openFdCount();
  instrument(t, [{ code: 'EACCES', when: (call) => call.name === 'mkdir' }]);
  const made = writeFile(file, 'first', { mkdirs: true });
  const next = writeFile(file, 'second');
  await assert.rejects(made, { code: 'EACCES', phase: 'mkdirs' });
  await assert.rejects(next, { code: 'ENOENT' });
  assert.deepEqual(fs.readdirSync(dir), ['blocker']);
  assert.equal(openFdCount(), before, 'descriptors after both failures');
});

test('a handle opened with mkdirs commits in call order with writes called after its directory appeared', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a', 'b', 'f');
  // Async: the write called before commit() is applied before the handle's content.
  const handle = await openAtomic(file, { mkdirs: true });
  await handle.write('handle');
  const written = writeFile(file, 'write');
  await Promise.all([written, handle.commit()]);
  assert.equal(fs.readFileSync(file, 'utf8'), 'handle');
  // Sync: its commit cannot wait for a write called before it, and is refused.
  const other = join(dir, 'c', 'f');
  const sync = openAtomicSync(other, { mkdirs: true });
  sync.write('sync');
  const pending = writeFile(other, 'async');
  assert.throws(
    () => {
      sync.commit();
    },
    { code: 'ERR_ATOMIC_SYNC_CONFLICT' },
  );
  // The refused handle removes its temp and the directory it made, unless the write got
  // there first; a write resolved into that directory then fails as the kernel would (a
  // known gap: the handle does not know a write of this process still needs it).
  const outcome = await pending.then(
    () => 'written',
    (error: unknown) => (error as { code?: string }).code,
  );
  if (outcome === 'written') {
    assert.equal(fs.readFileSync(other, 'utf8'), 'async');
    assert.deepEqual(temps(join(dir, 'c')), []);
  } else {
    assert.equal(outcome, 'ENOENT');
    assert.equal(fs.existsSync(join(dir, 'c')), false);
  }
});
