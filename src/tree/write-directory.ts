/**
 * writeDirectory: replace the whole content of a directory at once. The new tree is built
 * beside the live directory under a staging name (`.<name>.afs-<host>-<pid>-<random>.stage`),
 * every file and directory in it is fsynced, and then it is exchanged with the live
 * directory in one atomic step (renameat2 RENAME_EXCHANGE on Linux, renameatx_np RENAME_SWAP
 * on macOS; a new directory is a plain rename). The parent is fsynced, and the previous tree,
 * which the exchange left under the staging name, is removed (or kept, with `keepOld`).
 *
 * Why this shape: a directory has no "write then rename" of its own, and copying files into
 * the live directory one by one is exactly the half-updated state this function exists to
 * prevent. The exchange changes which tree the name `dir` refers to in one step, so every
 * path lookup through `dir` sees one tree or the other. Until the exchange nothing visible
 * changed; after it, only the previous tree is cleaned up. A crash leaves at most a tree
 * under a staging name — never the live one — which `cleanupTemps` reclaims.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { KEPT_TAG, STAGING_DIR_MODE } from './constants.js';
import { NEW_DIR_MODE, NEW_FILE_MODE, TEMP_BASE_MAX_BYTES } from '../core/constants.js';
import { type Data, chunkBytes, chunkSource, requireChunk } from '../core/data.js';
import {
  type Phase,
  AtomicFsError,
  describeValue,
  errnoError,
  errorCode,
  fieldsOf,
  invalidArgument,
  ownError,
  throwIfAborted,
  wrapError,
} from '../engine/errors.js';
import { trackTree, untrackTree } from '../core/exit-handler.js';
import { flags, seam } from '../engine/fs.js';
import { pathQueue } from '../core/call.js';
import { optionList, optionsObject } from '../engine/option-keys.js';
import {
  type Durability,
  type WriteOptions,
  modeOf,
  normalizeOptions,
  pathOf,
} from '../core/options.js';
import { type Plan, call, closeQuietly, runAsync } from '../engine/executors.js';
import {
  hasAtomicExchange,
  hasPosixMetadata,
  isIgnorableChownError,
  isUnsupportedDirectoryFsync,
  isUnsupportedExchange,
} from '../engine/platform.js';
import { BufferedWriter } from '../core/buffered-writer.js';
import {
  type Dir,
  type Identity,
  changed,
  closeDir,
  enteringRefusal,
  entry,
  fsyncDescriptor,
  openChild,
  openRoot,
  releaseDir,
  sameFile,
} from '../engine/pinned-dir.js';
import {
  type Existing,
  type Job,
  renameRetrying,
  withLeftover,
  writeChunks,
} from '../core/replace-plans.js';
import { resolveTarget } from '../core/target.js';
import { parseStagingName, stagingName, truncateUtf8 } from '../core/temp-names.js';
import { expectTree, forgetTree, removeDirectory } from '../core/remove-tree.js';

/** Options of `writeDirectory`. */
export interface WriteDirectoryOptions {
  /**
   * Encoding of string data.
   * @default 'utf8'
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * await writeDirectory('site', { 'index.html': html }, { encoding: 'latin1' });
   */
  readonly encoding?: BufferEncoding | undefined;

  /**
   * Permission bits of every file in the new tree (0 to 0o7777), applied exactly (the umask
   * does not narrow them). Files are never more permissive than this while being written.
   * @default 0o666 & ~umask
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * await writeDirectory('secrets', { 'token': token }, { mode: 0o600, dirMode: 0o700 });
   */
  readonly mode?: number | undefined;

  /**
   * Permission bits of every directory of the new tree, the replaced directory itself
   * included, applied exactly. By default the replaced directory keeps its mode and new
   * subdirectories get `0o777 & ~umask`.
   * @default the replaced directory's mode; 0o777 & ~umask for the others
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * await writeDirectory('public', files, { dirMode: 0o755 });
   */
  readonly dirMode?: number | undefined;

  /**
   * When the call may resolve. `'full'`: every file and directory of the new tree is on disk
   * before the swap, and the swap itself after it (survives a power cut). `'file'`: the new
   * tree is on disk before the swap; the swap is flushed too before the previous tree is
   * removed (its removal must never reach the disk first), so only with `keepOld` can a
   * power cut still undo the swap (the old tree comes back, complete). `'none'`: no fsync;
   * atomic against process crashes only (a power cut can leave files missing).
   * @default 'full'
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * await writeDirectory('cache', files, { durability: 'none' });
   */
  readonly durability?: Durability | undefined;

  /**
   * Keep the previous tree instead of removing it, under a fresh name beside `dir`
   * (`.<name>.afs-old-<time>-<random>`), returned as `previous` for a rollback. It is yours:
   * `cleanupTemps` never removes it.
   * @default false
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * const { previous } = await writeDirectory('conf', files, { keepOld: true });
   */
  readonly keepOld?: boolean | undefined;

