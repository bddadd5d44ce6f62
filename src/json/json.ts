/**
 * JSON files: `readJson`, `writeJson`, `updateJson` and their sync twins. Writing is the core
 * atomic replace with stable formatting (indentation, trailing newline); a value that cannot
 * be serialised fails before anything is touched. Reading never changes the file: invalid
 * JSON is an error naming the file and the position, and the file is left as it is (a config
 * store that "recovers" by writing `''` over it destroys the user's only copy).
 */
import { DEFAULT_JSON_SPACES } from './constants.js';
import { ownError, invalidArgument } from '../engine/errors.js';
import type { LockOptions } from './lock.js';
import {
  type OptionKeys,
  type OptionList,
  omitKeys,
  optionList,
  optionsObject,
} from '../engine/option-keys.js';
import { type WriteOptions, WRITE_KEYS, pathOf } from '../core/options.js';
import { runAsync, runSync } from '../engine/executors.js';
import { absolutePath } from '../core/target.js';
import {
  type Outcome,
  UPDATE_KEYS,
  type UpdateOptions,
  isThenable,
  prepareUpdate,
  refuseOverwrite,
  readCurrent,
  runUpdate,
  runUpdateSync,
} from './update.js';
import { writeFile, writeFileSync } from '../core/write-file.js';

/** A `JSON.stringify` replacer: a function, or the list of property names to keep. */
export type JsonReplacer =
  ((this: unknown, key: string, value: unknown) => unknown) | readonly (string | number)[];

/**
 * The encoding a JSON function may be given in place of its options, as `fs.readFile` is
 * (`readJson(path, 'utf8')`): JSON files are UTF-8, so it changes nothing.
 */
export type JsonEncoding = 'utf8' | 'utf-8';

/** Options of `readJson` and `readJsonSync`. */
export interface ReadJsonOptions<T = unknown> {
  /**
   * The value returned when the file does not exist (a copy of it, made with
   * `structuredClone`). Without it, a missing file is an `ENOENT` error. An empty or invalid
   * file is an error either way, never replaced by the default.
   * @default undefined (a missing file is an error)
   * @example
   * import { readJson } from 'atomic-fs';
   * const settings = await readJson('settings.json', { default: { theme: 'light' } });
   */
  readonly default?: T | undefined;
}

/** How JSON is formatted by `writeJson` and `updateJson`. */
export interface JsonFormat {
  /**
   * Indentation, as in `JSON.stringify`: a number of spaces (0 to 10; 0 writes one line) or a
   * string of at most 10 characters such as `'\t'`. A newline always ends the file.
   * @default 2
   * @example
   * import { writeJson } from 'atomic-fs';
   * await writeJson('package.json', pkg, { spaces: '\t' });
   */
  readonly spaces?: number | string | undefined;

  /**
   * A `JSON.stringify` replacer: a function `(key, value) => value`, or an array of the
   * property names to keep.
   * @default undefined
   * @example
   * import { writeJson } from 'atomic-fs';
   * await writeJson('public.json', user, { replacer: ['name', 'email'] });
   */
  readonly replacer?: JsonReplacer | null | undefined;
}

/** Options of `writeJson` and `writeJsonSync`: the write options (JSON is always UTF-8). */
export interface WriteJsonOptions extends Omit<WriteOptions, 'encoding'>, JsonFormat {}

/** Options of `updateJson` and `updateJsonSync`. */
export interface UpdateJsonOptions<T = unknown>
  extends Omit<UpdateOptions, 'encoding'>, JsonFormat, LockOptions {
  /**
   * The value `fn` receives when the file does not exist (a fresh copy each time). Without
   * it, `fn` receives `undefined`. Returning it unchanged writes nothing.
   * @default undefined
   * @example
   * import { updateJson } from 'atomic-fs';
   * await updateJson('counter.json', (c) => ({ n: c.n + 1 }), { default: { n: 0 } });
   */
  readonly default?: T | undefined;
}

/** The `fn` of `updateJson`: the new value, or `undefined` to leave the file as it is. */
export type UpdateJsonFunction<T> = (current: T) => T | undefined | PromiseLike<T | undefined>;

/** The `fn` of `updateJsonSync`. */
export type UpdateJsonSyncFunction<T> = (current: T) => T | undefined;

