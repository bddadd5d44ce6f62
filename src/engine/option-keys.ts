/**
 * Every public function checks its options object against its own list of keys. A key it does
 * not know is a TypeError that names the key and the accepted ones — never silently ignored:
 * an option carried over from another library (`fsync: false`, `flag: 'a'`,
 * `tmpfileCreated`) would otherwise change nothing while its author believes it does. Keys
 * that other file writers take get a sentence saying what to do here instead.
 *
 * A key whose value is `undefined` counts as absent (options are often built by spreading
 * objects whose fields may be unset), as it does for every option's default.
 */

import { describeValue, invalidArgument } from './errors.js';

/** Every key of an options interface, each `true`: the compiler keeps the list complete. */
export type OptionKeys<T> = { readonly [K in keyof Required<T>]: true };

/** The options one public function accepts. */
export interface OptionList {
  /** The function, as the user called it (`writeFile`). */
  readonly fn: string;
  readonly keys: ReadonlySet<string>;
}

/** The option list of `fn`; `extra` are keys accepted beyond the interface's (kept for peers). */
export function optionList<T>(
  fn: string,
  keys: OptionKeys<T>,
  extra: readonly string[] = [],
): OptionList {
  return { fn, keys: new Set([...Object.keys(keys), ...extra]) };
}

/** A sentence for an option of another writer, shown where the option it points to exists. */
interface Instead {
  /** The option the sentence names: shown only to a function that accepts it (else always). */
  readonly needs?: string;
  readonly text: string;
}

const DURABILITY: Instead = {
  needs: 'durability',
  text: "durability sets what is fsynced: 'full' (the default: the file and its directory, so that the write survives a power cut), 'file', or 'none'",
};
const FLUSHED: Instead = {
  needs: 'durability',
  text: "every write is flushed to the disk by default (durability: 'full')",
};
const NO_APPEND: Instead = {
  needs: 'overwrite',
  text: "an atomic replace always writes a whole new file: it never appends or writes in place. To append, read-modify-write with update(); to fail if the file exists (flag 'wx'), pass overwrite: false",
};
const UPDATE_APPEND: Instead = {
  needs: 'timeoutMs',
  text: 'an update always writes a whole new file: to append, return the old content with the new added from fn',
};
const OWN_TEMP: Instead = {
  needs: 'durability',
  text: 'the temp file belongs to atomic-fs: it is made in the destination’s directory and removed on every failure; cleanupTemps() sweeps those a crash left',
};

/**
 * What to do here instead of an option that other writers (fs.writeFile, fs.createWriteStream,
 * write-file-atomic, atomically, fs-extra, write-json-file) take and this library does not:
 * the first sentence whose option the called function has.
 */
const INSTEAD: Readonly<Record<string, readonly Instead[]>> = {
  fsync: [DURABILITY],
  fsyncWait: [DURABILITY],
  flush: [FLUSHED],
  flag: [NO_APPEND, UPDATE_APPEND],
  flags: [NO_APPEND, UPDATE_APPEND],
  tmpfileCreated: [OWN_TEMP],
  tmpCreate: [OWN_TEMP],
  tmpCreated: [OWN_TEMP],
  tmpPurge: [OWN_TEMP],
  schedule: [{ needs: 'durability', text: 'writes to one file always run in call order here' }],
  indent: [{ needs: 'spaces', text: 'the JSON indentation is the option "spaces"' }],
  timeout: [
    { needs: 'timeoutMs', text: 'the option is "timeoutMs", in milliseconds' },
    { needs: 'signal', text: 'to give up after a time, pass signal: AbortSignal.timeout(ms)' },
  ],
  // jsonfile and fs-extra's JSON functions.
  EOL: [{ needs: 'spaces', text: "JSON is written with '\\n' line ends" }],
  finalEOL: [{ needs: 'spaces', text: 'the JSON text always ends with one newline' }],
  reviver: [
    {
      needs: 'default',
      text: 'there is no reviver: transform the value readJson() returns, or JSON.parse() the text read with fs.readFile()',
    },
  ],
  throws: [
    {
      needs: 'default',
      text: 'invalid JSON always rejects (ERR_ATOMIC_JSON_PARSE, the file left as it is); a missing file gives the "default" when one is passed',
    },
  ],
  fs: [{ text: 'atomic-fs always uses node:fs; a custom fs module cannot keep its guarantees' }],
  // conf.
  configFileMode: [{ needs: 'mode', text: 'the option is "mode"' }],
};

