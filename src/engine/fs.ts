/**
 * The fs seam: the only module that imports `node:fs`. Every file-system call the library
 * makes goes through `seam.sync` or `seam.async`, two tables with the same operations, so a
 * test can fail any single call, and the crash explorer can record them.
 *
 * While the seam is pristine (nothing patched), whole writes may run on the library's I/O
 * thread, which uses its own pristine copy of this module; once anything is patched, every
 * call stays on the calling thread so that the patch sees it.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { nativeAddonRefusal, runtimeOf } from './platform.js';

/** File metadata as the seam returns it. */
export type Stats = fs.Stats;

/** The operations of the seam, in their synchronous form. */
export interface Ops {
  open: (path: string, flags: number, mode: number) => number;
  write: (fd: number, buffer: Uint8Array, offset: number, length: number) => number;
  close: (fd: number) => void;
  fsync: (fd: number) => void;
  fstat: (fd: number) => fs.Stats;
  fchmod: (fd: number, mode: number) => void;
  fchown: (fd: number, uid: number, gid: number) => void;
  rename: (from: string, to: string) => void;
  link: (existing: string, newPath: string) => void;
  unlink: (path: string) => void;
  lstat: (path: string) => fs.Stats;
  /** Like lstat, but through symlinks (a directory's identity, whatever the path to it). */
  stat: (path: string) => fs.Stats;
  readlink: (path: string) => string;
  realpath: (path: string) => string;
  mkdir: (path: string, mode: number) => void;
  rmdir: (path: string) => void;
  /** Waits; used by the bounded rename retry on Windows and by lock polling. */
  sleep: (ms: number) => void;

  // writeDirectory and replaceSymlink.
  /** Names in a directory (not `.` and `..`), in no particular order. */
  readdir: (path: string) => string[];
  /** Create a symlink at `path` pointing at `target`; EEXIST if anything is at `path`. */
  symlink: (target: string, path: string) => void;
  /**
   * Exchange two existing paths atomically: renameat2(RENAME_EXCHANGE) on Linux,
   * renameatx_np(RENAME_SWAP) on macOS (through `fs-native-extensions`). Only called where
   * `hasAtomicExchange(platform)` holds; ENOSYS when the native module cannot be loaded.
   */
  swap: (a: string, b: string) => void;
  // toolkit (copyFile): the kernel copy.
  /** Copy by path with the kernel's copy (reflink, copy_file_range); `mode` is COPYFILE_* flags. */
  copyFile: (src: string, dest: string, mode: number) => void;
  // --- JSON and read-modify-write (readJson, update, updateJson): reading, advisory locks ---
  /** Read into `buffer`; `null` position reads from the current offset. 0 means end of file. */
  read: (
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ) => number;
  /** Take the exclusive advisory lock of an open file without waiting: false if it is held. */
  tryLock: (fd: number) => boolean;
  /** Wait in the kernel until the exclusive advisory lock of an open file is ours. */
  waitForLock: (fd: number) => void;
  /** Release the advisory lock of an open file (closing its descriptor releases it too). */
  unlock: (fd: number) => void;
  // --- extended attributes (POSIX ACLs, SELinux labels, user.*), always through a descriptor ---
  /** Names of the extended attributes of an open file (flistxattr). */
  listXattrs: (fd: number) => string[];
  /** One extended attribute of an open file (fgetxattr); `null` when it has none of that name. */
  getXattr: (fd: number, name: string) => Uint8Array | null;
  /** Set one extended attribute of an open file (fsetxattr). */
  setXattr: (fd: number, name: string, value: Uint8Array) => void;
  /** Remove one extended attribute of an open file (fremovexattr); absent is not an error. */
  removeXattr: (fd: number, name: string) => void;
}

export type OpName = keyof Ops;