  /**
   * Where no atomic exchange exists (Windows; Linux or macOS file systems without
   * RENAME_EXCHANGE), replace an existing directory with two renames instead of failing with
   * `ERR_ATOMIC_NO_EXCHANGE`: readers may then find `dir` missing for a moment, and a crash
   * between the two renames leaves `dir` missing with its complete previous tree beside it.
   * @default false
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * await writeDirectory('out', files, { allowNonAtomic: process.platform === 'win32' });
   */
  readonly allowNonAtomic?: boolean | undefined;

  /**
   * Where directories cannot be pinned by descriptor (macOS, Windows, Linux without /proc),
   * work as root below a directory another user can write instead of refusing with
   * `ERR_ATOMIC_SHARED_DIRECTORY`. That user could then rename an entry between two calls
   * and redirect the chown, chmod, writes or removal of the tree to a directory of their
   * choosing. Has no effect on Linux with /proc, where every entry is reached through a
   * pinned directory and nothing is refused.
   * @default false
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * await writeDirectory('/Users/kim/site', files, { unsafeSharedDirectories: true });
   */
  readonly unsafeSharedDirectories?: boolean | undefined;

  /**
   * Abort the write. Aborted before the swap, nothing is published and the staged tree is
   * removed; the call rejects with an `AbortError` (code `ABORT_ERR`).
   * @default undefined
   * @example
   * import { writeDirectory } from 'atomic-fs';
   * await writeDirectory('out', files, { signal: AbortSignal.timeout(10_000) });
   */
  readonly signal?: AbortSignal | undefined;
}

/** What `writeDirectory` did. */
export interface WriteDirectoryResult {
  /** The directory replaced (absolute, symlinks resolved). */
  readonly path: string;
  /** With `keepOld`: where the previous tree now is; otherwise (or for a new directory) `undefined`. */
  readonly previous: string | undefined;
}

/**
 * The files of the new tree: an object of relative paths to data, or an iterable (a `Map`,
 * an array) of `[relativePath, data]` pairs. Paths use `/` (also `\` on Windows); nested
 * paths create subdirectories. Data is anything `writeFile` accepts.
 */
export type DirectoryFiles = Readonly<Record<string, Data>> | Iterable<readonly [string, Data]>;

/** Validated settings of one call. */
interface DirectorySettings {
  readonly mode: number | undefined;
  readonly dirMode: number | undefined;
  readonly durability: Durability;
  readonly keepOld: boolean;
  readonly allowNonAtomic: boolean;
  readonly unsafeShared: boolean;
}

/** One replace of one directory. */
interface DirectoryJob {
  /** The directory as the caller named it (used in errors). */
  readonly dest: string;
  /** The directory replaced: `dest` with symlinks resolved. */
  readonly dir: string;
  /** Its parent, where the staged tree is built. */
  readonly parent: string;
  /** The staged tree's full path. */
  readonly staging: string;
  /** The per-file queue key of the directory (its identity). */
  readonly key: string;
  readonly settings: DirectorySettings;
}

/** One file of the new tree, validated. */
export interface DirectoryEntry {
  /** The relative path as given. */
  readonly name: string;
  readonly segments: readonly string[];
  /** The data, when it is in hand … */
  readonly bytes: Uint8Array | undefined;
  /** … or a source read chunk by chunk. */
  readonly source: AsyncIterable<unknown> | Iterable<unknown> | undefined;
}

/** The staged tree while it is built. */
interface Stage {
  /**
   * Directories created, by relative path (`''` is the top), in creation order, each pinned
   * by its descriptor until it is finished.
   */
  readonly dirs: Map<string, Dir>;
  /** The owner every entry must get (the replaced directory's), when it differs from ours. */
  readonly owner: { readonly uid: number; readonly gid: number } | undefined;
  /** The mode the top directory must end with, when it is set or preserved. */
  readonly topMode: number | undefined;
}

/** A boolean option, `false` when not given. */
export function flag(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value === 'boolean') return value;
  throw invalidArgument(
    'ERR_INVALID_ARG_TYPE',
    `The option "${name}" must be of type boolean. Received ${describeValue(value)}`,
  );
}

interface DirectoryCall {
  readonly settings: DirectorySettings;
  readonly encoding: BufferEncoding;
  readonly signal: AbortSignal | undefined;
}

const WRITE_DIRECTORY = optionList<WriteDirectoryOptions>('writeDirectory', {
  encoding: true,
  mode: true,
  dirMode: true,
  durability: true,
  keepOld: true,
  allowNonAtomic: true,
  unsafeSharedDirectories: true,
  signal: true,
});

/** Validate the options (each field read once; the object is never mutated). */
function directoryOptions(options: unknown): DirectoryCall {
  const o = optionsObject<WriteDirectoryOptions>(options, WRITE_DIRECTORY);
  // The options shared with writeFile are checked by the same code, with the same messages.
  const shared: WriteOptions = {
    encoding: o.encoding,
    mode: o.mode,
    durability: o.durability,
    signal: o.signal,
  };
  const common = normalizeOptions(shared);
  return {
    settings: {
      mode: common.settings.mode,
      dirMode: modeOf(o.dirMode, 'dirMode'),
      durability: common.settings.durability,
      keepOld: flag('keepOld', o.keepOld),
      allowNonAtomic: flag('allowNonAtomic', o.allowNonAtomic),
      unsafeShared: flag('unsafeSharedDirectories', o.unsafeSharedDirectories),
    },
    encoding: common.encoding,
    signal: common.signal,
  };
}

