/**
 * The contenders: atomic-fs, the three npm peers, and two hand-written references.
 *
 * The references are the durable floor — the eight calls of a durable replace (open 'wx',
 * write, fsync, close, rename, open the directory, fsync it, close it) and nothing else —
 * once composed with `fs/promises` (each awaited call a trip through libuv's threadpool) and
 * once as synchronous calls (the physical floor of the disk: no thread hand-offs at all).
 *
 * Every contender is used with its defaults: that is what users get.
 */
import * as fs from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import * as atomically from 'atomically';
import { Writer as StenoWriter } from 'steno';
import writeFileAtomic from 'write-file-atomic';
import * as lib from '../src/index.js';

/** What a contender guarantees once a write resolves. */
export type Durability = 'full' | 'file' | 'none';

export const DURABILITY_TEXT: Readonly<Record<Durability, string>> = {
  full: 'full — file fsync, rename, directory fsync',
  file: 'file only — file fsync, rename, **no directory fsync** (the rename may be lost)',
  none: '**none — never fsyncs** (atomic against process crashes only)',
};

export interface Entry {
  readonly path: string;
  readonly data: Uint8Array;
}

export interface Contender {
  readonly name: string;
  readonly durability: Durability;
  /** Library, peer, or hand-written reference. */
  readonly role: 'atomic-fs' | 'peer' | 'floor';
  /** Why the contender cannot run here, if it cannot (e.g. a function not exported yet). */
  readonly unavailable?: string;
  readonly write?: (path: string, data: Uint8Array) => Promise<void>;
  readonly writeSync?: (path: string, data: Uint8Array) => void;
  readonly stream?: (path: string, source: AsyncIterable<Uint8Array>) => Promise<void>;
  readonly writeMany?: (entries: readonly Entry[]) => Promise<void>;
  /** Forget per-file state between trials (steno keeps one Writer per file). */
  readonly reset?: () => void;
}

let sequence = 0;

/** A unique temp name for the references (they need no crypto: one process, one counter). */
function floorTemp(path: string): string {
  sequence += 1;
  return `${path}.${process.pid}.${sequence}.floor-tmp`;
}

async function writeAll(handle: fs.promises.FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset);
    offset += bytesWritten;
  }
}

function writeAllSync(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.byteLength) {
    offset += fs.writeSync(fd, data, offset, data.byteLength - offset);
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  await handle.sync();
  await handle.close();
}

function fsyncDirectorySync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}

/** The durable floor with `fs/promises`: eight awaited calls. */
async function floorWrite(path: string, data: Uint8Array): Promise<void> {
  const tmp = floorTemp(path);
  const handle = await open(tmp, 'wx');
  await writeAll(handle, data);
  await handle.sync();
  await handle.close();
  await rename(tmp, path);
  await fsyncDirectory(dirname(path));
}

/** The same eight calls, synchronous. */
function floorWriteSync(path: string, data: Uint8Array): void {
  const tmp = floorTemp(path);
  const fd = fs.openSync(tmp, 'wx');
  writeAllSync(fd, data);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, path);
  fsyncDirectorySync(dirname(path));
}

async function floorStream(path: string, source: AsyncIterable<Uint8Array>): Promise<void> {
  const tmp = floorTemp(path);
  const handle = await open(tmp, 'wx');
  for await (const chunk of source) await writeAll(handle, chunk);
  await handle.sync();
  await handle.close();
  await rename(tmp, path);
  await fsyncDirectory(dirname(path));
}

async function floorStreamSync(path: string, source: AsyncIterable<Uint8Array>): Promise<void> {
  const tmp = floorTemp(path);
  const fd = fs.openSync(tmp, 'wx');
  for await (const chunk of source) writeAllSync(fd, chunk);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, path);
  fsyncDirectorySync(dirname(path));
}

