/**
 * The swaps of test/security/root-swaps.test.ts made deterministic: instead of racing a
 * second process, the test renames a directory aside and plants a symlink (or another
 * directory) under its name at exactly the moment that hurts most — just before or after a
 * given call of the library. Each would redirect a write, chown, chmod or unlink of a
 * library that goes on by path; through pinned directories none does. The directory worked
 * in is owned by `nobody` (the other user, whose moves the test plays), and the victims are
 * root's.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { type OpName, restoreSeam, seam } from '../../src/engine/fs.js';
import { AtomicFsError, cleanupTemps, replaceSymlink, writeDirectory } from '../../src/index.js';
import { parseStagingName, stagingName } from '../../src/core/temp-names.js';
import { isLinux, isRoot, list, needs, newFds, openFds, tempDir } from '../support/helpers.js';
import { pathNow } from './plant.js';

const NOBODY = 65534;
const NAMES = ['a.txt', 'b.txt', 'c.txt'];

interface Scene {
  /** The other user's directory, where root works. */
  readonly shared: string;
  /** Root's directory holding files named like the ones root works on. */
  readonly victim: string;
  /** Somewhere to move things aside to (the other user's too). */
  readonly aside: string;
}

function scene(t: TestContext): Scene {
  const top = tempDir(t, 'afs-pinned-');
  fs.chmodSync(top, 0o755);
  const shared = join(top, 'shared');
  const aside = join(top, 'aside');
  for (const dir of [shared, aside]) {
    fs.mkdirSync(dir);
    fs.chownSync(dir, NOBODY, NOBODY);
  }
  const victim = join(top, 'victim');
  fs.mkdirSync(victim, { mode: 0o700 });
  fs.chmodSync(victim, 0o700);
  for (const name of NAMES)
    fs.writeFileSync(join(victim, name), `root's ${name}\n`, { mode: 0o600 });
  return { shared, victim, aside };
}

/** A directory as root sees it: owner, mode, and each entry with its owner, mode and bytes. */
function look(dir: string): string[] {
  const stats = fs.lstatSync(dir);
  const lines = [`. ${stats.uid}:${stats.gid} ${(stats.mode & 0o7777).toString(8)}`];
  for (const name of fs.readdirSync(dir).sort()) {
    const entry = fs.lstatSync(join(dir, name));
    const bytes = entry.isFile() ? fs.readFileSync(join(dir, name), 'utf8') : '<not a file>';
    lines.push(`${name} ${entry.uid}:${entry.gid} ${(entry.mode & 0o7777).toString(8)} ${bytes}`);
  }
  return lines;
}

type AnyFn = (...args: readonly unknown[]) => unknown;

/** The call a hook matches: its name, and its path arguments as the paths they name now. */
type Match = (name: OpName, paths: readonly string[]) => boolean;

/**
 * Run `act` once, just before (or after) the first seam call that `match` accepts, as the
 * other user would between two calls of the library.
 */
function hook(
  t: TestContext,
  when: 'before' | 'after',
  match: Match,
  act: () => void,
): () => boolean {
  let done = false;
  const realSync = { ...seam.sync };
  const realAsync = { ...seam.async };
  const fire = (name: OpName, args: readonly unknown[]): boolean => {
    if (done) return false;
    const paths = args.filter((arg): arg is string => typeof arg === 'string').map(pathNow);
    if (!match(name, paths)) return false;
    done = true;
    return true;
  };
  for (const name of Object.keys(realSync) as OpName[]) {
    const sync = realSync[name] as AnyFn;
    const asyncOp = realAsync[name] as (...a: readonly unknown[]) => Promise<unknown>;
    (seam.sync as unknown as Record<OpName, AnyFn>)[name] = (...args) => {
      const fired = fire(name, args);
      if (fired && when === 'before') act();
      const result = sync(...args);
      if (fired && when === 'after') act();
      return result;
    };
    (seam.async as unknown as Record<OpName, AnyFn>)[name] = async (...args) => {
      const fired = fire(name, args);
      if (fired && when === 'before') act();
      const result = await asyncOp(...args);
      if (fired && when === 'after') act();
      return result;
    };
  }
  t.after(restoreSeam);
  return () => done;
}

/** Move `path` aside and put a symlink to `target` at its name. */
function swapForLink(path: string, aside: string, target: string): string {
  const moved = join(aside, `${basename(path)}-moved`);
  fs.renameSync(path, moved);
  fs.symlinkSync(target, path);
  return moved;
}

const inStaging = (path: string): boolean =>
  path.split('/').some((part) => parseStagingName(part) !== undefined);

const runnable = (t: TestContext): boolean =>
  needs(t, isLinux && isRoot, 'root on Linux (directories of another user, /proc/self/fd)');

