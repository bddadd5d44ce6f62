/**
 * Every public function that takes a destination writes exactly the file `fs.writeFileSync`
 * writes for the same path, or fails with the error it gives: on two identical trees of
 * symlinks, directories and files, each tricky path is written once with node:fs and once
 * with the function, and the two trees must then be the same (every entry, its type, its
 * bytes, a link's body) — or both calls must fail with the same code and change nothing.
 * Reads (`readJson`) are held to `fs.readFileSync` the same way.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type TestContext, after, before, describe, test } from 'node:test';
import { LOCK_TAG } from '../src/json/constants.js';
import {
  copyFile,
  download,
  openAtomic,
  openAtomicSync,
  readJson,
  readJsonSync,
  update,
  updateJson,
  updateJsonSync,
  updateSync,
  writeFile,
  writeFileSync,
  writeFiles,
  writeJson,
  writeJsonSync,
} from '../src/index.js';
import { cli } from './support/cli.js';
import { type TestServer, serve } from './support/http.js';
import { isLinux, needs, tempDir } from './support/helpers.js';

/** The kernel's limits on Linux: a component of 255 bytes, a path of 4095 (4096 with NUL). */
const NAME_MAX = 255;
const PATH_MAX = 4096;

/** The tree both writers start from. Its root's name has the same length on both sides. */
function build(root: string): void {
  fs.mkdirSync(join(root, 'app', 'releases', 'v2'), { recursive: true });
  fs.mkdirSync(join(root, 'dir'));
  // JSON, so that updateJson can read what it replaces.
  fs.writeFileSync(join(root, 'regular'), '"r"');
  fs.writeFileSync(join(root, 'app', 'releases', 'v2', 'config.json'), '"v2"');
  const links: [string, string][] = [
    ['current', 'app/releases/v2'],
    ['app/releases/v2/up', '../../..'],
    ['v2link', 'current/../v2'],
    ['lreg', 'regular'],
    ['ldir', 'dir'],
    ['dangling', 'nowhere'],
    ['ldirslash', 'dir/'],
    ['lregslash', 'regular/'],
    ['danglingslash', 'nowhere/'],
    ['danglingdeep', 'missing/x'],
    ['loop1', 'loop2'],
    ['loop2', 'loop1'],
    ['self', '.'],
    ['dotdot', '..'],
    ['rootlink', '/'],
    ['dirviaabs', join(root, 'dir')],
    ['c1', 'regular'],
    ['d1', 'dir'],
  ];
  for (let i = 2; i <= 41; i += 1) links.push([`c${i}`, `c${i - 1}`], [`d${i}`, `d${i - 1}`]);
  fs.symlinkSync('../c2', join(root, 'dir', 'c2up'));
  for (const [link, body] of links) fs.symlinkSync(body, join(root, link));
  assert.equal(spawnSync('mkfifo', [join(root, 'fifo')]).status, 0, 'mkfifo');
}

/** Paths relative to the tree's root (the CLI gets them as they are, with the root as cwd). */
const RELATIVE = [
  'current/../config.json',
  'current/config.json',
  'current/up/regular',
  'current/up/current/../v2/new',
  'v2link/new',
  'regular',
  'regular/.',
  'regular/..',
  'regular/',
  'regular/x',
  'regular/x/',
  'nonexistent/../x',
  'nonexistent/x',
  'nonexistent/x/',
  'nonexistent/',
  'nonexistent/.',
  'new',
  '.',
  '..',
  'dir',
  'dir/',
  'dir/.',
  'dir/..',
  'dir//new',
  'dir/./new',
  'dir/../regular',
  'dir/nonexistent/',
  'lreg',
  'lreg/',
  'lreg/x',
  'lregslash',
  'ldir',
  'ldir/',
  'ldir/.',
  'ldir/new',
  'ldirslash',
  'ldirslash/new',
  'dangling',
  'dangling/',
  'dangling/x',
  'danglingslash',
  'danglingdeep',
  'loop1',
  'loop1/',
  'loop1/x',
  'self',
  'self/self/dir/../regular',
  'dotdot',
  'current/..',
  'rootlink',
  'rootlink/..',
  'dirviaabs/../new',
  'dirviaabs/../../..',
  'c40',
  'c41',
  'c40/',
  'd40/new',
  'd41/new',
  'd39/c2up',
  'd38/c2up',
  'd40/../regular',
  'fifo/x',
  'x'.repeat(NAME_MAX),
  'x'.repeat(NAME_MAX + 1),
];

