/**
 * The in-process front end (any OS): patch the library's fs seam (src/engine/fs.ts) for the length
 * of one function, and turn each successful seam call into the logical operations of
 * model.ts through the same builder the strace front end uses. It sees exactly the calls
 * atomic-fs makes — nothing the function does with `node:fs` directly — which is what the
 * library's self-audit needs, and it works where strace does not.
 *
 * Patching the seam also keeps every call on the calling thread (the I/O thread only runs
 * while the seam is pristine), so no write escapes the recorder.
 */
import { type AsyncOps, type OpName, type Ops, direct, openFlagBits, seam } from '../engine/fs.js';
import { RecordingBuilder, type SyncToken, absolute } from './builder.js';
import { AuditSetupError } from './errors.js';
import { type Bytes, type NodeId, type Recording, bytesOf } from './model.js';
import type { Snapshot } from './snapshot.js';

interface OpenFile {
  readonly node: NodeId | undefined;
  pos: number;
  readonly append: boolean;
  readonly writable: boolean;
  readonly sync: boolean;
}

export interface RecordOptions {
  /** The audited directory (absolute, real path). */
  readonly root: Bytes;
  /** The same directory as the caller named it (before symlinks were resolved). */
  readonly alias: Bytes;
  readonly snapshot: Snapshot;
}

export interface InProcessRecording {
  readonly recording: Recording;
  /** What the function threw, if it did. */
  readonly error: unknown;
  readonly threw: boolean;
}

/** Umask of this process (modes of created files; content checks do not depend on it). */
function currentUmask(): number {
  const mask = process.umask(0o022);
  process.umask(mask);
  return mask;
}

class SeamRecorder {
  readonly builder: RecordingBuilder;
  readonly #options: RecordOptions;
  readonly #fds = new Map<number, OpenFile>();
  /** The path each open descriptor was opened on (as the model names it). */
  readonly #opened = new Map<number, Bytes>();
  readonly #umask = currentUmask();
  #calls = 0;

  constructor(options: RecordOptions) {
    this.#options = options;
    this.builder = new RecordingBuilder(
      'in-process',
      options.root,
      options.snapshot.state,
      options.snapshot.paths,
      options.snapshot.scope,
    );
  }