/** The same operations, returning promises. */
export type AsyncOps = {
  [K in OpName]: (...args: Parameters<Ops[K]>) => Promise<ReturnType<Ops[K]>>;
};

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Kernel advisory locks from `fs-native-extensions` (prebuilt N-API addon): on Linux
 * open-file-description locks (`F_OFD_SETLK`/`F_OFD_SETLKW`), on macOS `flock()`, on Windows
 * `LockFileEx()`. Each belongs to one open file description, not to the process, and the
 * kernel drops it when the holder dies. Loaded on first use, so that programs that never
 * lock never load native code, and a platform without a prebuilt binary fails only there.
 */
interface NativeLocks {
  tryLock(fd: number): boolean;
  waitForLock(fd: number): Promise<void>;
  waitForLockSync(fd: number): void;
  unlock(fd: number): void;
}

interface NativeExchange {
  swap(a: string, b: string): Promise<void>;
  swapSync(a: string, b: string): void;
}

/**
 * Extended attributes by descriptor (fgetxattr, fsetxattr, fremovexattr, flistxattr), from the
 * same addon. By descriptor, never by name: an attribute read or set always concerns the file
 * the library holds open, whatever another process does to the names in the directory
 * meanwhile. Its `getAttr` returns `null` for ENODATA and throws every other error with its code.
 */
interface NativeXattrs {
  getAttr(fd: number, name: string): Promise<Buffer | null>;
  getAttrSync(fd: number, name: string): Buffer | null;
  setAttr(fd: number, name: string, value: Uint8Array): Promise<void>;
  setAttrSync(fd: number, name: string, value: Uint8Array): void;
  removeAttr(fd: number, name: string): Promise<void>;
  removeAttrSync(fd: number, name: string): void;
  listAttrs(fd: number): Promise<string[]>;
  listAttrsSync(fd: number): string[];
}

type Native = NativeLocks & NativeExchange & NativeXattrs;

/** How the addon is loaded: `require`, unless a test injects a failing load. */
export type NativeLoader = () => Native;

const requireNative: NativeLoader = () =>
  createRequire(import.meta.url)('fs-native-extensions') as Native;

let loader: NativeLoader = requireNative;
let nativeModule: Native | undefined;

/**
 * Load the addon with `load` from now on (tests inject a failing load with it); no argument
 * puts `require` back. Forgets a module already loaded, so that the next use loads again.
 */
export function setNativeLoader(load?: NativeLoader): void {
  loader = load ?? requireNative;
  nativeModule = undefined;
}

/** Why the addon is not there for this call. */
interface LoadFailure {
  readonly failed: unknown;
  /** The runtime must not load it (Bun, Deno): the same answer for the life of the process. */
  readonly refused: boolean;
}

/**
 * `fs-native-extensions`, loaded on first use by the locks and the exchange alike. Only a
 * loaded module is kept. A failure to load is the answer for the call that met it, never for
 * the calls after it: it may be of the moment (no descriptor left for the module's files,
 * EMFILE), and the next use tries again.
 */
function loadNative(): Native | LoadFailure {
  if (nativeModule !== undefined) return nativeModule;
  // Reached under Bun and Deno only (`npm run compat`), where the addon must not run.
  const refusal = nativeAddonRefusal(runtimeOf(process.versions));
  if (refusal !== undefined) return { failed: new Error(refusal), refused: true };
  try {
    nativeModule = loader();
  } catch (failed) {
    return { failed, refused: false };
  }
  return nativeModule;
}

/** dlopen() reports its errno only as text. */
const DLOPEN_ERRNO: readonly (readonly [RegExp, string])[] = [
  [/too many open files in system/i, 'ENFILE'],
  [/too many open files/i, 'EMFILE'],
  [/cannot allocate memory/i, 'ENOMEM'],
];

/**
 * The system error behind a failed load (EMFILE, ENOMEM, …: the code of a condition of the
 * moment, reported as it is), or `undefined` when the addon is missing or cannot run here.
 */
function systemCodeOf(failed: unknown): string | undefined {
  for (let error = failed, depth = 0; depth < 8; depth += 1) {
    if (typeof error !== 'object' || error === null) return undefined;
    const { code, message, cause } = error as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    if (typeof message === 'string') {
      for (const [pattern, errno] of DLOPEN_ERRNO) if (pattern.test(message)) return errno;
    }
    error = cause;
  }
  return undefined;
}

