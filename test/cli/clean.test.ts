/**
 * `atomic-fs clean`: removes the temps of dead writers on this host and old temps of other
 * hosts, never a live writer's temp or a file it did not make; --dry-run, --recursive,
 * --older-than, --age-only; paths printed as DIR was given.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HOST_TAG } from '../../src/core/temp-names.js';
import { list, tempDir } from '../support/helpers.js';
import { cli, spawnCli } from '../support/cli.js';

/** A pid no process can have (above Linux's largest pid_max): its owner is certainly gone. */
const DEAD = 0x7ffffffe;
const OTHER_HOST = HOST_TAG === 'ffff' ? 'eeee' : 'ffff';

const tempName = (base: string, host: string, pid: number): string =>
  `.${base}.afs-${host}-${pid}-0123456789abcdef.tmp`;

interface Scene {
  readonly dead: string;
  readonly live: string;
  readonly oldOther: string;
  readonly newOther: string;
  readonly lookalike: string;
  readonly data: string;
}

/** A directory with a dead writer's temp, a live one's, an old and a new one of another host. */
function scene(dir: string): Scene {
  const names: Scene = {
    dead: tempName('a.txt', HOST_TAG, DEAD),
    live: tempName('b.txt', HOST_TAG, process.pid),
    oldOther: tempName('c.txt', OTHER_HOST, 4242),
    newOther: tempName('d.txt', OTHER_HOST, 4242),
    lookalike: '.e.txt.afs-zzzz-1-0123456789abcdef.tmp',
    data: 'a.txt',
  };
  for (const name of Object.values(names) as string[]) fs.writeFileSync(join(dir, name), name);
  const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
  fs.utimesSync(join(dir, names.oldOther), twoHoursAgo, twoHoursAgo);
  return names;
}

test("clean: removes the dead writer's temp and the old temp of another host, prints them", async (t) => {
  const dir = tempDir(t);
  const names = scene(dir);
  const before = list(dir);
  const dry = await cli(['clean', '--dry-run', '.'], { cwd: dir });
  assert.deepEqual(dry, {
    code: 0,
    stdout: `would remove ${names.dead}\nwould remove ${names.oldOther}\n`,
    stderr: '',
  });
  assert.deepEqual(list(dir), before);
  const done = await cli(['clean', dir]);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(
    done.stdout,
    `removed ${join(dir, names.dead)}\nremoved ${join(dir, names.oldOther)}\n`,
  );
  assert.deepEqual(list(dir), [names.data, names.lookalike, names.live, names.newOther].sort());
  const again = await cli(['clean', '.'], { cwd: dir });
  assert.deepEqual(again, { code: 0, stdout: 'no abandoned temp files in .\n', stderr: '' });
});

test('clean: --older-than, --age-only, --recursive', async (t) => {
  const dir = tempDir(t);
  const names = scene(dir);
  const sub = join(dir, 'sub');
  fs.mkdirSync(sub);
  fs.writeFileSync(join(sub, names.dead), 'deep');
  const patient = await cli(['clean', '-n', '--older-than', '3h', '.'], { cwd: dir });
  assert.equal(patient.stdout, `would remove ${names.dead}\n`);
  const eager = await cli(['clean', '-n', '--older-than', '0s', '.'], { cwd: dir });
  assert.equal(
    eager.stdout,
    [names.dead, names.newOther, names.oldOther]
      .sort()
      .map((n) => `would remove ${n}\n`)
      .join(''),
  );
  // By age alone, even this host's live writer's temp goes once old enough (here: 0 ms).
  const ageOnly = await cli(['clean', '-n', '--age-only', '--older-than', '0ms', '.'], {
    cwd: dir,
  });
  assert.match(ageOnly.stdout, new RegExp(`would remove ${names.live.replaceAll('.', '\\.')}\n`));
  const recursive = await cli(['clean', '-r', '.'], { cwd: dir });
  assert.equal(recursive.code, 0, recursive.stderr);
  assert.equal(
    recursive.stdout,
    `removed ${names.dead}\nremoved ${names.oldOther}\nremoved ${join('sub', names.dead)}\n`,
  );
  assert.deepEqual(list(sub), []);
});

test('clean: a missing DIR is one line naming it (exit 1); bad durations exit 2', async (t) => {
  const dir = tempDir(t);
  const missing = await cli(['clean', 'nope'], { cwd: dir });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^atomic-fs clean: ENOENT: [^\n]*'[^']*\/nope'[^\n]*\n$/);
  for (const value of ['1', '1y', 'h', '-1h', '1 h', '']) {
    const result = await cli(['clean', `--older-than=${value}`, '.'], { cwd: dir });
    assert.equal(result.code, 2, value);
    assert.match(
      result.stderr,
      /^atomic-fs clean: --older-than must be a duration such as 30s, 15m, 1h or 2d/,
    );
  }
  assert.equal((await cli(['clean'])).code, 2);
});

test("clean (spawned): the built binary removes a dead writer's temp", async (t) => {
  const dir = tempDir(t);
  const names = scene(dir);
  const result = await spawnCli(['clean', '--older-than', '1d', '.'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.toString(), `removed ${names.dead}\n`);
  assert.ok(!fs.existsSync(join(dir, names.dead)));
});
