/**
 * The persistence model: which sync makes which operation durable, how operations apply
 * (in full or in part), and how paths resolve in a model tree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type FsNode,
  type FsState,
  type Op,
  MutableState,
  bytesOf,
  covers,
  creations,
  display,
  isEffect,
  lookupIn,
  modelWords,
  opWords,
  syncPoints,
} from '../../src/audit/model.js';

const text = (data: Uint8Array | undefined): string => Buffer.from(data ?? []).toString('latin1');

/** root (0) with a.txt (1) = "old", dir d (2) with b.txt (3) = "bee", link (4) -> d. */
function tree(): FsState {
  const nodes = new Map<number, FsNode>([
    [
      0,
      {
        type: 'dir',
        mode: 0o755,
        entries: new Map([
          ['a.txt', 1],
          ['d', 2],
          ['link', 4],
        ]),
      },
    ],
    [1, { type: 'file', mode: 0o644, data: Buffer.from('old') }],
    [2, { type: 'dir', mode: 0o755, entries: new Map([['b.txt', 3]]) }],
    [3, { type: 'file', mode: 0o600, data: Buffer.from('bee') }],
    [4, { type: 'symlink', target: 'd' }],
  ]);
  return { root: 0, nodes };
}

const write = (node: number, offset: number, data: string): Op => ({
  kind: 'write',
  node,
  offset,
  data: Buffer.from(data),
  path: `#${node}`,
});

function fileData(state: MutableState, path: string): string | undefined {
  const id = state.lookup(path);
  const node = id === undefined ? undefined : state.get(id);
  return node?.type === 'file' ? text(node.data) : undefined;
}

test('fsync of a file covers its data, size and mode; fdatasync not its mode', () => {
  const fsync: Op = { kind: 'fsync', node: 1, dataOnly: false, path: 'a.txt' };
  const fdatasync: Op = { kind: 'fsync', node: 1, dataOnly: true, path: 'a.txt' };
  const chmod: Op = { kind: 'chmod', node: 1, mode: 0o600, path: 'a.txt' };
  const truncate: Op = { kind: 'truncate', node: 1, size: 0, path: 'a.txt', byOpen: true };
  assert.ok(covers(fsync, write(1, 0, 'x')));
  assert.ok(covers(fsync, truncate));
  assert.ok(covers(fsync, chmod));
  assert.ok(covers(fdatasync, write(1, 0, 'x')));
  assert.ok(!covers(fdatasync, chmod));
  assert.ok(!covers(fsync, write(3, 0, 'x')), 'another file');
});

test('fsync of a directory covers the entries in it; a rename either of its directories', () => {
  const fsyncRoot: Op = { kind: 'fsync', node: 0, dataOnly: false, path: '' };
  const fsyncD: Op = { kind: 'fsync', node: 2, dataOnly: false, path: 'd' };
  const create: Op = {
    kind: 'create',
    node: 9,
    type: 'file',
    mode: 0o644,
    dir: 0,
    name: 'n',
    path: 'n',
  };
  const unnamed: Op = { ...create, dir: undefined, name: undefined };
  const rename: Op = {
    kind: 'rename',
    node: 3,
    fromDir: 2,
    fromName: 'b.txt',
    toDir: 0,
    toName: 'b.txt',
    from: 'd/b.txt',
    path: 'b.txt',
    replaced: undefined,
    swapped: false,
  };
  assert.ok(covers(fsyncRoot, create));
  assert.ok(!covers(fsyncD, create));
  assert.ok(covers(fsyncRoot, rename));
  assert.ok(covers(fsyncD, rename));
  assert.ok(!covers(fsyncRoot, write(1, 0, 'x')), 'a directory fsync does not sync file data');
  assert.ok(covers({ kind: 'fsync', node: 9, dataOnly: false, path: '' }, unnamed));
  assert.ok(covers({ kind: 'sync' }, rename));
  assert.ok(covers({ kind: 'sync' }, write(1, 0, 'x')));
  assert.ok(!covers({ kind: 'done' }, write(1, 0, 'x')));
});

test('syncPoints: the first later sync that covers each op', () => {
  const ops: Op[] = [
    write(1, 0, 'a'),
    write(3, 0, 'b'),
    { kind: 'fsync', node: 3, dataOnly: false, path: 'd/b.txt' },
    { kind: 'close', node: 1, path: 'a.txt' },
    { kind: 'sync' },
    write(1, 0, 'c'),
  ];
  assert.deepEqual(syncPoints(ops), [4, 2, Infinity, Infinity, Infinity, Infinity]);
  assert.deepEqual(ops.map(isEffect), [true, true, false, false, false, true]);
});

test('apply: writes extend with zeros, truncate shrinks and grows, the base is untouched', () => {
  const base = tree();
  const state = new MutableState(base, new Map());
  state.apply(write(1, 5, 'XY'));
  assert.equal(fileData(state, 'a.txt'), 'old\0\0XY');
  state.apply({ kind: 'truncate', node: 1, size: 2, path: 'a.txt', byOpen: false });
  assert.equal(fileData(state, 'a.txt'), 'ol');
  state.apply({ kind: 'truncate', node: 1, size: 4, path: 'a.txt', byOpen: false });
  assert.equal(fileData(state, 'a.txt'), 'ol\0\0');
  state.apply({ kind: 'chmod', node: 1, mode: 0o600, path: 'a.txt' });
  const node = state.get(1);
  assert.equal(node?.type === 'file' ? node.mode : undefined, 0o600);
  const original = base.nodes.get(1);
  assert.equal(original?.type === 'file' ? text(original.data) : '', 'old');
  assert.equal(state.freeze().nodes.get(1), state.get(1));
});

