/**
 * Every public function refuses an option it does not know — a TypeError that names the key
 * and the accepted ones — before anything is touched: an option carried over from another
 * library (`fsync: false`, `flag: 'a'`) must not be silently ignored.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  cleanupTemps,
  copyFile,
  download,
  openAtomic,
  openAtomicSync,
  readJson,
  readJsonSync,
  replaceSymlink,
  update,
  updateJson,
  updateJsonSync,
  updateSync,
  writeDirectory,
  writeFile,
  writeFileSync,
  writeFiles,
  writeJson,
  writeJsonSync,
} from '../../src/index.js';
import { audit, auditCommand } from '../../src/audit/index.js';
import { ioThreadReady } from '../../src/core/io-thread.js';
import { list, openFdCount, tempDir } from '../support/helpers.js';

await ioThreadReady();

type Call = (dir: string, options: object) => unknown;

/** Each public function, called on `dir/file` (or `dir` itself) with `options`. */
const CALLS = {
  writeFile: (dir, o) => writeFile(join(dir, 'file'), 'new', o),
  writeFileSync: (dir, o) => {
    writeFileSync(join(dir, 'file'), 'new', o);
  },
  openAtomic: (dir, o) => openAtomic(join(dir, 'file'), o),
  openAtomicSync: (dir, o) => openAtomicSync(join(dir, 'file'), o),
  writeJson: (dir, o) => writeJson(join(dir, 'file'), 1, o),
  writeJsonSync: (dir, o) => {
    writeJsonSync(join(dir, 'file'), 1, o);
  },
  readJson: (dir, o) => readJson(join(dir, 'file'), o),
  readJsonSync: (dir, o) => readJsonSync(join(dir, 'file'), o),
  update: (dir, o) => update(join(dir, 'file'), () => 'new', o),
  updateSync: (dir, o) => updateSync(join(dir, 'file'), () => 'new', o),
  updateJson: (dir, o) => updateJson(join(dir, 'file'), () => 1, o),
  updateJsonSync: (dir, o) => updateJsonSync(join(dir, 'file'), () => 1, o),
  copyFile: (dir, o) => copyFile(join(dir, 'file'), join(dir, 'copy'), o),
  // Refused before any request: the port is never connected to.
  download: (dir, o) => download('http://127.0.0.1:9/x', join(dir, 'file'), o),
  writeFiles: (dir, o) => writeFiles({ [join(dir, 'file')]: 'new' }, o),
  cleanupTemps: (dir, o) => cleanupTemps(dir, o),
  writeDirectory: (dir, o) => writeDirectory(join(dir, 'tree'), { a: 'new' }, o),
  replaceSymlink: (dir, o) => replaceSymlink(join(dir, 'link'), 'file', o),
} satisfies Record<string, Call>;

/** Run `call` and return its error, synchronous or not. */
async function errorOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to fail');
}

function withFile(t: TestContext): string {
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'file'), '"old"');
  return dir;
}

for (const [name, call] of Object.entries(CALLS)) {
  test(`${name}: an unknown option is a TypeError naming it; nothing is touched`, async (t) => {
    const dir = withFile(t);
    const fds = openFdCount();
    const error = await errorOf(() => call(dir, { colour: 'blue' }));
    assert.ok(error instanceof TypeError);
    assert.equal((error as { code?: unknown }).code, 'ERR_INVALID_ARG_VALUE');
    assert.match(
      error.message,
      new RegExp(`^${name}\\(\\) has no option "colour"\\. Its options: `),
    );
    assert.deepEqual(list(dir), ['file']);
    assert.equal(fs.readFileSync(join(dir, 'file'), 'utf8'), '"old"');
    assert.equal(openFdCount(), fds);
  });
}

