// The compatibility suite: the core guarantees of atomic-fs, checked on the built package
// (dist/) under whatever runtime runs this file — Node, Bun or Deno. Plain JavaScript and
// node:assert only (no node:test, no TypeScript), so that every runtime can run it as it is.
// `npm run compat` runs it under each runtime and prints the table (scripts/compat.js).
//
// Each check prints `BEGIN <name>` before it starts (so that a crash can be attributed), and
// the file ends with one line `COMPAT-RESULT <json>`: the runtime, its version, and for each
// check whether it passed, with the error if not.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  AtomicFsError,
  copyFile,
  openAtomic,
  openAtomicSync,
  updateJson,
  updateJsonSync,
  writeDirectory,
  writeFile,
  writeFileSync,
} from '../dist/index.js';
import { ioThreadReady } from '../dist/core/io-thread.js';

const versions = process.versions;
const runtime = versions.bun !== undefined ? 'bun' : versions.deno !== undefined ? 'deno' : 'node';
const version = versions.bun ?? versions.deno ?? versions.node;

const root = fs.mkdtempSync(join(tmpdir(), `afs-compat-${runtime}-`));
let count = 0;
function freshDir() {
  count += 1;
  const dir = join(root, String(count));
  fs.mkdirSync(dir);
  return dir;
}

/** Names in `dir` that look like temp files, staged trees or anything else of ours. */
function leftovers(dir) {
  return fs.readdirSync(dir).filter((name) => /\.afs-/.test(name) && !name.endsWith('.afs-lock'));
}

function modeOf(path) {
  return fs.statSync(path).mode & 0o7777;
}

async function rejects(promise, expected) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof AtomicFsError, `an AtomicFsError, got ${String(error)}`);
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(error[key], value, `${key} of ${error.message}`);
    }
    return true;
  });
}

function throws(run, expected) {
  assert.throws(run, (error) => {
    assert.ok(error instanceof AtomicFsError, `an AtomicFsError, got ${String(error)}`);
    for (const [key, value] of Object.entries(expected)) {
      assert.equal(error[key], value, `${key} of ${error.message}`);
    }
    return true;
  });
}

/** How to start this runtime again (scripts/compat.js says: Deno needs `run` and flags). */
function selfCommand() {
  const self = process.env.COMPAT_SELF;
  return self === undefined ? [process.execPath] : JSON.parse(self);
}

const checks = [];
function check(name, run) {
  checks.push({ name, run });
}

// --- writeFile ---------------------------------------------------------------------------

check('writeFile: exact bytes (string, Buffer, TypedArray, stream, async iterable)', async () => {
  const dir = freshDir();
  const dest = join(dir, 'f');
  await writeFile(dest, 'héllo');
  assert.equal(fs.readFileSync(dest, 'utf8'), 'héllo');
  await writeFile(dest, Buffer.from([0, 1, 2, 255]));
  assert.deepEqual([...fs.readFileSync(dest)], [0, 1, 2, 255]);
  await writeFile(dest, new Float64Array([1, 2, 3, 4]));
  assert.equal(fs.statSync(dest).size, 32, 'a Float64Array(4) is 32 bytes');
  await writeFile(dest, Readable.from([Buffer.from('a'), Buffer.from('b')]));
  assert.equal(fs.readFileSync(dest, 'utf8'), 'ab');
  await writeFile(
    dest,
    (async function* chunks() {
      yield 'c';
      yield new Uint8Array([100]);
    })(),
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), 'cd');
  const big = Buffer.alloc(3 * 1024 * 1024 + 7, 7);
  await writeFile(dest, big);
  assert.ok(fs.readFileSync(dest).equals(big), '3 MiB');
  assert.deepEqual(leftovers(dir), []);
});

check('writeFile: modes (new, explicit, preserved) and no temp left', async () => {
  const dir = freshDir();
  const previous = process.umask(0o022);
  try {
    await writeFile(join(dir, 'new'), 'x');
    assert.equal(modeOf(join(dir, 'new')), 0o644, 'a new file: 0666 & ~umask');
  } finally {
    process.umask(previous);
  }
  await writeFile(join(dir, 'secret'), 'x', { mode: 0o600 });
  assert.equal(modeOf(join(dir, 'secret')), 0o600);
  fs.chmodSync(join(dir, 'secret'), 0o640);
  await writeFile(join(dir, 'secret'), 'y');
  assert.equal(modeOf(join(dir, 'secret')), 0o640, 'an existing mode is kept');
  assert.deepEqual(leftovers(dir), []);
});

