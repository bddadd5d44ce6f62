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
  readlink: (path: string) => string;
  realpath: (path: string) => string;
  mkdir: (path: string, mode: number) => void;
  rmdir: (path: string) => void;
  /** Waits; used only by the bounded rename retry on Windows. */
  sleep: (ms: number) => void;
  // toolkit (copyFile, cleanupTemps): kernel copy, reads from a source, directory listings.
  /** Copy by path with the kernel's copy (reflink, copy_file_range); `mode` is COPYFILE_* flags. */
  copyFile: (src: string, dest: string, mode: number) => void;
  /** Read into `buffer`; `position` null reads from the current offset. Returns bytes read. */
  read: (
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ) => number;
  /** Names in a directory (not `.` and `..`). */
  readdir: (path: string) => string[];
}

export type OpName = keyof Ops;

/** The same operations, returning promises. */
export type AsyncOps = {
  [K in OpName]: (...args: Parameters<Ops[K]>) => Promise<ReturnType<Ops[K]>>;
};

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

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
  // toolkit (copyFile, cleanupTemps)
  copyFile: (src, dest, mode) => {
    fs.copyFileSync(src, dest, mode);
  },
  read: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  readdir: (path) => fs.readdirSync(path),
};

function settle<T>(resolve: (value: T) => void, reject: (error: unknown) => void) {
  return (error: NodeJS.ErrnoException | null, value: T): void => {
    if (error === null) resolve(value);
    else reject(error);
  };
}

function done(resolve: () => void, reject: (error: unknown) => void) {
  return (error: NodeJS.ErrnoException | null): void => {
    if (error === null) resolve();
    else reject(error);
  };
}

// Callback API rather than fs/promises: raw descriptors (the library owns and closes each one
// exactly once) and one threadpool round trip per call without FileHandle bookkeeping.
const realAsync: AsyncOps = {
  open: (path, flags, mode) =>
    new Promise((resolve, reject) => {
      fs.open(path, flags, mode, settle(resolve, reject));
    }),
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
  readlink: (path) =>
    new Promise((resolve, reject) => {
      fs.readlink(path, settle(resolve, reject));
    }),
  realpath: (path) =>
    new Promise((resolve, reject) => {
      fs.realpath.native(path, settle(resolve, reject));
    }),
  mkdir: (path, mode) =>
    new Promise((resolve, reject) => {
      fs.mkdir(path, { mode }, (error) => {
        done(resolve, reject)(error);
      });
    }),
  rmdir: (path) =>
    new Promise((resolve, reject) => {
      fs.rmdir(path, done(resolve, reject));
    }),
  sleep: (ms) =>
    new Promise((resolve) => {
      setTimeout(resolve, ms);
    }),
  // toolkit (copyFile, cleanupTemps)
  copyFile: (src, dest, mode) =>
    new Promise((resolve, reject) => {
      fs.copyFile(src, dest, mode, done(resolve, reject));
    }),
  read: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) => {
      fs.read(fd, buffer, offset, length, position, settle(resolve, reject));
    }),
  readdir: (path) =>
    new Promise((resolve, reject) => {
      fs.readdir(path, settle(resolve, reject));
    }),
};

export interface Seam {
  /** Synchronous operations (writeFileSync, and every write run on the I/O thread). */
  sync: Ops;
  /** Asynchronous operations (everything run on the calling thread with `await`). */
  async: AsyncOps;
  /** The platform whose rules apply (tests simulate Windows by setting `'win32'`). */
  platform: NodeJS.Platform;
}

/** The live seam. Tests and the in-process crash recorder replace its members. */
export const seam: Seam = {
  sync: { ...realSync },
  async: { ...realAsync },
  platform: process.platform,
};

const opNames = Object.keys(realSync) as OpName[];

/** True when nothing in the seam is patched, so work may move to the I/O thread. */
export function isPristine(): boolean {
  if (seam.platform !== process.platform) return false;
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
}

/** A constant of `fs.constants` that some platforms lack (O_NOFOLLOW on Windows), or 0. */
function optionalFlag(name: 'O_NOFOLLOW' | 'O_DIRECTORY'): number {
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
  /** Opening the source of a copy. */
  readSource: fs.constants.O_RDONLY,
  /** Re-opening a temp file the kernel copy created, to fsync it; never through a symlink. */
  reopenTemp: fs.constants.O_WRONLY | optionalFlag('O_NOFOLLOW'),
  /**
   * The kernel copy into a temp name: O_EXCL (the copy refuses any existing name, a planted
   * symlink included), and a reflink when the file system can share the blocks.
   */
  copyExclusive: fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE,
} as const;
