/**
 * readJson / writeJson / updateJson (src/json/json.ts): formatting, values that cannot be
 * written, errors that name the file and position, and the rule that a file that cannot be
 * parsed is never rewritten or cleared.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AtomicFsError,
  readJson,
  readJsonSync,
  updateJson,
  updateJsonSync,
  writeJson,
  writeJsonSync,
} from '../../src/index.js';
import { locateJsonError } from '../../src/json/json.js';
import { heldLocks } from '../../src/json/lock.js';
import { fdsInto, list, temps, tempDir } from '../support/helpers.js';

test('writeJson: two-space indentation and a trailing newline by default', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  await writeJson(dest, { a: [1, 'two'], b: null });
  assert.equal(
    fs.readFileSync(dest, 'utf8'),
    '{\n  "a": [\n    1,\n    "two"\n  ],\n  "b": null\n}\n',
  );
  writeJsonSync(dest, { a: 1 }, { spaces: 0 });
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"a":1}\n');
  await writeJson(dest, { a: 1 }, { spaces: '\t' });
  assert.equal(fs.readFileSync(dest, 'utf8'), '{\n\t"a": 1\n}\n');
  await writeJson(dest, { a: 1, b: 2, c: 3 }, { replacer: ['a', 'c'], spaces: 0 });
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"a":1,"c":3}\n');
  await writeJson(
    dest,
    { a: 1, b: 2n },
    {
      spaces: 0,
      replacer: (_key, value) => (typeof value === 'bigint' ? value.toString() : value),
    },
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"a":1,"b":"2"}\n');
  await writeJson(dest, 'text');
  assert.equal(fs.readFileSync(dest, 'utf8'), '"text"\n');
});

test('writeJson: the write options apply (mode, create-only, mkdirs)', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'sub', 'c.json');
  await writeJson(dest, {}, { mode: 0o600, mkdirs: true });
  assert.equal(fs.statSync(dest).mode & 0o777, 0o600);
  await assert.rejects(writeJson(dest, [], { overwrite: false }), { code: 'EEXIST' });
  assert.throws(
    () => {
      writeJsonSync(dest, [], { overwrite: false });
    },
    { code: 'EEXIST' },
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), '{}\n');
});

test('writeJson: BigInt, cycles and undefined fail before anything is touched', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  fs.writeFileSync(dest, '{"old":true}\n');
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  for (const [value, why] of [
    [{ n: 1n }, /BigInt/],
    [cycle, /circular/],
    [undefined, /undefined is not a JSON value/],
    [() => 1, /function is not a JSON value/],
    [Symbol('s'), /symbol is not a JSON value/],
  ] as const) {
    await assert.rejects(writeJson(dest, value), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: why,
    });
    assert.throws(
      () => {
        writeJsonSync(dest, value);
      },
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
  }
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"old":true}\n');
  assert.deepEqual(list(dir), ['c.json']);
  // Nothing was opened on the directory (the runtime's own descriptors may come and go).
  assert.deepEqual(fdsInto(fs.realpathSync(dir)), []);
});

test('writeJson: options are validated', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const cases: [unknown, string][] = [
    [{ spaces: 11 }, 'ERR_OUT_OF_RANGE'],
    [{ spaces: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ spaces: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ spaces: 'x'.repeat(11) }, 'ERR_INVALID_ARG_VALUE'],
    [{ spaces: true }, 'ERR_INVALID_ARG_VALUE'],
    [{ replacer: 'a' }, 'ERR_INVALID_ARG_TYPE'],
    [{ replacer: [{}] }, 'ERR_INVALID_ARG_TYPE'],
    [{ encoding: 'latin1' }, 'ERR_INVALID_ARG_VALUE'],
    [{ encoding: 5 }, 'ERR_INVALID_ARG_VALUE'],
    // A string in place of the options is an encoding, as for fs.readFile: UTF-8 only.
    ['latin1', 'ERR_INVALID_ARG_VALUE'],
    [5, 'ERR_INVALID_ARG_TYPE'],
    [{ mode: 0o10000 }, 'ERR_OUT_OF_RANGE'],
    [{ indent: 2 }, 'ERR_INVALID_ARG_VALUE'],
  ];
  for (const [options, code] of cases) {
    await assert.rejects(writeJson(dest, 1, options as never), { code }, JSON.stringify(options));
    assert.throws(
      () => {
        writeJsonSync(dest, 1, options as never);
      },
      { code },
    );
  }
  await assert.rejects(writeJson('', 1), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(writeJson(42 as never, 1), { code: 'ERR_INVALID_ARG_TYPE' });
  await writeJson(dest, 1, { encoding: 'utf8' } as never);
  // No options, as in fs: null.
  await writeJson(dest, 2, null as never);
  assert.equal(fs.readFileSync(dest, 'utf8'), '2\n');
  assert.deepEqual(list(dir), ['c.json']);
});

test('readJson: parses; a missing file gives a copy of the default, or ENOENT', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const fallback = { theme: 'light', list: [1] };
  const got = await readJson(dest, { default: fallback });
  assert.deepEqual(got, fallback);
  assert.notEqual(got, fallback, 'a copy: changing it must not change the caller’s default');
  assert.equal(readJsonSync(join(dir, 'no', 'such', 'dir.json'), { default: 0 }), 0);
  assert.equal(await readJson(dest, { default: null }), null);
  const missing = await readJson(dest).catch((error: unknown) => error);
  assert.ok(missing instanceof AtomicFsError);
  assert.equal(missing.code, 'ENOENT');
  assert.equal(missing.phase, 'read');
  assert.equal(missing.path, dest);
  assert.throws(() => readJsonSync(dest), { code: 'ENOENT' });
  assert.deepEqual(list(dir), [], 'reading creates nothing');

  fs.writeFileSync(dest, '\ufeff{"a": [1, 2.5e3, "\\u00e9"]}');
  assert.deepEqual(await readJson(dest), { a: [1, 2500, 'é'] }, 'a byte order mark is dropped');
  assert.deepEqual(readJsonSync(dest, { default: 'unused' }), { a: [1, 2500, 'é'] });
  const big = { items: Array.from({ length: 20_000 }, (_, i) => ({ i, s: 'x'.repeat(10) })) };
  fs.writeFileSync(dest, JSON.stringify(big));
  assert.deepEqual(await readJson(dest), big);

  fs.mkdirSync(join(dir, 'folder.json'));
  await assert.rejects(readJson(join(dir, 'folder.json'), { default: {} }), {
    code: 'EISDIR',
    phase: 'read',
  });
  await assert.rejects(readJson(dest, { default: () => 1 }), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(readJson(dest, 5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
});

const INVALID: readonly [text: string, line: number, column: number, reason: RegExp][] = [
  ['', 1, 1, /unexpected end of input/],
  ['   \n', 2, 1, /unexpected end of input/],
  ['{"a": }', 1, 7, /unexpected character "}"/],
  ['{"a":1,}', 1, 8, /double-quoted property name/],
  ['{"a":1', 1, 7, /unexpected end of input/],
  ['{\n  "a": 1\n  "b": 2\n}', 3, 3, /expected ',' or '}'/],
  ['[1,2]x', 1, 6, /unexpected text after the JSON value/],
  ['[1 2]', 1, 4, /expected ',' or '\]'/],
  ["{'a': 1}", 1, 2, /double-quoted property name/],
  ['{"a" 1}', 1, 6, /expected ':'/],
  ['{"a":\n  tru}', 2, 6, /unexpected character "}"/],
  ['[01]', 1, 3, /expected ',' or '\]'/],
  ['[1.]', 1, 4, /expected a digit/],
  ['[-]', 1, 3, /expected a digit/],
  ['[1e+]', 1, 5, /expected a digit/],
  ['["a\tb"]', 1, 4, /control character/],
  ['["\\x"]', 1, 4, /invalid escape/],
  ['["\\u12G4"]', 1, 7, /invalid \\u escape/],
  ['["abc', 1, 6, /unexpected end of input/],
  ['NaN', 1, 1, /unexpected character "N"/],
];

test('invalid JSON: the error names the file, line and column, never its text', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  for (const [text, line, column, reason] of INVALID) {
    fs.writeFileSync(dest, text);
    const error = await readJson(dest, { default: {} }).catch((e: unknown) => e);
    assert.ok(error instanceof AtomicFsError, JSON.stringify(text));
    assert.equal(error.code, 'ERR_ATOMIC_JSON_PARSE');
    assert.equal(error.phase, 'parse');
    assert.equal(error.path, dest);
    assert.ok(error.message.includes(dest), error.message);
    assert.ok(
      error.message.includes(`line ${line}, column ${column}`),
      `${JSON.stringify(text)}: ${error.message}`,
    );
    assert.match(error.message, reason);
    assert.equal(error.cause, undefined, 'V8’s message quotes the file: not kept');
    assert.throws(() => readJsonSync(dest), { code: 'ERR_ATOMIC_JSON_PARSE' });
  }
  fs.writeFileSync(dest, '{"secret": "hunter2", }');
  const error = await readJson(dest).catch((e: unknown) => e);
  assert.ok(error instanceof Error);
  assert.ok(!error.message.includes('hunter2'));
});

test('locateJsonError agrees with JSON.parse, and with V8 where V8 gives a position', () => {
  const samples = [
    ...INVALID.map(([text]) => text),
    '{"a":[1,{"b":[true,false,null,-0.5e-7]}],"c":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041"}',
    ' [ ] ',
    '{}',
    '0',
    '-12.5E+3',
    '"x"',
    '{"a":1}}',
    '[1,]',
    '[,1]',
    '{"a":1 "b":2}',
    'true false',
    'nul',
    '+1',
    '.5',
    '[1,2',
    '{"a"',
    '{"a":',
  ];
  for (const text of samples) {
    let v8: string | undefined;
    try {
      JSON.parse(text);
    } catch (error) {
      v8 = (error as Error).message;
    }
    const located = locateJsonError(text);
    assert.equal(
      located === undefined,
      v8 === undefined,
      `${JSON.stringify(text)}: ${v8 ?? 'valid'}`,
    );
    const position = /at position (\d+)/.exec(v8 ?? '')?.[1];
    if (position !== undefined && located !== undefined) {
      assert.equal(located.offset, Number(position), `${JSON.stringify(text)}: ${v8 ?? ''}`);
    }
  }
  const deep = `${'['.repeat(200_000)}${']'.repeat(199_999)}`;
  assert.equal(locateJsonError(deep)?.offset ?? 'no position', 'no position');
});

test('invalid UTF-8 is ERR_ATOMIC_JSON_PARSE too (it would come back mangled)', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  fs.writeFileSync(dest, Buffer.from([0x22, 0xff, 0x22]));
  await assert.rejects(readJson(dest), { code: 'ERR_ATOMIC_JSON_PARSE', message: /UTF-8/ });
  await assert.rejects(
    updateJson(dest, () => 1),
    { code: 'ERR_ATOMIC_JSON_PARSE' },
  );
  assert.deepEqual(fs.readFileSync(dest), Buffer.from([0x22, 0xff, 0x22]));
});

test('updateJson never rewrites or clears a file it cannot parse (unlike configstore)', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'config.json');
  const broken = '{"user": "ada", "token": "abc",\n';
  for (const text of [broken, '']) {
    fs.writeFileSync(dest, text);
    const inode = fs.statSync(dest).ino;
    let called = false;
    const fn = (): object => {
      called = true;
      return {};
    };
    await assert.rejects(updateJson(dest, fn, { default: {} }), {
      code: 'ERR_ATOMIC_JSON_PARSE',
      message: /line \d+, column \d+/,
    });
    assert.throws(() => updateJsonSync(dest, fn, { default: {} }), {
      code: 'ERR_ATOMIC_JSON_PARSE',
    });
    assert.equal(called, false);
    assert.equal(fs.readFileSync(dest, 'utf8'), text);
    assert.equal(fs.statSync(dest).ino, inode);
  }
  assert.deepEqual(temps(dir), []);
  assert.deepEqual(heldLocks(), []);
});

test('updateJson: fn gets the parsed value, or a fresh copy of the default, or undefined', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  const fallback = { count: 0, tags: [] as string[] };
  const seen: unknown[] = [];
  const result = await updateJson(
    dest,
    (current) => {
      seen.push(structuredClone(current));
      current.tags.push('changed in place');
      return { count: current.count + 1, tags: current.tags };
    },
    { default: fallback },
  );
  assert.deepEqual(result, { count: 1, tags: ['changed in place'] });
  assert.deepEqual(fallback, { count: 0, tags: [] }, 'the caller’s default is never changed');
  assert.equal(
    fs.readFileSync(dest, 'utf8'),
    '{\n  "count": 1,\n  "tags": [\n    "changed in place"\n  ]\n}\n',
  );
  updateJsonSync(dest, (current) => {
    seen.push(current);
    return undefined;
  });
  const other = join(dir, 'other.json');
  await updateJson(other, (current) => {
    seen.push(current);
    return undefined;
  });
  assert.deepEqual(seen, [
    { count: 0, tags: [] },
    { count: 1, tags: ['changed in place'] },
    undefined,
  ]);
  assert.equal(fs.existsSync(other), false);
  await assert.rejects(
    updateJson(other, () => 1, { default: 1n as never }),
    {
      code: 'ERR_INVALID_ARG_VALUE',
    },
  );
});

test('updateJson: an equal value writes nothing; a changed one (even in place) is written', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  // Formatted differently from what writeJson would write: equal values still write nothing.
  fs.writeFileSync(dest, '{"a":1,"b":[1,2]}');
  const inode = fs.statSync(dest).ino;
  assert.deepEqual(await updateJson(dest, (c) => c), { a: 1, b: [1, 2] });
  assert.deepEqual(await updateJson(dest, () => ({ a: 1, b: [1, 2] })), { a: 1, b: [1, 2] });
  updateJsonSync(dest, (c) => c);
  // Changed in place and then undefined returned: nothing written, and the result says so.
  const result = await updateJson(dest, (c: { a: number } | undefined) => {
    if (c !== undefined) c.a = 99;
    return undefined;
  });
  assert.deepEqual(result, { a: 1, b: [1, 2] });
  assert.equal(fs.statSync(dest).ino, inode, 'not replaced');
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"a":1,"b":[1,2]}');

  await updateJson(dest, (c: { a: number } | undefined) => {
    if (c !== undefined) c.a = 2;
    return c;
  });
  assert.equal(fs.readFileSync(dest, 'utf8'), '{\n  "a": 2,\n  "b": [\n    1,\n    2\n  ]\n}\n');
  // The default unchanged for a missing file: nothing written.
  const missing = join(dir, 'missing.json');
  assert.deepEqual(await updateJson(missing, (c) => c, { default: { x: 1 } }), { x: 1 });
  assert.equal(fs.existsSync(missing), false);
});

test('updateJson: what fn returns must be JSON; fn errors pass through; nothing written', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  fs.writeFileSync(dest, '{"v":1}\n');
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  for (const bad of [{ n: 1n }, cycle, () => 1]) {
    await assert.rejects(
      updateJson(dest, () => bad as never),
      {
        name: 'TypeError',
        code: 'ERR_INVALID_RETURN_VALUE',
      },
    );
    assert.throws(
      () => {
        updateJsonSync(dest, () => bad as never);
      },
      {
        code: 'ERR_INVALID_RETURN_VALUE',
      },
    );
  }
  assert.throws(
    () => {
      updateJsonSync(dest, () => Promise.resolve({}) as never);
    },
    {
      code: 'ERR_INVALID_RETURN_VALUE',
      message: /use updateJson, not updateJsonSync/,
    },
  );
  const mine = new SyntaxError('mine');
  await assert.rejects(
    updateJson(dest, () => {
      throw mine;
    }),
    (error) => error === mine,
  );
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"v":1}\n');
  assert.deepEqual(temps(dir), []);
  assert.deepEqual(heldLocks(), []);
});

test('updateJson: spaces and replacer format the result', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  await updateJson(dest, () => ({ keep: 1, drop: 2 }), { spaces: 0, replacer: ['keep'] });
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"keep":1}\n');
  updateJsonSync(dest, (c) => c, { spaces: 4 });
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"keep":1}\n', 'equal value: not reformatted');
  await assert.rejects(
    updateJson(dest, (c) => c, { encoding: 'hex' } as never),
    {
      code: 'ERR_INVALID_ARG_VALUE',
    },
  );
  await assert.rejects(
    updateJson(dest, (c) => c, { spaces: 12 }),
    { code: 'ERR_OUT_OF_RANGE' },
  );
});

test('updateJson: a replacer that throws on the current value only forces the write', async (t) => {
  const dir = tempDir(t);
  const dest = join(dir, 'c.json');
  fs.writeFileSync(dest, '{"x":"explode"}');
  const replacer = (_key: string, value: unknown): unknown => {
    if (value === 'explode') throw new Error('cannot');
    return value;
  };
  await updateJson(dest, () => ({ x: 'ok' }), { replacer, spaces: 0 });
  assert.equal(fs.readFileSync(dest, 'utf8'), '{"x":"ok"}\n');
});