function badPath(name: string, why: string): TypeError {
  return invalidArgument(
    'ERR_INVALID_ARG_VALUE',
    `The path ${describeValue(name)} in "files" ${why}`,
  );
}

/**
 * Windows device names (`CON`, `NUL`, `COM1`, … with any extension, any case): opening one
 * opens the device, not a file in the directory.
 */
const WINDOWS_DEVICE =
  /^(con|prn|aux|nul|conin\$|conout\$|(com|lpt)[0-9\u00b9\u00b2\u00b3])(\..*)?$/i;

/** Characters Windows does not allow in a name (besides `\`, `/` and `:`). */
// eslint-disable-next-line no-control-regex
const WINDOWS_INVALID = /[<>"|?*\u0001-\u001f]/;

/** Windows rules for one segment: the reason it is refused, or `undefined`. */
function windowsProblem(segment: string): string | undefined {
  // Windows drops trailing dots and spaces from a name: "a." is "a", and ".. " is "..".
  if (/[. ]$/.test(segment)) return 'must not have a segment ending with "." or " " on Windows';
  if (WINDOWS_DEVICE.test(segment)) return `must not name a Windows device ("${segment}")`;
  if (WINDOWS_INVALID.test(segment)) return 'must not contain <>"|?* or control characters';
  return undefined;
}

/**
 * The segments of a relative path of the new tree. Everything that could land outside the
 * directory, or name one file two ways, is refused: absolute paths, `..` and `.` segments,
 * empty segments (leading, trailing or doubled separators), NUL bytes; on Windows also drive
 * letters and `:` (alternate data streams), segments ending in a dot or a space (Windows
 * strips them, so `.. ` would be `..`), device names (`CON`, `NUL`, `COM1.txt`, …) and the
 * characters Windows refuses.
 */
export function splitRelative(name: unknown, platform: NodeJS.Platform): string[] {
  if (typeof name !== 'string') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `Each path in "files" must be a string. Received ${describeValue(name)}`,
    );
  }
  if (name === '') throw badPath(name, 'must not be empty');
  if (name.includes('\u0000')) throw badPath(name, 'must not contain null bytes');
  const windows = platform === 'win32';
  if (name.startsWith('/') || (windows && name.startsWith('\\'))) {
    throw badPath(name, 'must be relative to the directory');
  }
  if (windows && name.includes(':')) {
    throw badPath(name, 'must not contain ":" (drive letters, alternate data streams)');
  }
  const segments = name.split(windows ? /[\\/]/ : '/');
  for (const segment of segments) {
    if (segment === '') throw badPath(name, 'must not contain empty segments');
    if (segment === '.' || segment === '..') {
      throw badPath(name, 'must not contain "." or ".." segments');
    }
    const problem = windows ? windowsProblem(segment) : undefined;
    if (problem !== undefined) throw badPath(name, problem);
  }
  return segments;
}

