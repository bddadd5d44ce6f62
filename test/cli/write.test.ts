/**
 * `atomic-fs write`: standard input, to its end, replaces FILE — exactly (binary, empty,
 * 100 MiB streamed in bounded memory), with the flags applied, FILE untouched on failure, and
 * the sponge case: the input read from the very file being replaced.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { instrument, openFdCount, temps, tempDir } from '../support/helpers.js';
import { cli, shellQuote, spawnCli, spawnProcess, BIN } from '../support/cli.js';

const mode = (path: string): number => fs.statSync(path).mode & 0o7777;

/** Every byte value, then random bytes, in chunks of awkward sizes. */
function binaryChunks(): Buffer[] {
  const all = Buffer.concat([
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    randomBytes(3 << 20),
  ]);
  const chunks: Buffer[] = [];
  for (let at = 0, size = 1; at < all.length; at += size, size = (size * 7 + 13) % 100_003) {
    chunks.push(all.subarray(at, at + size));
  }
  return chunks;
}

test('write: binary input is written byte for byte; nothing printed', async (t) => {
  const dir = tempDir(t);
  const chunks = binaryChunks();
  const result = await cli(['write', 'out.bin'], { cwd: dir, stdin: Readable.from(chunks) });
  assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
  assert.ok(fs.readFileSync(join(dir, 'out.bin')).equals(Buffer.concat(chunks)));
  assert.deepEqual(temps(dir), []);
});

test('write: empty input makes an empty file, and empties an existing one', async (t) => {
  const dir = tempDir(t);
  const created = await cli(['write', 'new.txt'], { cwd: dir, stdin: Readable.from([]) });
  assert.equal(created.code, 0, created.stderr);
  assert.equal(fs.readFileSync(join(dir, 'new.txt')).length, 0);
  fs.writeFileSync(join(dir, 'old.txt'), 'old content');
  const emptied = await cli(['write', 'old.txt'], { cwd: dir, stdin: Readable.from([]) });
  assert.equal(emptied.code, 0, emptied.stderr);
  assert.equal(fs.readFileSync(join(dir, 'old.txt')).length, 0);
});

test('write: --mode in octal forms; the existing mode is kept otherwise', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'f');
  fs.writeFileSync(file, 'x', { mode: 0o640 });
  fs.chmodSync(file, 0o640);
  assert.equal((await cli(['write', file], { stdin: Readable.from(['kept']) })).code, 0);
  assert.equal(mode(file), 0o640);
  for (const [text, expected] of [
    ['600', 0o600],
    ['0644', 0o644],
    ['0o755', 0o755],
    ['0O700', 0o700],
    ['4750', 0o4750],
  ] as const) {
    const result = await cli(['write', '--mode', text, file], { stdin: Readable.from([text]) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(mode(file), expected, text);
    assert.equal(fs.readFileSync(file, 'utf8'), text);
  }
});

test('write: --no-overwrite creates, then refuses (EEXIST, FILE untouched)', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'once.txt');
  const first = await cli(['write', '--no-overwrite', file], { stdin: Readable.from(['first']) });
  assert.equal(first.code, 0, first.stderr);
  const second = await cli(['write', '--no-overwrite', file], { stdin: Readable.from(['again']) });
  assert.equal(second.code, 1);
  assert.equal(second.stdout, '');
  assert.match(second.stderr, /^atomic-fs write: EEXIST: .*'.*once\.txt'/);
  assert.equal(second.stderr.trimEnd().split('\n').length, 1);
  assert.equal(fs.readFileSync(file, 'utf8'), 'first');
  assert.deepEqual(temps(dir), []);
});