test('options of other writers get a sentence saying what to do instead', async (t) => {
  const dir = withFile(t);
  const cases: [Call, object, RegExp][] = [
    [CALLS.writeFile, { fsync: false }, /"fsync": durability sets what is fsynced/],
    [CALLS.writeFileSync, { fsyncWait: false }, /"fsyncWait": durability sets/],
    [CALLS.writeFile, { flag: 'a' }, /"flag": an atomic replace .* never appends.*update\(/],
    [CALLS.writeFile, { flush: true }, /"flush": every write is flushed/],
    [CALLS.writeFile, { tmpfileCreated: () => undefined }, /temp file belongs to atomic-fs/],
    [CALLS.openAtomic, { tmpPurge: false }, /cleanupTemps\(\) sweeps those a crash left/],
    [CALLS.writeJson, { indent: '\t' }, /"indent": the JSON indentation is the option "spaces"/],
    [CALLS.updateJson, { timeout: 10 }, /"timeout": the option is "timeoutMs"/],
    [CALLS.cleanupTemps, { olderThan: 5 }, /"olderThan"\. Did you mean "olderThanMs"\?/],
    [CALLS.writeFile, { Mode: 0o600 }, /"Mode"\. Did you mean "mode"\?/],
    [CALLS.writeFiles, { concurency: 2 }, /"concurency"\. Did you mean "concurrency"\?/],
    [CALLS.openAtomic, { flags: 'a' }, /"flags": an atomic replace .* never appends/],
    [CALLS.writeFile, { Fsync: false }, /"Fsync": durability sets what is fsynced/],
    // A sentence only where the option it points to exists.
    [CALLS.writeFile, { timeout: 5 }, /"timeout": .* signal: AbortSignal\.timeout\(ms\)\./],
    [CALLS.download, { timeout: 5 }, /"timeout": the option is "timeoutMs", in milliseconds\./],
    [CALLS.copyFile, { indent: 2 }, /^copyFile\(\) has no option "indent"\. Its options: /],
    [CALLS.readJson, { flag: 'r' }, /^readJson\(\) has no option "flag"\. Its options: /],
    // An update has no `overwrite`: its own sentence for `flag`.
    [CALLS.update, { flag: 'a' }, /"flag": an update always writes a whole new file: to append/],
    [CALLS.updateJson, { flags: 'a' }, /"flags": an update always writes a whole new file/],
    // jsonfile's and fs-extra's JSON options, conf's configFileMode.
    [CALLS.writeJson, { EOL: '\r\n' }, /"EOL": JSON is written with '\\n' line ends/],
    [CALLS.writeJsonSync, { finalEOL: false }, /"finalEOL": the JSON text always ends with one/],
    [CALLS.readJson, { reviver: () => 1 }, /"reviver": there is no reviver: transform the value/],
    [CALLS.readJsonSync, { throws: false }, /"throws": invalid JSON always rejects/],
    [CALLS.readJson, { fs }, /"fs": atomic-fs always uses node:fs/],
    [CALLS.writeJson, { fs }, /"fs": atomic-fs always uses node:fs/],
    [CALLS.updateJson, { configFileMode: 0o600 }, /"configFileMode": the option is "mode"/],
    // A short unknown key is not taken for a near miss of a short peer key (`fs`, `EOL`).
    [CALLS.writeFile, { ms: 1 }, /^writeFile\(\) has no option "ms"\. Its options: [^:]*$/],
    // write-file-atomic's and atomically's `mode: false`.
    [
      CALLS.writeFile,
      { mode: false },
      /Received boolean false\. Leave it out to keep the existing/,
    ],
    [CALLS.cleanupTemps, { fsync: false }, /^cleanupTemps\(\) has no option "fsync"\. Its/],
    // `overwrite` is a write option, but an update always replaces: its own message.
    [CALLS.update, { overwrite: true }, /"overwrite" cannot be used with an update/],
    [CALLS.updateJson, { overwrite: false }, /"overwrite" cannot be used with an update/],
    [
      CALLS.update,
      { coalesce: false },
      /^update\(\) has no option "coalesce"\. Its options: (?!.*overwrite)/,
    ],
    // `encoding` on JSON functions: accepted as UTF-8 only.
    [CALLS.writeJson, { encoding: 'latin1' }, /JSON files are always UTF-8/],
  ];
  for (const [call, options, message] of cases) {
    const error = await errorOf(() => call(dir, options));
    assert.ok(error instanceof TypeError, JSON.stringify(options));
    assert.match(error.message, message);
  }
  assert.deepEqual(list(dir), ['file']);
  assert.equal(fs.readFileSync(join(dir, 'file'), 'utf8'), '"old"');
});

test('a key set to undefined is absent; null options are no options; a JSON encoding of utf8 is fine', async (t) => {
  const dir = withFile(t);
  await writeFile(join(dir, 'file'), 'a', { fsync: undefined, mode: undefined } as never);
  assert.equal(fs.readFileSync(join(dir, 'file'), 'utf8'), 'a');
  await writeFile(join(dir, 'file'), 'b', null as never);
  await copyFile(join(dir, 'file'), join(dir, 'copy'), null as never);
  assert.equal(fs.readFileSync(join(dir, 'copy'), 'utf8'), 'b');
  await writeJson(join(dir, 'file'), { n: 1 }, { encoding: 'utf8' } as never);
  assert.deepEqual(await readJson(join(dir, 'file'), { encoding: 'utf-8' } as never), { n: 1 });
  // Every option of a function is accepted by it (the lists are the option interfaces).
  await updateJson(join(dir, 'file'), (v) => v, {
    default: {},
    spaces: 0,
    replacer: null,
    timeoutMs: 1000,
    mode: 0o600,
    chown: false,
    xattrs: true,
    durability: 'full',
    mkdirs: false,
    symlinks: 'follow',
    unsafeSharedDirectories: false,
  });
  // The update's lock file stays, as after every update.
  assert.deepEqual(list(dir).sort(), ['.file.afs-lock', 'copy', 'file']);
});

test('an option on a prototype is checked, and read once, as an own one is', async (t) => {
  const dir = withFile(t);
  const file = join(dir, 'file');
  const error = await errorOf(() => writeFile(file, 'x', Object.create({ fsync: false }) as never));
  assert.match(String(error), /writeFile\(\) has no option "fsync"/);
  // Given through a prototype or a getter, an accepted option takes effect in every function.
  class NoOverwrite {
    get overwrite(): boolean {
      return false;
    }
  }
  await assert.rejects(writeJson(file, 'new', new NoOverwrite()), { code: 'EEXIST' });
  assert.throws(
    () => {
      writeJsonSync(file, 'new', new NoOverwrite());
    },
    { code: 'EEXIST' },
  );
  await writeJson(join(dir, 'narrow.json'), 1, Object.create({ mode: 0o600 }) as never);
  assert.equal(fs.statSync(join(dir, 'narrow.json')).mode & 0o777, 0o600);
  await copyFile(file, join(dir, 'copy'), Object.create({ mode: 0o640 }) as never);
  assert.equal(fs.statSync(join(dir, 'copy')).mode & 0o777, 0o640);
  assert.equal(fs.readFileSync(file, 'utf8'), '"old"');
});

test('the audit functions refuse unknown options too', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(
    audit(() => undefined, { dir, maxstates: 5 } as never),
    {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /^audit\(\) has no option "maxstates"\. Did you mean "maxStates"\?/,
    },
  );
  await assert.rejects(auditCommand(['true'], { dir, cwdir: dir } as never), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /^auditCommand\(\) has no option "cwdir"/,
  });
  assert.deepEqual(list(dir), []);
});

