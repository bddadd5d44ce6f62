/**
 * What can be written, and how it becomes bytes. Every ArrayBufferView is written with its
 * true byte length (a Float64Array(4) is 32 bytes, not 4); streams and iterables are read
 * one chunk at a time with backpressure. Whole data is captured when the call is made (see
 * `chunkBytes`); a chunk of a stream or of a handle's `write()` must stay unchanged until that
 * write settles, as with `fs.write`.
 */
import { invalidArgument } from '../engine/errors.js';

/** One piece of data: a string (encoded with `encoding`), any TypedArray, DataView or ArrayBuffer. */
export type Chunk = string | NodeJS.ArrayBufferView | ArrayBuffer;

/** A web ReadableStream without async iteration (older runtimes). */
interface ReaderSource {
  getReader(): {
    read(): Promise<{ done: boolean; value?: unknown }>;
    releaseLock(): void;
    cancel(reason?: unknown): Promise<void>;
  };
}

/**
 * Data for `writeFile`: a chunk, or a sync or async iterable of chunks (arrays, generators,
 * Node Readable streams, web ReadableStreams).
 */
export type Data = Chunk | Iterable<Chunk> | AsyncIterable<Chunk> | ReaderSource;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' ? `an instance of ${name}` : 'object';
  }
  return `type ${typeof value}`;
}

/**
 * The bytes of a chunk as they are now, or `undefined` when `value` is not a chunk. Whole data
 * is captured when the call is made: a copy (a string: its encoding), so that changing the
 * caller's buffer after the call never changes what is written, whether the write runs at
 * once or after earlier writes of the file, on the I/O thread or on the calling thread. The
 * copy is the library's own memory (never Buffer's shared pool), so it may be moved to the
 * I/O thread instead of copied again.
 */
export function chunkBytes(value: unknown, encoding: BufferEncoding): Uint8Array | undefined {
  if (typeof value === 'string') return Buffer.from(value, encoding);
  const view = viewBytes(value, encoding);
  if (view === undefined) return undefined;
  const copy = Buffer.allocUnsafeSlow(view.byteLength);
  copy.set(view);
  return copy;
}

/**
 * The bytes of a chunk, sharing the caller's memory, or `undefined` when `value` is not a
 * chunk. For data written before the call returns (the sync functions) and for the chunks of a
 * stream or a handle, which are the caller's until their write settles.
 */
export function viewBytes(value: unknown, encoding: BufferEncoding): Uint8Array | undefined {
  if (typeof value === 'string') return Buffer.from(value, encoding);
  if (ArrayBuffer.isView(value)) {
    return value instanceof Uint8Array
      ? value
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return undefined;
}

/** The bytes of a chunk, or a TypeError naming what was received. */
export function requireChunk(value: unknown, encoding: BufferEncoding, what: string): Uint8Array {
  const bytes = viewBytes(value, encoding);
  if (bytes === undefined) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The ${what} must be a string, Buffer, TypedArray, DataView or ArrayBuffer. Received ${typeName(value)}`,
    );
  }
  return bytes;
}

async function* readAll(source: ReaderSource): AsyncGenerator {
  const reader = source.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield value;
    }
    finished = true;
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * The chunks of a streaming source (an iterable, async iterable or web stream), or
 * `undefined` when `value` is none of those.
 */
export function chunkSource(
  value: unknown,
): AsyncIterable<unknown> | Iterable<unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Symbol.asyncIterator in value && typeof value[Symbol.asyncIterator] === 'function') {
    return value as AsyncIterable<unknown>;
  }
  if ('getReader' in value && typeof value.getReader === 'function') {
    return readAll(value as ReaderSource);
  }
  if (Symbol.iterator in value && typeof value[Symbol.iterator] === 'function') {
    return value as Iterable<unknown>;
  }
  return undefined;
}

/** The TypeError for data of an unsupported type. */
export function invalidData(value: unknown, sync: boolean): TypeError {
  const allowed = sync
    ? 'a string, Buffer, TypedArray, DataView or ArrayBuffer'
    : 'a string, Buffer, TypedArray, DataView, ArrayBuffer, an iterable or async iterable of those, or a stream';
  return invalidArgument(
    'ERR_INVALID_ARG_TYPE',
    `The "data" argument must be ${allowed}. Received ${typeName(value)}`,
  );
}
