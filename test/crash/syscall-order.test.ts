/**
 * The order of system calls of one write, recorded with strace: the destination's directory
 * opened and pinned → exclusive create of the temp in it, through its descriptor link
 * (`/proc/self/fd/<fd>/<temp>`) → fchown/fchmod (its metadata is final before the first
 * byte) → writes → fchmod again only to give back the set-user-ID bits a write clears →
 * fsync(temp) → close → rename (through the link) → fsync(the pinned directory), and the temp name is never unlinked after
 * the rename. A temp opened ahead of its commit (a stream, a handle) is created owner-only
 * instead and gets its final mode after the last byte (the destination may change before the
 * commit); for a new file, the mode the kernel gives one is read off an empty probe first.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseTempName } from '../../src/core/temp-names.js';
import { isLinux, needs, tempDir } from '../support/helpers.js';

const hasStrace = spawnSync('strace', ['-V']).status === 0;
const library = fileURLToPath(new URL('../../src/index.js', import.meta.url));
const offload = fileURLToPath(new URL('../../src/core/io-thread.js', import.meta.url));

interface Syscall {
  readonly name: string;
  /** With descriptor links (`/proc/self/fd/<fd>`) spelled as the directory's path. */
  readonly args: string;
  /** As traced. */
  readonly raw: string;
  readonly result: string;
}