function pairsOf(files: unknown): Iterable<unknown> {
  if (typeof files !== 'object' || files === null) {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "files" argument must be an object of paths to data, or an iterable of [path, data] pairs. Received ${describeValue(files)}`,
    );
  }
  if (Symbol.iterator in files && typeof files[Symbol.iterator] === 'function') {
    return files as Iterable<unknown>;
  }
  return Object.entries(files);
}

/**
 * Validate every path and every piece of data of the new tree before anything is written:
 * paths that escape, duplicates, and a path that is both a file and a directory are refused.
 */
export function entriesOf(
  files: unknown,
  encoding: BufferEncoding,
  platform: NodeJS.Platform,
): DirectoryEntry[] {
  const entries: DirectoryEntry[] = [];
  const fileKeys = new Set<string>();
  const dirKeys = new Set<string>();
  for (const pair of pairsOf(files)) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw invalidArgument(
        'ERR_INVALID_ARG_VALUE',
        `Each item of an iterable "files" must be a [path, data] pair. Received ${describeValue(pair)}`,
      );
    }
    const [name, data] = pair as [unknown, unknown];
    const segments = splitRelative(name, platform);
    const text = name as string;
    for (let i = 1; i < segments.length; i += 1) {
      const prefix = segments.slice(0, i).join('/');
      if (fileKeys.has(prefix))
        throw badPath(text, `needs "${prefix}" to be a directory and a file`);
      dirKeys.add(prefix);
    }
    const key = segments.join('/');
    if (fileKeys.has(key)) throw badPath(text, 'is given twice');
    if (dirKeys.has(key)) throw badPath(text, 'is both a file and a directory');
    fileKeys.add(key);
    const bytes = chunkBytes(data, encoding);
    const source = bytes === undefined ? chunkSource(data) : undefined;
    if (bytes === undefined && source === undefined) {
      throw invalidArgument(
        'ERR_INVALID_ARG_TYPE',
        `The data for ${describeValue(text)} in "files" must be a string, Buffer, TypedArray, DataView, ArrayBuffer, an iterable or async iterable of those, or a stream. Received ${describeValue(data)}`,
      );
    }
    entries.push({ name: text, segments, bytes, source });
  }
  return entries;
}

/** Name for a previous tree kept by `keepOld`: not a temp or staging name, never reclaimed. */
export function keptName(base: string, now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const kept = truncateUtf8(base, TEMP_BASE_MAX_BYTES);
  return `.${kept}.${KEPT_TAG}-${stamp}-${randomBytes(4).toString('hex')}`;
}

function isRoot(path: string): boolean {
  return dirname(path) === path;
}

function trimSeparators(path: string): string {
  const pattern = seam.platform === 'win32' ? /[\\/]+$/ : /\/+$/;
  const trimmed = path.replace(pattern, '');
  return trimmed === '' ? path : trimmed;
}

/**
 * Where the call lands. A symlink at `dir` (or a chain of them) is followed: the directory
 * it points to is replaced and the link stays, as `writeFile` does for files.
 */
function resolveDirectory(dest: string, settings: DirectorySettings): DirectoryJob {
  const trimmed = trimSeparators(dest);
  const rootError = (): TypeError =>
    invalidArgument('ERR_INVALID_ARG_VALUE', `The "dir" argument must not be a root directory`);
  if (isRoot(resolve(trimmed))) throw rootError();
  // A symlink at `dir` is followed by design; the tree is then reached through pinned
  // directories by its own rules (pinned-dir.ts).
  const { target, key } = resolveTarget(trimmed, 'follow', false, true);
  if (isRoot(target)) throw rootError();
  const parent = dirname(target);
  return {
    dest,
    dir: target,
    parent,
    staging: join(parent, stagingName(basename(target))),
    key,
    settings,
  };
}

function* inPhase<R>(phase: Phase, dest: string, plan: Plan<R>): Plan<R> {
  try {
    return yield* plan;
  } catch (error) {
    throw wrapError(error, phase, dest);
  }
}

function notADirectory(job: DirectoryJob): AtomicFsError {
  return wrapError(errnoError('ENOTDIR', 'lstat', job.dir, 'not a directory'), 'resolve', job.dest);
}

/** The directory being replaced, as it was looked at. */
interface Live {
  /** Its mode and owner, which the new tree keeps. */
  readonly existing: Existing;
  /** Which directory it is: only that one is ever removed as the previous tree. */
  readonly identity: Identity;
}

/**
 * Open and pin the parent: every later step names its entries through it, so that nothing
 * another process renames meanwhile (an ancestor, the staging directory) can redirect them.
 */
function* pinParent(job: DirectoryJob): Plan<Dir> {
  const options = { unsafeShared: job.settings.unsafeShared, descend: true };
  return yield* inPhase('resolve', job.dest, openRoot(job.parent, options));
}

/** The live directory's mode, owner and identity, or `undefined` when there is none yet. */
function* inspectDirectory(job: DirectoryJob, parent: Dir): Plan<Live | undefined> {
  let stats;
  try {
    stats = yield* call('lstat', entry(parent, basename(job.dir)));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw wrapError(error, 'resolve', job.dest);
  }
  if (!stats.isDirectory()) throw notADirectory(job);
  const live: Live = {
    existing: { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid },
    identity: { dev: stats.dev, ino: stats.ino },
  };
  if (!job.settings.keepOld) {
    // Its removal will enter it: refused here, before anything is written, where that would be.
    const refusal = enteringRefusal(parent, job.dir, { uid: stats.uid, mode: stats.mode });
    if (refusal !== undefined) throw wrapError(refusal, 'resolve', job.dest);
  }
  return live;
}

/**
 * Create the top of the staged tree (owner-only while filled, when its mode will be set) and
 * pin it. If it cannot be pinned, it is removed again; a directory found at its name that is
 * not the one just made (another process swapped it) is left alone.
 */
function* createStaging(job: DirectoryJob, parent: Dir, existing: Existing | undefined): Plan<Dir> {
  const topMode = job.settings.dirMode ?? existing?.mode;
  const createMode = topMode === undefined ? NEW_DIR_MODE : STAGING_DIR_MODE;
  const name = basename(job.staging);
  yield* inPhase('stage', job.dest, call('mkdir', entry(parent, name), createMode));
  try {
    return yield* openChild(parent, name, { created: true });
  } catch (error) {
    let leftover: string | undefined;
    // Something else at the name (our directory was swapped away): not ours to remove.
    if (!NOT_THE_ONE_MADE.has(errorCode(error) ?? '')) {
      try {
        yield* call('rmdir', entry(parent, name));
      } catch (cleanup) {
        if (!NOT_THE_ONE_MADE.has(errorCode(cleanup) ?? '')) leftover = job.staging;
      }
    }
    throw withLeftover(wrapError(error, 'stage', job.dest), leftover);
  }
}

/** Codes meaning that what is at a name just made by mkdir() is no longer what was made. */
const NOT_THE_ONE_MADE = new Set([
  'ENOENT',
  'ENOTDIR',
  'ELOOP',
  'ENOTEMPTY',
  'EEXIST',
  'EXDEV',
  'ERR_ATOMIC_PATH_CHANGED',
]);

/** What the staged tree needs to become: the owner and top mode of the directory it replaces. */
function beginStage(job: DirectoryJob, existing: Existing | undefined, top: Dir): Stage {
  let owner: Stage['owner'];
  if (existing !== undefined && hasPosixMetadata(seam.platform)) {
    if (top.stats.uid !== existing.uid || top.stats.gid !== existing.gid) {
      owner = { uid: existing.uid, gid: existing.gid };
    }
  }
  return {
    dirs: new Map([['', top]]),
    owner,
    topMode: job.settings.dirMode ?? existing?.mode,
  };
}

/** The staged directory at `key` (created before anything below it). */
function stagedDir(stage: Stage, key: string): Dir {
  const dir = stage.dirs.get(key);
  if (dir === undefined) throw new Error(`internal error: '${key}' was not staged`);
  return dir;
}

/**
 * Create the directories above one file that do not exist yet in the staged tree, each in its
 * pinned parent, and pin each in turn.
 */
function* makeEntryParents(
  job: DirectoryJob,
  stage: Stage,
  segments: readonly string[],
): Plan<Dir> {
  const createMode = job.settings.dirMode === undefined ? NEW_DIR_MODE : STAGING_DIR_MODE;
  let parent = stagedDir(stage, '');
  for (let i = 1; i < segments.length; i += 1) {
    const key = segments.slice(0, i).join('/');
    const known = stage.dirs.get(key);
    if (known !== undefined) {
      parent = known;
      continue;
    }
    const name = segments[i - 1] ?? '';
    yield* inPhase('stage', job.dest, call('mkdir', entry(parent, name), createMode));
    parent = yield* inPhase('stage', job.dest, openChild(parent, name, { created: true }));
    stage.dirs.set(key, parent);
  }
  return parent;
}

/** Exclusive creation (O_CREAT|O_EXCL|O_NOFOLLOW) in its pinned directory, never wider than the final mode. */
function* createEntry(job: DirectoryJob, dir: Dir, name: string): Plan<number> {
  const mode = job.settings.mode;
  const createMode = mode === undefined ? NEW_FILE_MODE : mode & 0o777;
  return yield* inPhase(
    'stage',
    job.dest,
    call('open', entry(dir, name), flags.createTemp, createMode),
  );
}

function* chownPreserving(job: DirectoryJob, fd: number, stage: Stage): Plan<void> {
  if (stage.owner === undefined) return;
  try {
    yield* call('fchown', fd, stage.owner.uid, stage.owner.gid);
  } catch (error) {
    // Preserving, not asked: a non-root writer cannot give files away, as with `cp -p`.
    if (!isIgnorableChownError(errorCode(error), false)) throw wrapError(error, 'chown', job.dest);
  }
}

/**
 * Everything after a file's last byte: owner, mode, fsync, close. Owns `fd`: it is closed
 * exactly once whatever happens.
 */
function* finishEntry(job: DirectoryJob, stage: Stage, fd: number): Plan<void> {
  let held: number | undefined = fd;
  try {
    yield* chownPreserving(job, fd, stage);
    if (job.settings.mode !== undefined) {
      yield* inPhase('chmod', job.dest, call('fchmod', fd, job.settings.mode));
    }
    if (job.settings.durability !== 'none') {
      yield* inPhase('fsync', job.dest, call('fsync', fd));
    }
    held = undefined;
    yield* inPhase('close', job.dest, call('close', fd));
  } finally {
    if (held !== undefined) yield* closeQuietly(held);
  }
}

/** A Job naming one staged file, for the write helpers shared with writeFile. */
function fileJob(job: DirectoryJob, path: string): Job {
  return {
    dest: job.dest,
    target: path,
    dir: dirname(path),
    tmp: path,
    // Never queued: the staged tree is this call's alone.
    key: `staged:${path}`,
    settings: {
      mode: job.settings.mode,
      chown: undefined,
      durability: job.settings.durability,
      overwrite: false,
      mkdirs: false,
    },
  };
}

/** The file's name in its directory (validated segments are never empty). */
function leafOf(entry: DirectoryEntry): string {
  return entry.segments[entry.segments.length - 1] ?? '';
}

/** Stage one file whose bytes are in hand. */
function* stageBytes(
  job: DirectoryJob,
  stage: Stage,
  entry: DirectoryEntry,
  bytes: Uint8Array,
  signal: AbortSignal | undefined,
): Plan<void> {
  const dir = yield* makeEntryParents(job, stage, entry.segments);
  const fd = yield* createEntry(job, dir, leafOf(entry));
  try {
    yield* writeChunks(fileJob(job, join(job.staging, ...entry.segments)), fd, [bytes], signal);
  } catch (error) {
    yield* closeQuietly(fd);
    throw error;
  }
  yield* finishEntry(job, stage, fd);
}

/** Stage one file read from a source, chunk by chunk (bounded memory). */
async function stageSource(
  job: DirectoryJob,
  stage: Stage,
  entry: DirectoryEntry,
  source: AsyncIterable<unknown> | Iterable<unknown>,
  options: DirectoryCall,
): Promise<void> {
  const dir = await runAsync(makeEntryParents(job, stage, entry.segments));
  const fd = await runAsync(createEntry(job, dir, leafOf(entry)));
  let held: number | undefined = fd;
  try {
    const path = join(job.staging, ...entry.segments);
    const writer = new BufferedWriter(fileJob(job, path), fd, options.signal);
    let reading = true;
    try {
      for await (const chunk of source) {
        reading = false;
        throwIfAborted(options.signal, job.dest);
        await writer.add(requireChunk(chunk, options.encoding, `chunk read for "${entry.name}"`));
        reading = true;
      }
    } catch (error) {
      if (!reading || error instanceof AtomicFsError || error instanceof TypeError) throw error;
      throw ownError(
        'ERR_ATOMIC_SOURCE',
        'read-source',
        job.dest,
        `the data source of "${entry.name}" failed: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    }
    await writer.flush();
    held = undefined;
    await runAsync(finishEntry(job, stage, fd));
  } finally {
    if (held !== undefined) await runAsync(closeQuietly(held));
  }
}

