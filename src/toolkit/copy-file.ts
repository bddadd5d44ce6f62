/**
 * copyFile: an atomic, durable copy. The bytes land in an exclusive temp file beside the
 * destination, which is fsynced and renamed into place like any other write (core/replace-plans.ts).
 *
 * Two ways to fill the temp file, one plan:
 * - The kernel copy, `fs.copyFile`: a reflink where the file system shares blocks (btrfs,
 *   xfs), else copy_file_range/sendfile, never through this process's memory. On Linux it
 *   fills a temp file the library created and made final itself (owner, group, ACL and mode
 *   before the first byte, as for every write: core/replace-plans.ts `createTemp`), through its descriptor's
 *   name `/proc/self/fd/N` — a magic link that reaches that open file whatever happens to the
 *   names in the directory. Node has no descriptor-to-descriptor kernel copy; this is one.
 *   libuv gives the file the source's mode before copying (used only when that is no wider than
 *   the final mode for group and others), and the final mode is set again after.
 *   Elsewhere `fs.copyFile(src, tmp, COPYFILE_EXCL | COPYFILE_FICLONE)` creates the temp
 *   itself (O_CREAT|O_EXCL, which refuses any existing name — a symlink planted at the temp
 *   name included), with the source's mode and the directory's group, and copies at once:
 *   used only for an owner-only source, so that nobody else can open that temp; we re-open it
 *   with O_NOFOLLOW, check it is a regular file of the source's size, and give it its owner,
 *   attributes and mode through that descriptor before committing it.
 * - A read/write loop into a temp created by our own exclusive open, in 1 MiB steps: when the
 *   caller wants progress (`onProgress`), when the size of the source is not known (a /proc
 *   file reporting size 0), and when the kernel copy's mode or temp would be briefly more
 *   permissive than the final mode.
 *
 * Only a regular file is copied: the source is opened without blocking (O_NONBLOCK: a FIFO
 * with no writer would block the open forever, holding the destination's queue) and a FIFO,
 * socket or device is refused with ERR_ATOMIC_NOT_REGULAR_FILE — a pipe's data is streamed
 * with `writeFile(dest, stream)` instead, and a device like /dev/zero never ends.
 *
 * The copy's permissions are the source's — its mode and, where ACLs are extended attributes
 * (Linux), its POSIX ACL — unless `mode` is given (then exactly that mode, no ACL). Its owner,
 * security label and other attributes are the replaced destination's, as for any replace.
 */
import { COPY_CHUNK_BYTES } from './constants.js';
import { errnoError, errorCode, ownError, throwIfAborted, wrapError } from '../engine/errors.js';
import { notRegularFile, specialKind } from '../engine/file-type.js';
import { flags, seam } from '../engine/fs.js';
import { pathQueue, resolveCall } from '../core/call.js';
import { type OptionKeys, omitKeys, optionList, optionsObject } from '../engine/option-keys.js';
import { type WriteOptions, WRITE_KEYS, normalizeOptions, pathOf } from '../core/options.js';
import { pinTargetDir, releaseTargetDir } from '../core/target-dir.js';
import { type Plan, call, closeQuietly, runAsync } from '../engine/executors.js';
import {
  copiesIntoDescriptor,
  hasPosixMetadata,
  runtimeOf,
  xattrsCarryAccess,
} from '../engine/platform.js';
import { type Progress, type ProgressCallback, progressOf, report } from './progress.js';
import {
  type Inspection,
  type Job,
  type TempFile,
  commit,
  createTemp,
  discard,
  finishCopied,
  inPhase,
  inspectTarget,
  makeParents,
  removeDirectories,
  withLeftover,
  writeChunks,
} from '../core/replace-plans.js';
import { withTrackedTemp } from '../core/exit-handler.js';
import { aclOf } from '../core/xattrs.js';

export type { Progress } from './progress.js';