// ---------------------------------------------------------------------------------------------
// Parsing, with a position for every error.

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Where a JSON text goes wrong: the offset (in UTF-16 units) and why. */
export class JsonSyntax extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * Where and why `text` is not JSON (RFC 8259), or `undefined` if it is. V8's own messages
 * give no position for some errors, and quote the surrounding text (which may hold secrets).
 * So do the packages that improve them: for `{"password":"hunter2",}` json-parse-even-better-
 * errors 5 says `while parsing near "...d":"hunter2",}"` and parse-json 8 prints the whole
 * line under a code frame. An error message ends up in logs; this one names a place only.
 */
export function locateJsonError(text: string): JsonSyntax | undefined {
  let i = 0;
  const n = text.length;
  const fail = (reason: string): never => {
    throw new JsonSyntax(i, i >= n ? 'unexpected end of input' : reason);
  };
  const space = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r'))
      i += 1;
  };
  const unexpected = (): never => fail(`unexpected character ${JSON.stringify(text[i])}`);
  const digits = (): void => {
    if (i >= n || text[i] === undefined || !/[0-9]/.test(text[i] ?? '')) fail('expected a digit');
    while (i < n && /[0-9]/.test(text[i] ?? '')) i += 1;
  };
  const string = (): void => {
    i += 1; // the opening quote
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i += 1;
        return;
      }
      if (c < 0x20) fail('control character in a string (escape it)');
      if (c === 0x5c) {
        i += 1;
        const e = text[i];
        if (e === 'u') {
          for (let k = 1; k <= 4; k += 1) {
            if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) {
              i += k;
              fail('invalid \\u escape');
            }
          }
          i += 5;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail('invalid escape sequence');
      }
      i += 1;
    }
  };
  const value = (): void => {
    space();
    if (i >= n) fail('unexpected end of input');
    const c = text[i];
    if (c === '{') {
      i += 1;
      space();
      if (text[i] === '}') {
        i += 1;
        return;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail('expected a double-quoted property name');
        string();
        space();
        if (text[i] !== ':') fail("expected ':' after a property name");
        i += 1;
        value();
        space();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === '}') {
          i += 1;
          return;
        }
        fail("expected ',' or '}' after a property value");
      }
    }
    if (c === '[') {
      i += 1;
      space();
      if (text[i] === ']') {
        i += 1;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === ']') {
          i += 1;
          return;
        }
        fail("expected ',' or ']' after an array element");
      }
    }
    if (c === '"') {
      string();
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (c === word[0]) {
        for (const letter of word) {
          if (text[i] !== letter) unexpected();
          i += 1;
        }
        return;
      }
    }
    if (c === '-' || /[0-9]/.test(c ?? '')) {
      if (c === '-') i += 1;
      if (text[i] === '0') i += 1;
      else digits();
      if (text[i] === '.') {
        i += 1;
        digits();
      }
      if (text[i] === 'e' || text[i] === 'E') {
        i += 1;
        if (text[i] === '+' || text[i] === '-') i += 1;
        digits();
      }
      return;
    }
    unexpected();
  };
  try {
    value();
    space();
    if (i < n) fail('unexpected text after the JSON value');
  } catch (error) {
    if (error instanceof JsonSyntax) return error;
    // Nesting deeper than the stack: no position, but still invalid if JSON.parse said so.
    return undefined;
  }
  return undefined;
}

