/**
 * cleanupTemps: writers SIGKILLed mid-write leave temp files; cleanupTemps removes exactly
 * those and nothing else — not a user's `.x.tmp`, not names that only look like ours, not a
 * directory named like a temp file, not the temp of a writer still alive. A dead writer's
 * temp link (replaceSymlink) is unlinked without touching what it points to.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AtomicFsError, cleanupTemps } from '../../src/index.js';
import { processExists } from '../../src/toolkit/cleanup-temps.js';
import { HOST_TAG, stagingName, tempName } from '../../src/core/temp-names.js';
import { list, needs, tempDir } from '../support/helpers.js';

const WRITER = fileURLToPath(new URL('../fixtures/stuck-writer.js', import.meta.url));
const HOUR = 60 * 60 * 1000;

interface Writer {
  readonly child: ChildProcess;
  readonly temp: string;
}

/** Start a writer on `dest`; resolves once its temp file exists. */
function startWriter(dest: string): Promise<Writer> {
  const child = spawn(process.execPath, [WRITER, dest], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (data: Buffer) => {
      out += data.toString();
      if (out.endsWith('\n')) resolve({ child, temp: out.trim() });
    });
    child.once('exit', (code) => {
      reject(new Error(`writer exited early with ${String(code)}`));
    });
  });
}

function kill(writer: Writer, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    writer.child.removeAllListeners('exit');
    // Wait for the exit: until it is reaped, a killed child is a zombie that kill(pid, 0) sees.
    writer.child.once('exit', () => {
      resolve();
    });
    writer.child.kill(signal);
  });
}

/** A dead pid: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(child.pid !== undefined);
  return child.pid;
}

function touch(path: string, content = 'x', ageMs = 0): string {
  fs.writeFileSync(path, content);
  if (ageMs > 0) {
    const when = new Date(Date.now() - ageMs);
    fs.utimesSync(path, when, when);
  }
  return path;
}

/** A temp name of another host (a different host tag). */
function foreignTemp(base: string, pid: number): string {
  const other = HOST_TAG === 'beef' ? 'cafe' : 'beef';
  return tempName(base, pid).replace(`-${HOST_TAG}-`, `-${other}-`);
}