/** The user's tree: owned by nobody, so the new one is too (the owner is kept). */
function userTree(shared: string): string {
  const site = join(shared, 'site');
  fs.mkdirSync(join(site, 'sub'), { recursive: true });
  for (const name of NAMES) fs.writeFileSync(join(site, 'sub', name), `user's ${name}\n`);
  for (const path of [site, join(site, 'sub'), ...NAMES.map((n) => join(site, 'sub', n))]) {
    fs.chownSync(path, NOBODY, NOBODY);
  }
  return site;
}

const NEW_FILES = { 'index.html': 'new\n', 'sub/a.txt': 'new a\n', 'sub/more.txt': 'new\n' };

async function settle(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('writeDirectory: a swap at the worst moment never redirects root', () => {
  test('the staging directory swapped for a symlink just after it is made', async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = scene(t);
    const site = userTree(shared);
    const before = look(victim);
    const fds = openFds();
    const fired = hook(
      t,
      'after',
      (name, [path = '']) => name === 'mkdir' && parseStagingName(basename(path)) !== undefined,
      () => {
        const [stage = ''] = list(shared).filter((n) => parseStagingName(n) !== undefined);
        swapForLink(join(shared, stage), aside, victim);
      },
    );
    const error = await settle(writeDirectory(site, NEW_FILES));
    restoreSeam();
    assert.ok(fired(), 'the swap was made');
    assert.deepEqual(look(victim), before, 'the victim is untouched');
    assert.ok(error instanceof AtomicFsError, String(error));
    assert.equal(error.phase, 'stage');
    assert.equal(fs.readFileSync(join(site, 'sub', 'a.txt'), 'utf8'), "user's a.txt\n");
    assert.deepEqual(newFds(fds), []);
  });

  test('the staging directory swapped for a symlink while it is filled', async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = scene(t);
    const site = userTree(shared);
    const before = look(victim);
    const fds = openFds();
    let moved = '';
    const fired = hook(
      t,
      'before',
      (name, [path = '']) => name === 'open' && inStaging(path) && basename(path) === 'index.html',
      () => {
        const [stage = ''] = list(shared).filter((n) => parseStagingName(n) !== undefined);
        moved = swapForLink(join(shared, stage), aside, victim);
      },
    );
    const error = await settle(writeDirectory(site, NEW_FILES, { mode: 0o644, dirMode: 0o755 }));
    restoreSeam();
    assert.ok(fired(), 'the swap was made');
    assert.deepEqual(look(victim), before, 'nothing written, chowned or chmodded in the victim');
    // The tree was built where it was pinned, whatever its name became, and given its mode
    // and owner there; the swap by name then met the symlink, so it is not reported done.
    assert.ok(error instanceof AtomicFsError, String(error));
    assert.equal(error.code, 'ERR_ATOMIC_PATH_CHANGED');
    assert.equal(error.committed, true);
    assert.equal(fs.readFileSync(join(moved, 'index.html'), 'utf8'), 'new\n');
    assert.equal(fs.statSync(moved).uid, NOBODY);
    // The user's previous tree is kept (never removed when `dir` is not the new tree).
    assert.ok(error.leftover !== undefined);
    assert.equal(fs.readFileSync(join(error.leftover, 'sub', 'a.txt'), 'utf8'), "user's a.txt\n");
    assert.deepEqual(newFds(fds), []);
  });

  test('a root-only directory renamed to the staging name just after it is made', async (t) => {
    if (!runnable(t)) return;
    const { shared, aside } = scene(t);
    const site = userTree(shared);
    // A directory of root's in the user's directory: the user may rename it, not read it.
    const secret = join(shared, 'root-secrets');
    fs.mkdirSync(secret, { mode: 0o700 });
    fs.writeFileSync(join(secret, 'key'), 'secret\n', { mode: 0o600 });
    const before = look(secret);
    let at = '';
    const fired = hook(
      t,
      'after',
      (name, [path = '']) => name === 'mkdir' && parseStagingName(basename(path)) !== undefined,
      () => {
        const [stage = ''] = list(shared).filter((n) => parseStagingName(n) !== undefined);
        at = join(shared, stage);
        fs.renameSync(at, join(aside, 'ours'));
        fs.renameSync(secret, at);
      },
    );
    const error = await settle(writeDirectory(site, NEW_FILES));
    restoreSeam();
    assert.ok(fired(), 'the swap was made');
    assert.deepEqual(look(at), before, 'not filled, chowned, chmodded, or removed');
    assert.ok(error instanceof AtomicFsError, String(error));
    assert.equal(error.code, 'ERR_ATOMIC_PATH_CHANGED');
    assert.equal(error.phase, 'stage');
  });

  test("a subdirectory of the user's previous tree swapped for a symlink during its removal", async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = scene(t);
    const site = userTree(shared);
    const before = look(victim);
    const fired = hook(
      t,
      'before',
      (name, [path = '']) => name === 'unlink' && inStaging(path) && path.includes('/sub/'),
      () => {
        const [stage = ''] = list(shared).filter((n) => parseStagingName(n) !== undefined);
        swapForLink(join(shared, stage, 'sub'), aside, victim);
      },
    );
    const error = await settle(writeDirectory(site, NEW_FILES));
    restoreSeam();
    assert.ok(fired(), 'the swap was made');
    assert.deepEqual(look(victim), before, 'no file of the victim unlinked');
    assert.equal(error, undefined);
    assert.equal(fs.readFileSync(join(site, 'sub', 'a.txt'), 'utf8'), 'new a\n');
    // The planted link is unlinked as a link; the tree is gone.
    assert.deepEqual(list(shared), ['site']);
  });

  test('another directory put at the staging name after the swap is not removed', async (t) => {
    if (!runnable(t)) return;
    const { shared, aside } = scene(t);
    const site = userTree(shared);
    const secret = join(shared, 'root-secrets');
    fs.mkdirSync(secret, { mode: 0o700 });
    fs.writeFileSync(join(secret, 'key'), 'secret\n', { mode: 0o600 });
    const before = look(secret);
    let at = '';
    const fired = hook(
      t,
      'after',
      (name) => name === 'swap',
      () => {
        const [stage = ''] = list(shared).filter((n) => parseStagingName(n) !== undefined);
        at = join(shared, stage);
        fs.renameSync(at, join(aside, 'previous'));
        fs.renameSync(secret, at);
      },
    );
    const error = await settle(writeDirectory(site, NEW_FILES));
    restoreSeam();
    assert.ok(fired(), 'the swap was made');
    assert.deepEqual(look(at), before, 'not removed');
    assert.ok(error instanceof AtomicFsError, String(error));
    assert.equal(error.code, 'ERR_ATOMIC_PATH_CHANGED');
    assert.equal(error.phase, 'remove-old');
    assert.equal(error.committed, true);
  });
});

