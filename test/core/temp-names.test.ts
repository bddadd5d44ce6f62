/** Temp file names: recognisable, unpredictable, and never too long. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOST_TAG, parseTempName, tempName, truncateUtf8 } from '../../src/core/temp-names.js';

test('a temp name identifies the library, the destination and the owner', () => {
  const name = tempName('config.json');
  assert.match(name, /^\.config\.json\.afs-[0-9a-f]{4}-\d+-[0-9a-f]{16}\.tmp$/);
  assert.deepEqual(parseTempName(name), {
    base: 'config.json',
    host: HOST_TAG,
    pid: process.pid,
    random: name.slice(-20, -4),
  });
  assert.match(HOST_TAG, /^[0-9a-f]{4}$/);
});

test('names made by users that merely look similar are not temp names', () => {
  for (const name of [
    '.x.tmp',
    'config.json.tmp',
    '.config.json.afs-1234-1-0123456789abcdef.tmp.bak',
    '.config.json.afs-12345-1-0123456789abcdef.tmp',
    '.config.json.afs-zzzz-1-0123456789abcdef.tmp',
    '.config.json.afs-1234-x-0123456789abcdef.tmp',
    '.config.json.afs-1234-1-0123456789abcde.tmp',
    'config.json.afs-1234-1-0123456789abcdef.tmp',
  ]) {
    assert.equal(parseTempName(name), undefined, name);
  }
  assert.equal(parseTempName('.a\nb.afs-1234-1-0123456789abcdef.tmp')?.base, 'a\nb');
});

test('temp names are unpredictable and unique', () => {
  const names = new Set(Array.from({ length: 10_000 }, () => tempName('f')));
  assert.equal(names.size, 10_000);
});

test('a long destination name gives a temp name of at most 255 bytes', () => {
  for (const base of ['x'.repeat(255), 'é'.repeat(127), '😀'.repeat(63), `a${'語'.repeat(84)}`]) {
    const name = tempName(base, 4_294_967_295);
    assert.ok(Buffer.byteLength(name) <= 255, `${Buffer.byteLength(name)} bytes`);
    assert.ok(!name.includes('\ufffd'), 'no character was split');
    assert.ok(base.startsWith(parseTempName(name)?.base ?? '\0'));
  }
  assert.equal(truncateUtf8('héllo', 2), 'h');
  assert.equal(truncateUtf8('héllo', 3), 'hé');
  assert.equal(truncateUtf8('short', 100), 'short');
});
