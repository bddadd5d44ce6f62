/**
 * Paths from writeDirectory entries cannot escape the directory. A hostile list of entries
 * (from a manifest, an archive, a request) is refused before anything is written: `..` in any
 * position, absolute paths, NUL bytes; under Windows rules also backslashes, drive letters,
 * UNC and device paths, segments Windows would silently change (`.. ` is `..` there) and device
 * names. Names that are harmless on Linux (a backslash is an ordinary character there) land
 * inside the directory. A symlink inside the live tree that leads out of it is never written
 * through, and removing the previous tree unlinks it without following it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { restoreSeam, seam } from '../../src/engine/fs.js';
import { writeDirectory } from '../../src/index.js';
import { list, needs, tempDir } from '../support/helpers.js';
import { assertUntouched, snapshot, victimDirectory, victimFile } from './plant.js';

interface Scene {
  readonly parent: string;
  readonly live: string;
  readonly victim: string;
  readonly victimDir: string;
}

function scene(t: TestContext): Scene {
  const parent = tempDir(t);
  const elsewhere = tempDir(t);
  const live = join(parent, 'site');
  fs.mkdirSync(live);
  fs.writeFileSync(join(live, 'index.html'), 'old index');
  return {
    parent,
    live,
    victim: victimFile(elsewhere),
    victimDir: victimDirectory(elsewhere),
  };
}

async function refused(s: Scene, name: string): Promise<void> {
  const before = [snapshot(s.parent), snapshot(s.victim), snapshot(s.victimDir)];
  await assert.rejects(
    writeDirectory(s.live, { 'ok.txt': 'fine', [name]: 'escaped!' }),
    (error: unknown) => {
      assert.ok(error instanceof TypeError, `${JSON.stringify(name)}: ${String(error)}`);
      assert.equal((error as { code?: unknown }).code, 'ERR_INVALID_ARG_VALUE');
      return true;
    },
    JSON.stringify(name),
  );
  for (const snap of before) assertUntouched(snap, `${JSON.stringify(name)}: nothing written`);
}

describe('writeDirectory entries that try to leave the directory', () => {
  test('POSIX rules: ".." anywhere, absolute paths, NUL bytes', async (t) => {
    const s = scene(t);
    const names = [
      '..',
      '../victim',
      '../../../../../../../../tmp/escaped',
      'a/..',
      'a/../b',
      'a/../../victim',
      'a/b/../../../victim',
      '.',
      './a',
      'a/./b',
      s.victim,
      `/${s.victim}`,
      '/etc/passwd',
      'a\u0000',
      '\u0000/etc/passwd',
      'a/\u0000/../b',
    ];
    for (const name of names) await refused(s, name);
  });

  test('Windows rules: separators, drives, UNC and device paths, names Windows rewrites', async (t) => {
    const s = scene(t);
    seam.platform = 'win32';
    t.after(restoreSeam);
    const names = [
      '..\\victim',
      'a\\..\\..\\victim',
      'a/..\\..\\victim',
      '\\victim',
      '\\\\server\\share\\victim',
      '\\\\?\\C:\\victim',
      '\\\\.\\PhysicalDrive0',
      'C:\\victim',
      'C:victim',
      'c:/victim',
      'file.txt:stream',
      'file.txt::$DATA',
      '.. \\victim',
      '..  /victim',
      '...\\victim',
      'a.',
      'a ',
      'dir./x',
      'CON',
      'con.txt',
      'a/NUL',
      'nul.tar.gz',
      'Aux',
      'PRN.log',
      'COM1',
      'lpt9.txt',
      'COM\u00b9',
      'CONIN$',
      'a<b',
      'a>b',
      'a"b',
      'a|b',
      'a?b',
      'a*b',
      'a\u0001b',
    ];
    for (const name of names) await refused(s, name);
  });

  test('on Linux the same names are ordinary names, and stay inside', async (t) => {
    if (!needs(t, process.platform === 'linux', 'Linux file names')) return;
    const s = scene(t);
    const before = [snapshot(s.victim), snapshot(s.victimDir)];
    const names = ['..\\victim', 'a\\..\\..\\victim', 'C:victim', '.. ', 'CON', 'a.', 'a|b'];
    const files = Object.fromEntries(names.map((name) => [name, `data of ${name}`]));
    await writeDirectory(s.live, files);
    assert.deepEqual(list(s.live), [...names].sort());
    for (const name of names) {
      assert.equal(fs.readFileSync(join(s.live, name), 'utf8'), `data of ${name}`);
    }
    for (const snap of before) assertUntouched(snap);
    assert.deepEqual(list(s.parent), ['site']);
  });

  test('a symlink in the live tree that leads out is never written through', async (t) => {
    if (!needs(t, process.platform === 'linux', 'symlinks and the atomic exchange (Linux)')) {
      return;
    }
    for (const keepOld of [false, true]) {
      const s = scene(t);
      fs.symlinkSync(s.victimDir, join(s.live, 'sub'));
      fs.symlinkSync(s.victim, join(s.live, 'link-to-file'));
      fs.symlinkSync('/', join(s.live, 'root'));
      const before = [snapshot(s.victim), snapshot(s.victimDir)];
      const { previous } = await writeDirectory(
        s.live,
        { 'sub/precious': 'new', 'sub/more': 'new', 'link-to-file': 'new', 'root/etc/x': 'new' },
        { keepOld },
      );
      for (const snap of before) assertUntouched(snap, `keepOld: ${keepOld}`);
      for (const path of ['sub', 'root', 'root/etc']) {
        assert.ok(fs.lstatSync(join(s.live, path)).isDirectory(), `${path} is a real directory`);
      }
      assert.ok(fs.lstatSync(join(s.live, 'link-to-file')).isFile());
      assert.equal(fs.readFileSync(join(s.live, 'sub', 'precious'), 'utf8'), 'new');
      if (keepOld) {
        assert.ok(previous !== undefined);
        assert.equal(fs.readlinkSync(join(previous, 'sub')), s.victimDir, 'kept as it was');
      } else {
        assert.equal(previous, undefined);
        assert.deepEqual(list(s.parent), ['site'], 'the previous tree is gone, links unlinked');
      }
    }
  });
});
