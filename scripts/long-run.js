#!/usr/bin/env node
// The long runs (`npm run torture`, `crashtest`, `soak:update`, `soak:directory`, `hunt`) go
// through here: `node scripts/long-run.js NAME COMMAND...` runs COMMAND with its output shown
// as it comes, keeps its summary lines, and writes them, with the command, the date, the
// machine and the exit status, into NAME's section of docs/long-runs.md. docs/testing.md quotes
// no figure of a long run by hand: it links that page, which only a run changes.
//
// Summary lines: a test's own figures (`# …`, as the tests print them), the hunter's verdict
// (`hunt: …`) and the test runner's totals (`ℹ tests …`).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// Beside this script, whatever the working directory (a run may use another build).
const PAGE = fileURLToPath(new URL('../docs/long-runs.md', import.meta.url));
const HEADER = `# Long runs

Written by the long-run scripts (\`scripts/long-run.js\`), one section per script, each
replaced by that script's next run; [testing.md](testing.md) says what each one proves. Do
not edit by hand: run the script again.
`;
const SUMMARY = /^(# |hunt: |ℹ (tests|pass|fail|skipped|duration_ms) )/;

const [name, ...command] = process.argv.slice(2);
if (name === undefined || command.length === 0) {
  console.error('usage: node scripts/long-run.js NAME COMMAND...');
  process.exit(2);
}

const started = Date.now();
const child = spawn(command[0], command.slice(1), { stdio: ['inherit', 'pipe', 'inherit'] });
const kept = [];
createInterface({ input: child.stdout }).on('line', (line) => {
  process.stdout.write(`${line}\n`);
  if (SUMMARY.test(line)) kept.push(line);
});
const status = await new Promise((done) => {
  child.on('close', (code, signal) => done(code ?? signal ?? 1));
});

/** The environment settings that shape the run (kills, payloads, seeds, trials). */
function settings() {
  return Object.entries(process.env)
    .filter(([key]) => key.startsWith('ATOMIC_FS_'))
    .map(([key, value]) => `${key}=${value}`)
    .sort();
}

const npmScript = process.env.npm_lifecycle_event;
const section = [
  `## ${name}`,
  '',
  `- command: \`${npmScript === undefined ? command.join(' ') : `npm run ${npmScript}`}\`${
    settings().length > 0
      ? ` with ${settings()
          .map((s) => `\`${s}\``)
          .join(' ')}`
      : ''
  }`,
  `- finished: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, after ${Math.round((Date.now() - started) / 1000)} s; exit status ${status}`,
  `- machine: Node ${process.version}, Linux ${release()}, ${cpus().length} cores, load average ${loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')} at the end`,
  '',
  '```text',
  ...(kept.length > 0 ? kept : ['(no summary lines)']),
  '```',
  '',
].join('\n');

const old = existsSync(PAGE) ? readFileSync(PAGE, 'utf8') : HEADER;
const sections = new Map();
for (const part of old.split(/^(?=## )/m).slice(1)) {
  sections.set(part.split('\n', 1)[0].slice(3).trim(), part.trimEnd() + '\n');
}
sections.set(name, section);
const body = [...sections.keys()]
  .sort()
  .map((key) => sections.get(key))
  .join('\n');
writeFileSync(PAGE, `${HEADER}\n${body}`);
console.log(`# docs/long-runs.md: section "${name}" written`);
process.exit(typeof status === 'number' ? status : 1);