/**
 * Give one staged directory its owner and mode, fsync it, and release its descriptor — all on
 * the descriptor it was pinned by, which is the directory created (chown and chmod by path
 * would follow whatever is at the name by then). On a failure the descriptor stays held:
 * `discardStaging` releases it.
 */
function* finishDirectory(
  job: DirectoryJob,
  stage: Stage,
  dir: Dir,
  mode: number | undefined,
): Plan<void> {
  const fd = dir.fd;
  // Windows: directories have no descriptors (neither fsync nor `dirMode` applies to them).
  if (fd === undefined) return;
  const sync = job.settings.durability !== 'none';
  yield* chownPreserving(job, fd, stage);
  if (mode !== undefined) yield* inPhase('chmod', job.dest, call('fchmod', fd, mode));
  if (sync) {
    try {
      yield* call('fsync', fd);
    } catch (error) {
      if (!isUnsupportedDirectoryFsync(errorCode(error))) throw wrapError(error, 'fsync', job.dest);
    }
  }
  yield* inPhase('close', job.dest, closeDir(dir));
}

/**
 * Finish every staged directory, deepest first, the top last. Under `'full'` and `'file'`
 * each is fsynced, so that every entry of the new tree is on disk before the swap: a swap
 * that reaches the disk always brings a complete tree.
 */