/** Options of `copyFile`: the common write options, with these differences and additions. */
export interface CopyOptions extends Omit<WriteOptions, 'encoding' | 'coalesce' | 'mode'> {
  /**
   * Permission bits of the copy (0 to 0o7777), applied exactly. By default the source's
   * permission bits (0o777; set-user-ID, set-group-ID and sticky bits are not copied).
   * @default the source's mode & 0o777
   * @example
   * import { copyFile } from 'atomic-fs';
   * await copyFile('build/app.wasm', 'cache/app.wasm', { mode: 0o444 });
   */
  readonly mode?: number | undefined;

  /**
   * Called with `{ bytes, total }` as the copy proceeds (once at 0, then after each 1 MiB
   * step). Asking for progress makes the copy use a read/write loop instead of the kernel
   * copy. If it throws, the copy stops, nothing is published, and the call rejects with
   * `ERR_ATOMIC_CALLBACK`.
   * @default undefined
   * @example
   * import { copyFile } from 'atomic-fs';
   * await copyFile('disk.img', 'backup/disk.img', {
   *   onProgress: ({ bytes, total }) => console.log(`${bytes} / ${total ?? '?'}`),
   * });
   */
  readonly onProgress?: ((progress: Progress) => void) | undefined;
}

interface CopySettings {
  readonly src: string;
  readonly mode: number | undefined;
  readonly onProgress: ProgressCallback | undefined;
  readonly signal: AbortSignal | undefined;
}

/** Whether anything is at `path` (when that cannot be told: assume so). */
function* present(path: string): Plan<boolean> {
  try {
    yield* call('lstat', path);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ENOENT';
  }
}

/** The copy is complete: a regular file of the source's size (else the source changed). */
function* checkCopied(job: Job, src: string, fd: number, size: number): Plan<number> {
  const stats = yield* call('fstat', fd);
  if (!stats.isFile() || stats.size !== size) {
    throw ownError(
      'ERR_ATOMIC_SOURCE_CHANGED',
      'copy',
      job.dest,
      `the source '${src}' changed during the copy: ${size} bytes expected, ${stats.size} copied`,
    );
  }
  return stats.mode & 0o7777;
}

/**
 * The kernel copy into a temp file that is already final (Linux): by its descriptor's magic
 * link, so that it lands in that open file and nowhere else. libuv gives it the source's mode
 * first (no wider than the final one for group and others: see `copyPlan`); the final mode is
 * set again after. Owns the temp on failure.
 */
function* copyIntoTemp(job: Job, src: string, size: number, temp: TempFile): Plan<void> {
  const { fd } = temp;
  try {
    yield* inPhase(
      'copy',
      job.dest,
      call('copyFile', src, `/proc/self/fd/${fd}`, flags.copyIntoDescriptor),
    );
    const mode = yield* inPhase('copy', job.dest, checkCopied(job, src, fd, size));
    const final = job.settings.mode;
    if (final !== undefined && mode !== final) {
      yield* inPhase('chmod', job.dest, call('fchmod', fd, final));
    }
  } catch (error) {
    throw withLeftover(error, yield* discard(job, fd, temp.created));
  }
}

/** Fill the temp file with the kernel copy; returns it open (O_NOFOLLOW) for the commit. */
function* kernelCopy(job: Job, src: string, size: number): Plan<TempFile> {
  const created = job.settings.mkdirs ? yield* makeParents(job) : [];
  try {
    yield* call('copyFile', src, job.tmp, flags.copyExclusive);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') {
      // Something is at our temp name and it is not ours: never remove it.
      yield* removeDirectories(created);
      throw wrapError(error, 'copy', job.dest);
    }
    // libuv removes a temp it created before failing; remove one only if it is still there.
    let left: string | undefined;
    if (yield* present(job.tmp)) left = yield* discard(job, undefined, created);
    else yield* removeDirectories(created);
    throw withLeftover(wrapError(error, 'copy', job.dest), left);
  }
  let fd: number;
  try {
    fd = yield* call('open', job.tmp, flags.reopenTemp, 0);
  } catch (error) {
    throw withLeftover(wrapError(error, 'copy', job.dest), yield* discard(job, undefined, created));
  }
  try {
    yield* checkCopied(job, src, fd, size);
  } catch (error) {
    throw withLeftover(wrapError(error, 'copy', job.dest), yield* discard(job, fd, created));
  }
  return { fd, created };
}

