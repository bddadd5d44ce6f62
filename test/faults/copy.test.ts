/**
 * The fault table of copyFile (DESIGN.md §5.1), through both ways of filling the temp file —
 * the kernel copy and the read/write loop — on an existing destination, a new one, a new one
 * in missing directories, and create-only: every file-system step fails in turn.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFile } from '../../src/index.js';
import { flags } from '../../src/engine/fs.js';
import { parseTempName } from '../../src/core/temp-names.js';
import type { SeamCall } from '../support/helpers.js';
import { isLinux } from '../support/helpers.js';
import { type Expected, type TableCase, runTable } from './table.js';

const OLD = Buffer.from('old content\n');
const NEW = Buffer.from('the source, longer than the old content\n'.repeat(40));

type Scenario = 'existing' | 'new' | 'new, mkdirs';

function setup(scenario: Scenario) {
  return (dir: string): { dest: string; src: string } => {
    const src = join(dir, 'src.bin');
    fs.writeFileSync(src, NEW, { mode: 0o640 });
    fs.chmodSync(src, 0o640);
    if (scenario === 'existing') {
      const dest = join(dir, 'dest.bin');
      fs.writeFileSync(dest, OLD);
      fs.chmodSync(dest, 0o600);
      return { dest, src };
    }
    if (scenario === 'new') return { dest: join(dir, 'dest.bin'), src };
    return { dest: join(dir, 'a', 'b', 'dest.bin'), src };
  };
}

/** The expected outcome of failing each call of a clean copy. */
function copySteps(calls: readonly SeamCall[], dest: string, src: string | undefined): Expected[] {
  let stage: 'resolve' | 'copy' | 'published' = 'resolve';
  let reopened = false;
  let copied = false;
  let making = false;
  return calls.map((call): Expected => {
    const at = (phase: Phase | undefined, path: Expected['path'] = 'dest'): Expected => ({
      phase,
      path,
      committed: false,
    });
    if (stage === 'published') {
      return {
        phase: call.name === 'unlink' ? 'unlink-temp' : 'fsync-dir',
        path: 'dest',
        committed: true,
      };
    }
    if (call.name === 'open' && call.subject === src) stage = 'copy';
    if (stage === 'resolve') return at('resolve');
    const isTemp = parseTempName(basename(call.subject)) !== undefined;
    if (call.name === 'copyFile') {
      copied = true;
      return at('copy');
    }
    const xattrOp = ['listXattrs', 'getXattr', 'setXattr', 'removeXattr'].includes(call.name);
    if (call.subject === src) {
      if (call.name === 'read') return at('read-source', 'src');
      // The source's ACL, read through its descriptor: the copy's permissions are the source's.
      if (xattrOp) return at('xattrs', 'src');
      if (call.name === 'close') return at(undefined); // closing the read-only source: ignored
      return at('open-source', 'src');
    }
    if (isTemp) {
      switch (call.name) {
        case 'open':
          reopened = call.args[1] === flags.reopenTemp;
          return at(reopened ? 'copy' : 'create-temp');
        case 'fstat':
          // After the kernel copy: checking what it copied.
          if (reopened || copied) {
            reopened = false;
            copied = false;
            return at('copy');
          }
          return at('chmod');
        case 'listXattrs':
        case 'getXattr':
        case 'setXattr':
        case 'removeXattr':
          return at('xattrs');
        case 'fchmod':
          return at('chmod');
        case 'fchown':
          return at('chown');
        case 'write':
          return at('write');
        case 'fsync':
          return at('fsync');
        case 'close':
          return at('close');
        case 'rename':
        case 'link':
          stage = 'published';
          return at(call.name);
        default:
          return assert.fail(`unexpected call ${call.name} on the temp file`);
      }
    }
    if (call.subject === dest) {
      // The replaced file, opened read-only to read its attributes: its close is ignored.
      if (call.name === 'close') return at(undefined);
      return at(call.name === 'lstat' ? 'resolve' : 'xattrs');
    }
    if (call.name === 'mkdir' || call.name === 'lstat') making = true;
    // Pinning the destination's directory (open, fstat, stat of its descriptor link; missing,
    // the one above it and those below it that exist), before any directory is made (which
    // starts with an lstat): the turn's start.
    const pinning =
      ['open', 'fstat', 'stat', 'close'].includes(call.name) && dest.startsWith(`${call.subject}/`);
    if (pinning && !making) return at('resolve');
    return at('mkdirs');
  });
}

type Phase = Expected['phase'];

const cases: Record<string, { scenario: Scenario; run: TableCase['run'] }> = {
  'kernel copy, existing destination': {
    scenario: 'existing',
    run: (dest, src) => copyFile(src ?? '', dest),
  },
  'kernel copy, new destination': {
    scenario: 'new',
    run: (dest, src) => copyFile(src ?? '', dest),
  },
  'kernel copy, new destination, mkdirs': {
    scenario: 'new, mkdirs',
    run: (dest, src) => copyFile(src ?? '', dest, { mkdirs: true }),
  },
  'kernel copy, create-only': {
    scenario: 'new',
    run: (dest, src) => copyFile(src ?? '', dest, { overwrite: false }),
  },
  'read/write loop, existing destination': {
    scenario: 'existing',
    run: (dest, src) => copyFile(src ?? '', dest, { onProgress: () => undefined }),
  },
  'read/write loop, new destination, mode 0o444': {
    scenario: 'new',
    run: (dest, src) => copyFile(src ?? '', dest, { onProgress: () => undefined, mode: 0o444 }),
  },
};

let total = 0;

describe('fault table: copyFile', () => {
  for (const [name, { scenario, run }] of Object.entries(cases)) {
    test(name, async (t) => {
      total += await runTable(t, `copyFile, ${name}`, {
        setup: setup(scenario),
        run,
        expected: NEW,
        steps: copySteps,
        clean: (calls) => {
          const names = new Set(calls.map((call) => call.name));
          const kernel = name.startsWith('kernel');
          assert.equal(names.has('copyFile'), kernel, `${name}: kernel copy used`);
          assert.equal(names.has('read'), !kernel, `${name}: read loop used`);
        },
      });
    });
  }
  test('table size', { skip: !isLinux && 'descriptor counting needs /proc' }, () => {
    process.stdout.write(`# copyFile fault-table cases run: ${total}\n`);
    assert.ok(total > 150, `only ${total} cases ran`);
  });
});
