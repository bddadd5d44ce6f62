/**
 * Readers during symlink switches (issue 5): reader processes read through the link in a
 * loop while this process switches it between releases many times. No read may fail: the
 * link is replaced by one rename, so it always resolves to the old release or the new one.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startReader } from '../fixtures/reader-process.js';
import { replaceSymlink } from '../../src/index.js';
import { list, tempDir } from '../support/helpers.js';

const READER = fileURLToPath(new URL('../fixtures/link-reader.js', import.meta.url));
const SWITCHES = Number(process.env.ATOMIC_FS_SWITCHES ?? 2000);
const READERS = 2;
const RELEASES = 5;

interface Report {
  reads: number;
  failures: Record<string, number>;
  targets: number;
}

test(`readers through a link during ${SWITCHES} switches never fail`, async (t) => {
  const dir = tempDir(t);
  for (let r = 0; r < RELEASES; r += 1) {
    fs.mkdirSync(join(dir, 'releases', String(r)), { recursive: true });
    fs.writeFileSync(join(dir, 'releases', String(r), 'id'), String(r));
  }
  const link = join(dir, 'current');
  await replaceSymlink('releases/0', link);
  const readers = Array.from({ length: READERS }, () => startReader<Report>(t, READER, [link]));
  await Promise.all(readers.map((r) => r.ready));
  for (let s = 1; s <= SWITCHES; s += 1) {
    await replaceSymlink(`releases/${s % RELEASES}`, link, {
      durability: s % 10 === 0 ? 'full' : 'none',
    });
  }
  const reports = await Promise.all(readers.map((r) => r.stop()));
  const reads = reports.reduce((n, r) => n + r.reads, 0);
  const failures: Record<string, number> = {};
  for (const report of reports) {
    for (const [code, n] of Object.entries(report.failures))
      failures[code] = (failures[code] ?? 0) + n;
  }
  process.stdout.write(
    `# replaceSymlink readers: ${SWITCHES} switches, ${READERS} readers, ${reads} reads through ` +
      `the link, failures ${JSON.stringify(failures)}, releases seen per reader ` +
      `${reports.map((r) => r.targets).join('/')}\n`,
  );
  assert.deepEqual(failures, {});
  assert.ok(reads > 0);
  assert.equal(fs.readlinkSync(link), `releases/${SWITCHES % RELEASES}`);
  assert.deepEqual(list(dir), ['current', 'releases'], 'no temp link left');
});