/** Copy from `source` into the temp file `fd` until end of file, reporting progress. */
function* copyLoop(
  job: Job,
  source: number,
  fd: number,
  total: number | undefined,
  settings: CopySettings,
): Plan<void> {
  const { src, onProgress, signal } = settings;
  const buffer = Buffer.allocUnsafe(
    total === undefined ? COPY_CHUNK_BYTES : Math.min(COPY_CHUNK_BYTES, total + 1),
  );
  let bytes = 0;
  report(onProgress, job.dest, bytes, total);
  for (;;) {
    throwIfAborted(signal, job.dest);
    const n = yield* inPhase(
      'read-source',
      src,
      call('read', source, buffer, 0, buffer.byteLength, null),
    );
    if (n === 0) break;
    yield* writeChunks(job, fd, [buffer.subarray(0, n)], signal);
    bytes += n;
    report(onProgress, job.dest, bytes, total);
  }
  if (total !== undefined && bytes !== total) {
    throw ownError(
      'ERR_ATOMIC_SOURCE_CHANGED',
      'copy',
      job.dest,
      `the source '${src}' changed during the copy: ${total} bytes expected, ${bytes} read`,
    );
  }
}

function sourceRefusal(kind: string, src: string): Error {
  return notRegularFile(
    kind,
    'open-source',
    src,
    src,
    'the source',
    'only regular files are copied',
  );
}

/** Refuse `src` if it is a special file (its open failed); else return, to report that. */
function* refuseSpecialSource(src: string): Plan<void> {
  let kind: string | undefined;
  try {
    kind = specialKind(yield* call('stat', src));
  } catch {
    // The open's error is the one to report.
  }
  if (kind !== undefined) throw sourceRefusal(kind, src);
}