/** Paths that only make sense absolute: lengths around PATH_MAX. */
function longPaths(root: string): string[] {
  const filler = (total: number): string => {
    const head = `${root}/dir/`;
    const pairs = Math.floor((total - head.length - 1) / 2);
    const path = `${head}${'./'.repeat(pairs)}`;
    return `${path}${'y'.repeat(total - path.length)}`;
  };
  return [filler(PATH_MAX - 1), filler(PATH_MAX)];
}

type Snapshot = Record<string, string>;

/** Every entry under `root` (links not followed), lock sidecars aside. */
function snapshot(root: string): Snapshot {
  const out: Snapshot = {};
  const visit = (dir: string, prefix: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (name.endsWith(`.${LOCK_TAG}`)) continue;
      const path = join(dir, name);
      const at = `${prefix}${name}`;
      const stats = fs.lstatSync(path);
      if (stats.isSymbolicLink()) {
        // An absolute body names its own tree: compare it relative to the root.
        out[at] = `link ${fs.readlinkSync(path).replace(root, '<root>')}`;
      } else if (stats.isDirectory()) {
        out[at] = 'dir';
        visit(path, `${at}/`);
      } else if (stats.isFile()) out[at] = `file ${fs.readFileSync(path, 'utf8')}`;
      else out[at] = 'special';
    }
  };
  visit(root, '');
  return out;
}

type Outcome = { code: string } | { tree: Snapshot };

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : `not an errno error: ${String(error)}`;
}

/** What node:fs does with `path` (under `root`): the tree after it, or its error. */
function reference(root: string, path: string, payload: string): Outcome {
  try {
    fs.writeFileSync(path, payload);
  } catch (error) {
    assert.deepEqual(snapshot(root), pristine(root), `fs changed the tree for ${path}`);
    return { code: codeOf(error) };
  }
  return { tree: snapshot(root) };
}

let pristineTree: Snapshot | undefined;
function pristine(root: string): Snapshot {
  if (pristineTree === undefined) {
    const scratch = fs.mkdtempSync(join(root, '..', 'pristine-'));
    build(scratch);
    pristineTree = snapshot(scratch);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return pristineTree;
}

let server: TestServer;
let srcDir: string;

interface Writer {
  /** The bytes it writes, as fs.writeFileSync would be given them. */
  readonly payload: string;
  /** Whether it takes the path relative to the root (the CLI); else absolute. */
  readonly relative?: boolean;
  /** Write `path` (absolute, or relative to `root`); returns an error code on failure. */
  readonly write: (path: string, root: string) => Promise<string | undefined>;
}

async function failing(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    return codeOf(error);
  }
  return undefined;
}

/** The error code on the one line the CLI prints, or undefined if it succeeded. */
async function viaCli(argv: string[], root: string, stdin?: Readable): Promise<string | undefined> {
  const result = await cli(argv, { cwd: root, ...(stdin === undefined ? {} : { stdin }) });
  if (result.code === 0) return undefined;
  const match = /^atomic-fs \w+: ([A-Z_]+):/.exec(result.stderr);
  return match?.[1] ?? `unexpected output: ${result.stderr}`;
}

const NONE = { durability: 'none' } as const;
const JSON_TEXT = '"x"\n';

