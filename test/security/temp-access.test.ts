/**
 * Nobody but the final owner can ever open a temp file with more access than the final file
 * gives — attacked by a real second process running as another user
 * (test/fixtures/temp-grabber.ts), which opens every temp it can find in the directory, keeps
 * the descriptors, and reads them again and again. Root writes a secret over a file that is
 * `root:root 0640` (that user cannot read it) with every write function, many times.
 *
 * - A set-group-ID directory whose group is the attacker's: a temp file takes the
 *   directory's group from the kernel. Created with the final bits (0640) and given its final
 *   group only after the data, it lets the attacker open it and read the secret later.
 * - A directory with a default ACL naming the attacker (`setfacl -d -m u:nobody:rw`): a temp
 *   inherits the named entry, effective through the mask its creation mode gives.
 *
 * Deterministic: the seam is patched so that after every step that creates a temp or changes
 * its owner, mode or attributes — before its first byte and after — the writer waits until
 * the attacker has tried to open it in that state. A second run leaves the seam alone (whole
 * writes go to the I/O thread) and lets the attacker race a larger secret.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { flags, restoreSeam, seam } from '../../src/engine/fs.js';
import {
  copyFile,
  openAtomic,
  openAtomicSync,
  update,
  writeFile,
  writeFileSync,
  writeFiles,
} from '../../src/index.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { isLinux, isRoot, needs, tempDir } from '../support/helpers.js';
import { hasCommand } from '../support/loopfs.js';

const GRABBER = fileURLToPath(new URL('../fixtures/temp-grabber.js', import.meta.url));
const NOBODY = 65534;
/** The attacker's only group (no name needed). */
const GROUP = 4242;
const OLD = 'old, not readable by the attacker\n';
const TIMEOUT_MS = 30_000;

type Setting = 'setgid' | 'default-acl';

interface Attack {
  readonly dir: string;
  readonly dest: string;
  readonly src: string;
  /** Lines the attacker logged so far. */
  lines(): string[];
  /** Ask the attacker to try to open `name` now; returns when it has. */
  tryNow(name: string): void;
  /** Stop the attacker; returns its summary: descriptors held, and the leak lines. */
  finish(): Promise<{ held: number; leaks: string[]; opened: number; tried: number }>;
}

