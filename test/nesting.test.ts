/**
 * Calls made from inside `update`'s fn (and from inside a streamed write's data source), and
 * the promise that nothing deadlocks silently within a process (src/core/path-queue.ts).
 *
 * Every write function called from inside the fn of an update of the same file must settle at
 * once with ERR_ATOMIC_LOCK_REENTRANT, having released whatever it opened: no temp file, the
 * same descriptors, the destination untouched — and the outer update completes and lets go of
 * the lock. A cycle of waits through other files is refused with ERR_ATOMIC_DEADLOCK.
 *
 * A hang is what these tests look for, so every wait is bounded: a call that has not settled
 * within BOUND_MS fails the test (the bound is far above what any of these calls takes; it is
 * a hang detector, not a measure of speed).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import {
  AtomicFsError,
  copyFile,
  download,
  openAtomic,
  openAtomicSync,
  update,
  updateJson,
  updateSync,
  writeFile,
  writeFileSync,
  writeFiles,
  writeJson,
} from '../src/index.js';
import { heldLocks } from '../src/json/lock.js';
import { newFds, openFds, tempDir, temps } from './support/helpers.js';
import { type TestServer, serve } from './support/http.js';

const BOUND_MS = 15_000;

/** `promise`, or a failure of the test if it has not settled within BOUND_MS. */
async function settles<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} did not settle within ${BOUND_MS} ms: a deadlock`));
    }, BOUND_MS);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error a call settled with (or 'resolved'). */
async function outcome(what: string, run: () => unknown): Promise<unknown> {
  return settles(
    what,
    (async () => {
      await run();
    })().then(
      () => 'resolved',
      (error: unknown) => error,
    ),
  );
}

function codeOf(value: unknown): string {
  return value instanceof AtomicFsError ? value.code : String(value);
}

interface Nested {
  readonly dir: string;
  readonly dest: string;
  /** What the refused call settled with. */
  readonly inner: unknown;
}

/**
 * Run `call` from inside the fn of an update of `dest` (holding "old"), and check every
 * guarantee of a refused call: it settles with `code`; no temp file is left, no descriptor
 * (compared inside fn, before and after the call); the destination is unchanged; the outer
 * update completes; the lock is free again (a later update, which must not wait, works).
 */
async function refusedInside(
  t: TestContext,
  call: (dest: string, dir: string) => unknown,
  code = 'ERR_ATOMIC_LOCK_REENTRANT',
): Promise<Nested> {
  const dir = tempDir(t);
  const dest = join(dir, 'file.txt');
  fs.writeFileSync(dest, 'old');
  let inner: unknown;
  let leaked: string[] = [];
  let left: string[] = [];
  const result = await settles(
    'the outer update',
    update(dest, async () => {
      const before = openFds();
      inner = await outcome('the refused call', () => call(dest, dir));
      leaked = newFds(before);
      left = temps(dir);
      return undefined;
    }),
  );
  assert.equal(String(result), 'old', 'the outer update completed (and wrote nothing)');
  assert.ok(inner instanceof AtomicFsError, `settled with ${String(inner)}`);
  assert.equal(inner.code, code, inner.message);
  assert.deepEqual(leaked, [], 'no descriptor left open');
  assert.deepEqual(left, [], 'no temp file left');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'old', 'the destination is unchanged');
  // The lock is free: an update that may not wait at all goes through.
  await settles(
    'a later update',
    update(dest, () => 'later', { timeoutMs: 0 }),
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), 'later');
  assert.deepEqual(heldLocks(), []);
  assert.deepEqual(temps(dir), [], 'no temp file appeared afterwards');
  return { dir, dest, inner };
}

async function* chunks(...parts: string[]): AsyncGenerator<string> {
  for (const part of parts) {
    await new Promise((resolve) => setImmediate(resolve));
    yield part;
  }
}

describe('a write of the same file from inside update(fn) is refused and releases everything', () => {
  test('writeFile with bytes', async (t) => {
    await refusedInside(t, (dest) => writeFile(dest, 'inner'));
  });

  test('writeFile with a stream: nothing is read, no temp file is made', async (t) => {
    let read = 0;
    async function* source(): AsyncGenerator<string> {
      read += 1;
      yield* chunks('a', 'b', 'c');
    }
    await refusedInside(t, (dest) => writeFile(dest, source()));
    assert.equal(read, 0, 'the source was never read');
  });

  test('openAtomic: refused before a temp file exists', async (t) => {
    await refusedInside(t, async (dest) => {
      const file = await openAtomic(dest);
      await file.write('inner');
      await file.commit();
    });
  });

  test('openAtomic opened before, committed inside: the handle fails and removes its temp', async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'file.txt');
    fs.writeFileSync(dest, 'old');
    const before = openFds();
    const file = await openAtomic(dest);
    await file.write('from the handle');
    let inner: unknown;
    await settles(
      'the outer update',
      update(dest, async () => {
        inner = await outcome('the commit', () => file.commit());
        return undefined;
      }),
    );
    assert.equal(codeOf(inner), 'ERR_ATOMIC_LOCK_REENTRANT');
    assert.deepEqual(newFds(before), [], 'the handle closed its descriptor');
    assert.deepEqual(temps(dir), [], 'and removed its temp file');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old');
    // The handle is failed: commit again reports the same refusal; discard does nothing.
    assert.equal(
      codeOf(await outcome('commit again', () => file.commit())),
      'ERR_ATOMIC_LOCK_REENTRANT',
    );
    await file.discard();
    await settles(
      'a later update',
      update(dest, () => 'later', { timeoutMs: 0 }),
    );
    assert.equal(fs.readFileSync(dest, 'utf8'), 'later');
  });

  test('writeFiles naming the file: the whole call is refused, nothing touched', async (t) => {
    const { dir } = await refusedInside(t, (dest, at) =>
      writeFiles({ [join(at, 'other.txt')]: 'other', [dest]: 'inner' }),
    );
    assert.equal(fs.existsSync(join(dir, 'other.txt')), false, 'no other file written either');
  });

  test('download: refused before any request is made', async (t) => {
    const server: TestServer = await serve((_req, res) => {
      res.end('body');
    });
    t.after(() => server.close());
    await refusedInside(t, (dest) => download(`${server.base}/file`, dest));
    assert.equal(server.requests.length, 0, 'no request was made');
  });

  test('copyFile', async (t) => {
    await refusedInside(t, (dest, dir) => {
      const src = join(dir, 'src.txt');
      fs.writeFileSync(src, 'source');
      return copyFile(src, dest);
    });
  });

  test('writeJson', async (t) => {
    await refusedInside(t, (dest) => writeJson(dest, { inner: true }));
  });

  test('update and updateJson, also through another name of the file', async (t) => {
    await refusedInside(t, (dest) => update(dest, () => 'inner'));
    await refusedInside(t, (dest, dir) => {
      fs.symlinkSync(dest, join(dir, 'alias.txt'));
      return updateJson(join(dir, 'alias.txt'), () => 'inner');
    });
  });

  test('the sync twins: writeFileSync, openAtomicSync().commit(), updateSync', async (t) => {
    await refusedInside(t, (dest) => {
      writeFileSync(dest, 'inner');
    });
    await refusedInside(t, (dest) => {
      const file = openAtomicSync(dest);
      file.write('inner');
      file.commit();
    });
    await refusedInside(t, (dest) => updateSync(dest, () => 'inner'));
  });

  test('two updates deep: A → update(B) → writeFile(A) is re-entry too', async (t) => {
    let middle: unknown;
    await refusedInside(t, async (dest, dir) => {
      middle = await update(join(dir, 'b.txt'), async () => {
        await writeFile(dest, 'inner');
        return 'b';
      });
    });
    assert.equal(middle, undefined, 'the middle update failed with the inner refusal');
  });
});

describe('no silent deadlock within a process', () => {
  test('update(A) whose fn writes B, while writeFiles({ A, B }) waits for A', async (t) => {
    const dir = tempDir(t);
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    fs.writeFileSync(a, 'a0');
    fs.writeFileSync(b, 'b0');
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const updated = update(a, async () => {
      await gate;
      await writeFile(b, 'b from fn');
      return 'a from fn';
    });
    await new Promise((resolve) => setImmediate(resolve));
    const group = writeFiles({ [a]: 'a from group', [b]: 'b from group' });
    open();
    const [result, outcomes] = await settles(
      'the update and the group',
      Promise.all([updated, group]),
    );
    assert.equal(String(result), 'a from fn');
    assert.deepEqual(
      outcomes.map((entry) => entry.status),
      ['written', 'written'],
    );
    // Call order per file: a — update, then group; b — group, then the write inside fn.
    assert.equal(fs.readFileSync(a, 'utf8'), 'a from group');
    assert.equal(fs.readFileSync(b, 'utf8'), 'b from fn');
    assert.deepEqual(temps(dir), []);
    assert.deepEqual(heldLocks(), []);
    await settles(
      'a later update',
      update(a, () => 'later', { timeoutMs: 0 }),
    );
  });

  test('nested updates A → B and B → A at once: one nested call is refused, both complete', async (t) => {
    const dir = tempDir(t);
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    let inside = 0;
    let bothInside: () => void = () => undefined;
    const both = new Promise<void>((resolve) => (bothInside = resolve));
    const nested: string[] = [];
    const cross = (outer: string, inner: string) =>
      update(outer, async () => {
        inside += 1;
        if (inside === 2) bothInside();
        await both;
        nested.push(
          codeOf(
            await update(inner, () => `${inner} from ${outer}`).then(
              () => 'written',
              (error: unknown) => error,
            ),
          ),
        );
        return `${outer} itself`;
      });
    await settles('the two updates', Promise.all([cross(a, b), cross(b, a)]));
    assert.deepEqual(nested.sort(), ['ERR_ATOMIC_DEADLOCK', 'written'].sort());
    assert.deepEqual(heldLocks(), []);
    assert.deepEqual(temps(dir), []);
    for (const file of [a, b]) {
      await settles(
        'a later update',
        update(file, (c) => c, { timeoutMs: 0 }),
      );
    }
  });

  test('a streamed write whose source writes the same file is refused; the stream completes', async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'file.txt');
    let inner: unknown;
    async function* source(): AsyncGenerator<string> {
      yield 'one ';
      inner = await writeFile(dest, 'inner').then(
        () => 'resolved',
        (error: unknown) => error,
      );
      yield 'two';
    }
    await settles('the streamed write', writeFile(dest, source()));
    assert.equal(codeOf(inner), 'ERR_ATOMIC_LOCK_REENTRANT');
    assert.equal(fs.readFileSync(dest, 'utf8'), 'one two');
    assert.deepEqual(temps(dir), []);
  });
});
