/**
 * The audit gallery (docs/audit-gallery.md): each row whose programs are installed here runs
 * exactly as `npm run gallery` runs it, and keeps the verdict test/audit/gallery/rows.ts
 * expects under the models its `ci` names — the status and the kinds of violation found —
 * with the exit status that goes with it; and the page shows every expected verdict. What
 * takes long (git, with `git fsck` in every crash state; SQLite under the second model) runs
 * with ATOMIC_FS_GALLERY_ALL=1, and always in `npm run gallery`, which fails on a verdict
 * other than the expected one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { needs } from '../support/helpers.js';
import { ROWS } from './gallery/rows.js';
import { MODELS, PROJECT, expectedWords, installed, mismatch, runRow } from './gallery/run.js';
import { hasStrace } from '../support/audit.js';

const all = process.env.ATOMIC_FS_GALLERY_ALL === '1';
const page = readFileSync(join(PROJECT, 'docs', 'audit-gallery.md'), 'utf8');

/** The section of the page about one row. */
function section(index: number, id: string): string {
  const start = page.indexOf(`\n## ${index + 1}. ${id}\n`);
  assert.ok(start !== -1, `docs/audit-gallery.md has no section for ${id}: run npm run gallery`);
  const end = page.indexOf('\n## ', start + 1);
  return page.slice(start, end === -1 ? undefined : end);
}

ROWS.forEach((row, index) => {
  test(`the page shows the verdicts row ${row.id} keeps`, () => {
    const text = section(index, row.id);
    for (const model of MODELS) {
      const words = `${row.ci.includes(model) ? 'kept by the test' : 'expected'} as \`${expectedWords(row.expect[model])}\``;
      assert.ok(text.includes(words), `${row.id} (${model}): the page does not say ${words}`);
    }
  });
  const models = all ? MODELS : row.ci;
  if (models.length === 0) return;
  test(`gallery row ${row.id}: ${row.does} (${models.join(', ')})`, async (t) => {
    if (!needs(t, hasStrace, 'strace is not available')) return;
    const missing = row.needs.filter((program) => !installed(program));
    if (!needs(t, missing.length === 0, `${missing.join(', ')} not installed`)) return;
    for (const model of models) {
      const result = await runRow(row, { model });
      assert.equal(mismatch(result), undefined);
      assert.ok(result.report.checked.states > 0);
    }
  });
});