function wait(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function prepare(t: TestContext, setting: Setting): Attack {
  const base = tempDir(t, 'afs-attack-');
  fs.chmodSync(base, 0o755);
  const dir = join(base, 'shared');
  fs.mkdirSync(dir);
  // The destination predates the directory's group and default ACL: it has neither.
  const dest = join(dir, 'secret.conf');
  fs.writeFileSync(dest, OLD);
  fs.chownSync(dest, 0, 0);
  fs.chmodSync(dest, 0o640);
  if (setting === 'setgid') {
    fs.chownSync(dir, 0, GROUP);
    fs.chmodSync(dir, 0o2770);
  } else {
    fs.chmodSync(dir, 0o770);
    execFileSync('setfacl', ['-m', 'u:nobody:rwx', '-d', '-m', 'u:nobody:rw', dir]);
  }
  // The source of copyFile: root's, outside the directory.
  const src = join(base, 'source.secret');
  fs.writeFileSync(src, '');
  fs.chmodSync(src, 0o640);
  const work = join(base, 'attacker');
  fs.mkdirSync(work);
  fs.chmodSync(work, 0o777);
  const log = join(work, 'log');
  const requests = join(work, 'requests');
  const stop = join(work, 'stop');
  fs.writeFileSync(log, '');
  fs.writeFileSync(requests, '');
  fs.chmodSync(log, 0o666);
  fs.chmodSync(requests, 0o644);
  const child: ChildProcess = spawn(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${setting === 'setgid' ? GROUP : NOBODY}`,
      '--clear-groups',
      process.execPath,
      GRABBER,
      dir,
      log,
      requests,
      stop,
    ],
    { stdio: 'inherit' },
  );
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  t.after(() => {
    if (!exited) child.kill('SIGKILL');
  });
  const lines = (): string[] => fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const until = (what: string, done: (all: string[]) => boolean): string[] => {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const all = lines();
      if (done(all)) return all;
      if (exited) assert.fail(`the attacker died while waiting for ${what}`);
      if (Date.now() > deadline) assert.fail(`the attacker never did ${what}`);
      wait(1);
    }
  };
  until('ready', (all) => all.includes('ready'));
  let seq = 0;
  return {
    dir,
    dest,
    src,
    lines,
    tryNow(name) {
      seq += 1;
      const id = String(seq);
      fs.appendFileSync(requests, `try ${id} ${name}\n`);
      until(`try ${id}`, (all) => all.some((line) => line.startsWith(`tried ${id} `)));
    },
    async finish() {
      fs.writeFileSync(stop, '');
      await new Promise<void>((resolve) => {
        if (exited) resolve();
        else
          child.once('exit', () => {
            resolve();
          });
      });
      const all = lines();
      const done = all.find((line) => line.startsWith('done '));
      assert.ok(done !== undefined, 'the attacker reported');
      return {
        held: Number(done.split(' ')[1]),
        leaks: all.filter((line) => line.startsWith('leak ')),
        opened: all.filter((line) => line.startsWith('open ')).length,
        tried: all.filter((line) => line.startsWith('tried ')).length,
      };
    },
  };
}

type AnyFn = (...args: unknown[]) => unknown;

/**
 * After every call that creates a temp or changes its owner, mode or attributes, let the
 * attacker try it before the writer goes on (both seam tables; the sync one blocks this thread,
 * the attacker being another process).
 */
function handshakes(t: TestContext, attack: Attack): void {
  const paths = new Map<number, string>();
  const written = new Set<string>();
  const isTempPath = (path: string): boolean => parseTempName(basename(path)) !== undefined;
  const after = (name: string, args: readonly unknown[], result: unknown): void => {
    let path: string | undefined;
    if (name === 'open' && typeof args[0] === 'string') {
      if (args[1] === flags.createTemp || args[1] === flags.reopenTemp) path = args[0];
      if (path !== undefined && typeof result === 'number') paths.set(result, path);
    } else if (name === 'copyFile' && typeof args[1] === 'string' && isTempPath(args[1])) {
      path = args[1];
    } else if (typeof args[0] === 'number') {
      path = paths.get(args[0]);
      if (name === 'close') paths.delete(args[0]);
    }
    if (path === undefined || !isTempPath(path) || name === 'close') return;
    // Once more after the first byte: from then on only the final file's readers may open it.
    if (name === 'write') {
      if (written.has(path)) return;
      written.add(path);
    }
    attack.tryNow(basename(path));
  };
  const watched = ['open', 'fchown', 'fchmod', 'setXattr', 'removeXattr', 'copyFile', 'write'];
  const realSync = { ...seam.sync } as unknown as Record<string, AnyFn>;
  const realAsync = { ...seam.async } as unknown as Record<string, AnyFn>;
  for (const name of watched) {
    (seam.sync as unknown as Record<string, AnyFn>)[name] = (...args) => {
      const result = realSync[name]?.(...args);
      after(name, args, result);
      return result;
    };
    (seam.async as unknown as Record<string, AnyFn>)[name] = async (...args) => {
      const result = await realAsync[name]?.(...args);
      after(name, args, result);
      return result;
    };
  }
  t.after(restoreSeam);
}

/** Every write function, writing `secret` over the destination. */
const writers: Record<string, (attack: Attack, secret: Buffer) => Promise<void>> = {
  writeFile: (a, secret) => writeFile(a.dest, secret),
  writeFileSync: (a, secret) => {
    writeFileSync(a.dest, secret);
    return Promise.resolve();
  },
  openAtomic: async (a, secret) => {
    const file = await openAtomic(a.dest);
    await file.write(secret.subarray(0, secret.length >> 1));
    await file.write(secret.subarray(secret.length >> 1));
    await file.commit();
  },
  openAtomicSync: (a, secret) => {
    const file = openAtomicSync(a.dest);
    file.write(secret);
    file.commit();
    return Promise.resolve();
  },
  copyFile: async (a, secret) => {
    fs.writeFileSync(a.src, secret);
    await copyFile(a.src, a.dest);
  },
  'copyFile (read/write loop)': async (a, secret) => {
    fs.writeFileSync(a.src, secret);
    await copyFile(a.src, a.dest, { onProgress: () => undefined });
  },
  update: async (a, secret) => {
    await update(a.dest, () => secret);
  },
  writeFiles: async (a, secret) => {
    const [outcome] = await writeFiles([[a.dest, secret]]);
    assert.equal(outcome?.status, 'written');
  },
};

function secretOf(round: number, size: number): Buffer {
  return Buffer.alloc(size, `password=round-${round};`);
}

async function attackAll(
  t: TestContext,
  setting: Setting,
  deterministic: boolean,
  rounds: number,
  size: number,
): Promise<void> {
  const attack = prepare(t, setting);
  if (deterministic) handshakes(t, attack);
  let round = 0;
  const widened: string[] = [];
  for (const [name, write] of Object.entries(writers)) {
    for (let i = 0; i < rounds; i += 1) {
      round += 1;
      const secret = secretOf(round, size);
      await write(attack, secret);
      const stats = fs.statSync(attack.dest);
      const where = `${name}, round ${i}`;
      assert.deepEqual(fs.readFileSync(attack.dest), secret, `${where}: written`);
      assert.deepEqual(
        [stats.uid, stats.gid, stats.mode & 0o7777],
        [0, 0, 0o640],
        `${where}: root:root 0640`,
      );
      if (setting === 'default-acl') {
        const acl = execFileSync('getfacl', ['-cp', attack.dest], { encoding: 'utf8' });
        if (acl.includes('user:nobody')) widened.push(`${where}: the old file had no ACL: ${acl}`);
      }
    }
  }
  restoreSeam();
  const result = await attack.finish();
  process.stdout.write(
    `# ${setting}${deterministic ? ', every state tried' : ', racing'}: ${result.tried} tries on request, ${result.opened} temps opened, ${result.leaks.length} of them read a secret\n`,
  );
  assert.equal(
    result.leaks.length,
    0,
    `the attacker read a secret through a temp file: ${result.leaks[0] ?? ''}`,
  );
  if (deterministic) assert.ok(result.tried > 0, 'the attacker was asked to try');
  assert.deepEqual(widened, [], 'the replaced file got an ACL the old one did not have');
}

describe('temp files under attack by another user', () => {
  const ready = (t: TestContext, acl: boolean): boolean =>
    needs(t, isLinux && isRoot, 'needs root on Linux (chown, setpriv)') &&
    needs(t, hasCommand('setpriv'), 'needs setpriv (util-linux)') &&
    (!acl || needs(t, hasCommand('setfacl'), 'needs setfacl (acl)'));

  test('set-group-ID directory: every state of every temp tried', async (t) => {
    if (!ready(t, false)) return;
    await attackAll(t, 'setgid', true, 2, 64 * 1024);
  });

  test('default ACL naming the attacker: every state of every temp tried', async (t) => {
    if (!ready(t, true)) return;
    await attackAll(t, 'default-acl', true, 2, 64 * 1024);
  });

  test('set-group-ID directory: racing, on the I/O thread', async (t) => {
    if (!ready(t, false)) return;
    await attackAll(t, 'setgid', false, 6, 4 << 20);
  });
});