describe('cleanupTemps', () => {
  test('after SIGKILLed writers: removes exactly their temps, and nothing else', async (t) => {
    const dir = tempDir(t);
    const killedCount = 4;
    const writers = await Promise.all(
      Array.from({ length: killedCount + 1 }, (_, i) => startWriter(join(dir, `file-${i}.json`))),
    );
    const live = writers.pop();
    assert.ok(live !== undefined);
    t.after(() => kill(live, 'SIGKILL'));
    await Promise.all(writers.map((writer) => kill(writer, 'SIGKILL')));
    for (const writer of writers) assert.ok(fs.existsSync(writer.temp), 'SIGKILL left the temp');
    const dead = await deadPid();

    // Everything that must survive.
    const keep = [
      touch(join(dir, '.x.tmp'), 'a user file', 2 * HOUR),
      touch(join(dir, 'file-0.json'), 'committed data'),
      touch(join(dir, `.a.afs-${HOST_TAG}-${dead}-0123456789abcde.tmp`), '15 hex digits', 2 * HOUR),
      touch(join(dir, `.a.afs-${HOST_TAG}-${dead}-0123456789ABCDEF.tmp`), 'upper case', 2 * HOUR),
      touch(join(dir, `.a.afs-${HOST_TAG}-${dead}-0123456789abcdef.tmp.bak`), 'suffix', 2 * HOUR),
      touch(join(dir, `a.afs-${HOST_TAG}-${dead}-0123456789abcdef.tmp`), 'no dot', 2 * HOUR),
      touch(join(dir, `.a.atomic-${HOST_TAG}-${dead}-0123456789abcdef.tmp`), 'other tag', 2 * HOUR),
      touch(join(dir, tempName('mine.json')), 'this process is alive', 2 * HOUR),
      touch(join(dir, foreignTemp('recent.json', dead)), 'another host, recent'),
      live.temp,
    ];
    const dirLike = join(dir, tempName('dir', dead));
    fs.mkdirSync(dirLike);
    keep.push(dirLike);
    // A temp link of a dead replaceSymlink: the link goes, what it points to stays.
    const deadLink = join(dir, tempName('link', dead));
    fs.symlinkSync(join(dir, 'file-0.json'), deadLink);
    // Besides the killed writers' temps, these go too.
    const gone = [
      touch(join(dir, tempName('crashed.json', dead)), 'a dead writer of this host'),
      touch(join(dir, foreignTemp('old.json', dead)), 'another host, old', 2 * HOUR),
      deadLink,
      ...writers.map((writer) => writer.temp),
    ].sort();

    const wouldRemove = await cleanupTemps(dir, { dryRun: true });
    assert.deepEqual(wouldRemove, gone, 'dry run');
    for (const path of gone) assert.ok(fs.existsSync(path), 'a dry run removes nothing');

    const removed = await cleanupTemps(dir);
    assert.deepEqual(removed, gone);
    for (const path of gone) assert.ok(!fs.existsSync(path), `${path} removed`);
    for (const path of keep) assert.ok(fs.lstatSync(path), `${path} kept`);
    assert.ok(fs.existsSync(join(dir, 'file-0.json')), 'the temp link was not followed');
    assert.equal(list(dir).length, keep.length);
    assert.deepEqual(await cleanupTemps(dir), [], 'a second sweep finds nothing');
    process.stdout.write(
      `# cleanupTemps: ${killedCount} SIGKILLed writers, ${removed.length} temps removed (${writers.length} theirs, 2 planted dead), ${keep.length} files kept\n`,
    );
  });

  test('hostile names: links, FIFOs, directories and live pids named like a dead temp', async (t) => {
    if (!needs(t, process.platform === 'linux', 'FIFOs, symlinks and /proc (Linux)')) return;
    const dir = tempDir(t);
    const outside = tempDir(t);
    const dead = await deadPid();
    const victim = touch(join(outside, 'victim'), 'the victim file');
    const victimDir = join(outside, 'victim-dir');
    fs.mkdirSync(victimDir);
    // A dead writer's temp in the directory a link points to: only reachable through the link.
    const beyond = touch(join(victimDir, tempName('beyond', dead)), 'beyond', 2 * HOUR);
    const links = [
      [tempName('to-file', dead), victim],
      [tempName('dangling', dead), join(outside, 'missing')],
      [tempName('to-dir', dead), victimDir],
      [tempName('to-root', dead), '/'],
    ] as const;
    for (const [name, target] of links) fs.symlinkSync(target, join(dir, name));
    const fifo = join(dir, tempName('fifo', dead));
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    // A directory named like a temp, holding a user's file named like one too.
    const dirLike = join(dir, tempName('dir', dead));
    fs.mkdirSync(dirLike);
    const inDirLike = touch(join(dirLike, tempName('inside', process.pid)), 'a live temp');
    // Names whose owner cannot be told dead: pid 1 (alive, maybe another user's), pid 0, and
    // a pid no system has; recent, so the age rule keeps them too.
    const undecidable = [
      touch(join(dir, tempName('init', 1)), 'pid 1'),
      touch(join(dir, tempName('zero', 0)), 'pid 0'),
      touch(join(dir, tempName('huge', 2 ** 40)), 'pid 2^40'),
    ];
    // A hard link named like a dead temp: that name goes, the file it shares stays whole.
    const hardLink = join(dir, tempName('hard-link', dead));
    fs.linkSync(victim, hardLink);

    const removed = await cleanupTemps(dir, { recursive: true });
    // Links named like a dead writer's temp are what a killed replaceSymlink leaves: they go,
    // unlinked, never followed; so does the hard link's name. What they point to stays.
    assert.deepEqual(
      removed,
      [hardLink, ...links.map(([name]) => join(dir, name))].sort(),
      'the dead temp names, and nothing else',
    );
    assert.equal(fs.readFileSync(victim, 'utf8'), 'the victim file', 'the victim keeps its bytes');
    assert.equal(fs.statSync(victim).nlink, 1);
    assert.ok(fs.statSync(victimDir).isDirectory(), 'a linked directory stays');
    assert.ok(fs.existsSync(beyond), 'a symlinked directory is never entered');
    assert.ok(fs.lstatSync(fifo).isFIFO(), 'a FIFO is kept (and never opened)');
    assert.ok(fs.existsSync(inDirLike), 'a live temp in a directory named like a temp is kept');
    for (const path of undecidable) assert.ok(fs.existsSync(path), `${path} kept`);
    // Aged past the rule, only the names whose owner cannot be checked go: never pid 1's.
    for (const path of undecidable) {
      const old = new Date(Date.now() - 2 * HOUR);
      fs.utimesSync(path, old, old);
    }
    assert.deepEqual(await cleanupTemps(dir), undecidable.slice(1).sort());
    assert.ok(fs.existsSync(undecidable[0] ?? ''), 'pid 1 is alive: its temp is kept');
  });

  test('recursive: subdirectories at any depth, never through a symlink', async (t) => {
    const dir = tempDir(t);
    const dead = await deadPid();
    const deep = join(dir, 'a', 'b', 'c');
    fs.mkdirSync(deep, { recursive: true });
    const top = touch(join(dir, tempName('top', dead)));
    const nested = touch(join(deep, tempName('nested', dead)));
    const outside = tempDir(t);
    const elsewhere = touch(join(outside, tempName('elsewhere', dead)));
    fs.symlinkSync(outside, join(dir, 'a', 'link-to-outside'));
    assert.deepEqual(await cleanupTemps(dir), [top]);
    assert.ok(fs.existsSync(nested), 'not recursive by default');
    assert.deepEqual(await cleanupTemps(dir, { recursive: true }), [nested]);
    assert.ok(fs.existsSync(elsewhere), 'the symlinked directory is not entered');
  });

  test('recursive: the result is breadth first, names sorted within each directory', async (t) => {
    const dir = tempDir(t);
    const dead = await deadPid();
    for (const sub of ['b', 'a/c', 'a/c/d', 'e']) fs.mkdirSync(join(dir, sub), { recursive: true });
    const temps = ['a/c/d', 'e', '', 'a/c', 'b', 'a', 'e'].map((sub, i) =>
      touch(join(dir, sub, tempName(`f${i}`, dead))),
    );
    const byDepthThenPath = (path: string): [number, string] => [path.split('/').length, path];
    const expected = [...temps].sort((x, y) => {
      const [dx, px] = byDepthThenPath(x);
      const [dy, py] = byDepthThenPath(y);
      return dx === dy ? (px < py ? -1 : px > py ? 1 : 0) : dx - dy;
    });
    assert.deepEqual(await cleanupTemps(dir, { recursive: true }), expected);
  });

  test('the age rule: other hosts after olderThanMs; byOwner: false for every temp', async (t) => {
    const dir = tempDir(t);
    const dead = await deadPid();
    const foreign = touch(join(dir, foreignTemp('f', dead)), 'x', 10 * 60 * 1000);
    assert.deepEqual(await cleanupTemps(dir), [], 'ten minutes old: kept by default');
    assert.deepEqual(await cleanupTemps(dir, { olderThanMs: 5 * 60 * 1000 }), [foreign]);
    const liveOld = touch(join(dir, tempName('live')), 'x', 2 * HOUR);
    const deadNew = touch(join(dir, tempName('dead', dead)), 'x');
    assert.deepEqual(await cleanupTemps(dir, { byOwner: false, olderThanMs: Infinity }), []);
    assert.deepEqual(await cleanupTemps(dir, { byOwner: false }), [liveOld]);
    assert.ok(fs.existsSync(deadNew), 'byOwner: false keeps a recent temp of a dead writer');
  });

  test('a writer stopped by SIGTERM removes its own temp; nothing is left to clean', async (t) => {
    if (!needs(t, process.platform !== 'win32', 'POSIX signals')) return;
    const dir = tempDir(t);
    const writer = await startWriter(join(dir, 'f'));
    await kill(writer, 'SIGTERM');
    assert.ok(!fs.existsSync(writer.temp));
    assert.deepEqual(await cleanupTemps(dir), []);
  });

  test('processExists: this process, a reaped child, impossible pids', async () => {
    assert.equal(processExists(process.pid), true);
    assert.equal(processExists(await deadPid()), false);
    assert.equal(processExists(0), undefined);
    assert.equal(processExists(2 ** 40), undefined);
  });

  test('errors: a missing directory, a file, an abort', async (t) => {
    const dir = tempDir(t);
    const missing = join(dir, 'missing');
    await assert.rejects(cleanupTemps(missing), (error: unknown) => {
      assert.ok(error instanceof AtomicFsError);
      assert.equal(error.code, 'ENOENT');
      assert.equal(error.phase, 'scan');
      assert.equal(error.path, missing);
      return true;
    });
    await assert.rejects(cleanupTemps(touch(join(dir, 'file'))), { code: 'ENOTDIR' });
    const kept = touch(join(dir, tempName('t', await deadPid())));
    await assert.rejects(cleanupTemps(dir, { signal: AbortSignal.abort() }), {
      code: 'ABORT_ERR',
    });
    assert.ok(fs.existsSync(kept));
  });

  test('validates its options', async () => {
    const bad: [unknown, string][] = [
      [{ olderThanMs: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ olderThanMs: '1h' }, 'ERR_INVALID_ARG_TYPE'],
      [{ recursive: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
      [{ dryRun: 1 }, 'ERR_INVALID_ARG_TYPE'],
      [{ signal: {} }, 'ERR_INVALID_ARG_TYPE'],
      ['.', 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [options, code] of bad) {
      await assert.rejects(
        (cleanupTemps as (...a: unknown[]) => Promise<string[]>)('.', options),
        { code },
        JSON.stringify(options),
      );
    }
    await assert.rejects((cleanupTemps as (d: unknown) => Promise<string[]>)(7), {
      code: 'ERR_INVALID_ARG_TYPE',
    });
  });
});

describe('cleanupTemps and writeDirectory', () => {
  test('a dead writer’s staged tree is reclaimed without following links; kept trees stay', async (t) => {
    const dir = tempDir(t);
    const outside = tempDir(t);
    fs.writeFileSync(join(outside, 'precious'), 'not ours');
    const dead = await deadPid();
    const staged = join(dir, stagingName('site', dead));
    fs.mkdirSync(join(staged, 'sub'), { recursive: true });
    fs.writeFileSync(join(staged, 'sub', 'index.html'), 'half-staged');
    fs.symlinkSync(outside, join(staged, 'link-to-outside'));
    const live = join(dir, stagingName('site'));
    fs.mkdirSync(live);
    const kept = join(dir, '.site.afs-old-20261123T000000Z-0123abcd');
    fs.mkdirSync(kept);
    fs.writeFileSync(join(kept, 'index.html'), 'previous version, kept for rollback');
    const removed = await cleanupTemps(dir);
    assert.deepEqual(removed, [staged]);
    assert.deepEqual(list(dir), [live, kept].map((path) => path.split('/').at(-1)).sort());
    assert.equal(fs.readFileSync(join(outside, 'precious'), 'utf8'), 'not ours');
  });
});