test('write: --mkdirs creates parents; without it, ENOENT names the path and the flag', async (t) => {
  const dir = tempDir(t);
  const missing = await cli(['write', 'a/b/c.txt'], { cwd: dir, stdin: Readable.from(['x']) });
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^atomic-fs write: ENOENT: parent directory does not exist \(while resolving the destination for '[^']*\/a\/b\/c\.txt': open '[^']*\/a'\); pass --mkdirs to create it\n$/,
  );
  assert.match(missing.stderr, /a\/b\/c\.txt/);
  assert.deepEqual(fs.readdirSync(dir), []);
  const made = await cli(['write', '--mkdirs', '--durability', 'file', 'a/b/c.txt'], {
    cwd: dir,
    stdin: Readable.from(['deep']),
  });
  assert.equal(made.code, 0, made.stderr);
  assert.equal(fs.readFileSync(join(dir, 'a/b/c.txt'), 'utf8'), 'deep');
});

test('write: a failing input leaves FILE as it was, no temp, one line with the code', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'keep.txt');
  fs.writeFileSync(file, 'precious');
  const input = new Readable({
    read() {
      this.push(Buffer.alloc(200_000, 'y'));
      this.destroy(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
    },
  });
  const result = await cli(['write', file], { stdin: input });
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr,
    `atomic-fs write: EIO: i/o error, read (while reading the data source for '${file}')\n`,
  );
  assert.equal(fs.readFileSync(file, 'utf8'), 'precious');
  assert.deepEqual(temps(dir), []);
});

test('write: a failing write or fsync is one line with the code; FILE and descriptors as they were', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'keep.txt');
  fs.writeFileSync(file, 'precious');
  const fds = openFdCount();
  const failing = new Set(['write', 'fsync']);
  instrument(t, [{ when: (call) => failing.has(call.name), code: 'EIO' }]);
  // 1 MiB: written while the input streams in, so the write fails before the input ends.
  const cases: [string, RegExp][] = [
    ['write', /\(while writing the temp file for '[^']*\/keep\.txt'/],
    ['fsync', /\(while flushing the temp file to disk for '[^']*\/keep\.txt'/],
  ];
  for (const [op, where] of cases) {
    failing.clear();
    failing.add(op);
    const input = Readable.from(Array.from({ length: 16 }, () => Buffer.alloc(64 * 1024, 1)));
    const result = await cli(['write', file], { stdin: input });
    assert.equal(result.code, 1, op);
    assert.match(result.stderr, /^atomic-fs write: EIO: [^\n]*\n$/);
    assert.match(result.stderr, where);
    assert.equal(fs.readFileSync(file, 'utf8'), 'precious');
    assert.deepEqual(temps(dir), []);
    assert.equal(openFdCount(), fds);
  }
});

test('write: the input may be FILE itself (read while the new version is built)', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'data.txt');
  const lines = Array.from({ length: 200_000 }, (_, i) => `line ${i}\n`).join('');
  fs.writeFileSync(file, lines);
  const upper = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, chunk.toString('latin1').toUpperCase());
    },
  });
  const input = fs.createReadStream(file, { highWaterMark: 4096 }).pipe(upper);
  const result = await cli(['write', file], { stdin: input });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(fs.readFileSync(file, 'utf8'), lines.toUpperCase());
});

test('write (spawned): the sponge — sort data.txt | atomic-fs write data.txt', async (t) => {
  const dir = tempDir(t);
  // Larger than a pipe's buffer, so that a plain `> data.txt` would truncate it mid-read.
  const words = Array.from({ length: 400_000 }, (_, i) => `w${(i * 7919) % 400_000}\n`);
  fs.writeFileSync(join(dir, 'data.txt'), words.join(''));
  const node = `${shellQuote(process.execPath)} ${shellQuote(BIN)}`;
  const sorted = await spawnProcess(
    'sh',
    ['-c', `LC_ALL=C sort data.txt | ${node} write data.txt`],
    { cwd: dir },
  );
  assert.equal(sorted.code, 0, sorted.stderr);
  assert.equal(fs.readFileSync(join(dir, 'data.txt'), 'utf8'), [...words].sort().join(''));
  const upper = await spawnProcess(
    'sh',
    ['-c', `cat data.txt | tr a-z A-Z | ${node} write data.txt`],
    { cwd: dir },
  );
  assert.equal(upper.code, 0, upper.stderr);
  assert.equal(
    fs.readFileSync(join(dir, 'data.txt'), 'utf8'),
    [...words].sort().join('').toUpperCase(),
  );
  assert.deepEqual(temps(dir), []);
});

