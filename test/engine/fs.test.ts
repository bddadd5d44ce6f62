/**
 * The fs seam's native addon (the locks of `update`, the exchange of `writeDirectory`): a
 * failure to load it is the answer for the call that met it, never for the calls after it,
 * and never a reason to give up the exchange where the platform has one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type NativeLoader, setNativeLoader } from '../../src/engine/fs.js';
import { update, writeDirectory } from '../../src/index.js';
import { hasAtomicExchange } from '../../src/engine/platform.js';
import { list, needs, rejection, tempDir, temps } from '../support/helpers.js';

const library = fileURLToPath(new URL('../../src/index.js', import.meta.url));

const requireNative = (): ReturnType<NativeLoader> =>
  createRequire(import.meta.url)('fs-native-extensions') as ReturnType<NativeLoader>;

/** A loader that fails once with `error`, then loads the addon: it counts its calls. */
function failingOnce(t: TestContext, error: Error): { calls: number } {
  const counted = { calls: 0 };
  setNativeLoader(() => {
    counted.calls += 1;
    if (counted.calls === 1) throw error;
    return requireNative();
  });
  t.after(() => {
    setNativeLoader();
  });
  return counted;
}

/** Load failures as `require` reports them, and the code each call must fail with. */
const failures: [string, () => Error, { lock: string; exchange: string }][] = [
  [
    'no descriptor left to read the module (EMFILE)',
    () =>
      Object.assign(new Error("EMFILE: too many open files, open '.../index.js'"), {
        code: 'EMFILE',
        syscall: 'open',
      }),
    { lock: 'EMFILE', exchange: 'EMFILE' },
  ],
  [
    'dlopen() out of descriptors',
    () =>
      Object.assign(
        new Error("Cannot load addon 'file:///.../fs-native-extensions.node'", {
          cause: Object.assign(
            new Error(
              'fs-native-extensions.node: cannot open shared object file: Too many open files',
            ),
            { code: 'ERR_DLOPEN_FAILED' },
          ),
        }),
        { code: 'CANNOT_LOAD' },
      ),
    { lock: 'EMFILE', exchange: 'EMFILE' },
  ],
  [
    'no build for this platform',
    () =>
      Object.assign(new Error("Cannot find addon '.' imported from 'file:///.../binding.js'"), {
        code: 'ADDON_NOT_FOUND',
      }),
    { lock: 'ERR_ATOMIC_LOCK_UNSUPPORTED', exchange: 'ERR_ATOMIC_NO_EXCHANGE' },
  ],
];

test('no descriptor left while the addon loads (a real EMFILE): the next update and writeDirectory work', (t) => {
  if (!needs(t, process.platform !== 'win32', 'needs a POSIX shell for ulimit')) return;
  const dir = tempDir(t);
  const dest = join(dir, 'count');
  const script = join(dir, 'child.mjs');
  fs.writeFileSync(
    script,
    `import * as fs from 'node:fs';
     const lib = await import(${JSON.stringify(library)});
     const [dest, tree] = process.argv.slice(2);
     const report = {};
     const fillers = [];
     try { for (;;) fillers.push(fs.openSync(process.execPath, 'r')); } catch {}
     // One descriptor free: the lock file takes it, and the addon finds none to load with.
     fs.closeSync(fillers.pop());
     try { await lib.update(dest, (old) => String(Number(old) + 1)); report.first = 'ok'; }
     catch (error) { report.first = error.code; }
     for (const fd of fillers) fs.closeSync(fd);
     try { await lib.update(dest, (old) => String(Number(old) + 1)); report.second = 'ok'; }
     catch (error) { report.second = error.code; }
     try { await lib.writeDirectory(tree, { v: '2' }); report.directory = 'ok'; }
     catch (error) { report.directory = error.code; }
     console.log(JSON.stringify(report));`,
  );
  fs.writeFileSync(dest, '1');
  const tree = join(dir, 'tree');
  fs.mkdirSync(tree);
  fs.writeFileSync(join(tree, 'v'), '1');
  const child = spawnSync(
    '/bin/sh',
    ['-c', 'ulimit -n 64 && exec "$0" "$@"', process.execPath, script, dest, tree],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(child.status, 0, child.stderr);
  const report = JSON.parse(child.stdout) as Record<string, string>;
  assert.deepEqual(report, {
    // The failure of the moment, with its own code (not "locks are unsupported here").
    first: 'EMFILE',
    second: 'ok',
    directory: 'ok',
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), '2');
  assert.equal(fs.readFileSync(join(tree, 'v'), 'utf8'), '2');
});

for (const [name, failure, codes] of failures) {
  test(`update, ${name}: that call fails with ${codes.lock}, the next one loads the addon`, async (t) => {
    const dir = tempDir(t);
    const dest = join(dir, 'count');
    fs.writeFileSync(dest, '1');
    const loader = failingOnce(t, failure());
    const error = await rejection(update(dest, (old) => String(Number(old) + 1)));
    assert.equal(error.code, codes.lock);
    assert.equal(error.phase, 'lock');
    assert.equal(fs.readFileSync(dest, 'utf8'), '1');
    assert.equal((await update(dest, (old) => String(Number(old) + 1)))?.toString(), '2');
    assert.equal(loader.calls, 2, 'the failure was not remembered');
    assert.equal(fs.readFileSync(dest, 'utf8'), '2');
    assert.deepEqual(temps(dir), []);
  });

  test(`writeDirectory with allowNonAtomic, ${name}: no fallback to two renames where the exchange exists`, async (t) => {
    if (
      !needs(t, hasAtomicExchange(process.platform), 'needs a platform with an atomic exchange')
    ) {
      return;
    }
    const parent = tempDir(t);
    const tree = join(parent, 'tree');
    fs.mkdirSync(tree);
    fs.writeFileSync(join(tree, 'v'), '1');
    const loader = failingOnce(t, failure());
    const error = await rejection(writeDirectory(tree, { v: '2' }, { allowNonAtomic: true }));
    assert.equal(error.code, codes.exchange);
    assert.equal(error.phase, 'swap');
    assert.equal(fs.readFileSync(join(tree, 'v'), 'utf8'), '1');
    assert.deepEqual(list(parent), ['tree'], 'nothing staged or moved aside is left');
    await writeDirectory(tree, { v: '2' }, { allowNonAtomic: true });
    assert.equal(loader.calls, 2, 'the failure was not remembered');
    assert.equal(fs.readFileSync(join(tree, 'v'), 'utf8'), '2');
    assert.deepEqual(list(parent), ['tree']);
  });
}