/** A failed load as the error of one call: its system code if it has one, else `otherwise`. */
function loadError(
  failure: LoadFailure,
  otherwise: string,
  syscall: string,
  what: string,
): NodeJS.ErrnoException {
  const code = failure.refused ? undefined : systemCodeOf(failure.failed);
  const why = failure.refused
    ? (failure.failed as Error).message
    : `fs-native-extensions could not be loaded: ${failure.failed instanceof Error ? failure.failed.message : String(failure.failed)}`;
  return Object.assign(
    new Error(`${code ?? otherwise}: ${what} (${why})`, { cause: failure.failed }),
    {
      code: code ?? otherwise,
      syscall,
    },
  );
}

function locks(): NativeLocks {
  const loaded = loadNative();
  if (!('failed' in loaded)) return loaded;
  throw loadError(
    loaded,
    'ERR_ATOMIC_LOCK_UNSUPPORTED',
    'lock',
    `file locks are unavailable on ${process.platform}-${process.arch}`,
  );
}

/** Run a non-blocking call as a promise (its throw becomes a rejection). */
function promised<T>(run: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(run());
  });
}

const realSync: Ops = {
  open: (path, flags, mode) => fs.openSync(path, flags, mode),
  write: (fd, buffer, offset, length) => fs.writeSync(fd, buffer, offset, length),
  close: (fd) => {
    fs.closeSync(fd);
  },
  fsync: (fd) => {
    fs.fsyncSync(fd);
  },
  fstat: (fd) => fs.fstatSync(fd),
  fchmod: (fd, mode) => {
    fs.fchmodSync(fd, mode);
  },
  fchown: (fd, uid, gid) => {
    fs.fchownSync(fd, uid, gid);
  },
  rename: (from, to) => {
    fs.renameSync(from, to);
  },
  link: (existing, newPath) => {
    fs.linkSync(existing, newPath);
  },
  unlink: (path) => {
    fs.unlinkSync(path);
  },
  lstat: (path) => fs.lstatSync(path),
  stat: (path) => fs.statSync(path),
  readlink: (path) => fs.readlinkSync(path),
  realpath: (path) => fs.realpathSync.native(path),
  mkdir: (path, mode) => {
    fs.mkdirSync(path, { mode });
  },
  rmdir: (path) => {
    fs.rmdirSync(path);
  },
  sleep: (ms) => {
    Atomics.wait(sleepCell, 0, 0, ms);
  },

  // writeDirectory and replaceSymlink.
  readdir: (path) => fs.readdirSync(path),
  symlink: (target, path) => {
    fs.symlinkSync(target, path);
  },
  swap: (a, b) => {
    const native = nativeExchange();
    try {
      native.swapSync(a, b);
    } catch (error) {
      throw exchangeError(error, a, b);
    }
  },
  // toolkit (copyFile)
  copyFile: (src, dest, mode) => {
    fs.copyFileSync(src, dest, mode);
  },
  // --- JSON and read-modify-write ---
  read: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  tryLock: (fd) => locks().tryLock(fd),
  waitForLock: (fd) => {
    locks().waitForLockSync(fd);
  },
  unlock: (fd) => {
    locks().unlock(fd);
  },
  // --- extended attributes ---
  listXattrs: (fd) => xattrs().listAttrsSync(fd),
  getXattr: (fd, name) => xattrs().getAttrSync(fd, name),
  setXattr: (fd, name, value) => {
    xattrs().setAttrSync(fd, name, value);
  },
  removeXattr: (fd, name) => {
    xattrs().removeAttrSync(fd, name);
  },
};

// Success is `null` in Node's callbacks; Deno's node:fs passes `undefined` for some (rename).
function settle<T>(resolve: (value: T) => void, reject: (error: unknown) => void) {
  return (error: NodeJS.ErrnoException | null | undefined, value: T): void => {
    if (error === null || error === undefined) resolve(value);
    else reject(error);
  };
}

function done(resolve: () => void, reject: (error: unknown) => void) {
  return (error: NodeJS.ErrnoException | null | undefined): void => {
    if (error === null || error === undefined) resolve();
    else reject(error);
  };
}

