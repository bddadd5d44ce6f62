/**
 * Whole data is captured when the call is made: a buffer changed after the call (before the
 * write ran, or while it runs) never changes what is written — on the I/O thread and on the
 * calling thread, with a signal, above the I/O thread's size limit, queued behind an earlier
 * write of the file, in writeFiles and writeDirectory, and for what update's `fn` returns.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { type TestContext, describe, test } from 'node:test';
import { OFFLOAD_MAX_BYTES } from '../../src/core/constants.js';
import { chunkBytes, viewBytes } from '../../src/core/data.js';
import { update, writeDirectory, writeFile, writeFileSync, writeFiles } from '../../src/index.js';
import { ioThreadReady } from '../../src/core/io-thread.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { instrument, tempDir } from '../support/helpers.js';

const SMALL = 1024;
const LARGE = OFFLOAD_MAX_BYTES + 64 * 1024;

/** Where the call runs: on the I/O thread (the default), or on the calling thread. */
type Thread = 'on' | 'off';

/**
 * Run on the I/O thread, or on the calling thread (a patched seam keeps every call there).
 * On the calling thread, `atOpen` runs when the temp file is opened: while the write runs.
 */
async function onThread(t: TestContext, thread: Thread, atOpen?: () => void): Promise<void> {
  assert.equal(await ioThreadReady(), true);
  if (thread === 'on') return;
  let opened = false;
  instrument(t, [
    {
      code: 'EIO',
      when: (call) => {
        if (
          !opened &&
          call.name === 'open' &&
          parseTempName(basename(call.subject)) !== undefined
        ) {
          opened = true;
          atOpen?.();
        }
        return false;
      },
    },
  ]);
}

/** The bytes given to the call, and the same bytes as they were. */
function data(size: number): { given: Buffer; expected: Buffer } {
  const given = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) given[i] = 97 + (i % 26);
  return { given, expected: Buffer.from(given) };
}

function mutate(buffer: Uint8Array): void {
  buffer.fill(0x58);
}

/**
 * When the buffer is changed: right after the call, while the write waits behind an earlier
 * write of the file, or (on the calling thread) while it is being written.
 */
type Moment = 'at once' | 'queued behind an earlier write' | 'while it is written';

function momentsOn(thread: Thread): Moment[] {
  const moments: Moment[] = ['at once', 'queued behind an earlier write'];
  return thread === 'off' ? [...moments, 'while it is written'] : moments;
}

describe('whole data is captured when the call is made', () => {
  for (const thread of ['on', 'off'] as const) {
    for (const [what, size, withSignal] of [
      ['a small buffer', SMALL, false],
      ['a small buffer, with a signal', SMALL, true],
      ['a buffer over the I/O thread limit', LARGE, false],
    ] as const) {
      for (const moment of momentsOn(thread)) {
        test(`writeFile, ${what}, I/O thread ${thread}, changed ${moment}`, async (t) => {
          const { given, expected } = data(size);
          const whileWritten = moment === 'while it is written';
          await onThread(t, thread, () => {
            if (whileWritten) mutate(given);
          });
          const dest = join(tempDir(t), 'file');
          const earlier = moment.startsWith('queued') ? writeFile(dest, 'earlier') : undefined;
          const options = withSignal ? { signal: new AbortController().signal } : {};
          const written = writeFile(dest, given, options);
          if (!whileWritten) mutate(given);
          await earlier;
          await written;
          assert.deepEqual(fs.readFileSync(dest), expected);
        });
      }
    }

    test(`writeFile, a typed array over part of a larger buffer, I/O thread ${thread}`, async (t) => {
      await onThread(t, thread);
      const dest = join(tempDir(t), 'file');
      const backing = new Float64Array(64).fill(1.5);
      const view = new Float64Array(backing.buffer, 8, 4);
      const expected = Buffer.from(new Uint8Array(backing.buffer, 8, 32));
      const written = writeFile(dest, view);
      backing.fill(-2);
      await written;
      assert.deepEqual(fs.readFileSync(dest), expected);
    });

    for (const moment of momentsOn(thread)) {
      test(`writeFiles, I/O thread ${thread}, changed ${moment}`, async (t) => {
        const small = data(SMALL);
        const large = data(LARGE);
        const whileWritten = moment === 'while it is written';
        await onThread(t, thread, () => {
          if (whileWritten) {
            mutate(small.given);
            mutate(large.given);
          }
        });
        const dir = tempDir(t);
        const a = join(dir, 'a');
        const b = join(dir, 'b');
        const earlier = moment.startsWith('queued') ? writeFile(a, 'earlier') : undefined;
        const results = writeFiles({ [a]: small.given, [b]: large.given });
        if (!whileWritten) {
          mutate(small.given);
          mutate(large.given);
        }
        await earlier;
        assert.deepEqual(
          (await results).map((r) => r.status),
          ['written', 'written'],
        );
        assert.deepEqual(fs.readFileSync(a), small.expected);
        assert.deepEqual(fs.readFileSync(b), large.expected);
      });
    }

    for (const size of [SMALL, LARGE]) {
      test(`update: the ${size === SMALL ? 'small' : 'large'} buffer fn returns, changed after fn returned, I/O thread ${thread}`, async (t) => {
        const { given, expected } = data(size);
        // On the calling thread: while the new content is written; on the I/O thread: soon.
        await onThread(t, thread, () => {
          mutate(given);
        });
        const dest = join(tempDir(t), 'file');
        fs.writeFileSync(dest, 'old');
        const result = await update(dest, () => {
          if (thread === 'on') {
            setImmediate(() => {
              mutate(given);
            });
          }
          return given;
        });
        assert.deepEqual(fs.readFileSync(dest), expected);
        assert.deepEqual(result, expected, 'update resolves with what is in the file');
      });
    }

    test(`writeDirectory, I/O thread ${thread}`, async (t) => {
      const { given, expected } = data(SMALL);
      await onThread(t, thread);
      const dir = join(tempDir(t), 'tree');
      const written = writeDirectory(dir, { 'a.bin': given });
      mutate(given);
      await written;
      assert.deepEqual(fs.readFileSync(join(dir, 'a.bin')), expected);
    });
  }

  test('writeFileSync: written before it returns', (t) => {
    const dest = join(tempDir(t), 'file');
    const { given, expected } = data(SMALL);
    writeFileSync(dest, given);
    mutate(given);
    assert.deepEqual(fs.readFileSync(dest), expected);
  });

  test('chunkBytes copies into memory of its own; viewBytes shares', () => {
    const given = Buffer.from('shared');
    const copy = chunkBytes(given, 'utf8');
    assert.ok(copy !== undefined);
    assert.equal(copy.byteOffset, 0);
    assert.equal(copy.byteLength, copy.buffer.byteLength, 'not a view into a shared pool');
    assert.notEqual(copy.buffer, given.buffer);
    assert.equal(viewBytes(given, 'utf8'), given);
  });
});