  #path(path: string): Bytes {
    const abs = this.#throughDescriptor(path) ?? absolute(bytesOf(process.cwd()), bytesOf(path));
    const { alias, root } = this.#options;
    if (alias !== root) {
      if (abs === alias) return root;
      if (abs.startsWith(`${alias}/`)) return root + abs.slice(alias.length);
    }
    return abs;
  }

  /**
   * A path through a directory descriptor, `/proc/self/fd/<fd>/<name>` (how the library names
   * an entry of a pinned directory, see src/engine/pinned-dir.ts): that entry of the directory the
   * descriptor was opened on. `undefined` for any other path.
   */
  #throughDescriptor(path: string): Bytes | undefined {
    const match = /^\/proc\/self\/fd\/(\d+)(\/.*)?$/.exec(path);
    if (match === null) return undefined;
    const base = this.#opened.get(Number(match[1]));
    if (base === undefined) return undefined;
    return absolute(base, bytesOf(`.${match[2] ?? ''}`));
  }

  #where(name: string): void {
    this.#calls += 1;
    this.builder.where = `seam call ${this.#calls} (${name})`;
  }

  opened(path: string, flags: number, mode: number, fd: number): void {
    this.#where('open');
    const bits = openFlagBits;
    const writable = (flags & (bits.O_WRONLY | bits.O_RDWR)) !== 0;
    const exclusive = (flags & bits.O_EXCL) !== 0;
    this.#opened.set(fd, this.#path(path));
    const node = this.builder.open(
      this.#path(path),
      {
        create: (flags & bits.O_CREAT) !== 0,
        exclusive,
        truncate: (flags & bits.O_TRUNC) !== 0,
        write: writable,
        tmpfile: false,
        noFollow: exclusive,
      },
      mode & ~this.#umask & 0o7777,
    );
    this.#fds.set(fd, {
      node,
      pos: 0,
      append: (flags & bits.O_APPEND) !== 0,
      writable,
      sync: bits.O_DSYNC !== 0 && (flags & bits.O_DSYNC) !== 0,
    });
  }

  wrote(fd: number, buffer: Uint8Array, offset: number, written: number): void {
    this.#where('write');
    const file = this.#fds.get(fd);
    if (file === undefined) return;
    const node = file.node;
    const at = file.append && node !== undefined ? this.builder.sizeOf(node) : file.pos;
    if (node !== undefined && written > 0) {
      // A copy: callers reuse their buffers (the staged writer does).
      this.builder.write(node, at, buffer.slice(offset, offset + written));
      if (file.sync) this.builder.fsync(node, true);
    }
    file.pos = at + written;
  }

  closing(fd: number): void {
    this.#where('close');
    const file = this.#fds.get(fd);
    this.#fds.delete(fd);
    this.#opened.delete(fd);
    if (file?.writable === true && file.node !== undefined) this.builder.close(file.node);
  }

  /** An fsync starts: it covers only what finished before. */
  syncStart(): SyncToken {
    return this.builder.beginSync();
  }

  /** It finished (`ok` false: it failed, and covers nothing). */
  synced(fd: number, token: SyncToken, ok: boolean): void {
    this.#where('fsync');
    const node = ok ? this.#fds.get(fd)?.node : undefined;
    this.builder.endSync(token, node, false);
  }

  chmod(fd: number, mode: number): void {
    this.#where('fchmod');
    const node = this.#fds.get(fd)?.node;
    if (node !== undefined) this.builder.chmod(node, mode);
  }

  chown(fd: number, uid: number, gid: number): void {
    this.#where('fchown');
    const node = this.#fds.get(fd)?.node;
    if (node !== undefined) this.builder.chown(node, uid, gid);
  }

  renamed(from: string, to: string): void {
    this.#where('rename');
    this.builder.rename(this.#path(from), this.#path(to));
  }

  linked(existing: string, to: string): void {
    this.#where('link');
    this.builder.link(this.#path(existing), this.#path(to));
  }

  unlinked(path: string): void {
    this.#where('unlink');
    this.builder.unlink(this.#path(path));
  }

  made(path: string, mode: number): void {
    this.#where('mkdir');
    this.builder.mkdir(this.#path(path), mode & ~this.#umask & 0o7777);
  }

  /**
   * A kernel copy into a new file (libuv's copyfile: an exclusive create with the source's
   * mode, then FICLONE, copy_file_range or sendfile): a create and one write of the bytes
   * the copy produced, read back from the new file.
   */
  copied(dest: string, src: string): void {
    this.#where('copyFile');
    const into = /^\/proc\/self\/fd\/(\d+)$/.exec(dest);
    if (into !== null) {
      this.#copiedInto(Number(into[1]), dest, src);
      return;
    }
    const path = this.#path(dest);
    const stats = direct.lstat(dest);
    const node = this.builder.open(
      path,
      {
        create: true,
        exclusive: true,
        truncate: false,
        write: true,
        tmpfile: false,
        noFollow: true,
      },
      Number(stats.mode) & 0o7777,
    );
    if (node === undefined) return;
    // libuv gives the copy the source's mode with fchmod() before copying the bytes.
    this.builder.chmod(node, Number(stats.mode) & 0o7777);
    const data = direct.readFile(dest);
    if (data.length > 0) this.builder.write(node, 0, new Uint8Array(data));
    this.builder.close(node);
  }

  /**
   * A kernel copy into a file this process holds open, by its descriptor's /proc/self/fd name
   * (libuv re-opens it for writing, truncates it, gives it the source's mode, copies, closes):
   * the same operations the strace front end sees, on that file's node.
   */
  #copiedInto(fd: number, dest: string, src: string): void {
    const node = this.#fds.get(fd)?.node;
    if (node === undefined) return;
    const path = this.builder.pathOf(node);
    this.builder.open(
      path,
      {
        create: true,
        exclusive: false,
        truncate: false,
        write: true,
        tmpfile: false,
        noFollow: true,
      },
      0,
    );
    this.builder.truncate(node, 0);
    this.builder.chmod(node, Number(direct.stat(src).mode) & 0o7777);
    const data = direct.readFile(dest);
    if (data.length > 0) this.builder.write(node, 0, new Uint8Array(data));
    this.builder.close(node);
  }

  symlinked(target: string, path: string): void {
    this.#where('symlink');
    this.builder.symlink(bytesOf(target), this.#path(path));
  }

  swapped(a: string, b: string): void {
    this.#where('swap');
    this.builder.rename(this.#path(a), this.#path(b), true);
  }
}

/**
 * Seam operations that change nothing on disk (or nothing the model keeps: advisory locks
 * live in memory), passed through unrecorded. Every other operation must be recorded below;
 * one that is neither makes a recording fail loudly rather than miss writes silently.
 */
export const PASSIVE_OPS: ReadonlySet<OpName> = new Set<OpName>([
  'fstat',
  'lstat',
  'stat',
  'readlink',
  'realpath',
  'read',
  'readdir',
  'sleep',
  'tryLock',
  'waitForLock',
  'unlock',
  // Extended attributes: metadata the model does not keep (like owners' ACLs).
  'listXattrs',
  'getXattr',
  'setXattr',
  'removeXattr',
]);

function unmodelled(name: string): never {
  throw new AuditSetupError(
    `the fs seam operation '${name}' is not modelled by the in-process recorder`,
  );
}

/** Refuse every operation of `real` that is neither recorded (in `recorded`) nor passive. */
function guarded<T extends Ops | AsyncOps>(real: T, recorded: Partial<T>): T {
  const result: Record<string, unknown> = { ...real };
  for (const name of Object.keys(real) as OpName[]) {
    if (name in recorded) result[name] = recorded[name];
    else if (!PASSIVE_OPS.has(name)) result[name] = () => unmodelled(name);
  }
  return result as T;
}

/** Set while a function is being recorded: the seam records one at a time. */
let recording = false;

/** Seam operations the recorder wraps; the others pass through unrecorded. */
function wrapSync(real: Ops, recorder: SeamRecorder): Ops {
  return guarded(real, {
    copyFile: (src, dest, mode) => {
      real.copyFile(src, dest, mode);
      recorder.copied(dest, src);
    },
    symlink: (target, path) => {
      real.symlink(target, path);
      recorder.symlinked(target, path);
    },
    swap: (a, b) => {
      real.swap(a, b);
      recorder.swapped(a, b);
    },
    open: (path, flags, mode) => {
      const fd = real.open(path, flags, mode);
      recorder.opened(path, flags, mode, fd);
      return fd;
    },
    write: (fd, buffer, offset, length) => {
      const written = real.write(fd, buffer, offset, length);
      recorder.wrote(fd, buffer, offset, written);
      return written;
    },
    close: (fd) => {
      recorder.closing(fd);
      real.close(fd);
    },
    fsync: (fd) => {
      const token = recorder.syncStart();
      try {
        real.fsync(fd);
      } catch (error) {
        recorder.synced(fd, token, false);
        throw error;
      }
      recorder.synced(fd, token, true);
    },
    fchmod: (fd, mode) => {
      real.fchmod(fd, mode);
      recorder.chmod(fd, mode);
    },
    fchown: (fd, uid, gid) => {
      real.fchown(fd, uid, gid);
      recorder.chown(fd, uid, gid);
    },
    rename: (from, to) => {
      real.rename(from, to);
      recorder.renamed(from, to);
    },
    link: (existing, newPath) => {
      real.link(existing, newPath);
      recorder.linked(existing, newPath);
    },
    unlink: (path) => {
      real.unlink(path);
      recorder.unlinked(path);
    },
    mkdir: (path, mode) => {
      real.mkdir(path, mode);
      recorder.made(path, mode);
    },
    rmdir: (path) => {
      real.rmdir(path);
      recorder.unlinked(path);
    },
  });
}

function wrapAsync(real: AsyncOps, recorder: SeamRecorder): AsyncOps {
  return guarded(real, {
    copyFile: async (src, dest, mode) => {
      await real.copyFile(src, dest, mode);
      recorder.copied(dest, src);
    },
    symlink: async (target, path) => {
      await real.symlink(target, path);
      recorder.symlinked(target, path);
    },
    swap: async (a, b) => {
      await real.swap(a, b);
      recorder.swapped(a, b);
    },
    open: async (path, flags, mode) => {
      const fd = await real.open(path, flags, mode);
      recorder.opened(path, flags, mode, fd);
      return fd;
    },
    write: async (fd, buffer, offset, length) => {
      const written = await real.write(fd, buffer, offset, length);
      recorder.wrote(fd, buffer, offset, written);
      return written;
    },
    close: (fd) => {
      recorder.closing(fd);
      return real.close(fd);
    },
    fsync: async (fd) => {
      const token = recorder.syncStart();
      try {
        await real.fsync(fd);
      } catch (error) {
        recorder.synced(fd, token, false);
        throw error;
      }
      recorder.synced(fd, token, true);
    },
    fchmod: async (fd, mode) => {
      await real.fchmod(fd, mode);
      recorder.chmod(fd, mode);
    },
    fchown: async (fd, uid, gid) => {
      await real.fchown(fd, uid, gid);
      recorder.chown(fd, uid, gid);
    },
    rename: async (from, to) => {
      await real.rename(from, to);
      recorder.renamed(from, to);
    },
    link: async (existing, newPath) => {
      await real.link(existing, newPath);
      recorder.linked(existing, newPath);
    },
    unlink: async (path) => {
      await real.unlink(path);
      recorder.unlinked(path);
    },
    mkdir: async (path, mode) => {
      await real.mkdir(path, mode);
      recorder.made(path, mode);
    },
    rmdir: async (path) => {
      await real.rmdir(path);
      recorder.unlinked(path);
    },
  });
}

/**
 * Run `fn` with the seam recorded. When it returns (or its promise resolves) the program
 * "reports done"; if it throws, the recording has no done point and the error is returned.
 */
export async function recordInProcess(
  fn: () => unknown,
  options: RecordOptions,
): Promise<InProcessRecording> {
  if (recording) {
    throw new AuditSetupError(
      'another in-process audit is running: the fs seam records one function at a time',
    );
  }
  recording = true;
  const recorder = new SeamRecorder(options);
  const previous = { sync: seam.sync, async: seam.async };
  seam.sync = wrapSync(previous.sync, recorder);
  seam.async = wrapAsync(previous.async, recorder);
  let error: unknown;
  let threw = false;
  try {
    await fn();
    recorder.builder.where = 'the audited function returned';
    recorder.builder.done();
  } catch (caught) {
    error = caught;
    threw = true;
  } finally {
    seam.sync = previous.sync;
    seam.async = previous.async;
    recording = false;
  }
  return { recording: recorder.builder.finish(threw ? 1 : 0), error, threw };
}