/**
 * Names being created on libuv's threadpool: from the call until its callback runs. The exit
 * handler runs between the two and cannot stop the system call (process.exit() even lets the
 * threadpool finish its queue after the last JavaScript ran): it waits for these names to
 * appear, to remove the ones it tracks (see core/exit-handler.ts).
 */
const creating = new Map<string, number>();

/** The names whose creation is on the threadpool now (see `creating`). */
export function creationsInFlight(): readonly string[] {
  return [...creating.keys()];
}

/** Keep `path` in `creating` until `created` (its creation on the threadpool) settles. */
function creation<T>(path: string, created: Promise<T>): Promise<T> {
  creating.set(path, (creating.get(path) ?? 0) + 1);
  const end = (): void => {
    const count = (creating.get(path) ?? 1) - 1;
    if (count === 0) creating.delete(path);
    else creating.set(path, count);
  };
  // Registered first, so it runs before the caller's continuation.
  created.then(end, end);
  return created;
}

// Callback API rather than fs/promises: raw descriptors (the library owns and closes each one
// exactly once) and one threadpool round trip per call without FileHandle bookkeeping.
const realAsync: AsyncOps = {
  open: (path, flags, mode) => {
    const opened = new Promise<number>((resolve, reject) => {
      fs.open(path, flags, mode, settle(resolve, reject));
    });
    return (flags & fs.constants.O_CREAT) === 0 ? opened : creation(path, opened);
  },
  write: (fd, buffer, offset, length) =>
    new Promise((resolve, reject) => {
      fs.write(fd, buffer, offset, length, null, settle(resolve, reject));
    }),
  close: (fd) =>
    new Promise((resolve, reject) => {
      fs.close(fd, done(resolve, reject));
    }),
  fsync: (fd) =>
    new Promise((resolve, reject) => {
      fs.fsync(fd, done(resolve, reject));
    }),
  fstat: (fd) =>
    new Promise((resolve, reject) => {
      fs.fstat(fd, settle(resolve, reject));
    }),
  fchmod: (fd, mode) =>
    new Promise((resolve, reject) => {
      fs.fchmod(fd, mode, done(resolve, reject));
    }),
  fchown: (fd, uid, gid) =>
    new Promise((resolve, reject) => {
      fs.fchown(fd, uid, gid, done(resolve, reject));
    }),
  rename: (from, to) =>
    new Promise((resolve, reject) => {
      fs.rename(from, to, done(resolve, reject));
    }),
  link: (existing, newPath) =>
    new Promise((resolve, reject) => {
      fs.link(existing, newPath, done(resolve, reject));
    }),
  unlink: (path) =>
    new Promise((resolve, reject) => {
      fs.unlink(path, done(resolve, reject));
    }),
  lstat: (path) =>
    new Promise((resolve, reject) => {
      fs.lstat(path, settle(resolve, reject));
    }),
  stat: (path) =>
    new Promise((resolve, reject) => {
      fs.stat(path, settle(resolve, reject));
    }),
  readlink: (path) =>
    new Promise((resolve, reject) => {
      fs.readlink(path, settle(resolve, reject));
    }),
  realpath: (path) =>
    new Promise((resolve, reject) => {
      fs.realpath.native(path, settle(resolve, reject));
    }),
  mkdir: (path, mode) =>
    creation(
      path,
      new Promise((resolve, reject) => {
        fs.mkdir(path, { mode }, (error) => {
          done(resolve, reject)(error);
        });
      }),
    ),
  rmdir: (path) =>
    new Promise((resolve, reject) => {
      fs.rmdir(path, done(resolve, reject));
    }),
  sleep: (ms) =>
    new Promise((resolve) => {
      setTimeout(resolve, ms);
    }),

  // writeDirectory and replaceSymlink.
  readdir: (path) =>
    new Promise((resolve, reject) => {
      fs.readdir(path, settle(resolve, reject));
    }),
  symlink: (target, path) =>
    creation(
      path,
      new Promise((resolve, reject) => {
        fs.symlink(target, path, done(resolve, reject));
      }),
    ),
  swap: async (a, b) => {
    const native = nativeExchange();
    try {
      await native.swap(a, b);
    } catch (error) {
      throw exchangeError(error, a, b);
    }
  },
  // toolkit (copyFile)
  copyFile: (src, dest, mode) =>
    creation(
      dest,
      new Promise((resolve, reject) => {
        fs.copyFile(src, dest, mode, done(resolve, reject));
      }),
    ),
  // --- JSON and read-modify-write ---
  read: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) => {
      fs.read(fd, buffer, offset, length, position, settle(resolve, reject));
    }),
  // Non-blocking system calls: no threadpool trip needed.
  tryLock: (fd) => promised(() => locks().tryLock(fd)),
  // Waits on a thread of the addon's own, so the event loop keeps running.
  waitForLock: (fd) =>
    new Promise((resolve, reject) => {
      locks().waitForLock(fd).then(resolve, reject);
    }),
  unlock: (fd) =>
    promised(() => {
      locks().unlock(fd);
    }),
  // --- extended attributes: on the addon's own threadpool requests ---
  listXattrs: (fd) => promised(() => xattrs()).then((native) => native.listAttrs(fd)),
  getXattr: (fd, name) => promised(() => xattrs()).then((native) => native.getAttr(fd, name)),
  setXattr: (fd, name, value) =>
    promised(() => xattrs()).then((native) => native.setAttr(fd, name, value)),
  removeXattr: (fd, name) => promised(() => xattrs()).then((native) => native.removeAttr(fd, name)),
};

