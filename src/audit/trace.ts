/**
 * The strace front end (Linux): run a command under `strace -f`, then turn the trace into the
 * logical operations of model.ts. Descriptors are followed across threads (shared table with
 * CLONE_FILES), forks (copied table, shared open file descriptions and offsets), dup/dup2/
 * dup3/fcntl(F_DUPFD), close-on-exec, and chdir; file offsets are tracked through write,
 * read, lseek and O_APPEND. The command runs with `UV_USE_IO_URING=0` (libuv's io_uring
 * would hide Node's file calls from strace), and strace makes every `io_uring_setup` fail
 * with ENOSYS: libuv 1.49+ (Node 22, 24) sets up a ring for epoll batching whatever the
 * variable says, and other programs may use io_uring for files. A trace in which io_uring
 * still works is refused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { AUDIT_STRACE_STRING_BYTES } from './constants.js';
import { direct } from '../engine/fs.js';
import { type OpenIntent, RecordingBuilder, absolute } from './builder.js';
import { AuditSetupError } from './errors.js';
import { type Bytes, type NodeId, type Recording, bufferOf, display } from './model.js';
import type { Snapshot } from './snapshot.js';
import {
  type Syscall,
  type TraceProblems,
  type Value,
  boxed,
  field,
  flagsOf,
  numberOf,
  readSyscalls,
  word,
} from './strace-syntax.js';

/** System calls traced: everything that changes files, moves descriptors, or forks. */
const TRACED_SYSCALLS = [
  'open',
  'openat',
  'openat2',
  'creat',
  'write',
  'pwrite64',
  'writev',
  'pwritev',
  'pwritev2',
  'sendfile',
  'copy_file_range',
  'splice',
  'ioctl',
  'read',
  'readv',
  'lseek',
  'ftruncate',
  'truncate',
  'fallocate',
  'fsync',
  'fdatasync',
  'sync',
  'syncfs',
  'sync_file_range',
  'msync',
  'rename',
  'renameat',
  'renameat2',
  'link',
  'linkat',
  'symlink',
  'symlinkat',
  'unlink',
  'unlinkat',
  'mkdir',
  'mkdirat',
  'rmdir',
  'chmod',
  'fchmod',
  'fchmodat',
  'chown',
  'lchown',
  'fchown',
  'fchownat',
  'close',
  'close_range',
  'dup',
  'dup2',
  'dup3',
  'fcntl',
  'mmap',
  'clone',
  'clone3',
  'fork',
  'vfork',
  'execve',
  'execveat',
  'chdir',
  'fchdir',
  'exit_group',
  'io_submit',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
] as const;

/** An open file description: shared by dup'ed descriptors and across fork. */
interface OpenFile {
  readonly node: NodeId | undefined;
  /** Absolute path when opened (for relative lookups through a directory descriptor). */
  readonly path: Bytes | undefined;
  pos: number;
  append: boolean;
  readonly writable: boolean;
  readonly sync: boolean;
  /** Descriptors (in all processes) referring to it. */
  refs: number;
}

interface Descriptor {
  readonly file: OpenFile;
  cloexec: boolean;
}

type FdTable = Map<number, Descriptor>;

interface Process {
  fds: FdTable;
  cwd: { path: Bytes };
}

export interface ParseOptions {
  /** The audited directory (absolute, real path). */
  readonly root: Bytes;
  /** The same directory as the user named it, if its path differs (symlinks in it). */
  readonly alias?: Bytes | undefined;
  /** The command's working directory (absolute). */
  readonly cwd: Bytes;
  readonly snapshot: Snapshot;
  readonly exitCode: number | undefined;
  /** The umask of the traced command, for the modes of files it creates. */
  readonly umask?: number | undefined;
  /** The content of a file at the end of the run (for data not shown in the trace). */
  readonly readFinal?: ((path: Bytes) => Uint8Array | undefined) | undefined;
}

function syscallWords(call: Syscall): string {
  return `${call.name} (strace line ${call.line}${call.endLine === call.line ? '' : `–${call.endLine}`}, pid ${call.pid})`;
}