test('write (spawned): 100 MiB through a pipe, exact (SHA-256), in bounded memory', async (t) => {
  const dir = tempDir(t);
  const total = 100 * 1024 * 1024;
  const block = randomBytes(1 << 20);
  const sent = createHash('sha256');
  // Each MiB differs (its index in front), so a lost, doubled or reordered block shows.
  const input = Readable.from(
    (function* () {
      for (let i = 0; i < total >> 20; i += 1) {
        const chunk = Buffer.from(block);
        chunk.writeUInt32BE(i, 0);
        sent.update(chunk);
        yield chunk;
      }
    })(),
  );
  const rss =
    'process.on("exit",()=>process.stderr.write("maxrss="+process.resourceUsage().maxRSS+"\\n"))';
  const result = await spawnCli(['write', 'big.bin'], {
    cwd: dir,
    input,
    nodeArgs: ['--import', `data:text/javascript,${encodeURIComponent(rss)}`],
  });
  assert.equal(result.code, 0, result.stderr);
  const file = join(dir, 'big.bin');
  assert.equal(fs.statSync(file).size, total);
  const written = createHash('sha256');
  await pipeline(fs.createReadStream(file), written);
  assert.equal(written.digest('hex'), sent.digest('hex'));
  // Buffered whole, 100 MiB would be resident; streamed, the peak stays near a bare node's.
  const baseline = await spawnCli(['--version'], {
    nodeArgs: ['--import', `data:text/javascript,${encodeURIComponent(rss)}`],
  });
  const peak = (text: string): number => Number(/maxrss=(\d+)/.exec(text)?.[1]) * 1024;
  const used = peak(result.stderr) - peak(baseline.stderr);
  assert.ok(used < 64 * 1024 * 1024, `peak memory ${used} bytes above a bare node`);
});

test('write (spawned): standard input that is a directory is refused, not read as empty', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'f'), 'kept');
  const fd = fs.openSync(dir, 'r');
  t.after(() => {
    fs.closeSync(fd);
  });
  const result = await spawnCli(['write', 'f'], { cwd: dir, input: fd });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /^atomic-fs write: EISDIR: standard input is a directory/);
  assert.equal(fs.readFileSync(join(dir, 'f'), 'utf8'), 'kept');
  assert.deepEqual(temps(dir), []);
});

test('write: usage errors exit 2 before anything is read or created', async (t) => {
  const dir = tempDir(t);
  for (const argv of [
    ['write'],
    ['write', 'a', 'b'],
    ['write', ''],
    ['write', '--mode', '8', 'f'],
    ['write', '--mode', '10000', 'f'],
    ['write', '--mode', 'u+x', 'f'],
    ['write', '--durability', 'fsync', 'f'],
    ['write', '--overwrite', 'f'],
  ]) {
    const result = await cli(argv, { cwd: dir, stdin: Readable.from(['x']) });
    assert.equal(result.code, 2, argv.join(' '));
    assert.match(result.stderr, /\nRun 'atomic-fs write --help' for usage\.\n$/);
    assert.equal(result.stderr.trimEnd().split('\n').length, 2, result.stderr);
  }
  assert.deepEqual(fs.readdirSync(dir), []);
  // After `--`, a name that looks like a flag is a file name.
  const dashed = await cli(['write', '--', '--mode'], { cwd: dir, stdin: Readable.from(['d']) });
  assert.equal(dashed.code, 0, dashed.stderr);
  assert.equal(fs.readFileSync(join(dir, '--mode'), 'utf8'), 'd');
});