export interface Seam {
  /** Synchronous operations (writeFileSync, and every write run on the I/O thread). */
  sync: Ops;
  /** Asynchronous operations (everything run on the calling thread with `await`). */
  async: AsyncOps;
  /** The platform whose rules apply (tests simulate Windows by setting `'win32'`). */
  platform: NodeJS.Platform;
  /** The effective user id, asked each time (`undefined` on Windows); see below. */
  geteuid: () => number | undefined;
}

/** The live seam. Tests and the in-process crash recorder replace its members. */
export const seam: Seam = {
  sync: { ...realSync },
  async: { ...realAsync },
  platform: process.platform,
  geteuid: realGeteuid,
};

const opNames = Object.keys(realSync) as OpName[];

/** True when nothing in the seam is patched, so work may move to the I/O thread. */
export function isPristine(): boolean {
  if (seam.platform !== process.platform || seam.geteuid !== realGeteuid) return false;
  for (const name of opNames) {
    if (seam.sync[name] !== realSync[name] || seam.async[name] !== realAsync[name]) return false;
  }
  return true;
}

/** Put every member of the seam back (tests call this after patching). */
export function restoreSeam(): void {
  seam.sync = { ...realSync };
  seam.async = { ...realAsync };
  seam.platform = process.platform;
  seam.geteuid = realGeteuid;
}

/** A constant of `fs.constants` that some platforms lack (O_NOFOLLOW on Windows), or 0. */
function optionalFlag(name: 'O_NOFOLLOW' | 'O_DIRECTORY' | 'O_NONBLOCK' | 'O_NOCTTY'): number {
  const value = (fs.constants as Partial<Record<string, number>>)[name];
  return value ?? 0;
}

