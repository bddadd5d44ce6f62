/** AtomicFsError: its fields, its message, and its trip across threads. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AtomicFsError,
  asError,
  deserializeError,
  errorCode,
  ownError,
  serializeError,
  throwIfAborted,
  wrapError,
} from '../../src/engine/errors.js';
import { errnoError } from '../support/helpers.js';

test('wrapError keeps the kernel facts and names the phase', () => {
  const cause = errnoError('ENOSPC', 'write', '/d/.f.afs-1-2-3.tmp');
  cause.errno = -28;
  const error = wrapError(cause, 'write', '/d/f');
  assert.ok(error instanceof AtomicFsError);
  assert.equal(error.name, 'AtomicFsError');
  assert.deepEqual(
    [error.code, error.phase, error.path, error.syscall, error.errno, error.committed],
    ['ENOSPC', 'write', '/d/f', 'write', -28, false],
  );
  assert.equal(error.cause, cause);
  assert.match(error.message, /^ENOSPC: .*writing the temp file for '\/d\/f'/);
  assert.equal(wrapError(error, 'rename', '/x'), error, 'an AtomicFsError passes through');
  const committed = wrapError(error, 'fsync-dir', '/d/f', { committed: true });
  assert.equal(committed.committed, true);
  assert.equal(committed.code, 'ENOSPC');
  assert.match(wrapError(cause, 'fsync-dir', '/d/f', { committed: true }).message, /in place/);
  assert.equal(wrapError('weird', 'write', '/d/f').code, 'ERR_ATOMIC_UNKNOWN');
});

test('a wrapped message says each path once, as short as it can be said', () => {
  // Node's own shape: `CODE: what, syscall 'path'`.
  const node = (code: string, text: string, syscall: string, path: string, dest?: string) =>
    Object.assign(
      new Error(
        `${code}: ${text}, ${syscall} '${path}'${dest === undefined ? '' : ` -> '${dest}'`}`,
      ),
      { code, syscall, path, ...(dest === undefined ? {} : { dest }) },
    );
  const long = `/d/${'n'.repeat(300)}`;
  const tooLong = wrapError(node('ENAMETOOLONG', 'name too long', 'lstat', long), 'resolve', long);
  assert.equal(tooLong.message.split('n'.repeat(300)).length - 1, 1, tooLong.message);
  assert.equal(
    tooLong.message,
    `ENAMETOOLONG: name too long (while resolving the destination for '${long}')`,
  );
  // A temp file in a pinned directory: its name alone, and why the directory must be writable.
  const temp = '/proc/self/fd/23/.f.afs-5bce-25680-012dc01c717f288d.tmp';
  assert.equal(
    wrapError(node('EACCES', 'permission denied', 'open', temp), 'create-temp', '/d/ro/f').message,
    "EACCES: permission denied (while creating the temp file for '/d/ro/f': open " +
      "'.f.afs-5bce-25680-012dc01c717f288d.tmp'). The file's directory must be writable by " +
      'this process: the new content is written to a temp file beside the file, then renamed over it',
  );
  // Both paths of a rename, beside the destination: their names.
  assert.equal(
    wrapError(
      node('EXDEV', 'cross-device link not permitted', 'rename', '/d/.f.tmp', '/d/f'),
      'rename',
      '/d/f',
    ).message,
    "EXDEV: cross-device link not permitted (while renaming the temp file over the destination for '/d/f': rename '.f.tmp' -> 'f')",
  );
  // Elsewhere: the whole path.
  assert.equal(
    wrapError(
      node('ENOENT', 'parent directory does not exist', 'open', '/d/no'),
      'resolve',
      '/d/no/such/f',
    ).message,
    "ENOENT: parent directory does not exist (while resolving the destination for '/d/no/such/f': open '/d/no'); pass mkdirs: true to create it",
  );
  // A message of another shape is kept whole.
  assert.equal(
    wrapError(
      Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' }),
      'read-source',
      '/d/f',
    ).message,
    "EIO: i/o error, read (while reading the data source for '/d/f')",
  );
});

test('own errors, abort errors and helpers', () => {
  const own = ownError('ERR_ATOMIC_CLOSED', 'state', '/f', 'closed');
  assert.equal(own.code, 'ERR_ATOMIC_CLOSED');
  const controller = new AbortController();
  throwIfAborted(controller.signal, '/f');
  const reason = new Error('why');
  controller.abort(reason);
  assert.throws(
    () => {
      throwIfAborted(controller.signal, '/f');
    },
    (error: unknown) => {
      assert.ok(error instanceof AtomicFsError);
      assert.equal(error.name, 'AbortError');
      assert.equal(error.code, 'ABORT_ERR');
      assert.equal(error.cause, reason);
      return true;
    },
  );
  assert.equal(errorCode({ code: 'X' }), 'X');
  assert.equal(errorCode({ code: 1 }), undefined);
  assert.equal(errorCode(null), undefined);
  const plain = new Error('p');
  assert.equal(asError(plain), plain);
  assert.equal(asError(42).cause, 42);
});

test('errors survive the trip to and from the I/O thread', () => {
  const cause = errnoError('EIO', 'fsync', '/d/t');
  const original = new AtomicFsError('EIO: boom', {
    code: 'EIO',
    phase: 'fsync-dir',
    path: '/d/f',
    syscall: 'fsync',
    errno: -5,
    committed: true,
    leftover: '/d/t',
    cause,
  });
  const copy = deserializeError(structuredClone(serializeError(original)));
  assert.ok(copy instanceof AtomicFsError);
  assert.deepEqual(
    [
      copy.message,
      copy.code,
      copy.phase,
      copy.path,
      copy.syscall,
      copy.errno,
      copy.committed,
      copy.leftover,
    ],
    ['EIO: boom', 'EIO', 'fsync-dir', '/d/f', 'fsync', -5, true, '/d/t'],
  );
  assert.equal((copy.cause as NodeJS.ErrnoException).code, 'EIO');
  const plain = deserializeError(serializeError(new TypeError('bad')));
  assert.equal(plain.name, 'TypeError');
  assert.equal(plain.message, 'bad');
});
