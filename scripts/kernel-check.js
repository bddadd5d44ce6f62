#!/usr/bin/env node
// The audit's models checked against real power cuts (test/crash/kernel-model.ts): every
// gallery workload installed here and every self-audited atomic-fs write, on ext4 and XFS, cut
// at random moments; prints the table (Markdown) and exits 1 if a real state was outside a
// model. Needs root, strace and the loop tools. ATOMIC_FS_KERNEL_CUTS: cuts per workload and
// file system (default 20); ATOMIC_FS_KERNEL_ONLY: workload ids (comma-separated);
// ATOMIC_FS_KERNEL_FS: ext4,xfs.
import { galleryWorkloads, selfWorkloads, trial } from '../build/test/crash/kernel-model.js';

const MODELS = ['posix', 'ext4-ordered'];
const cuts = Number(process.env.ATOMIC_FS_KERNEL_CUTS ?? 20);
const only = process.env.ATOMIC_FS_KERNEL_ONLY?.split(',');
const kinds = (process.env.ATOMIC_FS_KERNEL_FS ?? 'ext4,xfs').split(',');
const workloads = [...galleryWorkloads(), ...selfWorkloads()].filter(
  (w) => only === undefined || only.includes(w.id),
);

const rows = [];
let outside = 0;
for (const workload of workloads) {
  for (const kind of kinds) {
    // A first run cut after the command ends: how long it runs here (under strace).
    const whole = await trial(workload, kind, 60_000, MODELS);
    // Then cuts spread over the span in which it touched its directory (a little either side).
    const [from, to] = whole.window ?? [0, whole.seconds * 1000];
    const start = Math.max(0, from - 2);
    const span = to + 2 - start;
    const real = new Map();
    const enumerated = Object.fromEntries(MODELS.map((m) => [m, 0]));
    const inside = Object.fromEntries(MODELS.map((m) => [m, true]));
    let during = 0;
    const unmodelled = new Set();
    for (let i = 0; i < cuts; i += 1) {
      const t = i === 0 ? whole : await trial(workload, kind, start + Math.random() * span, MODELS);
      if (t.during) during += 1;
      for (const path of t.unmodelled) unmodelled.add(path.slice(1));
      real.set(t.real, (real.get(t.real) ?? 0) + 1);
      for (const m of MODELS) {
        enumerated[m] += t.models[m].keys.size;
        if (!t.models[m].keys.has(t.real)) {
          inside[m] = false;
          process.stderr.write(
            `OUTSIDE ${m}: ${workload.id} on ${kind}, cut ${i} (during: ${t.during}, ops ${t.ops}); the nearest state differs in:\n  ${(t.models[m].nearest ?? []).join('\n  ')}\n`,
          );
        }
      }
    }
    if (!inside.posix || !inside['ext4-ordered']) outside += 1;
    rows.push([
      workload.id,
      kind,
      String(cuts),
      String(during),
      String(real.size),
      ...MODELS.map((m) => (inside[m] ? 'yes' : '**no**')),
      ...MODELS.map((m) => String(Math.round(enumerated[m] / cuts))),
      unmodelled.size === 0 ? '—' : [...unmodelled].map((p) => `\`${p}\``).join(', '),
    ]);
    process.stderr.write(`${rows.at(-1).join(' | ')}\n`);
  }
}
const head = [
  'workload',
  'fs',
  'cuts',
  'during the run',
  'distinct real states',
  'inside posix',
  'inside ext4-ordered',
  'posix states per cut (mean)',
  'ext4-ordered states per cut (mean)',
  'content not modelled (shared mapping)',
];
console.log(`| ${head.join(' | ')} |`);
console.log(`| ${head.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
process.exit(outside === 0 ? 0 : 1);