/** Open flags used by the library, from this platform's constants. */
export const flags = {
  /** Exclusive creation of a temp file; never follows a symlink planted at the name. */
  createTemp:
    fs.constants.O_WRONLY |
    fs.constants.O_CREAT |
    fs.constants.O_EXCL |
    // libuv adds O_CLOEXEC to every open() itself.
    optionalFlag('O_NOFOLLOW'),
  /** Opening a directory to fsync it. */
  directory: fs.constants.O_RDONLY | optionalFlag('O_DIRECTORY'),

  // toolkit (copyFile)
  /**
   * Opening the source of a copy: never blocks (a FIFO without a writer would block the
   * open forever) and never makes a terminal the controlling one; fstat() then refuses
   * anything but a regular file.
   */
  readSource: fs.constants.O_RDONLY | optionalFlag('O_NONBLOCK') | optionalFlag('O_NOCTTY'),
  /** Re-opening a temp file the kernel copy created, to fsync it; never through a symlink. */
  reopenTemp: fs.constants.O_WRONLY | optionalFlag('O_NOFOLLOW'),
  /**
   * The kernel copy into a temp name: O_EXCL (the copy refuses any existing name, a planted
   * symlink included), and a reflink when the file system can share the blocks.
   */
  copyExclusive: fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE,
  /** The kernel copy into an open temp file by its /proc/self/fd name: a reflink if it can. */
  copyIntoDescriptor: fs.constants.COPYFILE_FICLONE,
  // --- JSON and read-modify-write ---
  /**
   * Reading the current content of a file: as `readSource`, the open never blocks on a FIFO;
   * fstat() then refuses anything but a regular file (O_NONBLOCK does not change how a
   * regular file is read).
   */
  read: fs.constants.O_RDONLY | optionalFlag('O_NONBLOCK') | optionalFlag('O_NOCTTY'),
  /**
   * Opening an existing lock file (read-write: Linux grants a write lock only on a descriptor
   * open for writing); never through a symlink planted at its name.
   */
  lockFile: fs.constants.O_RDWR | optionalFlag('O_NOFOLLOW'),
  /** Creating a lock file, exclusively, so that only its creator gives it its mode and owner. */
  createLockFile:
    fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | optionalFlag('O_NOFOLLOW'),
  // --- extended attributes ---
  /**
   * Opening the file being replaced, only to read its extended attributes through the
   * descriptor: read-only, never through a symlink, never blocking.
   */
  readAttributes: fs.constants.O_RDONLY | optionalFlag('O_NOFOLLOW') | optionalFlag('O_NONBLOCK'),
} as const;

// ---- directories pinned by descriptor (writeDirectory, replaceSymlink, cleanupTemps) ----
// See src/engine/pinned-dir.ts. Kept in one block: nothing else in the seam depends on it.

/**
 * The effective user id. Read each time (a process may change it), and on the seam so that a
 * test can play an unprivileged user; the rules for directories other users can write apply
 * to it (see pinned-dir.ts).
 */
function realGeteuid(): number | undefined {
  return process.geteuid?.();
}

/**
 * Opening a directory to pin it by its descriptor: only a directory, and never through a
 * symlink at its name (the kernel then fails with ENOTDIR or ELOOP).
 */
export const pinFlags = {
  directory: fs.constants.O_RDONLY | optionalFlag('O_DIRECTORY') | optionalFlag('O_NOFOLLOW'),
} as const;

// ---- end of the pinned-directory block ----

// writeDirectory and replaceSymlink: the atomic exchange of two paths. Node has no
// renameat2; `fs-native-extensions` (prebuilt for Linux, macOS and Windows, no install
// script) provides it. It is loaded on first use, so that a platform without a prebuild
// loses only the exchange, never the whole library.

/**
 * The addon's exchange. Only a runtime that must not load it answers ENOSYS (no exchange
 * here, as a kernel without one answers): the callers may then fall back to two renames where
 * the caller allowed it. Any other failure to load is an error of this call — with its own
 * code when it has one (EMFILE), else `ERR_ATOMIC_NO_EXCHANGE` — and never a reason to fall
 * back: on Linux and macOS the exchange exists, and the next call loads the addon again.
 */
function nativeExchange(): NativeExchange {
  const loaded = loadNative();
  if (!('failed' in loaded)) return loaded;
  throw loadError(
    loaded,
    loaded.refused ? 'ENOSYS' : 'ERR_ATOMIC_NO_EXCHANGE',
    exchangeSyscall(),
    'atomic exchange unavailable',
  );
}

/**
 * The addon's extended-attribute calls. Where it cannot be loaded they fail: with the system
 * code of a failure of the moment (EMFILE: the next call loads again), else with
 * `ERR_ATOMIC_NO_XATTRS`, and `unavailable` tells why: `'runtime'` where the library never
 * loads it (Bun, Deno: a permanent property of the runtime), `'load'` where loading failed (a
 * missing prebuild): the policy of what that means for a replace is in xattrs.ts.
 */
