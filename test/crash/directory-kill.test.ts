/**
 * SIGKILL during writeDirectory (DESIGN.md §5.3): a child replaces a directory with version
 * after version and is killed at a random moment; every time, the directory must be exactly
 * one complete version, never older than the one found before, and whatever the kill left
 * behind must be staged trees only (recognised by their name), which cleanupTemps removes.
 *
 * ATOMIC_FS_KILLS sets the number of kills (default 200; `npm run soak:directory` runs more).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanupTemps, writeDirectory } from '../../src/index.js';
import { parseStagingName, parseTempName } from '../../src/core/temp-names.js';
import { isLinux, list, needs, tempDir } from '../support/helpers.js';
import { checkTree, readTree, versionFiles } from '../fixtures/versions.js';

const WRITER = fileURLToPath(new URL('../fixtures/directory-writer.js', import.meta.url));
const KILLS = Number(process.env.ATOMIC_FS_KILLS ?? 200);
/** The kill lands this long (uniformly random) after the child's first version is in place. */
const MAX_DELAY_MS = 30;

function runAndKill(dir: string, first: number, durability: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, String(first), durability], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let killed = false;
    child.stdout.once('data', () => {
      setTimeout(() => {
        killed = child.kill('SIGKILL');
      }, Math.random() * MAX_DELAY_MS);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (killed && signal === 'SIGKILL') resolve();
      else reject(new Error(`writer exited on its own: code ${code}, signal ${signal}`));
    });
  });
}

interface Tally {
  kills: number;
  advanced: number;
  reached: number;
  none: number;
  previousTree: number;
  stagedTree: number;
}

/** One lane: its own directory, `kills` kills in a row. */
async function lane(parent: string, kills: number, tally: Tally): Promise<void> {
  const dir = join(parent, 'live');
  await writeDirectory(dir, versionFiles(0));
  let found = 0;
  for (let kill = 0; kill < kills; kill += 1) {
    await runAndKill(dir, found + 1, kill % 2 === 0 ? 'full' : 'none');
    const where = `${parent}, kill ${kill}`;
    const check = checkTree(readTree(dir));
    assert.ok(check.ok, `${where}: ${check.ok ? '' : check.why}`);
    assert.ok(check.version >= found, `${where}: went back from v${found} to v${check.version}`);
    if (check.version > found) tally.advanced += 1;
    found = check.version;
    const extra = list(parent).filter((name) => name !== basename(dir));
    for (const name of extra) {
      assert.ok(parseStagingName(name) !== undefined, `${where}: unexpected leftover ${name}`);
      assert.equal(parseTempName(name), undefined);
      const path = join(parent, name);
      assert.ok(fs.lstatSync(path).isDirectory());
      // Under a staging name: the previous tree awaiting removal, or a new one not swapped in.
      let version: number | undefined;
      try {
        const manifest = fs.readFileSync(join(path, 'manifest.json'), 'utf8');
        version = (JSON.parse(manifest) as { version: number }).version;
      } catch {
        version = undefined;
      }
      if (version !== undefined && version < found) tally.previousTree += 1;
      else tally.stagedTree += 1;
    }
    // The killed writer is gone: cleanupTemps takes exactly what it left, nothing else.
    const reclaimed = await cleanupTemps(parent);
    assert.deepEqual(
      reclaimed.map((path) => basename(path)).sort(),
      [...extra].sort(),
      `${where}: cleanupTemps reclaims the leftovers`,
    );
    if (extra.length === 0) tally.none += 1;
    assert.deepEqual(list(parent), [basename(dir)], `${where}: reclaimed`);
    tally.kills += 1;
  }
  tally.reached = Math.max(tally.reached, found);
}

test(`SIGKILL during writeDirectory, ${KILLS} times: always one complete version`, async (t) => {
  if (!needs(t, isLinux, 'renameat2 exchange is exercised on Linux')) return;
  const tally: Tally = {
    kills: 0,
    advanced: 0,
    reached: 0,
    none: 0,
    previousTree: 0,
    stagedTree: 0,
  };
  // Two lanes at once (one per core): each kill costs a Node start-up (~0.1 s).
  const half = Math.ceil(KILLS / 2);
  await Promise.all([lane(tempDir(t), half, tally), lane(tempDir(t), KILLS - half, tally)]);
  process.stdout.write(
    `# writeDirectory SIGKILL: ${tally.kills} kills, version advanced in ${tally.advanced} ` +
      `(highest v${tally.reached}); left nothing ${tally.none}, a previous tree ` +
      `${tally.previousTree}, a staged tree ${tally.stagedTree} (all reclaimed by cleanupTemps)\n`,
  );
  assert.equal(tally.kills, KILLS);
  // Every child completes its first version before the kill is timed.
  assert.equal(tally.advanced, KILLS);
});