test('apply: partial writes — pages, size with zeros, size with garbage; ext4-ordered never shows unwritten bytes', () => {
  const data = 'A'.repeat(10);
  const op = write(1, 3, data);
  const pages = new MutableState(tree(), new Map());
  pages.apply(op, { kind: 'pages', bytes: 4 });
  assert.equal(fileData(pages, 'a.txt'), `oldAAAA${'\0'.repeat(6)}`);
  const size = new MutableState(tree(), new Map());
  size.apply(op, { kind: 'size', bytes: 0 });
  assert.equal(fileData(size, 'a.txt'), `old${'\0'.repeat(10)}`);
  const garbage = new MutableState(tree(), new Map());
  garbage.apply(op, { kind: 'garbage', bytes: 0 });
  const bytes = fileData(garbage, 'a.txt') ?? '';
  assert.equal(bytes.length, 13);
  assert.ok(!bytes.slice(3).includes('A') && bytes.slice(3) !== '\0'.repeat(10));
  const ordered = new MutableState(tree(), new Map());
  ordered.apply(op, { kind: 'pages', bytes: 4 }, 'ext4-ordered');
  assert.equal(fileData(ordered, 'a.txt'), 'oldAAAA');
});

test('apply: entries — create, link, unlink, rename over a file, exchange', () => {
  const create: Extract<Op, { kind: 'create' }> = {
    kind: 'create',
    node: 9,
    type: 'file',
    mode: 0o644,
    dir: 0,
    name: 'tmp',
    path: 'tmp',
  };
  const state = new MutableState(tree(), creations([create]));
  // A write to a node whose creation did not reach disk: the node exists, unnamed.
  state.apply(write(9, 0, 'new'));
  assert.equal(state.lookup('tmp'), undefined);
  state.apply(create);
  assert.equal(fileData(state, 'tmp'), 'new');
  state.apply({ kind: 'link', node: 9, dir: 2, name: 'hard', path: 'd/hard' });
  assert.equal(fileData(state, 'd/hard'), 'new');
  state.apply({
    kind: 'rename',
    node: 9,
    fromDir: 0,
    fromName: 'tmp',
    toDir: 0,
    toName: 'a.txt',
    from: 'tmp',
    path: 'a.txt',
    replaced: 1,
    swapped: false,
  });
  assert.equal(fileData(state, 'a.txt'), 'new');
  assert.equal(state.lookup('tmp'), undefined);
  state.apply({
    kind: 'rename',
    node: 9,
    fromDir: 0,
    fromName: 'a.txt',
    toDir: 2,
    toName: 'b.txt',
    from: 'a.txt',
    path: 'd/b.txt',
    replaced: 3,
    swapped: true,
  });
  assert.equal(fileData(state, 'd/b.txt'), 'new');
  assert.equal(fileData(state, 'a.txt'), 'bee');
  state.apply({ kind: 'unlink', node: 9, dir: 2, name: 'hard', path: 'd/hard' });
  assert.equal(state.lookup('d/hard'), undefined);
  // Unlinking a name that is not there (its creation was dropped) changes nothing.
  state.apply({ kind: 'unlink', node: 9, dir: 0, name: 'nothing', path: 'nothing' });
  assert.equal(fileData(state, 'd/b.txt'), 'new');
});

test('lookup: symlinks followed (the last one only when asked), .. inside the tree only', () => {
  const { nodes, root } = tree();
  const get = (id: number): FsNode | undefined => nodes.get(id);
  assert.equal(lookupIn(get, root, 'link/b.txt', true), 3);
  assert.equal(lookupIn(get, root, 'link', false), 4);
  assert.equal(lookupIn(get, root, 'link', true), 2);
  assert.equal(lookupIn(get, root, 'd/../a.txt', true), 1);
  assert.equal(lookupIn(get, root, '../a.txt', true), undefined);
  assert.equal(lookupIn(get, root, 'a.txt/x', true), undefined);
  assert.equal(lookupIn(get, root, '', true), 0);
});

test('display: UTF-8 names as they are, other bytes and control characters escaped', () => {
  assert.equal(display(bytesOf('naïve file.txt')), 'naïve file.txt');
  assert.equal(display('a\nb\tc\\d'), 'a\\nb\\tc\\\\d');
  assert.equal(display('bad\xff\x01name'), 'bad\\xff\\x01name');
  assert.equal(bytesOf('é'), '\xc3\xa9');
});

test('opWords and modelWords say what an op and a model are', () => {
  assert.equal(opWords(write(1, 4, 'abc')), 'write 3 bytes at offset 4 of #1');
  assert.equal(
    opWords({ kind: 'truncate', node: 1, size: 0, path: 'a', byOpen: true }),
    'truncate (open O_TRUNC) a to 0 bytes',
  );
  assert.equal(opWords({ kind: 'chmod', node: 1, mode: 0o640, path: 'a' }), 'chmod a to 0640');
  assert.equal(opWords({ kind: 'fsync', node: 0, dataOnly: false, path: '' }), 'fsync .');
  assert.match(modelWords('ext4-ordered'), /data reaches disk before the metadata/);
});