/** The whole copy, run with the asynchronous seam. */
function* copyPlan(base: Job, settings: CopySettings): Plan<void> {
  const { src, signal } = settings;
  let source: number;
  try {
    source = yield* call('open', src, flags.readSource, 0);
  } catch (error) {
    // A socket cannot be opened at all (ENXIO): say what it is.
    if (errorCode(error) === 'ENXIO') yield* refuseSpecialSource(src);
    throw wrapError(error, 'open-source', src);
  }
  let held: number | undefined = source;
  try {
    const stats = yield* inPhase('open-source', src, call('fstat', source));
    if (stats.isDirectory()) {
      throw wrapError(
        errnoError('EISDIR', 'read', src, 'illegal operation on a directory'),
        'open-source',
        src,
      );
    }
    const kind = specialKind(stats);
    if (kind !== undefined) throw sourceRefusal(kind, src);
    // A regular file of size 0 may be a /proc file that has content: read it to the end.
    const total = stats.isFile() && stats.size > 0 ? stats.size : undefined;
    const mode = settings.mode ?? stats.mode & 0o777;
    const job: Job = { ...base, settings: { ...base.settings, mode } };
    yield* pinTargetDir(job);
    const inspected: Inspection = yield* inspectTarget(job);
    if (inspected.identity?.dev === stats.dev && inspected.identity.ino === stats.ino) {
      throw ownError(
        'ERR_ATOMIC_SAME_FILE',
        'resolve',
        job.dest,
        `the source '${src}' and the destination are the same file; nothing was changed`,
      );
    }
    // The copy's permissions are the source's mode and ACL, or exactly the mode asked for.
    let acl: Uint8Array | null | undefined;
    if (job.settings.xattrs !== false && xattrsCarryAccess(seam.platform)) {
      acl = settings.mode === undefined ? yield* aclOf(src, source) : null;
    }
    const inspection: Inspection = acl === undefined ? inspected : { ...inspected, acl };
    throwIfAborted(signal, job.dest);
    const posix = hasPosixMetadata(seam.platform);
    const into = posix && copiesIntoDescriptor(seam.platform, runtimeOf(process.versions));
    // The kernel copy gives the file the source's mode (libuv's fchmod): only if that is never
    // wider than the final mode for group and others. Into our own temp, libuv re-opens it for
    // writing, which its final mode must allow (root may anyway). A temp libuv creates itself
    // gets the directory's group and default ACL and is filled at once: only for a source
    // that nobody but its owner may open.
    const euid = process.geteuid?.();
    const kernel =
      total !== undefined &&
      settings.onProgress === undefined &&
      (stats.mode & 0o7077 & ~mode) === 0 &&
      (!posix || (into ? (mode & 0o200) !== 0 || euid === 0 : (stats.mode & 0o077) === 0));
    let temp: TempFile;
    if (kernel && into) {
      held = undefined;
      yield* closeQuietly(source);
      temp = yield* createTemp(job, inspection);
      yield* copyIntoTemp(job, src, total, temp);
    } else if (kernel) {
      held = undefined;
      yield* closeQuietly(source);
      temp = yield* kernelCopy(job, src, total);
      if (posix) {
        try {
          yield* finishCopied(job, temp.fd, inspection);
        } catch (error) {
          throw withLeftover(error, yield* discard(job, temp.fd, temp.created));
        }
      }
    } else {
      temp = yield* createTemp(job, inspection);
      try {
        yield* copyLoop(job, source, temp.fd, total, settings);
      } catch (error) {
        throw withLeftover(error, yield* discard(job, temp.fd, temp.created));
      }
      held = undefined;
      yield* closeQuietly(source);
    }
    yield* commit(job, temp, inspection, signal);
  } finally {
    if (held !== undefined) yield* closeQuietly(held);
    yield* releaseTargetDir(base);
  }
}

const COPY_FILE = optionList('copyFile', {
  ...omitKeys(WRITE_KEYS, 'encoding', 'coalesce'),
  onProgress: true,
} satisfies OptionKeys<CopyOptions>);

/**
 * Copy `src` to `dest` atomically and durably: readers of `dest` see the old file or the
 * complete copy, never a partial one; once the promise resolves the copy survives a power
 * cut. Uses the kernel's copy (reflink, copy_file_range) where it can. `dest` may be on
 * another file system than `src`; the temp file is always beside `dest`.
 *
 * Fails with `ENOENT` (path: `src`) for a missing source, `EISDIR` for a directory source,
 * `ERR_ATOMIC_NOT_REGULAR_FILE` for a FIFO, socket or device (as source or destination), and
 * `ERR_ATOMIC_SAME_FILE` when `src` and `dest` are the same file (nothing is touched).
 *
 * @example
 * import { copyFile } from 'atomic-fs';
 * await copyFile('dist/bundle.js', '/var/cache/app/bundle.js', { mode: 0o444 });
 */
export async function copyFile(
  src: string | URL,
  dest: string | URL,
  options?: CopyOptions,
): Promise<void> {
  const source = pathOf(src, 'src');
  const destination = pathOf(dest, 'dest');
  const o = optionsObject<CopyOptions>(options, COPY_FILE);
  const onProgress = progressOf(o.onProgress);
  const normalized = normalizeOptions(o, COPY_FILE);
  const { job } = resolveCall({ dest: destination, options: normalized });
  const settings: CopySettings = {
    src: source,
    mode: normalized.settings.mode,
    onProgress,
    signal: normalized.signal,
  };
  return pathQueue.add(job.key, undefined, () =>
    withTrackedTemp(job.tmp, () => runAsync(copyPlan(job, settings))),
  );
}
