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

/**
 * What to do here instead of an option that other writers (fs.writeFile, write-file-atomic,
 * atomically, fs-extra, write-json-file) take and this library does not.
 */
const INSTEAD: Readonly<Record<string, string>> = {
  fsync:
    "durability sets what is fsynced: 'full' (the default: the file and its directory, a write survives a power cut), 'file', or 'none'",
  fsyncWait:
    "durability sets what is fsynced: 'full' (the default: the file and its directory, a write survives a power cut), 'file', or 'none'",
  flush: "every write is flushed to the disk by default (durability: 'full')",
  flag: "an atomic replace always writes a whole new file: it never appends or writes in place. To append, use update(path, (old) => …); to fail if the file exists (flag 'wx'), use overwrite: false",
  tmpfileCreated:
    'the temp file belongs to atomic-fs: it is made in the destination’s directory and removed on every failure; cleanupTemps() sweeps those a crash left',
  tmpCreate:
    'the temp file belongs to atomic-fs: it is made in the destination’s directory and removed on every failure; cleanupTemps() sweeps those a crash left',
  tmpCreated:
    'the temp file belongs to atomic-fs: it is made in the destination’s directory and removed on every failure; cleanupTemps() sweeps those a crash left',
  tmpPurge:
    'the temp file belongs to atomic-fs: it is made in the destination’s directory and removed on every failure; cleanupTemps() sweeps those a crash left',
  schedule: 'writes to one file always run in call order here; no scheduler is needed',
  indent: 'the JSON indentation is the option "spaces"',
  timeout: 'the time to wait for the lock is the option "timeoutMs"',
};

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

/** Throw for the first key of `options` that `list` does not accept. */
export function checkOptionKeys(options: object, list: OptionList): void {
  for (const key of Object.keys(options)) {
    if (list.keys.has(key)) continue;
    if ((options as Record<string, unknown>)[key] === undefined) continue;
    const meant = closestKey(key, list.keys);
    const why = Object.hasOwn(INSTEAD, key)
      ? `: ${INSTEAD[key]}.`
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

/**
 * The options argument of a call: `undefined` and `null` are no options (as in `fs`),
 * anything else must be an object whose every key `list` accepts.
 */
export function optionsObject<T extends object>(options: unknown, list: OptionList): Partial<T> {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "options" argument of ${list.fn}() must be an object. Received ${describeValue(options)}`,
    );
  }
  checkOptionKeys(options, list);
  return options;
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