/**
 * The sync floor's eight calls run on one worker thread, one message there and one back per
 * write: the least an offloading design like atomic-fs's I/O thread can cost.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { dirname } = require('node:path');
let sequence = 0;
parentPort.on('message', ({ id, path, data }) => {
  try {
    sequence += 1;
    const tmp = path + '.' + process.pid + '.w' + sequence + '.floor-tmp';
    const fd = fs.openSync(tmp, 'wx');
    let offset = 0;
    while (offset < data.byteLength) offset += fs.writeSync(fd, data, offset, data.byteLength - offset);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, path);
    const dir = fs.openSync(dirname(path), 'r');
    fs.fsyncSync(dir);
    fs.closeSync(dir);
    parentPort.postMessage({ id, error: undefined });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error) });
  }
});
`;

let floorWorker: Worker | undefined;
let nextRequest = 0;
const waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

function workerFloorWrite(path: string, data: Uint8Array): Promise<void> {
  if (floorWorker === undefined) {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on('message', ({ id, error }: { id: number; error: string | undefined }) => {
      const request = waiting.get(id);
      waiting.delete(id);
      if (waiting.size === 0) worker.unref();
      if (error === undefined) request?.resolve();
      else request?.reject(new Error(error));
    });
    worker.unref();
    floorWorker = worker;
  }
  const worker = floorWorker;
  nextRequest += 1;
  const id = nextRequest;
  return new Promise((resolve, reject) => {
    if (waiting.size === 0) worker.ref();
    waiting.set(id, { resolve, reject });
    worker.postMessage({ id, path, data });
  });
}

/** One file after another, each awaited. */
function sequential(
  write: (path: string, data: Uint8Array) => Promise<void>,
): (entries: readonly Entry[]) => Promise<void> {
  return async (entries) => {
    for (const entry of entries) await write(entry.path, entry.data);
  };
}

/** All files at once (`Promise.all`), as a user without a batch API would. */
function parallel(
  write: (path: string, data: Uint8Array) => Promise<void>,
): (entries: readonly Entry[]) => Promise<void> {
  return async (entries) => {
    await Promise.all(entries.map((entry) => write(entry.path, entry.data)));
  };
}

/** The library's `writeFiles`, called with the benchmark's entries as `[path, data]` pairs. */
type WriteFiles = (entries: readonly Entry[]) => Promise<unknown>;

/** `writeFiles` from the library, when the library exports it. */
function libraryWriteFiles(): WriteFiles | undefined {
  const exported = (lib as unknown as Record<string, unknown>).writeFiles;
  if (typeof exported !== 'function') return undefined;
  const writeFiles = exported as (entries: Iterable<[string, Uint8Array]>) => Promise<unknown>;
  return (entries) => writeFiles(entries.map((entry) => [entry.path, entry.data]));
}

const stenoWriters = new Map<string, StenoWriter>();

/** steno is used as lowdb uses it: one Writer per file, kept for the file's lifetime. */
function stenoWrite(path: string, data: Uint8Array): Promise<void> {
  let writer = stenoWriters.get(path);
  if (writer === undefined) {
    writer = new StenoWriter(path);
    stenoWriters.set(path, writer);
  }
  return writer.write(data);
}