/** Line and column (both from 1) of `offset` in `text`. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) {
    line += 1;
    start = at + 1;
  }
  return { line, column: offset - start + 1 };
}

/** Parse the bytes of a JSON file; invalid UTF-8 or JSON is `ERR_ATOMIC_JSON_PARSE`. */
function parseJson(bytes: Uint8Array, dest: string): unknown {
  let text: string;
  try {
    // A leading byte order mark (as some Windows editors write) is dropped.
    text = utf8.decode(bytes);
  } catch {
    throw ownError(
      'ERR_ATOMIC_JSON_PARSE',
      'parse',
      dest,
      'the file is not valid UTF-8 text, so it is not JSON; it was left as it is',
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The SyntaxError is not kept as the cause: V8 quotes the file's text in it.
    const at = locateJsonError(text);
    const where =
      at === undefined
        ? ''
        : (() => {
            const { line, column } = lineAndColumn(text, at.offset);
            return ` at line ${line}, column ${column} (character ${at.offset}): ${at.reason}`;
          })();
    throw ownError(
      'ERR_ATOMIC_JSON_PARSE',
      'parse',
      dest,
      `invalid JSON${where}; the file was left as it is`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The options each function accepts. `encoding` is accepted as UTF-8 only (what JSON files
// are), so that a peer's `encoding: 'utf8'` is not refused.

const FORMAT_KEYS: OptionKeys<JsonFormat> = { spaces: true, replacer: true };
const READ_JSON_KEYS: OptionKeys<ReadJsonOptions> = { default: true };
const WRITE_JSON_KEYS: OptionKeys<WriteJsonOptions> = {
  ...omitKeys(WRITE_KEYS, 'encoding'),
  ...FORMAT_KEYS,
};
const UPDATE_JSON_KEYS: OptionKeys<UpdateJsonOptions> = {
  ...omitKeys(UPDATE_KEYS, 'encoding'),
  ...FORMAT_KEYS,
  default: true,
};
const READ_JSON = optionList('readJson', READ_JSON_KEYS, ['encoding']);
const READ_JSON_SYNC = optionList('readJsonSync', READ_JSON_KEYS, ['encoding']);
const WRITE_JSON = optionList('writeJson', WRITE_JSON_KEYS, ['encoding']);
const WRITE_JSON_SYNC = optionList('writeJsonSync', WRITE_JSON_KEYS, ['encoding']);
const UPDATE_JSON = optionList('updateJson', UPDATE_JSON_KEYS, ['encoding']);
const UPDATE_JSON_SYNC = optionList('updateJsonSync', UPDATE_JSON_KEYS, ['encoding']);

// ---------------------------------------------------------------------------------------------
// Serialising.

interface Format {
  readonly spaces: number | string;
  readonly replacer: JsonReplacer | undefined;
}

function formatOf(options: JsonFormat | undefined): Format {
  const spaces = options?.spaces ?? DEFAULT_JSON_SPACES;
  if (typeof spaces === 'number') {
    if (!Number.isInteger(spaces) || spaces < 0 || spaces > 10) {
      throw invalidArgument(
        'ERR_OUT_OF_RANGE',
        `The option "spaces" must be an integer from 0 to 10. Received ${String(spaces)}`,
      );
    }
  } else if (typeof spaces !== 'string' || spaces.length > 10) {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `The option "spaces" must be a number from 0 to 10 or a string of at most 10 characters. Received ${typeof spaces === 'string' ? `a string of ${spaces.length}` : `type ${typeof spaces}`}`,
    );
  }
  const replacer = options?.replacer ?? undefined;
  const validList =
    Array.isArray(replacer) &&
    replacer.every((key) => typeof key === 'string' || typeof key === 'number');
  if (replacer !== undefined && typeof replacer !== 'function' && !validList) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      'The option "replacer" must be a function or an array of property names',
    );
  }
  return { spaces, replacer };
}

/**
 * The options of a JSON function: its keys checked against `list`; `encoding` may be given
 * only as UTF-8 (what JSON files are), in the options or, as with `fs.readFile`, instead of them.
 */
function jsonOptions<T extends object>(options: unknown, list: OptionList): Partial<T> {
  const o = optionsObject<T>(typeof options === 'string' ? { encoding: options } : options, list);
  const { encoding } = o as { encoding?: unknown };
  if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'utf-8') {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `The option "encoding" is not supported here: JSON files are always UTF-8. Received ${typeof encoding === 'string' ? encoding : `type ${typeof encoding}`}`,
    );
  }
  return o;
}

/** Write options of a JSON write: its own options without the JSON format. */
function writeOptionsOf(o: WriteJsonOptions): WriteOptions {
  const write: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    if (!Object.hasOwn(FORMAT_KEYS, key)) write[key] = value;
  }
  return write;
}

function stringify(value: unknown, { replacer, spaces }: Format): string | undefined {
  return typeof replacer === 'function'
    ? JSON.stringify(value, replacer, spaces)
    : JSON.stringify(value, replacer as (string | number)[] | undefined, spaces);
}

/**
 * The text of `value` with a trailing newline. A value JSON cannot hold (a BigInt, a cycle,
 * `undefined`, a function or a symbol at the top) is a TypeError with `code`.
 */
function serialize(
  value: unknown,
  format: Format,
  what: string,
  code: 'ERR_INVALID_ARG_VALUE' | 'ERR_INVALID_RETURN_VALUE',
): string {
  let text: string | undefined;
  try {
    text = stringify(value, format);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw invalidArgument(code, `${what} cannot be written as JSON: ${reason ?? ''}`, error);
  }
  if (text === undefined) {
    throw invalidArgument(
      code,
      `${what} cannot be written as JSON: ${typeof value} is not a JSON value`,
    );
  }
  return `${text}\n`;
}