/** The effect of a call happens where it started (close, fork, sync) or where it finished. */
function effectLine(call: Syscall): number {
  switch (call.name) {
    case 'close':
    case 'close_range':
    case 'clone':
    case 'clone3':
    case 'fork':
    case 'vfork':
    case 'fsync':
    case 'fdatasync':
    case 'sync':
    case 'syncfs':
      return call.line;
    default:
      return call.endLine;
  }
}

class TraceInterpreter {
  readonly #b: RecordingBuilder;
  readonly #options: ParseOptions;
  readonly #procs = new Map<number, Process>();
  readonly #umask: number;
  #syncFileRange = false;

  constructor(options: ParseOptions) {
    this.#options = options;
    this.#b = new RecordingBuilder(
      'strace',
      options.root,
      options.snapshot.state,
      options.snapshot.paths,
      options.snapshot.scope,
    );
    this.#umask = options.umask ?? 0o022;
  }

  get builder(): RecordingBuilder {
    return this.#b;
  }

  #proc(pid: number): Process {
    let proc = this.#procs.get(pid);
    if (proc === undefined) {
      proc = { fds: new Map(), cwd: { path: this.#options.cwd } };
      this.#procs.set(pid, proc);
    }
    return proc;
  }

  /** Map the user's spelling of the audited directory to its real path. */
  #real(path: Bytes): Bytes {
    const alias = this.#options.alias;
    if (alias !== undefined && alias !== this.#options.root) {
      if (path === alias) return this.#options.root;
      if (path.startsWith(`${alias}/`)) return this.#options.root + path.slice(alias.length);
    }
    return path;
  }

  #descriptor(proc: Process, value: Value | undefined): Descriptor | undefined {
    const fd = numberOf(value);
    if (fd === undefined) return undefined;
    const known = proc.fds.get(fd);
    if (known !== undefined) return known;
    // A descriptor inherited from before the trace: use strace's -y path.
    const path = value?.t === 'word' ? value.path : undefined;
    if (path === undefined || !path.startsWith('/')) return undefined;
    const real = this.#real(path);
    const file: OpenFile = {
      node: this.#b.nodeAt(real),
      path: real,
      pos: 0,
      append: false,
      writable: true,
      sync: false,
      refs: 1,
    };
    const descriptor = { file, cloexec: false };
    proc.fds.set(fd, descriptor);
    return descriptor;
  }

  /** An absolute path from a (dirfd, path) pair. */
  #path(proc: Process, dirfd: Value | undefined, path: Value | undefined): Bytes | undefined {
    if (path?.t !== 'str') return undefined;
    const pinned = this.#throughDescriptor(proc, path.bytes);
    if (pinned !== undefined) return pinned;
    if (path.bytes.startsWith('/')) return this.#real(absolute('/', path.bytes));
    let base: Bytes | undefined;
    if (dirfd === undefined || word(dirfd) === 'AT_FDCWD') {
      base = dirfd?.t === 'word' && dirfd.path !== undefined ? dirfd.path : proc.cwd.path;
    } else {
      base = this.#descriptor(proc, dirfd)?.file.path;
      if (base === undefined && dirfd.t === 'word') base = dirfd.path;
    }
    if (base === undefined) return undefined;
    return this.#real(absolute(base, path.bytes));
  }

  /**
   * A path through a directory descriptor, `/proc/self/fd/<fd>/<name>` (the library's own way
   * to name an entry of a pinned directory, see src/engine/pinned-dir.ts): the entry of the
   * directory that descriptor was opened on. `undefined` for any other path.
   */
  #throughDescriptor(proc: Process, path: Bytes): Bytes | undefined {
    const match = /^\/proc\/(?:self|thread-self)\/fd\/(\d+)(\/.*)?$/.exec(path);
    if (match === null) return undefined;
    const base = proc.fds.get(Number(match[1]))?.file.path;
    if (base === undefined) return undefined;
    return absolute(base, `.${match[2] ?? ''}`);
  }

  #install(proc: Process, fd: number, descriptor: Descriptor): void {
    this.#release(proc, fd);
    descriptor.file.refs += 1;
    proc.fds.set(fd, descriptor);
  }

  #release(proc: Process, fd: number): void {
    const descriptor = proc.fds.get(fd);
    if (descriptor === undefined) return;
    proc.fds.delete(fd);
    const file = descriptor.file;
    file.refs -= 1;
    if (file.refs <= 0 && file.writable && file.node !== undefined) this.#b.close(file.node);
  }

  #open(
    proc: Process,
    call: Syscall,
    dirfd: Value | undefined,
    pathValue: Value | undefined,
    flags: Set<string>,
    modeValue: Value | undefined,
  ): void {
    const fd = call.result.value;
    if (fd === undefined || fd < 0) return;
    const given = this.#path(proc, dirfd, pathValue);
    const opened = call.result.path;
    const path =
      opened !== undefined && opened.startsWith('/') && !flags.has('O_TMPFILE')
        ? this.#real(opened)
        : given;
    const writable = flags.has('O_WRONLY') || flags.has('O_RDWR');
    const intent: OpenIntent = {
      create: flags.has('O_CREAT'),
      exclusive: flags.has('O_EXCL'),
      truncate: flags.has('O_TRUNC'),
      write: writable,
      tmpfile: flags.has('O_TMPFILE'),
      noFollow: true,
    };
    const mode = (numberOf(modeValue) ?? 0o666) & ~this.#umask & 0o7777;
    const node = path === undefined ? undefined : this.#b.open(path, intent, mode);
    const file: OpenFile = {
      node,
      path: flags.has('O_TMPFILE') ? given : path,
      pos: 0,
      append: flags.has('O_APPEND'),
      writable,
      sync: flags.has('O_SYNC') || flags.has('O_DSYNC'),
      refs: 0,
    };
    this.#install(proc, fd, { file, cloexec: flags.has('O_CLOEXEC') });
  }

  /** Apply a write of `data` (or of `length` unseen bytes) through a descriptor. */
  #write(
    file: OpenFile,
    offset: number | undefined,
    data: Uint8Array | undefined,
    length: number,
  ): void {
    const node = file.node;
    const at = offset ?? (file.append && node !== undefined ? this.#b.sizeOf(node) : file.pos);
    if (node !== undefined && length > 0) {
      this.#b.write(node, at, data === undefined ? undefined : data.subarray(0, length), length);
      if (file.sync) this.#b.fsync(node, true);
    }
    if (offset === undefined) file.pos = at + length;
  }

  #bytes(values: readonly Value[]): { data: Uint8Array; complete: boolean } {
    let text = '';
    let complete = true;
    for (const value of values) {
      if (value.t !== 'str') {
        complete = false;
        continue;
      }
      text += value.bytes;
      if (value.truncated) complete = false;
    }
    return { data: new Uint8Array(Buffer.from(text, 'latin1')), complete };
  }

  #iovecs(value: Value | undefined): Value[] {
    if (value?.t !== 'list') return [];
    const out: Value[] = [];
    for (const item of value.items) {
      const base = field(item, 'iov_base');
      if (base !== undefined) out.push(base);
      else if (item.t === 'word' && item.text === '...') out.push({ t: 'word', text: '...' });
    }
    return out;
  }

  /** Text written to standard output (for `--done-marker`). */
  #mark(fdValue: Value | undefined, data: Uint8Array): void {
    if (numberOf(fdValue) === 1) this.#b.mark(Buffer.from(data).toString('utf8'));
  }

  /** Apply one complete call. */
  apply(call: Syscall): void {
    const { name, args, result } = call;
    this.#b.where = syscallWords(call);
    const proc = this.#proc(call.pid);
    // A failed io_uring_setup (the ENOSYS strace injects) leaves no ring: nothing is hidden.
    if (name.startsWith('io_uring') && (result.value === undefined || result.value >= 0)) {
      throw new AuditSetupError(
        `the command uses io_uring (${name} at strace line ${call.line}): its file operations are invisible to strace, so it cannot be audited`,
      );
    }
    if (name === 'exit_group') {
      // The process ends: the kernel closes every descriptor it still holds.
      for (const fd of [...proc.fds.keys()]) this.#release(proc, fd);
      return;
    }
    const ok = result.value !== undefined && result.value >= 0;
    // close releases the descriptor whatever it returns.
    if (!ok && name !== 'close') return;
    const value = result.value ?? 0;
    switch (name) {
      case 'open':
        this.#open(proc, call, undefined, args[0], flagsOf(args[1]), args[2]);
        return;
      case 'creat':
        this.#open(
          proc,
          call,
          undefined,
          args[0],
          new Set(['O_CREAT', 'O_WRONLY', 'O_TRUNC']),
          args[1],
        );
        return;
      case 'openat':
        this.#open(proc, call, args[0], args[1], flagsOf(args[2]), args[3]);
        return;
      case 'openat2':
        this.#open(
          proc,
          call,
          args[0],
          args[1],
          flagsOf(field(args[2], 'flags')),
          field(args[2], 'mode'),
        );
        return;
      case 'write':
      case 'pwrite64': {
        const descriptor = this.#descriptor(proc, args[0]);
        const { data, complete } = this.#bytes(args[1] === undefined ? [] : [args[1]]);
        this.#mark(args[0], data);
        if (descriptor === undefined) return;
        const offset = name === 'pwrite64' ? numberOf(args[3]) : undefined;
        this.#write(
          descriptor.file,
          offset,
          complete || data.length >= value ? data : undefined,
          value,
        );
        return;
      }
      case 'writev':
      case 'pwritev':
      case 'pwritev2': {
        const descriptor = this.#descriptor(proc, args[0]);
        const { data, complete } = this.#bytes(this.#iovecs(args[1]));
        this.#mark(args[0], data);
        if (descriptor === undefined) return;
        let offset = name === 'writev' ? undefined : numberOf(args[3]);
        if (offset === -1) offset = undefined;
        this.#write(
          descriptor.file,
          offset,
          complete || data.length >= value ? data : undefined,
          value,
        );
        return;
      }
      case 'sendfile': {
        const out = this.#descriptor(proc, args[0]);
        const input = this.#descriptor(proc, args[1]);
        const explicit = boxed(args[2]);
        const from = explicit ?? input?.file.pos ?? 0;
        if (explicit === undefined && input !== undefined) input.file.pos += value;
        this.#copy(out?.file, undefined, input?.file.node, from, value, name);
        return;
      }
      case 'copy_file_range': {
        const input = this.#descriptor(proc, args[0]);
        const out = this.#descriptor(proc, args[2]);
        const inOffset = boxed(args[1]);
        const outOffset = boxed(args[3]);
        const from = inOffset ?? input?.file.pos ?? 0;
        if (inOffset === undefined && input !== undefined) input.file.pos += value;
        this.#copy(out?.file, outOffset, input?.file.node, from, value, name);
        return;
      }
      case 'splice': {
        const out = this.#descriptor(proc, args[2]);
        this.#copy(out?.file, boxed(args[3]), undefined, 0, value, name);
        return;
      }
      case 'ioctl': {
        // A reflink (libuv's copyfile with COPYFILE_FICLONE on btrfs, XFS): the whole source
        // becomes the destination's data. Every other ioctl changes no file content.
        // strace may print the request as `BTRFS_IOC_CLONE or FICLONE` (one number, two
        // names): the source descriptor is the last argument.
        const request = args
          .slice(1, -1)
          .map((arg) => word(arg) ?? '')
          .join(' ');
        if (!/\b(FICLONE|BTRFS_IOC_CLONE)\b/.test(request)) return;
        const out = this.#descriptor(proc, args[0]);
        const input = this.#descriptor(proc, args.at(-1));
        const source = input?.file.node;
        const length = source === undefined ? 0 : this.#b.sizeOf(source);
        this.#copy(out?.file, 0, source, 0, length, name);
        return;
      }
      case 'read':
      case 'readv': {
        const descriptor = this.#descriptor(proc, args[0]);
        if (descriptor !== undefined) descriptor.file.pos += value;
        return;
      }
      case 'lseek': {
        const descriptor = this.#descriptor(proc, args[0]);
        if (descriptor !== undefined) descriptor.file.pos = value;
        return;
      }
      case 'ftruncate': {
        const node = this.#descriptor(proc, args[0])?.file.node;
        const size = numberOf(args[1]);
        if (node !== undefined && size !== undefined) this.#b.truncate(node, size);
        return;
      }
      case 'truncate': {
        const path = this.#path(proc, undefined, args[0]);
        const node = path === undefined ? undefined : this.#b.nodeAt(path);
        const size = numberOf(args[1]);
        if (node !== undefined && size !== undefined) this.#b.truncate(node, size);
        return;
      }
      case 'fallocate': {
        const node = this.#descriptor(proc, args[0])?.file.node;
        if (node === undefined) return;
        const mode = numberOf(args[1]) ?? -1;
        const end = (numberOf(args[2]) ?? 0) + (numberOf(args[3]) ?? 0);
        if (mode === 0) {
          if (end > this.#b.sizeOf(node)) this.#b.truncate(node, end);
        } else {
          this.#b.note(
            `fallocate with mode ${word(args[1]) ?? '?'} on ${display(this.#b.pathOf(node))} is not modelled (${syscallWords(call)})`,
          );
        }
        return;
      }
      case 'fsync':
      case 'fdatasync': {
        const node = this.#descriptor(proc, args[0])?.file.node;
        if (node !== undefined) this.#b.fsync(node, name === 'fdatasync');
        return;
      }
      case 'sync':
        this.#b.sync();
        return;
      case 'syncfs': {
        const file = this.#descriptor(proc, args[0])?.file;
        if (file?.path !== undefined && this.#b.relative(file.path) !== undefined) this.#b.sync();
        return;
      }
      case 'sync_file_range': {
        const node = this.#descriptor(proc, args[0])?.file.node;
        if (node !== undefined && !this.#syncFileRange) {
          this.#syncFileRange = true;
          this.#b.note(
            `sync_file_range on ${display(this.#b.pathOf(node))} is not a durability barrier (no metadata, no disk cache flush): it is not treated as a sync`,
          );
        }
        return;
      }
      case 'msync':
        return;
      case 'io_submit':
        this.#b.note(
          `the command submits Linux AIO requests (${syscallWords(call)}): their writes are not visible to strace and are not modelled`,
        );
        return;
      case 'mmap': {
        const prot = flagsOf(args[2]);
        const flags = flagsOf(args[3]);
        const node = this.#descriptor(proc, args[4])?.file.node;
        if (node !== undefined && prot.has('PROT_WRITE') && flags.has('MAP_SHARED')) {
          this.#b.unmodelled(this.#b.pathOf(node));
          this.#b.note(
            `${display(this.#b.pathOf(node))} is mapped shared and writable (${syscallWords(call)}): writes through the mapping are not visible to the audit`,
          );
        }
        return;
      }
      case 'rename':
        this.#rename(proc, undefined, args[0], undefined, args[1], new Set());
        return;
      case 'renameat':
        this.#rename(proc, args[0], args[1], args[2], args[3], new Set());
        return;
      case 'renameat2':
        this.#rename(proc, args[0], args[1], args[2], args[3], flagsOf(args[4]));
        return;
      case 'link':
        this.#link(proc, undefined, args[0], undefined, args[1], new Set());
        return;
      case 'linkat':
        this.#link(proc, args[0], args[1], args[2], args[3], flagsOf(args[4]));
        return;
      case 'symlink':
      case 'symlinkat': {
        const target = args[0];
        const path =
          name === 'symlink'
            ? this.#path(proc, undefined, args[1])
            : this.#path(proc, args[1], args[2]);
        if (target?.t === 'str' && path !== undefined) this.#b.symlink(target.bytes, path);
        return;
      }
      case 'unlink':
      case 'rmdir': {
        const path = this.#path(proc, undefined, args[0]);
        if (path !== undefined) this.#b.unlink(path);
        return;
      }
      case 'unlinkat': {
        const path = this.#path(proc, args[0], args[1]);
        if (path !== undefined) this.#b.unlink(path);
        return;
      }
      case 'mkdir':
      case 'mkdirat': {
        const path =
          name === 'mkdir'
            ? this.#path(proc, undefined, args[0])
            : this.#path(proc, args[0], args[1]);
        const mode = numberOf(name === 'mkdir' ? args[1] : args[2]) ?? 0o777;
        if (path !== undefined) this.#b.mkdir(path, mode & ~this.#umask & 0o7777);
        return;
      }
      case 'chmod':
      case 'fchmodat': {
        const path =
          name === 'chmod'
            ? this.#path(proc, undefined, args[0])
            : this.#path(proc, args[0], args[1]);
        const node = path === undefined ? undefined : this.#b.nodeAt(path);
        const mode = numberOf(name === 'chmod' ? args[1] : args[2]);
        if (node !== undefined && mode !== undefined) this.#b.chmod(node, mode);
        return;
      }
      case 'fchmod': {
        const node = this.#descriptor(proc, args[0])?.file.node;
        const mode = numberOf(args[1]);
        if (node !== undefined && mode !== undefined) this.#b.chmod(node, mode);
        return;
      }
      case 'chown':
      case 'lchown':
      case 'fchownat': {
        const path =
          name === 'fchownat'
            ? this.#path(proc, args[0], args[1])
            : this.#path(proc, undefined, args[0]);
        const node = path === undefined ? undefined : this.#b.nodeAt(path, name === 'chown');
        const ids = name === 'fchownat' ? args.slice(2) : args.slice(1);
        if (node !== undefined) this.#b.chown(node, numberOf(ids[0]) ?? -1, numberOf(ids[1]) ?? -1);
        return;
      }
      case 'fchown': {
        const node = this.#descriptor(proc, args[0])?.file.node;
        if (node !== undefined)
          this.#b.chown(node, numberOf(args[1]) ?? -1, numberOf(args[2]) ?? -1);
        return;
      }
      case 'close': {
        const fd = numberOf(args[0]);
        if (fd !== undefined) this.#release(proc, fd);
        return;
      }
      case 'close_range': {
        const first = numberOf(args[0]) ?? 0;
        const last = Math.min(numberOf(args[1]) ?? first, 1 << 20);
        const cloexec = flagsOf(args[2]).has('CLOSE_RANGE_CLOEXEC');
        for (const fd of [...proc.fds.keys()]) {
          if (fd < first || fd > last) continue;
          const descriptor = proc.fds.get(fd);
          if (cloexec && descriptor !== undefined) descriptor.cloexec = true;
          else this.#release(proc, fd);
        }
        return;
      }
      case 'dup':
      case 'dup2':
      case 'dup3': {
        const descriptor = this.#descriptor(proc, args[0]);
        if (descriptor === undefined || value === numberOf(args[0])) return;
        const cloexec = name === 'dup3' && flagsOf(args[2]).has('O_CLOEXEC');
        this.#install(proc, value, { file: descriptor.file, cloexec });
        return;
      }
      case 'fcntl':
        this.#fcntl(proc, args, value);
        return;
      case 'clone':
      case 'clone3':
      case 'fork':
      case 'vfork': {
        const flags =
          name === 'clone'
            ? flagsOf(field({ t: 'list', open: '{', items: args }, 'flags'))
            : name === 'clone3'
              ? flagsOf(field(args[0], 'flags'))
              : new Set<string>();
        this.#fork(proc, value, flags);
        return;
      }
      case 'execve':
      case 'execveat': {
        // The new program gets its own table, without close-on-exec descriptors.
        const fds: FdTable = new Map();
        for (const [fd, descriptor] of proc.fds) {
          if (descriptor.cloexec) this.#release(proc, fd);
          else fds.set(fd, descriptor);
        }
        proc.fds = fds;
        return;
      }
      case 'chdir': {
        const path = this.#path(proc, undefined, args[0]);
        if (path !== undefined) proc.cwd.path = path;
        return;
      }
      case 'fchdir': {
        const path = this.#descriptor(proc, args[0])?.file.path;
        if (path !== undefined) proc.cwd.path = path;
        return;
      }
      default:
        return;
    }
  }

  #copy(
    out: OpenFile | undefined,
    outOffset: number | undefined,
    source: NodeId | undefined,
    from: number,
    length: number,
    name: string,
  ): void {
    if (out === undefined) return;
    const data = source === undefined ? undefined : this.#b.readLive(source, from, length);
    if (data === undefined && out.node !== undefined) {
      this.#b.note(
        `${name} wrote data the trace does not show into ${display(this.#b.pathOf(out.node))}: it is read back from the file's final content`,
      );
    }
    this.#write(
      out,
      outOffset,
      data !== undefined && data.length === length ? data : undefined,
      length,
    );
  }

  #fcntl(proc: Process, args: readonly Value[], value: number): void {
    const command = word(args[1]);
    const descriptor = this.#descriptor(proc, args[0]);
    if (descriptor === undefined) return;
    switch (command) {
      case 'F_DUPFD':
      case 'F_DUPFD_CLOEXEC':
        this.#install(proc, value, {
          file: descriptor.file,
          cloexec: command === 'F_DUPFD_CLOEXEC',
        });
        return;
      case 'F_SETFD':
        descriptor.cloexec = flagsOf(args[2]).has('FD_CLOEXEC');
        return;
      case 'F_SETFL':
        descriptor.file.append = flagsOf(args[2]).has('O_APPEND');
        return;
      default:
        return;
    }
  }

  #fork(parent: Process, child: number, flags: Set<string>): void {
    if (child <= 0) return;
    let fds = parent.fds;
    if (!flags.has('CLONE_FILES')) {
      fds = new Map();
      for (const [fd, descriptor] of parent.fds) {
        descriptor.file.refs += 1;
        fds.set(fd, { file: descriptor.file, cloexec: descriptor.cloexec });
      }
    }
    const cwd = flags.has('CLONE_FS') ? parent.cwd : { path: parent.cwd.path };
    this.#procs.set(child, { fds, cwd });
  }

  #rename(
    proc: Process,
    fromDir: Value | undefined,
    from: Value | undefined,
    toDir: Value | undefined,
    to: Value | undefined,
    flags: Set<string>,
  ): void {
    const fromPath = this.#path(proc, fromDir, from);
    const toPath = this.#path(proc, toDir, to);
    if (fromPath === undefined || toPath === undefined) return;
    if (flags.has('RENAME_WHITEOUT')) {
      this.#b.note('renameat2 with RENAME_WHITEOUT is modelled as a plain rename');
    }
    this.#b.rename(fromPath, toPath, flags.has('RENAME_EXCHANGE'));
  }

  #link(
    proc: Process,
    fromDir: Value | undefined,
    from: Value | undefined,
    toDir: Value | undefined,
    to: Value | undefined,
    flags: Set<string>,
  ): void {
    const toPath = this.#path(proc, toDir, to);
    if (toPath === undefined) return;
    if (flags.has('AT_EMPTY_PATH') && from?.t === 'str' && from.bytes === '') {
      const node = this.#descriptor(proc, fromDir)?.file.node;
      if (node !== undefined) this.#b.link(node, toPath);
      return;
    }
    const fromPath = this.#path(proc, fromDir, from);
    if (fromPath === undefined) return;
    const procFd = /^\/proc\/(?:self|\d+)\/fd\/(\d+)$/.exec(fromPath);
    if (procFd !== null && flags.has('AT_SYMLINK_FOLLOW')) {
      const node = proc.fds.get(Number(procFd[1]))?.file.node;
      if (node !== undefined) this.#b.link(node, toPath);
      return;
    }
    this.#b.link(fromPath, toPath);
  }
}

