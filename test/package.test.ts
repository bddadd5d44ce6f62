/**
 * The package as npm would publish it: the files `npm pack` takes (from package.json
 * `files`), installed into a fresh project's node_modules, used the way a user would — the
 * `exports` map (both entry points, with types), the I/O thread's worker file, the `bin`.
 * The rest of the suite imports src/ through build/; only this test sees the package's shape.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT as ROOT, needs, tempDir } from './support/helpers.js';

const manifest = JSON.parse(fs.readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  dependencies: Record<string, string>;
};

/** What `npm pack` would put in the tarball (paths relative to the package root). */
function packedFiles(): string[] | undefined {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // --ignore-scripts: the build is done (npm test's pretest); rebuilding dist/ here would
  // rewrite files that other tests are running.
  const run = spawnSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: ROOT,
    encoding: 'utf8',
    shell: process.platform === 'win32',
  });
  if (run.error !== undefined || run.status !== 0) return undefined;
  const [report] = JSON.parse(run.stdout) as [{ files: { path: string }[] }];
  return report.files.map((file) => file.path).sort();
}

/** Every file the manifest points at (main, types, bin, each condition of each export). */
function referencedFiles(): string[] {
  const paths = [manifest.main, manifest.types, ...Object.values(manifest.bin)];
  for (const target of Object.values(manifest.exports)) {
    paths.push(...(typeof target === 'string' ? [target] : Object.values(target)));
  }
  return [...new Set(paths.map((path) => path.replace(/^\.\//, '')))].sort();
}

function run(file: string, args: string[], cwd: string): string {
  const child = spawnSync(process.execPath, [file, ...args], { cwd, encoding: 'utf8' });
  assert.equal(child.status, 0, `${file} ${args.join(' ')}:\n${child.stdout}\n${child.stderr}`);
  return child.stdout;
}

test('the published package: its files, both entry points with types, the I/O thread, the bin', async (t) => {
  const files = packedFiles();
  if (!needs(t, files !== undefined, 'npm is not available to list the package')) return;
  assert.ok(files !== undefined);

  // Only what a user needs: the build, its sources (the source and declaration maps point
  // there), and the documents: the README's pages under docs/ are packed so that its links
  // work in node_modules too (not docs/notes/, the history of changes).
  const documents = ['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json'];
  const stray = files.filter(
    (path) =>
      !documents.includes(path) && !/^(dist|src)\//.test(path) && !/^docs\/[^/]+\.md$/.test(path),
  );
  assert.deepEqual(stray, [], 'files that should not be published');
  for (const document of documents) assert.ok(files.includes(document), `${document} is packed`);
  const readme = fs.readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const [, page] of readme.matchAll(/\]\((docs\/[^)#]+\.md)/g)) {
    assert.ok(files.includes(page ?? ''), `${page} (linked from the README) is packed`);
  }
  for (const path of referencedFiles()) assert.ok(files.includes(path), `${path} is packed`);
  assert.ok(files.includes('dist/core/io-thread-worker.js'), 'the I/O thread is packed');
  // Every source a map names is in the package.
  for (const map of files.filter((path) => path.endsWith('.map'))) {
    const { sources } = JSON.parse(fs.readFileSync(join(ROOT, map), 'utf8')) as {
      sources: string[];
    };
    for (const source of sources) {
      const path = join(dirname(map), source).split('\\').join('/');
      assert.ok(files.includes(path), `${map} names ${source}, which is not packed`);
    }
  }

  // Install: the packed files under node_modules/atomic-fs, the dependencies beside them.
  const project = fs.realpathSync(tempDir(t));
  const modules = join(project, 'node_modules');
  const installed = join(modules, 'atomic-fs');
  for (const path of files) {
    fs.mkdirSync(dirname(join(installed, path)), { recursive: true });
    fs.copyFileSync(join(ROOT, path), join(installed, path));
  }
  for (const name of [...Object.keys(manifest.dependencies), '@types/node']) {
    fs.mkdirSync(dirname(join(modules, name)), { recursive: true });
    fs.symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'junction');
  }
  fs.writeFileSync(join(project, 'package.json'), '{ "type": "module", "private": true }\n');

  // Used from JavaScript, by the package's name only.
  fs.writeFileSync(
    join(project, 'use.js'),
    `import * as afs from 'atomic-fs';
import { audit } from 'atomic-fs/audit';
import { readFileSync } from 'node:fs';
// The module the package loaded, reached by its file: is the packed worker file online?
const { ioThreadReady } = await import(
  new URL('./node_modules/atomic-fs/dist/core/io-thread.js', import.meta.url).href
);
await afs.writeFile('a.txt', 'from the package\\n');
const results = await afs.writeFiles({ 'b.txt': 'b', 'c.txt': 'c' });
const report = await audit(() => afs.writeFile('a.txt', 'audited\\n'), { dir: '.' });
console.log(JSON.stringify({
  exports: Object.keys(afs).sort(),
  ioThread: await ioThreadReady(),
  a: readFileSync('a.txt', 'utf8'),
  results: results.map((result) => result.status),
  auditOk: report.ok,
}));
`,
  );
  const used = JSON.parse(run(join(project, 'use.js'), [], project)) as Record<string, unknown>;
  const source = (await import('../src/index.js')) as Record<string, unknown>;
  assert.deepEqual(used.exports, Object.keys(source).sort(), 'the same exports as src/index.ts');
  assert.equal(used.ioThread, true, 'the packed I/O thread starts');
  assert.equal(used.a, 'audited\n');
  assert.deepEqual(used.results, ['written', 'written']);
  assert.equal(used.auditOk, true);

  // From CommonJS, by require(): Node loads ES modules synchronously since 20.19 and 22.12
  // (`process.features.require_module`); the package has no top-level await in its graph.
  fs.writeFileSync(
    join(project, 'use.cjs'),
    `const afs = require('atomic-fs');
const { audit } = require('atomic-fs/audit');
const { readFileSync } = require('node:fs');
afs.writeFile('r.txt', 'from require\\n').then(() => {
  console.log(JSON.stringify({
    exports: Object.keys(afs).sort(),
    audit: typeof audit,
    r: readFileSync('r.txt', 'utf8'),
  }));
});
`,
  );
  const features = process.features as { require_module?: boolean };
  if (
    needs(
      t,
      features.require_module === true,
      `Node ${process.version} cannot require() an ES module`,
    )
  ) {
    const required = JSON.parse(run(join(project, 'use.cjs'), [], project)) as Record<
      string,
      unknown
    >;
    assert.deepEqual(required.exports, used.exports, 'require() gets the same exports');
    assert.equal(required.audit, 'function');
    assert.equal(required.r, 'from require\n');
  }

  // The command line, through the bin entry.
  const bin = join(installed, Object.values(manifest.bin)[0] ?? '');
  assert.match(fs.readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  assert.equal(run(bin, ['--version'], project).trim(), manifest.version);

  // Used from TypeScript: the types resolve through the exports map, strictly checked.
  fs.writeFileSync(
    join(project, 'use.ts'),
    `import { AtomicFsError, type WriteOptions, writeFile } from 'atomic-fs';
import { type AuditReport, audit } from 'atomic-fs/audit';
const options: WriteOptions = { mode: 0o600, durability: 'full' };
await writeFile('a.txt', new Uint8Array(4), options);
const report: AuditReport = await audit(() => writeFile('a.txt', 'x'), { dir: '.' });
export const ok: boolean = report.ok;
export function isAtomicFsError(error: unknown): error is AtomicFsError {
  return error instanceof AtomicFsError && typeof error.phase === 'string';
}
`,
  );
  fs.writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        types: ['node'],
        skipLibCheck: false,
      },
      files: ['use.ts'],
    }),
  );
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  run(tsc, ['-p', join(project, 'tsconfig.json')], project);
});