/** The sentence for `key` (or a near miss of one of INSTEAD's keys) that fits `list`. */
function insteadOf(key: string, list: OptionList): string | undefined {
  // Near misses only of longer keys: two edits turn almost any short key into `fs` or `EOL`.
  const known = Object.hasOwn(INSTEAD, key)
    ? key
    : closestKey(
        key,
        Object.keys(INSTEAD).filter((name) => name.length >= 5),
      );
  if (known === undefined) return undefined;
  return INSTEAD[known]?.find(
    (sentence) => sentence.needs === undefined || list.keys.has(sentence.needs),
  )?.text;
}

/** The number of one-character edits from `a` to `b` (Levenshtein). */
function edits(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + cost);
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/**
 * The accepted key `key` is most likely a misspelling of: the same but for case, a prefix of
 * it (`olderThan` for `olderThanMs`), or at most two edits away; `undefined` if none is.
 */
export function closestKey(key: string, keys: Iterable<string>): string | undefined {
  const lower = key.toLowerCase();
  let best: { key: string; distance: number } | undefined;
  for (const candidate of keys) {
    const other = candidate.toLowerCase();
    const distance =
      other === lower || (lower.length >= 4 && other.startsWith(lower)) ? 0 : edits(lower, other);
    if (distance <= 2 && (best === undefined || distance < best.distance)) {
      best = { key: candidate, distance };
    }
  }
  return best?.key;
}

/**
 * Throw for the first key of `options` that `list` does not accept. Inherited enumerable keys
 * count (`for…in`): an option is read by property access, so one on a prototype is given.
 */
function checkOptionKeys(options: object, list: OptionList): void {
  for (const key in options) {
    if (list.keys.has(key)) continue;
    if ((options as Record<string, unknown>)[key] === undefined) continue;
    const instead = insteadOf(key, list);
    const meant = instead === undefined ? closestKey(key, list.keys) : undefined;
    const why =
      instead !== undefined
        ? `: ${instead}.`
        : meant === undefined
          ? '.'
          : `. Did you mean "${meant}"?`;
    const accepted = [...list.keys].sort().join(', ');
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `${list.fn}() has no option "${key}"${why} Its options: ${accepted}`,
    );
  }
}

/** Whether `value` is an array or a boxed primitive (`new String('utf8')`): not options. */
function notOptions(value: object): boolean {
  return (
    Array.isArray(value) ||
    value instanceof String ||
    value instanceof Number ||
    value instanceof Boolean
  );
}

/**
 * The options argument of a call: `undefined` and `null` are no options (as in `fs`),
 * anything else must be an object whose every key `list` accepts. The result is a plain
 * snapshot of the accepted keys, each read once (a getter, a prototype's value), so that what
 * was checked is what is used.
 */
export function optionsObject<T extends object>(options: unknown, list: OptionList): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || notOptions(options)) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "options" argument of ${list.fn}() must be an object. Received ${describeValue(options)}`,
    );
  }
  checkOptionKeys(options, list);
  const snapshot: Record<string, unknown> = {};
  for (const key of list.keys) {
    const value: unknown = (options as Record<string, unknown>)[key];
    if (value !== undefined) snapshot[key] = value;
  }
  return snapshot as Partial<T>;
}

/** `keys` without `names`: the list of an interface made with `Omit`. */
export function omitKeys<T, K extends keyof T>(
  keys: OptionKeys<T>,
  ...names: K[]
): OptionKeys<Omit<T, K>> {
  const drop = new Set<PropertyKey>(names);
  return Object.fromEntries(Object.entries(keys).filter(([key]) => !drop.has(key))) as OptionKeys<
    Omit<T, K>
  >;
}