/** The result of parsing a trace, before done points and checks. */
export interface ParsedTrace {
  readonly recording: Recording;
  readonly problems: TraceProblems;
}

/** A trace read into complete calls, in the order their effects happened. */
export interface ReadTrace {
  readonly calls: readonly Syscall[];
  readonly problems: TraceProblems;
}

/** Read strace output into calls (once; `parseTrace` can then model several directories). */
export function readTrace(text: string): ReadTrace {
  const problems: TraceProblems = { unreadable: 0, unfinished: [], orphans: 0 };
  const calls = [...readSyscalls(text.split('\n'), problems)]
    .map((call, index) => ({ call, index, at: effectLine(call) }))
    .sort((a, b) => a.at - b.at || a.index - b.index)
    .map(({ call }) => call);
  return { calls, problems };
}

/** Turn strace output into a recording of the audited directory. */
export function parseTrace(trace: string | ReadTrace, options: ParseOptions): ParsedTrace {
  const { calls, problems } = typeof trace === 'string' ? readTrace(trace) : trace;
  const interpreter = new TraceInterpreter(options);
  for (const call of calls) interpreter.apply(call);
  const b = interpreter.builder;
  if (problems.unfinished.length > 0) {
    const names = [...new Set(problems.unfinished.map((call) => call.name))].join(', ');
    b.note(
      `the trace ends inside ${problems.unfinished.length} system call(s) (${names}): the command was killed or the trace is cut; their effects are not modelled`,
    );
  }
  if (problems.unreadable > 0) {
    b.note(`${problems.unreadable} line(s) of the trace could not be read (a cut trace?)`);
  }
  if (problems.orphans > 0) {
    b.note(`${problems.orphans} resumed system call(s) had no start in the trace`);
  }
  return { recording: b.finish(options.exitCode, options.readFinal), problems };
}

