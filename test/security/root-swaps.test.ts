/**
 * Root writing into a directory another user can write, raced by that user for real: a second
 * process (test/fixtures/swap-attacker.ts), run as `nobody` through setpriv, renames the
 * directories root is working in aside and plants symlinks to a root-only victim directory
 * under their names, as fast as it can, while root repeats the operation. Three attacks:
 *
 * - writeDirectory's staging directory swapped while the new tree is built (root would create
 *   files in the victim and give it the user's owner and mode);
 * - a subdirectory of the user's previous tree swapped while root removes it (root would
 *   unlink the victim's files);
 * - cleanupTemps removing a planted, dead-looking staged tree whose subdirectory is swapped
 *   (the same unlinks).
 *
 * And the single-file writers, whose directory is swapped for a symlink to the victim and
 * back: writeFile, openAtomic, copyFile, writeFile with mkdirs, and the updates (which also
 * lock a sidecar and read the current content there).
 *
 * The victim must never change: owner, mode, names and bytes. Each test also asserts that the
 * attacker really swapped something during root's work (a race that never ran proves
 * nothing). `ATOMIC_FS_SWAP_ROUNDS` sets the number of rounds per attack (a soak: 2000).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  cleanupTemps,
  copyFile,
  openAtomic,
  update,
  updateJson,
  updateSync,
  writeDirectory,
  writeFile,
} from '../../src/index.js';
import { isLinux, isRoot, needs, tempDir } from '../support/helpers.js';

const ATTACKER = fileURLToPath(new URL('../fixtures/swap-attacker.js', import.meta.url));
const NOBODY = 65534;
const ROUNDS = Number(process.env.ATOMIC_FS_SWAP_ROUNDS ?? '100');
const VICTIM_FILES = Array.from({ length: 64 }, (_, i) => `v${String(i).padStart(3, '0')}`);

const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

interface Arena {
  /** The user's directory, where root works. */
  readonly shared: string;
  /** Root's, 0700: nothing root does in `shared` may change it. */
  readonly victim: string;
  /** The user's too: where the attacker moves what it swaps out. */
  readonly aside: string;
}

function arena(t: TestContext): Arena {
  const top = tempDir(t, 'afs-swaps-');
  // The user may enter the test directory, not write it.
  fs.chmodSync(top, 0o755);
  const shared = join(top, 'shared');
  const aside = join(top, 'aside');
  for (const dir of [shared, aside]) {
    fs.mkdirSync(dir);
    fs.chownSync(dir, NOBODY, NOBODY);
    fs.chmodSync(dir, 0o755);
  }
  const victim = join(top, 'victim');
  fs.mkdirSync(victim, { mode: 0o700 });
  fs.chmodSync(victim, 0o700);
  for (const name of VICTIM_FILES) {
    fs.writeFileSync(join(victim, name), `precious ${name}\n`, { mode: 0o600 });
  }
  return { shared, victim, aside };
}

/** The victim as root sees it: its own owner and mode, and every entry's. */
function look(victim: string): string[] {
  const stats = fs.lstatSync(victim);
  const lines = [`. ${stats.uid}:${stats.gid} ${(stats.mode & 0o7777).toString(8)}`];
  for (const name of fs.readdirSync(victim).sort()) {
    const entry = fs.lstatSync(join(victim, name));
    const bytes = entry.isFile() ? fs.readFileSync(join(victim, name), 'utf8') : '<not a file>';
    lines.push(`${name} ${entry.uid}:${entry.gid} ${(entry.mode & 0o7777).toString(8)} ${bytes}`);
  }
  return lines;
}

class Attacker {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #out = '';