function* finishDirectories(job: DirectoryJob, stage: Stage): Plan<void> {
  for (const [key, dir] of [...stage.dirs].reverse()) {
    yield* finishDirectory(job, stage, dir, key === '' ? stage.topMode : job.settings.dirMode);
  }
}

function noExchange(job: DirectoryJob, cause?: unknown): AtomicFsError {
  const where =
    cause === undefined ? `${seam.platform} has` : 'this kernel, file system or runtime has';
  return ownError(
    'ERR_ATOMIC_NO_EXCHANGE',
    'swap',
    job.dest,
    `${where} no atomic exchange of directories; pass allowNonAtomic: true to replace it with two renames (readers may briefly find it missing)`,
    cause,
  );
}

/**
 * The weaker replace where no exchange exists: move the live directory aside (to a kept
 * name, never a reclaimable one: for a moment it is the only copy), then move the new tree
 * in. If the second rename fails, the first is undone. Returns the name of the old tree.
 */
function* replaceByTwoRenames(job: DirectoryJob, parent: Dir): Plan<string> {
  const base = basename(job.dir);
  const displaced = keptName(base);
  const stage = entry(parent, basename(job.staging));
  yield* inPhase('swap', job.dest, renameRetrying(entry(parent, base), entry(parent, displaced)));
  try {
    yield* renameRetrying(stage, entry(parent, base));
  } catch (error) {
    try {
      yield* renameRetrying(entry(parent, displaced), entry(parent, base));
    } catch {
      const wrapped = wrapError(error, 'swap', job.dest);
      const leftover = join(job.parent, displaced);
      throw new AtomicFsError(
        `${wrapped.message}; moving the previous tree back failed too: '${job.dest}' is missing, its previous tree is at '${leftover}'`,
        { ...fieldsOf(wrapped), leftover },
      );
    }
    throw wrapError(error, 'swap', job.dest);
  }
  return displaced;
}

/**
 * Put the staged tree in place. Returns the name (in the parent) of the previous tree now
 * (the staging name after an exchange), or `undefined` for a new directory. On failure
 * nothing changed.
 */