/** Is strace installed and allowed to trace here? (`PATH` from `env`.) */
export function straceAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  const result = spawnSync(
    'strace',
    ['-f', '-qq', '-e', 'trace=none', process.execPath, '--version'],
    {
      env,
      stdio: 'ignore',
      timeout: 20_000,
    },
  );
  return result.error === undefined && result.status === 0;
}

export interface TraceRun {
  readonly text: string;
  readonly exitCode: number;
}

export interface TraceRunOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** The command's stdout/stderr: shown, stdout sent to stderr, or dropped. */
  readonly output?: 'inherit' | 'stderr' | 'ignore' | undefined;
}

/**
 * strace's command line for a recording of `command` into `traceFile`; `extra` options go
 * before the command (the kernel check adds time stamps and slowed calls).
 */
export function straceArguments(
  traceFile: string,
  command: readonly string[],
  extra: readonly string[] = [],
): string[] {
  return [
    '-f',
    '-qq',
    '-xx',
    '-y',
    '-s',
    String(AUDIT_STRACE_STRING_BYTES),
    '-e',
    'signal=none',
    '-e',
    'raw=read,readv',
    '-e',
    'inject=io_uring_setup:error=ENOSYS',
    '-e',
    `trace=${TRACED_SYSCALLS.map((name) => `?${name}`).join(',')}`,
    ...extra,
    '-o',
    traceFile,
    '--',
    ...command,
  ];
}