// ---------------------------------------------------------------------------------------------
// readJson

function fallbackOf<T>(options: ReadJsonOptions<T> | undefined): { value: T } | undefined {
  if (options?.default === undefined) return undefined;
  try {
    return { value: structuredClone(options.default) };
  } catch (error) {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      'The option "default" must be a value structuredClone can copy',
      error,
    );
  }
}

/**
 * Read and parse a JSON file. A missing file returns a copy of `default` when one is given,
 * else rejects with `ENOENT`. Invalid JSON rejects with `ERR_ATOMIC_JSON_PARSE`, naming the
 * file, line and column; the file is never changed. A FIFO, socket or device is refused with
 * `ERR_ATOMIC_NOT_REGULAR_FILE`, without blocking. No lock is taken: a file written by this
 * library is always complete.
 *
 * @example
 * import { readJson } from 'atomic-fs';
 * const config = await readJson('config.json', { default: {} });
 */
export async function readJson<T = unknown>(
  path: string | URL,
  options?: ReadJsonOptions<T> | JsonEncoding,
): Promise<T> {
  const dest = pathOf(path);
  const fallback = fallbackOf(jsonOptions<ReadJsonOptions<T>>(options, READ_JSON));
  const bytes = await runAsync(readCurrent(absolutePath(dest), dest, fallback !== undefined));
  if (bytes === undefined) return (fallback as { value: T }).value;
  return parseJson(bytes, dest) as T;
}

/**
 * The synchronous twin of `readJson`.
 *
 * @example
 * import { readJsonSync } from 'atomic-fs';
 * const config = readJsonSync('config.json', { default: {} });
 */
export function readJsonSync<T = unknown>(
  path: string | URL,
  options?: ReadJsonOptions<T> | JsonEncoding,
): T {
  const dest = pathOf(path);
  const fallback = fallbackOf(jsonOptions<ReadJsonOptions<T>>(options, READ_JSON_SYNC));
  const bytes = runSync(readCurrent(absolutePath(dest), dest, fallback !== undefined));
  if (bytes === undefined) return (fallback as { value: T }).value;
  return parseJson(bytes, dest) as T;
}

// ---------------------------------------------------------------------------------------------
// writeJson

/**
 * Write `value` as JSON (indented by `spaces`, ending with a newline), atomically and durably
 * like `writeFile`. A value that cannot be serialised (a BigInt, a cycle, `undefined`) is a
 * TypeError before anything is touched.
 *
 * @example
 * import { writeJson } from 'atomic-fs';
 * await writeJson('config.json', { theme: 'dark' }, { mode: 0o600 });
 */
export async function writeJson(
  path: string | URL,
  value: unknown,
  options?: WriteJsonOptions | JsonEncoding,
): Promise<void> {
  pathOf(path);
  const o = jsonOptions<WriteJsonOptions>(options, WRITE_JSON);
  const text = serialize(value, formatOf(o), 'The "value" argument', 'ERR_INVALID_ARG_VALUE');
  await writeFile(path, text, writeOptionsOf(o));
}

/**
 * The synchronous twin of `writeJson`.
 *
 * @example
 * import { writeJsonSync } from 'atomic-fs';
 * writeJsonSync('state.json', state);
 */
export function writeJsonSync(
  path: string | URL,
  value: unknown,
  options?: WriteJsonOptions | JsonEncoding,
): void {
  pathOf(path);
  const o = jsonOptions<WriteJsonOptions>(options, WRITE_JSON_SYNC);
  const text = serialize(value, formatOf(o), 'The "value" argument', 'ERR_INVALID_ARG_VALUE');
  writeFileSync(path, text, writeOptionsOf(o));
}

// ---------------------------------------------------------------------------------------------
// updateJson

interface JsonUpdate {
  readonly format: Format;
  /** The JSON text of the default, for a fresh copy per call. */
  readonly fallback: string | undefined;
  readonly dest: string;
}

function jsonUpdateOf(path: unknown, options: unknown, list: OptionList): JsonUpdate {
  const dest = pathOf(path);
  refuseOverwrite(options);
  const o = jsonOptions<UpdateJsonOptions>(options, list);
  const format = formatOf(o);
  const fallback =
    o.default === undefined
      ? undefined
      : serialize(
          o.default,
          { spaces: 0, replacer: undefined },
          'The option "default"',
          'ERR_INVALID_ARG_VALUE',
        );
  return { format, fallback, dest };
}