test('a JSON function takes a UTF-8 encoding in place of its options, as fs.readFile does', async (t) => {
  const dir = withFile(t);
  await writeJson(join(dir, 'file'), { n: 1 }, 'utf8');
  writeJsonSync(join(dir, 'file'), { n: 2 }, 'utf-8');
  assert.deepEqual(await readJson(join(dir, 'file'), 'utf8'), { n: 2 });
  assert.deepEqual(readJsonSync(join(dir, 'file'), 'utf-8'), { n: 2 });
  await assert.rejects(readJson(join(dir, 'file'), 'latin1' as never), {
    code: 'ERR_INVALID_ARG_VALUE',
    message: /JSON files are always UTF-8\. Received latin1/,
  });
  assert.equal(fs.readFileSync(join(dir, 'file'), 'utf8'), '{\n  "n": 2\n}\n');
});

test('an options value that is not an object names the function', async () => {
  for (const options of [['utf8'], new String('utf8')]) {
    await assert.rejects(writeFile('a', 'b', options as never), {
      code: 'ERR_INVALID_ARG_TYPE',
      message:
        /^The "options" argument of writeFile\(\) must be an object\. Received an instance of/,
    });
  }
  await assert.rejects(copyFile('a', 'b', 5 as never), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "options" argument of copyFile() must be an object. Received number 5',
  });
  await assert.rejects(writeFile('a', 'b', 5 as never), {
    code: 'ERR_INVALID_ARG_TYPE',
    message:
      'The "options" argument of writeFile() must be an object or an encoding string. Received number 5',
  });
});
