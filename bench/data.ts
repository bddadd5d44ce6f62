/**
 * Test data and the checks of each contender's output. Small writes carry their own index,
 * so a file holding the wrong write is caught; large content follows a random pattern whose
 * period (a prime number of bytes) never lines up with the 64 KiB chunks, so a chunk written
 * twice, dropped or out of order is caught too.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';

/** `size` bytes that name the write: `<tag> #<index>` then filler, ending in a newline. */
export function smallData(size: number, tag: string, index: number): Buffer {
  const data = Buffer.alloc(size, 0x2e);
  data.write(`${tag} #${index}\n`.slice(0, size), 0, 'latin1');
  if (size > 0) data[size - 1] = 0x0a;
  return data;
}

/** Period of the large-content pattern: a prime, so it shares no factor with a chunk size. */
const PERIOD = 1_048_573;
const WRAP = 1 << 20;

/** Random bytes, repeated with period PERIOD; any window of up to 1 MiB is one view. */
const pattern = Buffer.concat([randomBytes(PERIOD), Buffer.alloc(WRAP)]);
pattern.copy(pattern, PERIOD, 0, WRAP);

/** The expected bytes at `offset .. offset + length` of large content (length ≤ 1 MiB). */
function patternAt(offset: number, length: number): Buffer {
  if (length > WRAP) throw new RangeError('patternAt: at most 1 MiB at a time');
  const start = offset % PERIOD;
  return pattern.subarray(start, start + length);
}

/** A buffer of `size` bytes of the large-content pattern. */
export function patternBuffer(size: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let offset = 0; offset < size; offset += WRAP) {
    patternAt(offset, Math.min(WRAP, size - offset)).copy(data, offset);
  }
  return data;
}

/**
 * `total` bytes of the pattern as an async generator of `chunk`-byte views (no allocation,
 * so memory growth measured during a write is the writer's, not the source's). `onChunk`
 * runs before every chunk is handed out.
 */
// Async on purpose, with nothing to await: the workload is "from an async generator", and
// the source itself should cost as little as possible.
// eslint-disable-next-line @typescript-eslint/require-await
export async function* patternSource(
  total: number,
  chunk: number,
  onChunk?: (index: number) => void,
): AsyncGenerator<Uint8Array> {
  let index = 0;
  for (let offset = 0; offset < total; offset += chunk) {
    onChunk?.(index);
    index += 1;
    yield patternAt(offset, Math.min(chunk, total - offset));
  }
}

/** Problems with a file that should hold exactly `expected`, as sentences (none: right). */
export function checkBytes(path: string, expected: Uint8Array): string[] {
  let actual: Buffer;
  try {
    actual = readFileSync(path);
  } catch (error) {
    return [`${path}: cannot read (${error instanceof Error ? error.message : String(error)})`];
  }
  if (actual.equals(expected)) return [];
  const head = actual.subarray(0, 24).toString('latin1').split('\n')[0] ?? '';
  return [`${path}: holds ${actual.byteLength} bytes starting "${head}", not the expected write`];
}

/** Problems with a file that should hold `size` bytes of the pattern. */
export function checkPattern(path: string, size: number): string[] {
  let actualSize: number;
  try {
    actualSize = statSync(path).size;
  } catch (error) {
    return [`${path}: missing (${error instanceof Error ? error.message : String(error)})`];
  }
  if (actualSize !== size) return [`${path}: ${actualSize} bytes, expected ${size}`];
  const fd = openSync(path, 'r');
  const block = Buffer.allocUnsafe(WRAP);
  try {
    for (let offset = 0; offset < size; offset += WRAP) {
      const length = Math.min(WRAP, size - offset);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, block, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
      if (got !== length || !block.subarray(0, length).equals(patternAt(offset, length))) {
        return [`${path}: content differs from the source in the MiB at offset ${offset}`];
      }
    }
  } finally {
    closeSync(fd);
  }
  return [];
}

/** Problems with a directory that should hold exactly `names` (a temp left behind, …). */
export function checkNames(dir: string, names: readonly string[]): string[] {
  const actual = readdirSync(dir);
  const have = new Set(actual);
  const wanted = new Set(names);
  const extra = actual.filter((name) => !wanted.has(name)).sort();
  const missing = names.filter((name) => !have.has(name));
  const problems: string[] = [];
  if (extra.length > 0) problems.push(`${dir}: unexpected ${extra.slice(0, 3).join(', ')}`);
  if (missing.length > 0) problems.push(`${dir}: missing ${missing.slice(0, 3).join(', ')}`);
  return problems;
}