/** Run one write in a child under strace; return its calls that touch `dir`. */
function trace(t: TestContext, dir: string, body: string): Syscall[] {
  const script = `
    const lib = await import(${JSON.stringify(library)});
    await (await import(${JSON.stringify(offload)})).ioThreadReady();
    const dest = process.argv[1];
    ${body}`;
  const log = join(tempDir(t, 'afs-trace-'), 'trace.txt');
  const result = spawnSync(
    'strace',
    [
      '-f',
      '-qq',
      '-y',
      '-s',
      '256',
      '-o',
      log,
      // Node 22+ (libuv 1.49+) sets up an io_uring for epoll batching even with
      // UV_USE_IO_URING=0: make every ring fail to start, so nothing can hide from strace.
      '-e',
      'inject=io_uring_setup:error=ENOSYS',
      '-e',
      'trace=openat,open,creat,write,pwrite64,writev,fchmod,fchown,fsync,fdatasync,close,rename,renameat,renameat2,link,linkat,unlink,unlinkat,io_uring_setup,io_uring_enter',
      process.execPath,
      '--input-type=module',
      '-e',
      script,
      join(dir, 'file'),
    ],
    { encoding: 'utf8', env: { ...process.env, UV_USE_IO_URING: '0' }, timeout: 60_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  const calls: Syscall[] = [];
  // A call interrupted by another thread's is split into "<unfinished ...>" and "<... resumed>".
  const unfinished = new Map<string, string>();
  // Descriptor → the path strace (-y) shows for it, from the open() that returned it.
  const directories = new Map<string, string>();
  for (const raw of fs.readFileSync(log, 'utf8').split('\n')) {
    const pid = /^(\d+)\s+/.exec(raw)?.[1] ?? '';
    let line = raw;
    if (raw.endsWith(' <unfinished ...>')) {
      unfinished.set(pid, raw.slice(0, -' <unfinished ...>'.length));
      continue;
    }
    const resumed = /^\d+\s+<\.\.\. \w+ resumed>(.*)$/.exec(raw);
    if (resumed !== null) {
      line = `${unfinished.get(pid) ?? ''}${resumed[1] ?? ''}`;
      unfinished.delete(pid);
    }
    const match = /^\d+\s+(\w+)\((.*)\)\s+=\s+(.*)$/.exec(line);
    if (match === null) continue;
    const [, name = '', rawArgs = '', ret = ''] = match;
    // A name through a pinned directory's descriptor link, spelled with that directory's path.
    const args = rawArgs.replace(
      /\/proc\/self\/fd\/(\d+)/g,
      (link, fd: string) => directories.get(fd) ?? link,
    );
    const opened = /^(\d+)<([^>]*)>$/.exec(ret);
    if (opened !== null) directories.set(opened[1] ?? '', opened[2] ?? '');
    assert.ok(
      !name.startsWith('io_uring') || ret.startsWith('-1 '),
      'io_uring would hide file system calls',
    );
    if (args.includes(dir) || ret.includes(dir))
      calls.push({ name, args, raw: rawArgs, result: ret });
  }
  return calls;
}

function isTemp(text: string): boolean {
  const name = /\/(\.[^/"<>]*\.tmp)/.exec(text)?.[1];
  return name !== undefined && parseTempName(name) !== undefined;
}

/** Indexes of the calls matching `predicate`. */
function where(calls: Syscall[], predicate: (call: Syscall) => boolean): number[] {
  return calls.flatMap((call, index) => (predicate(call) ? [index] : []));
}

/** What a case's calls must show besides the common order. */
interface Expect {
  /** fchmod/fchown before the first byte. */
  readonly before: boolean;
  /** fchmod after the last byte (set-user-ID bits given back; a temp opened ahead's mode). */
  readonly after: boolean;
  /** Opened ahead of its commit: created owner-only (this mode), and for a new file a probe. */
  readonly ahead?: { readonly created: number; readonly probe: boolean };
}

/** The mode argument of an openat() that creates. */
function createMode(call: Syscall): number {
  return Number.parseInt(/, (0[0-7]+)$/.exec(call.args)?.[1] ?? 'NaN', 8);
}

function assertOrder(calls: Syscall[], dir: string, expect: Expect): void {
  const names = calls.map((call) => `${call.name}(${call.args.slice(0, 60)})`).join('\n');
  const creates = where(
    calls,
    (c) => c.name === 'openat' && c.args.includes('O_CREAT') && isTemp(c.args),
  );
  if (expect.ahead?.probe === true) {
    // The probe: created with 0o666, then closed and unlinked with no byte written to it.
    const [probe, next] = creates;
    const probeCall = probe === undefined ? undefined : calls[probe];
    assert.ok(
      probe !== undefined && probeCall !== undefined && next !== undefined,
      `a probe, then the temp:\n${names}`,
    );
    assert.equal(createMode(probeCall), 0o666, `the probe asks for 0o666:\n${names}`);
    const between = calls.slice(probe + 1, next).map((c) => c.name);
    assert.deepEqual(between, ['close', 'unlink'], `the probe dropped unwritten:\n${names}`);
    creates.shift();
  }
  const [create, ...moreCreates] = creates;
  assert.ok(create !== undefined && moreCreates.length === 0, `one temp created:\n${names}`);
  const createCall = calls[create];
  assert.ok(createCall !== undefined);
  for (const flag of ['O_EXCL', 'O_NOFOLLOW', 'O_CREAT']) {
    assert.ok(createCall.args.includes(flag), `temp opened with ${flag}`);
  }
  const tempPath = /"([^"]+)"/.exec(createCall.args)?.[1] ?? '';
  assert.equal(dirname(tempPath), dir, 'the temp lives in the destination directory');
  const onTemp = (name: string) => (c: Syscall) => c.name === name && isTemp(c.args);
  const writes = where(calls, (c) => /^(write|pwrite64|writev)$/.test(c.name) && isTemp(c.args));
  const metadata = where(calls, (c) => /^(fchmod|fchown)$/.test(c.name) && isTemp(c.args));
  const [fsyncTemp, ...extraFsyncs] = where(calls, onTemp('fsync'));
  const [closeTemp] = where(calls, onTemp('close')).filter((i) => i > create);
  const [rename] = where(calls, (c) => /^rename/.test(c.name));
  const [openDir] = where(calls, (c) => c.name === 'openat' && c.args.includes('O_DIRECTORY'));
  const [fsyncDir] = where(calls, (c) => c.name === 'fsync' && c.args.includes(`<${dir}>`));
  const [closeDir] = where(calls, (c) => c.name === 'close' && c.args.includes(`<${dir}>`));
  for (const [name, index] of Object.entries({
    fsyncTemp,
    closeTemp,
    rename,
    openDir,
    fsyncDir,
    closeDir,
  })) {
    assert.ok(index !== undefined, `${name} missing:\n${names}`);
  }
  assert.deepEqual(extraFsyncs, [], 'the temp is fsynced once');
  assert.ok(writes.length > 0);
  assert.ok(
    writes.every((i) => i > create && i < (fsyncTemp ?? 0)),
    `writes between create and fsync:\n${names}`,
  );
  const firstWrite = writes[0] ?? 0;
  const lastWrite = writes.at(-1) ?? 0;
  const beforeData = metadata.filter((i) => i > create && i < firstWrite);
  const afterData = metadata.filter((i) => i > lastWrite && i < (fsyncTemp ?? 0));
  assert.equal(
    beforeData.length + afterData.length,
    metadata.length,
    `metadata before the first byte, or after the last one and before fsync:\n${names}`,
  );
  assert.ok(
    afterData.every((i) => calls[i]?.name === 'fchmod'),
    `after the data, only fchmod (the bits a write clears):\n${names}`,
  );
  if (expect.ahead !== undefined) {
    assert.equal(createMode(createCall), expect.ahead.created, `created owner-only:\n${names}`);
  }
  assert.equal(beforeData.length > 0, expect.before, `fchmod before the first byte:\n${names}`);
  assert.equal(afterData.length > 0, expect.after, `fchmod after the last byte:\n${names}`);
  // The directory is opened first and pinned: the temp is created and renamed through its
  // descriptor link, and the same descriptor is fsynced after the rename.
  const sequence = [openDir, create, lastWrite, fsyncTemp, closeTemp, rename, fsyncDir, closeDir];
  const pin = /^(\d+)</.exec(calls[fsyncDir ?? 0]?.args ?? '')?.[1];
  const link = `"/proc/self/fd/${pin ?? '?'}/`;
  assert.ok(createCall.raw.includes(link), `the temp created through the pin:\n${createCall.raw}`);
  const renameCall = calls[rename ?? 0];
  assert.ok(renameCall?.raw.includes(link), `renamed through the pin:\n${renameCall?.raw ?? ''}`);
  assert.equal(calls[openDir ?? 0]?.result, `${pin ?? '?'}<${dir}>`, 'the pin is the directory');
  assert.deepEqual(
    [...sequence].sort((a, b) => (a ?? 0) - (b ?? 0)),
    sequence,
    `order:\n${names}`,
  );
  const unlinksAfter = where(calls, (c) => /^unlink/.test(c.name) && isTemp(c.args)).filter(
    (i) => i > (rename ?? 0),
  );
  assert.deepEqual(unlinksAfter, [], 'the temp name is never unlinked after the rename');
}

const cases: [string, string, (dir: string) => void, Expect][] = [
  [
    'writeFile over an existing 0600 file',
    `await lib.writeFile(dest, 'new');`,
    (dir) => {
      fs.writeFileSync(join(dir, 'file'), 'old', { mode: 0o600 });
    },
    { before: false, after: false },
  ],
  [
    'writeFile with a set-user-ID mode',
    `await lib.writeFile(dest, 'new', { mode: 0o4755 });`,
    () => undefined,
    { before: true, after: true },
  ],
  [
    'writeFileSync over an existing file',
    `lib.writeFileSync(dest, 'new');`,
    (dir) => {
      fs.writeFileSync(join(dir, 'file'), 'old');
    },
    { before: false, after: false },
  ],
  [
    'writeFile from a stream',
    `process.umask(0o022); await lib.writeFile(dest, (async function* () { yield 'a'; yield Buffer.alloc(100000); })());`,
    () => undefined,
    // A new file: 0o666 less the umask, read off the probe.
    { before: false, after: true, ahead: { created: 0o600, probe: true } },
  ],
  [
    'openAtomic',
    `const f = await lib.openAtomic(dest, { mode: 0o4700 }); await f.write('x'); await f.commit();`,
    () => undefined,
    { before: false, after: true, ahead: { created: 0o700, probe: false } },
  ],
];

for (const [name, body, setup, expect] of cases) {
  test(`syscall order under strace: ${name}`, (t) => {
    if (!needs(t, isLinux && hasStrace, 'needs Linux and strace')) return;
    const dir = fs.realpathSync(tempDir(t));
    setup(dir);
    assertOrder(trace(t, dir, body), dir, expect);
    assert.equal(fs.readFileSync(join(dir, 'file')).length > 0, true);
  });
}

test('syscall order under strace: create-only links, then drops the temp name once', (t) => {
  if (!needs(t, isLinux && hasStrace, 'needs Linux and strace')) return;
  const dir = fs.realpathSync(tempDir(t));
  const calls = trace(t, dir, `await lib.writeFile(dest, 'new', { overwrite: false });`);
  const link = calls.findIndex((c) => /^link/.test(c.name));
  const unlink = calls.findIndex((c) => /^unlink/.test(c.name) && isTemp(c.args));
  const fsyncTemp = calls.findIndex((c) => c.name === 'fsync' && isTemp(c.args));
  const fsyncDir = calls.findIndex((c) => c.name === 'fsync' && c.args.includes(`<${dir}>`));
  assert.ok(fsyncTemp >= 0 && fsyncTemp < link && link < unlink && unlink < fsyncDir);
  assert.equal(calls.filter((c) => /^unlink/.test(c.name)).length, 1);
  assert.ok(!calls.some((c) => /^rename/.test(c.name)));
});