check('writeFile: errors (ENOENT, EISDIR, EEXIST create-only, bad arguments)', async () => {
  const dir = freshDir();
  await rejects(writeFile(join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
  fs.mkdirSync(join(dir, 'd'));
  await rejects(writeFile(join(dir, 'd'), 'x'), { code: 'EISDIR' });
  fs.writeFileSync(join(dir, 'f'), 'old');
  await rejects(writeFile(join(dir, 'f'), 'new', { overwrite: false }), {
    code: 'EEXIST',
    phase: 'link',
  });
  assert.equal(fs.readFileSync(join(dir, 'f'), 'utf8'), 'old');
  await assert.rejects(writeFile(join(dir, 'f'), 42), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(writeFile(join(dir, 'f'), 'x', { mode: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['d', 'f']);
});

check('writeFile: 100 concurrent writes, the last one wins, nothing left', async () => {
  const dir = freshDir();
  const dest = join(dir, 'f');
  await Promise.all(Array.from({ length: 100 }, (_, i) => writeFile(dest, `version ${i}`)));
  assert.equal(fs.readFileSync(dest, 'utf8'), 'version 99');
  assert.deepEqual(fs.readdirSync(dir), ['f']);
});

check('writeFile: the I/O thread (worker_threads) starts and takes writes', async () => {
  assert.equal(await ioThreadReady(), true, 'the I/O thread is up');
  const dir = freshDir();
  for (let i = 0; i < 20; i += 1) await writeFile(join(dir, 'f'), `w${i}`);
  assert.equal(fs.readFileSync(join(dir, 'f'), 'utf8'), 'w19');
  assert.deepEqual(fs.readdirSync(dir), ['f']);
});

// --- writeFileSync -----------------------------------------------------------------------

check('writeFileSync: bytes, modes, errors, no temp left', () => {
  const dir = freshDir();
  const dest = join(dir, 'f');
  writeFileSync(dest, new Uint16Array([1, 2, 3]));
  assert.equal(fs.statSync(dest).size, 6);
  writeFileSync(dest, 'text', { mode: 0o600 });
  assert.equal(fs.readFileSync(dest, 'utf8'), 'text');
  assert.equal(modeOf(dest), 0o600);
  throws(
    () => {
      writeFileSync(join(dir, 'missing', 'f'), 'x');
    },
    { code: 'ENOENT' },
  );
  throws(
    () => {
      writeFileSync(dest, 'x', { overwrite: false });
    },
    { code: 'EEXIST' },
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), 'text');
  assert.deepEqual(fs.readdirSync(dir), ['f']);
});

// --- openAtomic ----------------------------------------------------------------------------

check(
  'openAtomic: nothing visible until commit; the temp never wider; discard leaves nothing',
  async () => {
    const dir = freshDir();
    const dest = join(dir, 'f');
    fs.writeFileSync(dest, 'old');
    const file = await openAtomic(dest, { mode: 0o600 });
    await file.write('new ');
    await file.write(Buffer.from('content'));
    assert.equal(fs.readFileSync(dest, 'utf8'), 'old', 'not visible before commit');
    assert.equal(modeOf(file.tempPath) & 0o077, 0, 'the temp is never readable by others');
    await file.commit();
    assert.equal(fs.readFileSync(dest, 'utf8'), 'new content');
    assert.equal(modeOf(dest), 0o600);
    const dropped = await openAtomic(dest);
    await dropped.write('dropped');
    await dropped[Symbol.asyncDispose]();
    assert.equal(fs.readFileSync(dest, 'utf8'), 'new content');
    assert.deepEqual(fs.readdirSync(dir), ['f']);
  },
);

check('openAtomicSync: write, commit, discard', () => {
  const dir = freshDir();
  const dest = join(dir, 'f');
  const file = openAtomicSync(dest);
  file.write('a');
  file.write('b');
  file.commit();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'ab');
  const dropped = openAtomicSync(dest);
  dropped.write('x');
  dropped.discard();
  assert.equal(fs.readFileSync(dest, 'utf8'), 'ab');
  assert.deepEqual(fs.readdirSync(dir), ['f']);
});

// --- updateJson (the cross-process lock) -------------------------------------------------------

check('updateJson: no lost update among 40 concurrent increments; lock sidecar kept', async () => {
  const dir = freshDir();
  const dest = join(dir, 'counter.json');
  await Promise.all(
    Array.from({ length: 40 }, () =>
      updateJson(dest, (current) => ({ count: current.count + 1 }), { default: { count: 0 } }),
    ),
  );
  assert.deepEqual(JSON.parse(fs.readFileSync(dest, 'utf8')), { count: 40 });
  updateJsonSync(dest, (current) => ({ count: current.count + 1 }));
  assert.deepEqual(JSON.parse(fs.readFileSync(dest, 'utf8')), { count: 41 });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['.counter.json.afs-lock', 'counter.json']);
});

check('updateJson: two processes, 100 increments each, none lost (the kernel lock)', async () => {
  const dir = freshDir();
  const dest = join(dir, 'counter.json');
  const self = selfCommand();
  const child = spawn(
    self[0],
    [...self.slice(1), fileURLToPath(new URL('increment.js', import.meta.url)), dest, '100'],
    {
      stdio: 'inherit',
    },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; i < 100; i += 1) {
    await updateJson(dest, (current) => ({ count: current.count + 1 }), { default: { count: 0 } });
  }
  assert.equal(await exited, 0, 'the other process succeeded');
  assert.deepEqual(JSON.parse(fs.readFileSync(dest, 'utf8')), { count: 200 });
});

// --- copyFile ------------------------------------------------------------------------------

check('copyFile: bytes, modes, same file, missing source, no temp left', async () => {
  const dir = freshDir();
  const src = join(dir, 'src');
  fs.writeFileSync(src, Buffer.alloc(100_000, 3));
  fs.chmodSync(src, 0o640);
  await copyFile(src, join(dir, 'copy'));
  assert.ok(fs.readFileSync(join(dir, 'copy')).equals(fs.readFileSync(src)));
  assert.equal(modeOf(join(dir, 'copy')), 0o640, "the source's mode");
  await copyFile(src, join(dir, 'ro'), { mode: 0o444 });
  assert.equal(modeOf(join(dir, 'ro')), 0o444);
  let progress = 0;
  await copyFile(src, join(dir, 'looped'), { onProgress: () => (progress += 1) });
  assert.ok(progress >= 2, 'progress reported');
  await rejects(copyFile(src, src), { code: 'ERR_ATOMIC_SAME_FILE' });
  await rejects(copyFile(join(dir, 'missing'), join(dir, 'x')), { code: 'ENOENT' });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['copy', 'looped', 'ro', 'src']);
});

// --- beyond the core: the atomic exchange of writeDirectory, and the native addon -------------

check('writeDirectory: replace a whole tree in one atomic exchange', async () => {
  const dir = freshDir();
  const site = join(dir, 'site');
  await writeDirectory(site, { 'index.html': 'v1', 'a/b.txt': 'b' });
  await writeDirectory(site, { 'index.html': 'v2' });
  assert.deepEqual(fs.readdirSync(site), ['index.html']);
  assert.equal(fs.readFileSync(join(site, 'index.html'), 'utf8'), 'v2');
  assert.deepEqual(fs.readdirSync(dir), ['site']);
});

check('writeDirectory with allowNonAtomic: two renames where there is no exchange', async () => {
  const dir = freshDir();
  const site = join(dir, 'site');
  await writeDirectory(site, { 'index.html': 'v1', 'a/b.txt': 'b' });
  await writeDirectory(site, { 'index.html': 'v2' }, { allowNonAtomic: true });
  assert.deepEqual(fs.readdirSync(site), ['index.html']);
  assert.equal(fs.readFileSync(join(site, 'index.html'), 'utf8'), 'v2');
  assert.deepEqual(fs.readdirSync(dir), ['site']);
});

check('fs-native-extensions: an error from the addon is an exception, not a crash', async () => {
  const self = selfCommand();
  const probe = spawn(
    self[0],
    [...self.slice(1), fileURLToPath(new URL('addon-probe.js', import.meta.url))],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  probe.stdout.on('data', (data) => (out += data));
  const [code, signal] = await new Promise((resolve) => {
    probe.once('exit', (...why) => resolve(why));
  });
  assert.equal(signal, null, `the probe was killed by ${signal}`);
  assert.equal(code, 0, 'the probe exited with 0');
  assert.equal(out.trim(), 'ENOENT,ENOENT');
});

// -----------------------------------------------------------------------------------------------

const results = [];
for (const { name, run } of checks) {
  process.stdout.write(`BEGIN ${name}\n`);
  try {
    await run();
    results.push({ name, ok: true });
    process.stdout.write(`ok ${name}\n`);
  } catch (error) {
    const detail =
      error instanceof Error ? `${error.code ?? error.name}: ${error.message}` : String(error);
    results.push({ name, ok: false, error: detail.split('\n')[0] });
    process.stdout.write(`FAIL ${name}\n  ${detail.split('\n').join('\n  ')}\n`);
  }
}
fs.rmSync(root, { recursive: true, force: true });
process.stdout.write(`COMPAT-RESULT ${JSON.stringify({ runtime, version, results })}\n`);
process.exitCode = results.every((result) => result.ok) ? 0 : 1;