/** Run `command` under strace; returns the trace text and the command's exit status. */
export async function runTraced(
  command: readonly string[],
  options: TraceRunOptions,
): Promise<TraceRun> {
  const env = { ...(options.env ?? process.env), UV_USE_IO_URING: '0' };
  if (command.length === 0) throw new AuditSetupError('no command to audit');
  if (!straceAvailable(env)) {
    throw new AuditSetupError(
      'strace is not installed or cannot trace here (ptrace not permitted); install strace, or audit in-process with the atomic-fs/audit API',
    );
  }
  const scratch = direct.mkdtemp(join(tmpdir(), 'afs-trace-'));
  const traceFile = join(scratch, 'trace');
  try {
    const output = options.output ?? 'inherit';
    const stdio: ('inherit' | 'ignore' | number)[] =
      output === 'inherit'
        ? ['inherit', 'inherit', 'inherit']
        : output === 'stderr'
          ? ['inherit', 2, 'inherit']
          : ['ignore', 'ignore', 'ignore'];
    const child = spawn('strace', straceArguments(traceFile, command), {
      cwd: options.cwd,
      env,
      stdio,
    });
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        resolve(code ?? (signal === null ? 1 : 128));
      });
    });
    if (!direct.exists(traceFile)) {
      throw new AuditSetupError(`strace could not run ${command.join(' ')}`);
    }
    const text = direct.readFile(traceFile).toString('latin1');
    const firstExec = /^\d+\s+execve\(.*\) = (-1 \w+)/.exec(text.split('\n', 1)[0] ?? '');
    if (text.trim() === '' || firstExec !== null) {
      throw new AuditSetupError(
        `could not start ${command[0] ?? ''}${firstExec === null ? '' : ` (${firstExec[1] ?? ''})`}`,
      );
    }
    return { text, exitCode };
  } finally {
    direct.rm(scratch);
  }
}

/** The content of a file in the audited directory at the end of the run. */
export function finalReader(root: Bytes): (path: Bytes) => Uint8Array | undefined {
  return (path) => {
    try {
      return new Uint8Array(direct.readFile(bufferOf(posix.join(root, path))));
    } catch {
      return undefined;
    }
  };
}
