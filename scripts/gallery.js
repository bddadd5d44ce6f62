#!/usr/bin/env node
// `npm run gallery`: the audit gallery. Runs every row of test/audit/gallery/rows.ts (widely
// used programs and libraries saving a file) under `atomic-fs audit`, under both models, and
// writes docs/audit-gallery.md. Rows whose programs are not installed are shown as not run.
//   npm run gallery                  every row; writes the page
//   npm run gallery -- ID [ID...]    those rows only; prints their verdicts, writes nothing
//   --jobs N                         checks run at once (default: the number of CPUs)
// Exit status 1 when a row's verdict is not the one rows.ts expects (the page is still
// written, so that the difference can be read).
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import prettier from 'prettier';

const { markdown, mismatch, runAll } = await import('../build/test/audit/gallery/run.js');

const args = process.argv.slice(2);
const at = args.indexOf('--jobs');
const jobs = at === -1 ? undefined : Number(args.splice(at, 2)[1]);
if (jobs !== undefined && !(Number.isSafeInteger(jobs) && jobs > 0)) {
  console.error('--jobs must be a positive integer');
  process.exit(2);
}
const ids = args;

const load = loadavg()
  .map((value) => value.toFixed(2))
  .join(', ');
const results = await runAll(ids, jobs, (result) => {
  console.log(
    `${result.row.id} (${result.model}): ${result.report.checked.operations} operations, ` +
      `${result.report.checked.states} states, ${result.got.status}` +
      `${result.got.kinds.length === 0 ? '' : ` (${result.got.kinds.join(', ')})`}, ` +
      `${result.seconds.toFixed(1)} s`,
  );
});
const wrong = results.map(mismatch).filter((text) => text !== undefined);
for (const text of wrong) console.error(`unexpected: ${text}`);
if (ids.length === 0) {
  const text = markdown({
    results,
    jobs: jobs ?? availableParallelism(),
    date: new Date().toISOString().slice(0, 10),
    load,
  });
  const file = 'docs/audit-gallery.md';
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(text, { ...options, filepath: file }));
  console.log(`wrote ${file}`);
}
process.exitCode = wrong.length > 0 ? 1 : 0;
