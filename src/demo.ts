/**
 * `npm run demo`: concurrent writers replace one JSON file while another process reads it
 * as fast as it can. With a plain in-place `fs.writeFile`, the reader sees empty and torn
 * files; with atomic-fs it only ever sees complete documents.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync as plainWriteFileSync } from 'node:fs';
import { writeFile as plainWriteFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from './write-file.js';

const WRITERS = 4;
const WRITES_PER_WRITER = 150;

const READER = `
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
const path = process.argv[1];
const counts = { complete: 0, empty: 0, torn: 0, missing: 0 };
let stop = false;
process.stdin.on('data', () => { stop = true; });
process.stdin.resume();
const loop = () => {
  for (let i = 0; i < 200; i++) {
    let text;
    try { text = readFileSync(path, 'utf8'); } catch { counts.missing++; continue; }
    if (text.length === 0) { counts.empty++; continue; }
    try {
      const doc = JSON.parse(text);
      const sum = createHash('sha256').update(doc.body).digest('hex');
      if (sum === doc.sha256) counts.complete++; else counts.torn++;
    } catch { counts.torn++; }
  }
  if (stop) { process.stdout.write(JSON.stringify(counts)); process.exit(0); }
  setImmediate(loop);
};
loop();
`;

interface Counts {
  complete: number;
  empty: number;
  torn: number;
  missing: number;
}

function documentFor(writer: number, seq: number): string {
  const body = `writer ${writer} save ${seq} `.repeat(2000);
  return JSON.stringify({
    writer,
    seq,
    body,
    sha256: createHash('sha256').update(body).digest('hex'),
  });
}

async function run(
  name: string,
  write: (path: string, text: string) => Promise<void>,
  dir: string,
): Promise<{ name: string; counts: Counts; ms: number }> {
  const path = join(dir, `${name.replace(/\W+/g, '-')}.json`);
  plainWriteFileSync(path, documentFor(0, 0));
  const reader = spawn(process.execPath, ['--input-type=module', '-e', READER, path], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let output = '';
  reader.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) =>
    reader.on('exit', () => {
      resolve();
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let seq = 1; seq <= WRITES_PER_WRITER; seq += 1) {
        await write(path, documentFor(writer + 1, seq));
      }
    }),
  );
  const ms = performance.now() - started;
  reader.stdin.write('stop');
  await exited;
  return { name, counts: JSON.parse(output) as Counts, ms };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-fs-demo-'));
  process.stdout.write(
    `${WRITERS} concurrent writers save a 60 KB JSON document ${WRITES_PER_WRITER} times each,\n` +
      `while another process reads and checks the file in a tight loop.\n\n`,
  );
  try {
    const results = [
      await run('fs.writeFile (in place)', (path, text) => plainWriteFile(path, text), dir),
      await run('atomic-fs writeFile', (path, text) => writeFile(path, text), dir),
    ];
    const header = ['writer', 'reads: complete', 'empty', 'torn', 'missing', 'verdict'];
    const rows = results.map(({ name, counts }) => {
      const bad = counts.empty + counts.torn + counts.missing;
      return [
        name,
        String(counts.complete),
        String(counts.empty),
        String(counts.torn),
        String(counts.missing),
        bad === 0 ? 'every read complete' : `${bad} broken reads`,
      ];
    });
    const widths = header.map((h, i) =>
      Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)),
    );
    const line = (cells: string[]): string =>
      cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
    process.stdout.write(
      `${line(header).trimEnd()}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`,
    );
    for (const row of rows) process.stdout.write(`${line(row).trimEnd()}\n`);
    process.stdout.write(
      '\natomic-fs writes each version to a temp file beside the target, fsyncs it, renames it\n' +
        'over the target and fsyncs the directory: readers and power cuts see old or new, never a mix.\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