const libWrite = (path: string, data: Uint8Array): Promise<void> => lib.writeFile(path, data);
const wfaWrite = (path: string, data: Uint8Array): Promise<void> =>
  writeFileAtomic(path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
const atomicallyWrite = (path: string, data: Uint8Array): Promise<void> =>
  atomically.writeFile(path, data);

export const ATOMIC_FS: Contender = {
  name: 'atomic-fs',
  durability: 'full',
  role: 'atomic-fs',
  write: libWrite,
  writeSync: (path, data) => {
    lib.writeFileSync(path, data);
  },
  stream: (path, source) => lib.writeFile(path, source),
  writeMany: sequential(libWrite),
};

export const WRITE_FILE_ATOMIC: Contender = {
  name: 'write-file-atomic',
  durability: 'file',
  role: 'peer',
  write: wfaWrite,
  writeSync: (path, data) => {
    writeFileAtomic.sync(path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  },
  writeMany: sequential(wfaWrite),
};

export const ATOMICALLY: Contender = {
  name: 'atomically',
  durability: 'file',
  role: 'peer',
  write: atomicallyWrite,
  writeSync: (path, data) => {
    atomically.writeFileSync(path, data);
  },
  stream: (path, source) => atomically.writeFile(path, Readable.from(source)),
  writeMany: sequential(atomicallyWrite),
};

export const STENO: Contender = {
  name: 'steno',
  durability: 'none',
  role: 'peer',
  write: stenoWrite,
  writeMany: sequential(stenoWrite),
  reset: () => {
    stenoWriters.clear();
  },
};

export const FLOOR: Contender = {
  name: 'floor: fs/promises',
  durability: 'full',
  role: 'floor',
  write: floorWrite,
  stream: floorStream,
  writeMany: sequential(floorWrite),
};

export const SYNC_FLOOR: Contender = {
  name: 'floor: sync calls',
  durability: 'full',
  role: 'floor',
  write: (path, data) => {
    floorWriteSync(path, data);
    return Promise.resolve();
  },
  writeSync: floorWriteSync,
  stream: floorStreamSync,
  writeMany: (entries) => {
    for (const entry of entries) floorWriteSync(entry.path, entry.data);
    return Promise.resolve();
  },
};

export const WORKER_FLOOR: Contender = {
  name: 'floor: sync calls on a worker',
  durability: 'full',
  role: 'floor',
  write: workerFloorWrite,
  writeMany: sequential(workerFloorWrite),
};

/** Contenders of workload F beyond the sequential ones: batch and `Promise.all`. */
export function batchContenders(): Contender[] {
  const writeFiles = libraryWriteFiles();
  const batch: Contender =
    writeFiles === undefined
      ? {
          name: 'atomic-fs writeFiles',
          durability: 'full',
          role: 'atomic-fs',
          unavailable: 'not available: `writeFiles` is not exported by this build of atomic-fs',
        }
      : {
          name: 'atomic-fs writeFiles',
          durability: 'full',
          role: 'atomic-fs',
          writeMany: async (entries) => {
            await writeFiles(entries);
          },
        };
  return [
    batch,
    {
      name: 'atomic-fs writeFile ×N, Promise.all',
      durability: 'full',
      role: 'atomic-fs',
      writeMany: parallel(libWrite),
    },
    {
      name: 'floor: fs/promises ×N, Promise.all',
      durability: 'full',
      role: 'floor',
      writeMany: parallel(floorWrite),
    },
  ];
}

/**
 * The async writers of workload C and the concurrency sweep: each writes one file per call,
 * with every call of a trial issued at once (C) or by a number of concurrent loops.
 */
export const CONCURRENT: readonly Contender[] = [
  ATOMIC_FS,
  FLOOR,
  WORKER_FLOOR,
  WRITE_FILE_ATOMIC,
  ATOMICALLY,
  STENO,
];

/**
 * Wait until atomic-fs's I/O thread (if this build has one) can take work, so that timed
 * writes measure the steady state rather than the calling-thread fallback of the first
 * moments. Looked up at run time, not imported: the bench must build whatever the library's
 * internals are. Returns what it found, for the report.
 */
export async function ioThreadOnline(): Promise<string> {
  const specifier = '../src/core/io-thread.js';
  let ready: unknown;
  try {
    ready = ((await import(specifier)) as { ioThreadReady?: unknown }).ioThreadReady;
  } catch {
    return 'no I/O thread module in this build';
  }
  if (typeof ready !== 'function') return 'no ioThreadReady() in this build';
  const online = (await (ready as () => Promise<unknown>)()) === true;
  return online
    ? 'online before the timed writes'
    : 'could not start (writes run on the calling thread)';
}

/** Everything, by name (the child processes of the probes pick one). */
export function contenderByName(name: string): Contender | undefined {
  return [
    ATOMIC_FS,
    WRITE_FILE_ATOMIC,
    ATOMICALLY,
    STENO,
    FLOOR,
    SYNC_FLOOR,
    WORKER_FLOOR,
    ...batchContenders(),
  ].find((contender) => contender.name === name);
}