  constructor(t: TestContext, args: readonly string[]) {
    this.#child = spawn(
      'setpriv',
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        '--clear-groups',
        process.execPath,
        ATTACKER,
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    this.#child.stdout?.setEncoding('utf8');
    this.#child.stdout?.on('data', (chunk: string) => {
      this.#out += chunk;
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', () => {
        resolve();
      });
    });
    t.after(() => this.stop());
  }

  async ready(): Promise<void> {
    for (let waited = 0; !this.#out.includes('ready'); waited += 10) {
      if (this.#child.exitCode !== null) assert.fail('the attacker died before it started');
      if (waited > 30_000) assert.fail('the attacker never started');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.match(this.#out, new RegExp(`ready \\S+ uid ${NOBODY}\\n`), 'runs as nobody');
  }

  /** Swaps made so far. */
  get swaps(): number {
    return this.#out.split('\n').filter((line) => line.startsWith('swap ')).length;
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGKILL');
    }
    await this.#exited;
  }
}

interface Outcome {
  readonly rounds: number;
  readonly failed: number;
  readonly codes: ReadonlyMap<string, number>;
}

/** Run `round` ROUNDS times while the attacker races it; stop at the first change. */
async function race(
  victim: string,
  attacker: Attacker,
  round: () => Promise<unknown>,
): Promise<Outcome> {
  const before = look(victim);
  const codes = new Map<string, number>();
  let failed = 0;
  let rounds = 0;
  for (; rounds < ROUNDS; rounds += 1) {
    try {
      await round();
    } catch (error) {
      failed += 1;
      const code = String((error as { code?: unknown }).code ?? error);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // Checked after every round, so that a win is reported where it happened.
    assert.deepEqual(look(victim), before, `the attacker changed the victim in round ${rounds}`);
  }
  await attacker.stop();
  assert.deepEqual(look(victim), before, 'the victim is untouched');
  return { rounds, failed, codes };
}

function summary(name: string, outcome: Outcome, attacker: Attacker): void {
  const codes = [...outcome.codes].map(([code, n]) => `${code} ${n}`).join(', ');
  process.stdout.write(
    `# ${name}: ${outcome.rounds} rounds, ${attacker.swaps} swaps by the attacker, ` +
      `${outcome.failed} rounds refused or failed${codes === '' ? '' : ` (${codes})`}\n`,
  );
}

/** Put a real directory owned by the user back at `path` if a round left something else. */
function realDirectory(path: string): void {
  try {
    const stats = fs.lstatSync(path, { throwIfNoEntry: false });
    if (stats?.isDirectory() === true) return;
    if (stats !== undefined) fs.rmSync(path, { force: true });
    fs.mkdirSync(path);
    // lchown: the attacker may have put a symlink at the name since the mkdir.
    fs.lchownSync(path, NOBODY, NOBODY);
  } catch {
    // The attacker changed the name meanwhile: root goes on with whatever is there.
  }
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {
    encoding: 'utf8',
  });
  return Number(child.stdout.trim());
}

const runnable = (t: TestContext): boolean =>
  needs(t, isLinux && isRoot, 'root on Linux, to race a process of another user') &&
  needs(t, hasSetpriv, 'setpriv (util-linux), to run the attacker as nobody');

describe('root in a directory another user can write: a racing swap never redirects it', () => {
  test('writeDirectory: the staging directory swapped for a symlink while it is built', async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = arena(t);
    const site = join(shared, 'site');
    realDirectory(site);
    const attacker = new Attacker(t, ['stage', shared, victim, aside, 'site']);
    await attacker.ready();
    const files: Record<string, string> = {};
    for (let i = 0; i < 24; i += 1) files[`d${i % 6}/f${i}`] = `file ${i}\n`;
    const outcome = await race(victim, attacker, async () => {
      // The caller's own check: `site` is a directory (a symlink there would be followed).
      realDirectory(site);
      await writeDirectory(site, files, { mode: 0o644, durability: 'none' });
    });
    summary('staging swapped', outcome, attacker);
    assert.ok(attacker.swaps > 0, 'the attacker swapped the staging directory');
  });

  test("writeDirectory: a subdirectory of the user's previous tree swapped during its removal", async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = arena(t);
    const site = join(shared, 'site');
    const files: Record<string, string> = { 'a.txt': 'a\n' };
    for (const name of VICTIM_FILES) files[`sub/${name}`] = `the user's ${name}\n`;
    const attacker = new Attacker(t, ['remove-old', shared, victim, aside, 'site']);
    await attacker.ready();
    const outcome = await race(victim, attacker, async () => {
      realDirectory(site);
      // The user's tree: the new one keeps the user as owner, so every round removes a tree
      // the user can change.
      fs.chownSync(site, NOBODY, NOBODY);
      await writeDirectory(site, files, { durability: 'none' });
    });
    summary('previous tree swapped', outcome, attacker);
    assert.ok(attacker.swaps > 0, 'the attacker swapped a subdirectory during the removal');
  });

  test("writeFile, openAtomic, copyFile: the file's directory swapped for a symlink and back", async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = arena(t);
    const app = join(shared, 'app');
    realDirectory(app);
    // The name of a victim file: redirected, root would replace it.
    const dest = join(app, VICTIM_FILES[0] ?? 'v000');
    const src = join(tempDir(t, 'afs-src-'), 'src');
    fs.writeFileSync(src, 'copied by root\n');
    const attacker = new Attacker(t, ['dir-swap', shared, victim, aside, 'app']);
    await attacker.ready();
    let round = 0;
    const outcome = await race(victim, attacker, async () => {
      round += 1;
      realDirectory(app);
      const kind = round % 3;
      if (kind === 0) await writeFile(dest, 'written by root\n', { durability: 'none' });
      else if (kind === 1) {
        const file = await openAtomic(dest, { durability: 'none' });
        try {
          await file.write('written by root\n');
          await file.commit();
        } finally {
          await file.discard();
        }
      } else await copyFile(src, dest, { durability: 'none' });
    });
    summary('file directory swapped', outcome, attacker);
    assert.ok(attacker.swaps > 0, 'the attacker swapped the directory');
  });

  test("update, updateSync, updateJson: the file's directory swapped while root reads, locks and writes", async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = arena(t);
    const app = join(shared, 'app');
    realDirectory(app);
    // Redirected, root would lock, read and replace a victim file, or hand its bytes to fn (and
    // so write them where the user can read them).
    const dest = join(app, VICTIM_FILES[2] ?? 'v002');
    const attacker = new Attacker(t, ['dir-swap', shared, victim, aside, 'app']);
    await attacker.ready();
    const seen: string[] = [];
    const fn = (old: Buffer | undefined): string => {
      seen.push(old?.toString('utf8') ?? '');
      return '"updated by root"\n';
    };
    let round = 0;
    const outcome = await race(victim, attacker, async () => {
      round += 1;
      realDirectory(app);
      const kind = round % 3;
      if (kind === 0) await update(dest, fn, { durability: 'none' });
      else if (kind === 1) updateSync(dest, fn, { durability: 'none' });
      else {
        await updateJson(
          dest,
          (old: unknown) => {
            seen.push(JSON.stringify(old ?? null));
            return { by: 'root' };
          },
          { durability: 'none', default: null },
        );
      }
    });
    summary('update directory swapped', outcome, attacker);
    assert.ok(attacker.swaps > 0, 'the attacker swapped the directory');
    assert.deepEqual(
      seen.filter((text) => text.includes('precious')),
      [],
      "fn never saw a victim file's bytes",
    );
  });

  test('writeFile with mkdirs: the directory it just made swapped for a symlink', async (t) => {
    if (!runnable(t)) return;
    const { shared, victim, aside } = arena(t);
    const attacker = new Attacker(t, ['mkdirs-swap', shared, victim, aside, 'made']);
    await attacker.ready();
    let round = 0;
    const outcome = await race(victim, attacker, async () => {
      // A new name each round (removing last round's by path, as root, would be the very
      // mistake under test: the attacker may have swapped it for a symlink to the victim).
      round += 1;
      const made = join(shared, `made-${round}`);
      await writeFile(join(made, 'sub', VICTIM_FILES[1] ?? 'v001'), 'written by root\n', {
        mkdirs: true,
        durability: 'none',
      });
    });
    summary('new directory swapped', outcome, attacker);
    assert.ok(attacker.swaps > 0, 'the attacker swapped the new directory');
  });

  for (const recursive of [false, true]) {
    const where = recursive ? 'in a subdirectory, recursive' : 'in the directory itself';
    test(`cleanupTemps: a planted dead staged tree whose subdirectory is swapped (${where})`, async (t) => {
      if (!runnable(t)) return;
      const { shared, victim, aside } = arena(t);
      const home = recursive ? join(shared, 'deep') : shared;
      if (recursive) {
        fs.mkdirSync(home);
        fs.chownSync(home, NOBODY, NOBODY);
      }
      const attacker = new Attacker(t, [
        'cleanup',
        shared,
        victim,
        aside,
        recursive ? 'deep' : '.',
        String(deadPid()),
      ]);
      await attacker.ready();
      const outcome = await race(victim, attacker, async () => {
        // Wait (briefly) for the attacker's next planted tree.
        for (let i = 0; i < 200; i += 1) {
          if (fs.readdirSync(home).some((name) => name.endsWith('.stage'))) break;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await cleanupTemps(shared, { recursive });
      });
      summary(`planted tree swapped (${where})`, outcome, attacker);
      assert.ok(attacker.swaps > 0, 'the attacker swapped a subdirectory during the removal');
    });
  }
});