const WRITERS: Record<string, Writer> = {
  writeFileSync: {
    payload: 'x',
    write: (p) =>
      failing(() => {
        writeFileSync(p, 'x', NONE);
      }),
  },
  writeFile: { payload: 'x', write: (p) => failing(() => writeFile(p, 'x', NONE)) },
  'writeFile (stream)': {
    payload: 'x',
    write: (p) => failing(() => writeFile(p, Readable.from(['x']), NONE)),
  },
  openAtomic: {
    payload: 'x',
    write: (p) =>
      failing(async () => {
        const file = await openAtomic(p, NONE);
        await file.write('x');
        await file.commit();
      }),
  },
  openAtomicSync: {
    payload: 'x',
    write: (p) =>
      failing(() => {
        const file = openAtomicSync(p, NONE);
        file.write('x');
        file.commit();
      }),
  },
  writeFiles: {
    payload: 'x',
    write: (p) =>
      failing(async () => {
        const [result] = await writeFiles([[p, 'x']], NONE);
        if (result?.status === 'failed') throw result.error;
      }),
  },
  copyFile: {
    payload: 'x',
    write: (p) => failing(() => copyFile(join(srcDir, 'x'), p, NONE)),
  },
  download: {
    payload: 'x',
    write: (p) => failing(() => download(`${server.base}/x`, p, NONE)),
  },
  writeJson: { payload: JSON_TEXT, write: (p) => failing(() => writeJson(p, 'x', NONE)) },
  writeJsonSync: {
    payload: JSON_TEXT,
    write: (p) =>
      failing(() => {
        writeJsonSync(p, 'x', NONE);
      }),
  },
  update: { payload: 'x', write: (p) => failing(() => update(p, () => 'x', NONE)) },
  updateSync: { payload: 'x', write: (p) => failing(() => updateSync(p, () => 'x', NONE)) },
  updateJson: {
    payload: JSON_TEXT,
    write: (p) => failing(() => updateJson(p, () => 'x', { ...NONE, default: '' })),
  },
  updateJsonSync: {
    payload: JSON_TEXT,
    write: (p) => failing(() => updateJsonSync(p, () => 'x', { ...NONE, default: '' })),
  },
  'cli write': {
    payload: 'x',
    relative: true,
    write: (p, root) =>
      viaCli(['write', '--durability', 'none', p], root, Readable.from([Buffer.from('x')])),
  },
  'cli cp': {
    payload: 'x',
    relative: true,
    write: (p, root) => viaCli(['cp', '--durability', 'none', join(srcDir, 'x'), p], root),
  },
  'cli get': {
    payload: 'x',
    relative: true,
    write: (p, root) => viaCli(['get', '--durability', 'none', `${server.base}/x`, p], root),
  },
};

function twoTrees(t: TestContext): [string, string] {
  const base = tempDir(t, 'afs-kernel-');
  const a = join(base, 'treeA');
  const b = join(base, 'treeB');
  fs.mkdirSync(a);
  fs.mkdirSync(b);
  build(a);
  build(b);
  return [a, b];
}

/** Put `root` back as `build` made it, if `tree` (its snapshot) says it changed. */
function rebuild(root: string, tree: Snapshot): void {
  if (JSON.stringify(tree) === JSON.stringify(pristine(root))) return;
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root);
  build(root);
}

/** node:fs outcomes, by payload and path relative to the root (one tree for all of them). */
const references = new Map<string, Outcome>();

function expectedFor(path: string, payload: string, long: boolean): Outcome {
  const key = `${payload}\0${long ? 'long:' : ''}${path}`;
  let outcome = references.get(key);
  if (outcome === undefined) {
    const root = referenceRoot();
    outcome = reference(root, long ? `${root}${path}` : `${root}/${path}`, payload);
    if ('tree' in outcome) rebuild(root, outcome.tree);
    references.set(key, outcome);
  }
  return outcome;
}

let referenceTree: string | undefined;
function referenceRoot(): string {
  if (referenceTree === undefined) {
    referenceTree = fs.mkdtempSync(join(process.env.ATOMIC_FS_TEST_DIR ?? tmpdir(), 'afs-kernel-'));
    fs.mkdirSync(join(referenceTree, 'treeA'));
    build(join(referenceTree, 'treeA'));
  }
  return join(referenceTree, 'treeA');
}