function* swapIn(
  job: DirectoryJob,
  parent: Dir,
  live: Live | undefined,
  signal: AbortSignal | undefined,
): Plan<string | undefined> {
  throwIfAborted(signal, job.dest);
  const stage = basename(job.staging);
  const base = basename(job.dir);
  if (live === undefined) {
    // A new directory: a plain rename. (If an empty directory appeared meanwhile, rename()
    // replaces it; a non-empty one fails with ENOTEMPTY or EEXIST.)
    yield* inPhase('swap', job.dest, renameRetrying(entry(parent, stage), entry(parent, base)));
    return undefined;
  }
  if (hasAtomicExchange(seam.platform)) {
    try {
      yield* call('swap', entry(parent, stage), entry(parent, base));
      return stage;
    } catch (error) {
      if (!isUnsupportedExchange(errorCode(error))) throw wrapError(error, 'swap', job.dest);
      if (!job.settings.allowNonAtomic) throw noExchange(job, error);
    }
  }
  return yield* replaceByTwoRenames(job, parent);
}

interface AfterSwap {
  readonly previous: string | undefined;
  /** A failure after the swap (the new tree is in place: `committed`). */
  readonly failure: AtomicFsError | undefined;
}

/**
 * The swap was by name: check that `dir` now names the tree staged (another process that can
 * write the parent may have swapped entries under those names meanwhile).
 */
function* checkInPlace(job: DirectoryJob, parent: Dir, top: Identity): Plan<void> {
  const stats = yield* call('lstat', entry(parent, basename(job.dir)));
  if (!sameFile(stats, top))
    throw changed(job.dir, 'the new tree is not at its name after the swap');
}

/**
 * After the swap: check it, keep or remove the previous tree, fsync the parent. Every step is
 * tried even if an earlier one failed; the first failure is returned, marked `committed`. The
 * previous tree is removed only if it is the directory that was looked at (`live`), and only
 * when the new tree is at `dir`.
 */
function* afterSwap(
  job: DirectoryJob,
  parent: Dir,
  top: Identity,
  live: Live | undefined,
  old: string | undefined,
): Plan<AfterSwap> {
  const committed = { committed: true };
  const base = basename(job.dir);
  const stage = basename(job.staging);
  let failure: AtomicFsError | undefined;
  let previous: string | undefined;
  let retire: string | undefined;
  let misplaced: unknown;
  try {
    yield* checkInPlace(job, parent, top);
  } catch (error) {
    misplaced = error;
  }
  if (old !== undefined && (job.settings.keepOld || misplaced !== undefined)) {
    // Kept as asked — or because `dir` does not name the new tree: then nothing is removed,
    // and the previous tree goes under a name no cleanup takes.
    let kept = old;
    if (old === stage) {
      try {
        kept = keptName(base);
        yield* renameRetrying(entry(parent, old), entry(parent, kept));
      } catch (error) {
        kept = old;
        failure = withLeftover(
          wrapError(error, 'keep-old', job.dest, committed),
          join(job.parent, old),
        );
      }
    }
    if (job.settings.keepOld) previous = join(job.parent, kept);
    if (misplaced !== undefined) {
      const leftover = job.settings.keepOld ? undefined : join(job.parent, kept);
      failure = withLeftover(wrapError(misplaced, 'swap', job.dest, committed), leftover);
    }
  } else if (misplaced !== undefined) {
    failure = wrapError(misplaced, 'swap', job.dest, committed);
  } else if (old !== undefined && old !== stage) {
    // Moved aside by two renames under a kept name: give it a reclaimable name first, so
    // that a crash during the removal leaves something `cleanupTemps` will take.
    const fresh = stagingName(base);
    try {
      yield* renameRetrying(entry(parent, old), entry(parent, fresh));
      retire = fresh;
    } catch (error) {
      failure = withLeftover(
        wrapError(error, 'remove-old', job.dest, committed),
        join(job.parent, old),
      );
    }
  } else {
    retire = old;
  }
  // Under 'file' too when the previous tree is about to be removed: its removal must not
  // reach disk before the exchange does, or a power cut could bring back the previous tree
  // with files missing (the crash explorer finds exactly that state).
  const removing = retire !== undefined && job.settings.durability !== 'none';
  if ((job.settings.durability === 'full' || removing) && parent.fd !== undefined) {
    try {
      yield* fsyncDescriptor(parent.fd);
    } catch (error) {
      failure ??= wrapError(error, 'fsync-dir', job.dest, committed);
    }
  }
  if (retire !== undefined) {
    if (retire !== stage && live !== undefined)
      expectTree(join(job.parent, retire), [live.identity]);
    const expect = live === undefined ? undefined : [live.identity];
    const error = yield* removeDirectory(parent, retire, expect);
    if (error === undefined && retire !== stage) forgetTree(join(job.parent, retire));
    if (error !== undefined) {
      failure ??= withLeftover(
        wrapError(error, 'remove-old', job.dest, committed),
        join(job.parent, retire),
      );
    }
  }
  return { previous, failure };
}