describe('cleanupTemps: a swap at the worst moment never redirects root', () => {
  test('a planted staged tree whose subdirectory is swapped for a symlink', async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = scene(t);
    const before = look(victim);
    // A writer that cannot exist (beyond any pid_max): dead.
    const planted = join(shared, stagingName('planted', 999_999_999));
    fs.mkdirSync(join(planted, 'sub'), { recursive: true });
    for (const name of NAMES) fs.writeFileSync(join(planted, 'sub', name), 'planted\n');
    for (const path of [
      planted,
      join(planted, 'sub'),
      ...NAMES.map((n) => join(planted, 'sub', n)),
    ]) {
      fs.chownSync(path, NOBODY, NOBODY);
    }
    const fired = hook(
      t,
      'before',
      (name, [path = '']) => name === 'unlink' && inStaging(path) && path.includes('/sub/'),
      () => {
        const [tree = ''] = list(shared).filter((n) => parseStagingName(n) !== undefined);
        swapForLink(join(shared, tree, 'sub'), aside, victim);
      },
    );
    const error = await settle(cleanupTemps(shared));
    restoreSeam();
    assert.ok(fired(), 'the swap was made');
    assert.deepEqual(look(victim), before, 'no file of the victim unlinked');
    assert.equal(error, undefined);
  });

  test('a directory of root renamed to a dead staging name where another user can do that', async (t) => {
    if (!runnable(t)) return;
    const { shared } = scene(t);
    // The other user renames root's directory (which they cannot empty) to a dead writer's
    // staging name in their own directory, and waits for root's cleanup.
    const precious = join(shared, stagingName('precious', 999_999_999));
    fs.mkdirSync(precious, { mode: 0o700 });
    fs.writeFileSync(join(precious, 'data'), 'root data\n');
    const before = look(precious);
    const removed = await cleanupTemps(shared);
    assert.deepEqual(look(precious), before, 'not removed');
    assert.deepEqual(removed, []);
    // Where only root can rename entries, such a tree is a dead writer's and is reclaimed.
    const rootDir = tempDir(t);
    const staged = join(rootDir, basename(precious));
    fs.renameSync(precious, staged);
    assert.deepEqual(await cleanupTemps(rootDir), [staged]);
  });
});

describe('replaceSymlink: a swap at the worst moment never redirects root', () => {
  test('the link directory swapped for a symlink to a root directory before the switch', async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = scene(t);
    const app = join(shared, 'app');
    fs.mkdirSync(app);
    fs.chownSync(app, NOBODY, NOBODY);
    fs.symlinkSync('releases/1', join(app, 'current'));
    const before = look(victim);
    let moved = '';
    const fired = hook(
      t,
      'before',
      (name) => name === 'symlink',
      () => {
        moved = swapForLink(app, aside, victim);
      },
    );
    await replaceSymlink('releases/2', join(app, 'current'));
    restoreSeam();
    assert.ok(fired(), 'the swap was made');
    assert.deepEqual(look(victim), before, 'no link made in the victim');
    // The switch happened in the directory the call pinned: the one named when it began.
    assert.equal(fs.readlinkSync(join(moved, 'current')), 'releases/2');
  });
});