function xattrs(): NativeXattrs {
  const loaded = loadNative();
  if (!('failed' in loaded)) return loaded;
  const error = loadError(
    loaded,
    'ERR_ATOMIC_NO_XATTRS',
    'flistxattr',
    'the ACL and extended attributes cannot be read or kept here; pass xattrs: false to replace files without them',
  );
  if (error.code !== 'ERR_ATOMIC_NO_XATTRS') throw error;
  throw Object.assign(error, { unavailable: loaded.refused ? 'runtime' : 'load' });
}

function exchangeSyscall(): string {
  return process.platform === 'darwin' ? 'renameatx_np' : 'renameat2';
}

/** The native module's errors carry only a code; give them Node's shape. */
function exchangeError(error: unknown, a: string, b: string): unknown {
  // Anything without a string code (not seen from the module) passes through unchanged.
  if (typeof error !== 'object' || error === null || !('code' in error)) return error;
  const { code } = error;
  if (typeof code !== 'string') return error;
  const detail = error instanceof Error ? error.message : 'exchange failed';
  const syscall = exchangeSyscall();
  return Object.assign(new Error(`${code}: ${detail}, ${syscall} '${a}' -> '${b}'`), {
    code,
    syscall,
    path: a,
    dest: b,
  });
}
// ---- crash-state explorer (src/audit) ----

/**
 * The explorer's own file access: snapshots of the audited directory, rebuilt crash states,
 * trace files, scratch directories. Deliberately outside `seam`: these calls are never
 * patched and never recorded, so the in-process recorder sees only the library's own calls.
 * Paths may be Buffers, so that names that are not UTF-8 survive.
 */
export const direct = {
  readdir: (path: fs.PathLike): Buffer[] => fs.readdirSync(path, { encoding: 'buffer' }),
  lstat: (path: fs.PathLike): fs.BigIntStats => fs.lstatSync(path, { bigint: true }),
  stat: (path: fs.PathLike): fs.BigIntStats => fs.statSync(path, { bigint: true }),
  readFile: (path: fs.PathLike): Buffer => fs.readFileSync(path),
  readlink: (path: fs.PathLike): Buffer => fs.readlinkSync(path, { encoding: 'buffer' }),
  realpath: (path: fs.PathLike): Buffer => fs.realpathSync.native(path, { encoding: 'buffer' }),
  mkdir: (path: fs.PathLike, mode: number): void => {
    fs.mkdirSync(path, { mode });
  },
  writeFile: (path: fs.PathLike, data: Uint8Array | string, mode?: number): void => {
    fs.writeFileSync(path, data, mode === undefined ? undefined : { mode });
  },
  chmod: (path: fs.PathLike, mode: number): void => {
    fs.chmodSync(path, mode);
  },
  symlink: (target: fs.PathLike, path: fs.PathLike): void => {
    fs.symlinkSync(target, path);
  },
  rm: (path: fs.PathLike): void => {
    fs.rmSync(path, { recursive: true, force: true });
  },
  mkdtemp: (prefix: string): string => fs.mkdtempSync(prefix),
  exists: (path: fs.PathLike): boolean => fs.existsSync(path),
} as const;

/** Open flags of this platform, to read the flags of recorded open() calls. */
export const openFlagBits = {
  O_WRONLY: fs.constants.O_WRONLY,
  O_RDWR: fs.constants.O_RDWR,
  O_CREAT: fs.constants.O_CREAT,
  O_EXCL: fs.constants.O_EXCL,
  O_TRUNC: fs.constants.O_TRUNC,
  O_APPEND: fs.constants.O_APPEND,
  O_DIRECTORY: optionalFlag('O_DIRECTORY'),
  O_SYNC: (fs.constants as Partial<Record<string, number>>).O_SYNC ?? 0,
  O_DSYNC: (fs.constants as Partial<Record<string, number>>).O_DSYNC ?? 0,
} as const;