interface Start {
  /** What `fn` receives. */
  readonly value: unknown;
  /** The current value as this call would write it; `undefined`: nothing to compare with. */
  readonly before: string | undefined;
}

function start(update: JsonUpdate, current: Buffer | undefined): Start {
  let value: unknown;
  if (current !== undefined) value = parseJson(current, update.dest);
  else if (update.fallback !== undefined) value = JSON.parse(update.fallback);
  else return { value: undefined, before: undefined };
  let before: string | undefined;
  try {
    before = serialize(value, update.format, 'the current value', 'ERR_INVALID_RETURN_VALUE');
  } catch {
    // A replacer that cannot take the current value: nothing to compare, so the result is written.
  }
  return { value, before };
}

function finish(
  update: JsonUpdate,
  begun: Start,
  returned: unknown,
  sync: boolean,
): Outcome<unknown> {
  if (returned === undefined) {
    // Read back from the text: `fn` may have changed the value it was given, then returned nothing.
    return {
      write: undefined,
      result: begun.before === undefined ? begun.value : (JSON.parse(begun.before) as unknown),
    };
  }
  if (sync && isThenable(returned)) {
    throw invalidArgument(
      'ERR_INVALID_RETURN_VALUE',
      'Expected fn to return a JSON value or undefined. Received a promise (use updateJson, not updateJsonSync)',
    );
  }
  const text = serialize(
    returned,
    update.format,
    'The value returned by fn',
    'ERR_INVALID_RETURN_VALUE',
  );
  if (text === begun.before) return { write: undefined, result: returned };
  return { write: Buffer.from(text), result: returned };
}

/**
 * Read-modify-write a JSON file under a cross-process exclusive lock: no update is lost
 * between processes, nor between concurrent calls in one process. `fn` receives the parsed
 * content (or a copy of `default`, or `undefined`, for a missing file) and returns the new
 * value; returning `undefined` or an equal value writes nothing; if `fn` throws, nothing is
 * written and its error is rethrown. Invalid JSON rejects with `ERR_ATOMIC_JSON_PARSE` and
 * leaves the file as it is. Resolves with the value now in the file.
 *
 * @example
 * import { updateJson } from 'atomic-fs';
 * await updateJson('counter.json', (c) => ({ count: c.count + 1 }), { default: { count: 0 } });
 */
export async function updateJson<T = unknown>(
  path: string | URL,
  fn: UpdateJsonFunction<T>,
  options: UpdateJsonOptions<T> & { readonly default: T },
): Promise<T>;
export async function updateJson<T = unknown>(
  path: string | URL,
  fn: UpdateJsonFunction<T | undefined>,
  options?: UpdateJsonOptions<T>,
): Promise<T | undefined>;
export async function updateJson(
  path: string | URL,
  fn: UpdateJsonFunction<unknown>,
  options?: UpdateJsonOptions,
): Promise<unknown> {
  const json = jsonUpdateOf(path, options, UPDATE_JSON);
  const prepared = prepareUpdate(path, fn, options, UPDATE_JSON);
  return runUpdate(prepared, async (current) => {
    const begun = start(json, current);
    return finish(json, begun, await fn(begun.value), false);
  });
}

/**
 * The synchronous twin of `updateJson`. It blocks the thread while it waits for the lock.
 *
 * @example
 * import { updateJsonSync } from 'atomic-fs';
 * updateJsonSync('settings.json', (s) => ({ ...s, theme: 'dark' }), { default: {} });
 */
export function updateJsonSync<T = unknown>(
  path: string | URL,
  fn: UpdateJsonSyncFunction<T>,
  options: UpdateJsonOptions<T> & { readonly default: T },
): T;
export function updateJsonSync<T = unknown>(
  path: string | URL,
  fn: UpdateJsonSyncFunction<T | undefined>,
  options?: UpdateJsonOptions<T>,
): T | undefined;
export function updateJsonSync(
  path: string | URL,
  fn: UpdateJsonSyncFunction<unknown>,
  options?: UpdateJsonOptions,
): unknown {
  const json = jsonUpdateOf(path, options, UPDATE_JSON_SYNC);
  const prepared = prepareUpdate(path, fn, options, UPDATE_JSON_SYNC);
  return runUpdateSync(prepared, (current) => {
    const begun = start(json, current);
    return finish(json, begun, fn(begun.value), true);
  });
}