describe('paths as the kernel resolves them', { skip: !isLinux && 'Linux semantics' }, () => {
  before(async () => {
    server = await serve((_req, res) => {
      res.end('x');
    });
    srcDir = fs.mkdtempSync(join(process.env.ATOMIC_FS_TEST_DIR ?? tmpdir(), 'afs-kernel-src-'));
    fs.writeFileSync(join(srcDir, 'x'), 'x');
  });
  after(async () => {
    await server.close();
    fs.rmSync(srcDir, { recursive: true, force: true });
    if (referenceTree !== undefined) fs.rmSync(referenceTree, { recursive: true, force: true });
  });

  test('the reference: what node:fs does (the cases the issue names)', (t) => {
    if (!needs(t, isLinux, 'Linux path semantics')) return;
    const written = expectedFor('current/../config.json', 'x', false);
    assert.ok('tree' in written);
    assert.equal(written.tree['app/releases/config.json'], 'file x');
    assert.equal(written.tree['config.json'], undefined);
    assert.deepEqual(expectedFor('regular/.', 'x', false), { code: 'ENOTDIR' });
    assert.deepEqual(expectedFor('nonexistent/../x', 'x', false), { code: 'ENOENT' });
    assert.deepEqual(expectedFor('regular/', 'x', false), { code: 'EISDIR' });
    assert.deepEqual(expectedFor('c41', 'x', false), { code: 'ELOOP' });
  });

  for (const [name, writer] of Object.entries(WRITERS)) {
    test(`${name} writes the file fs.writeFileSync writes, or fails as it does`, async (t) => {
      if (!needs(t, isLinux, 'Linux path semantics')) return;
      const [, b] = twoTrees(t);
      const cases = RELATIVE.map((path) => ({ path, long: false }));
      // Lengths around PATH_MAX, absolute (the CLI makes a relative path absolute).
      if (writer.relative !== true) {
        for (const path of longPaths(b)) cases.push({ path: path.slice(b.length), long: true });
      }
      const mismatches: string[] = [];
      for (const { path, long } of cases) {
        const expected = expectedFor(path, writer.payload, long);
        let given = `${b}/${path}`;
        if (long) given = `${b}${path}`;
        else if (writer.relative === true) given = path;
        const code = await writer.write(given, b);
        const tree = snapshot(b);
        const actual: Outcome = code === undefined ? { tree } : { code };
        if (code !== undefined) {
          assert.deepEqual(tree, pristine(b), `${name} changed the tree for ${path}`);
        }
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          const show = (o: Outcome): string =>
            'code' in o ? o.code : `wrote ${JSON.stringify(diff(pristine(b), o.tree))}`;
          mismatches.push(`${path.slice(0, 60)}: fs ${show(expected)}, ${name} ${show(actual)}`);
        }
        rebuild(b, tree);
      }
      assert.deepEqual(mismatches, []);
    });
  }

  test('readJson reads the file fs.readFileSync reads, or fails as it does', async (t) => {
    if (!needs(t, isLinux, 'Linux path semantics')) return;
    const [a] = twoTrees(t);
    fs.writeFileSync(join(a, 'app', 'releases', 'config.json'), '"releases"');
    fs.writeFileSync(join(a, 'config.json'), '"top"');
    const mismatches: string[] = [];
    for (const path of [...RELATIVE.filter((p) => !p.startsWith('fifo')), 'x']) {
      const full = `${a}/${path}`;
      let expected: string;
      try {
        expected = JSON.parse(fs.readFileSync(full, 'utf8')) as string;
      } catch (error) {
        expected = error instanceof SyntaxError ? 'ERR_ATOMIC_JSON_PARSE' : codeOf(error);
      }
      for (const [label, read] of [
        ['readJson', () => readJson(full)],
        ['readJsonSync', () => readJsonSync(full)],
      ] as const) {
        let actual: string;
        try {
          actual = (await read()) as string;
        } catch (error) {
          actual = codeOf(error);
        }
        if (actual !== expected) mismatches.push(`${path}: fs ${expected}, ${label} ${actual}`);
      }
    }
    assert.deepEqual(mismatches, []);
  });
});

function diff(from: Snapshot, to: Snapshot): Snapshot {
  const changed: Snapshot = {};
  for (const [key, value] of Object.entries(to)) if (from[key] !== value) changed[key] = value;
  for (const key of Object.keys(from)) if (!(key in to)) changed[key] = 'removed';
  return changed;
}
