/**
 * Every code example in the README and docs/ runs, as a user would run it, on the Node that
 * runs the suite (Node 20 in CI: what the README supports).
 *
 * A document's blocks run in order in one fresh directory, so a later block sees the files an
 * earlier one made. `atomic-fs` is installed there as a user has it (node_modules/atomic-fs is
 * this package, through its `exports`; its CLI is on PATH as `atomic-fs`).
 * - ```js: an ES module, run with Node; it must exit 0. One whose first line is `// name.mjs`
 *   is saved under that name in the directory (a later shell block may run it).
 * - ```sh: run by bash with `set -euo pipefail`. A command ending in `# exit status N` must
 *   exit with N. `npm` commands are not run: each must be one this package has (`npm ci`,
 *   `npm install atomic-fs`, `npm test`, `npm run <script>`).
 * - ```text right after a run block: the output it must print, every line in order (lines
 *   may be left out between them, e.g. a temp file's random name).
 * - ```json: must parse. A bare fence is an illustration (a tree, a file's text): not run.
 * URLs under https://example.com/ go to a server on 127.0.0.1 that answers any path with
 * `example body for <path>\n`: nothing reaches the network.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT, needs, tempDir } from '../support/helpers.js';
import { hasStrace } from '../support/audit.js';
import { GENERATED, blocks, documents } from './markdown.js';

const RUN = new Set(['js', 'sh']);
const KNOWN = new Set([...RUN, 'text', 'json', '']);
const SCRIPTS = Object.keys(
  (
    JSON.parse(fs.readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts,
);

/** Blocks that run, or check a run, in the documents a user reads. */
const docs = documents().filter(
  (doc) => !GENERATED.has(doc.name) && !doc.name.startsWith('docs/notes/'),
);

test('the documents use only fences the examples test knows', () => {
  for (const doc of docs) {
    for (const block of blocks(doc.text)) {
      assert.ok(
        KNOWN.has(block.lang),
        `${doc.name}:${block.line}: a \`\`\`${block.lang} block is neither run nor checked (use js, sh, text or json)`,
      );
    }
  }
});

test('the README is a front door: at most 15 KB', () => {
  const size = fs.statSync(join(PACKAGE_ROOT, 'README.md')).size;
  assert.ok(size <= 15_000, `README.md is ${size} bytes`);
});

test("the README's benchmark figures are those of BENCHMARKS.md", () => {
  const readme = fs.readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const report = fs.readFileSync(join(PACKAGE_ROOT, 'BENCHMARKS.md'), 'utf8');
  const section = /\n## How fast\n([^]*?)\n## /.exec(readme)?.[1] ?? '';
  const figures = section.match(/\d+(\.\d+)?×/g) ?? [];
  assert.ok(figures.length >= 3, 'the README quotes three figures');
  for (const figure of figures)
    assert.ok(report.includes(` ${figure} `), `BENCHMARKS.md has no ${figure}`);
});

/** A server on 127.0.0.1 standing in for https://example.com/. */
async function exampleServer(): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    const body = `example body for ${new URL(request.url ?? '/', 'http://x').pathname}\n`;
    response.writeHead(200, { 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A user's project: node_modules/atomic-fs is this package, its bin on PATH. */
function project(root: string): { work: string; env: NodeJS.ProcessEnv } {
  const modules = join(root, 'node_modules');
  fs.mkdirSync(join(modules, '.bin'), { recursive: true });
  fs.symlinkSync(PACKAGE_ROOT, join(modules, 'atomic-fs'), 'dir');
  const bin = join(modules, '.bin', 'atomic-fs');
  fs.writeFileSync(
    bin,
    `#!/bin/sh\nexec "${process.execPath}" "${join(PACKAGE_ROOT, 'dist', 'cli', 'bin.js')}" "$@"\n`,
    {
      mode: 0o755,
    },
  );
  const work = join(root, 'work');
  fs.mkdirSync(work);
  return {
    work,
    env: { ...process.env, PATH: `${join(modules, '.bin')}:${process.env.PATH ?? ''}` },
  };
}

/** Runs an ```sh block: `# exit status N` lines checked, `npm` commands only checked. */
function shellScript(body: string): string {
  const lines = body.split('\n').map((line) => {
    const npm = /^npm\s+(\S+)\s*(\S*)/.exec(line);
    if (npm !== null) {
      const [, command, argument] = npm;
      const known =
        command === 'ci' ||
        command === 'test' ||
        (command === 'install' && argument === 'atomic-fs') ||
        (command === 'run' && SCRIPTS.includes(argument ?? ''));
      return known
        ? `: checked, not run: ${JSON.stringify(line)}`
        : `echo ${JSON.stringify(`unknown npm command: ${line}`)} >&2; exit 99`;
    }
    const expect = /^(.*?)\s+# exit status (\d+)\s*$/.exec(line);
    if (expect === null) return line;
    const [, command, status] = expect;
    return `set +e; ${command}; s=$?; set -e; [ "$s" -eq ${status} ] || { echo "exit status $s, not ${status}: ${command?.replace(/["$`\\]/g, '\\$&')}" >&2; exit 98; }`;
  });
  return `set -euo pipefail\n${lines.join('\n')}\n`;
}

/** Runs a command to its end (a minute at most), with its output interleaved as printed. */
async function run(
  file: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ status: number | null; output: string }> {
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, output };
}

/** Asserts that every line of `expected` appears in `output`, in order. */
function assertPrints(output: string, expected: string, where: string): void {
  const printed = output.split('\n').map((line) => line.trimEnd());
  let at = 0;
  for (const line of expected.split('\n').map((each) => each.trimEnd())) {
    if (line === '') continue;
    const found = printed.indexOf(line, at);
    assert.ok(
      found !== -1,
      `${where}: the example does not print ${JSON.stringify(line)}; it printed:\n${output}`,
    );
    at = found + 1;
  }
}

for (const doc of docs) {
  const list = blocks(doc.text);
  if (!list.some((block) => RUN.has(block.lang) || block.lang === 'json')) continue;
  test(`every example in ${doc.name} runs`, async (t) => {
    const root = tempDir(t, 'afs-docs-');
    const { work, env } = project(root);
    const server = await exampleServer();
    t.after(server.close);
    // What the last run block printed, for a text block right after it.
    let last: string | undefined;
    for (const [index, block] of list.entries()) {
      const where = `${doc.name}:${block.line}`;
      if (block.lang === 'json') {
        assert.doesNotThrow(() => JSON.parse(block.body), `${where}: not JSON`);
        continue;
      }
      if (block.lang === 'text' && last !== undefined) {
        assertPrints(last, block.body, where);
        continue;
      }
      last = undefined;
      if (!RUN.has(block.lang)) continue;
      const body = block.body.replaceAll('https://example.com/', server.origin);
      if (
        /\batomic-fs audit\b|\bauditCommand\(/.test(body) &&
        !needs(t, hasStrace, `${where} audits under strace, which is not here`)
      ) {
        continue;
      }
      let command: [string, string[]];
      if (block.lang === 'js') {
        const named = /^\/\/ ([\w.-]+\.m?js)\n/.exec(body)?.[1];
        const file = named === undefined ? join(root, `block-${index}.mjs`) : join(work, named);
        fs.writeFileSync(file, body);
        command = [process.execPath, [file]];
      } else {
        command = ['bash', ['-c', shellScript(body)]];
      }
      // Not spawnSync: the example server answers on this thread's event loop.
      const { status, output } = await run(...command, work, env);
      assert.equal(
        status,
        0,
        `${where}: the ${block.lang} example failed (status ${status}):\n${output}`,
      );
      last = output;
    }
  });
}