function untrack(path: string): void {
  untrackTree(path);
  forgetTree(path);
}

/**
 * Remove the staged tree after a failure: release what it pins, then remove it by its name
 * in the parent — only if that is still the directory staged. The error gains `leftover`
 * if that fails.
 */
async function discardStaging(
  job: DirectoryJob,
  parent: Dir,
  stage: Stage,
  error: unknown,
): Promise<unknown> {
  for (const dir of [...stage.dirs.values()].reverse()) await runAsync(releaseDir(dir));
  const top = stagedDir(stage, '').stats;
  const failed = await runAsync(removeDirectory(parent, basename(job.staging), [top]));
  // Another directory at the name is not ours to remove (ours was moved away from it).
  if (failed === undefined || errorCode(failed) === 'ERR_ATOMIC_PATH_CHANGED') {
    untrack(job.staging);
    return error;
  }
  return withLeftover(error, job.staging);
}

async function runPinned(
  job: DirectoryJob,
  parent: Dir,
  entries: readonly DirectoryEntry[],
  options: DirectoryCall,
): Promise<WriteDirectoryResult> {
  const { signal } = options;
  const live = await runAsync(inspectDirectory(job, parent));
  if (live !== undefined && !hasAtomicExchange(seam.platform) && !job.settings.allowNonAtomic) {
    // Refused before anything is written.
    throw noExchange(job);
  }
  throwIfAborted(signal, job.dest);
  trackTree(job.staging);
  let top: Dir;
  try {
    top = await runAsync(createStaging(job, parent, live?.existing));
  } catch (error) {
    if (!(error instanceof AtomicFsError && error.leftover !== undefined)) untrackTree(job.staging);
    throw error;
  }
  const stage = beginStage(job, live?.existing, top);
  const topIdentity: Identity = { dev: top.stats.dev, ino: top.stats.ino };
  expectTree(job.staging, live === undefined ? [topIdentity] : [topIdentity, live.identity]);
  let old: string | undefined;
  try {
    for (const entry of entries) {
      throwIfAborted(signal, job.dest);
      if (entry.bytes !== undefined) {
        await runAsync(stageBytes(job, stage, entry, entry.bytes, signal));
      } else {
        await stageSource(job, stage, entry, entry.source ?? [], options);
      }
    }
    await runAsync(finishDirectories(job, stage));
    old = await runAsync(swapIn(job, parent, live, signal));
  } catch (error) {
    throw await discardStaging(job, parent, stage, error);
  }
  // The new tree is in place. The staging name now holds the previous tree, if anything.
  if (old !== basename(job.staging)) untrack(job.staging);
  const { previous, failure } = await runAsync(afterSwap(job, parent, topIdentity, live, old));
  untrackTree(job.staging);
  const leftover = failure?.leftover;
  // A tree that could not be removed is removed again at exit if it has a staging name.
  if (leftover !== undefined && parseStagingName(basename(leftover)) !== undefined) {
    trackTree(leftover);
  }
  if (leftover !== job.staging) forgetTree(job.staging);
  if (failure !== undefined) throw failure;
  return { path: job.dir, previous };
}

async function run(
  job: DirectoryJob,
  entries: readonly DirectoryEntry[],
  options: DirectoryCall,
): Promise<WriteDirectoryResult> {
  const parent = await runAsync(pinParent(job));
  try {
    return await runPinned(job, parent, entries, options);
  } finally {
    // A directory opened for reading: nothing is lost if closing it fails.
    await runAsync(releaseDir(parent));
  }
}

/**
 * Replace the whole content of `dir` with exactly `files`, atomically: a reader that looks
 * up paths through `dir` sees the complete old tree or the complete new tree, never files
 * of both; after a crash or power cut at any moment, `dir` is the complete old or the
 * complete new tree. Once the promise resolves (durability `'full'`), the new tree survives
 * a power cut. On failure `dir` is as it was and the staged tree is removed.
 *
 * A symlink at `dir` is followed: the directory it points to is replaced, the link stays.
 *
 * @param files An object of relative paths to data, or an iterable of `[path, data]` pairs;
 * nested paths create subdirectories; data is anything `writeFile` accepts.
 * @example
 * import { writeDirectory } from 'atomic-fs';
 * await writeDirectory('public', { 'index.html': html, 'assets/app.js': js });
 */
export async function writeDirectory(
  dir: string | URL,
  files: DirectoryFiles,
  options?: WriteDirectoryOptions,
): Promise<WriteDirectoryResult> {
  const dest = pathOf(dir, 'dir');
  const valid = directoryOptions(options);
  const entries = entriesOf(files, valid.encoding, seam.platform);
  throwIfAborted(valid.signal, dest);
  const job = resolveDirectory(dest, valid.settings);
  let result: WriteDirectoryResult | undefined;
  await pathQueue.add(job.key, undefined, async () => {
    result = await run(job, entries, valid);
  });
  // Set by the job above, which resolved.
  return result as WriteDirectoryResult;
}
