/**
 * The fault table of download (DESIGN.md §5.1): the body comes from a real HTTP server on
 * 127.0.0.1, and every file-system step of receiving it into place fails in turn.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { download } from '../../src/index.js';
import { parseTempName } from '../../src/core/temp-names.js';
import { type SeamCall, isLinux } from '../support/helpers.js';
import { type TestServer, serve } from '../support/http.js';
import { type Expected, runTable, tempCreation } from './table.js';

const OLD = Buffer.from('old content\n');
const BODY = Buffer.from('downloaded content, longer than the old one\n'.repeat(100));

type Phase = Expected['phase'];

function isTemp(call: SeamCall): boolean {
  return parseTempName(basename(call.subject)) !== undefined;
}

const XATTR_OPS = new Set(['listXattrs', 'getXattr', 'setXattr', 'removeXattr']);

/** The expected outcome of failing each call of a clean download. */
function downloadSteps(calls: readonly SeamCall[], dest: string): Expected[] {
  const creation = tempCreation(
    calls,
    (call) => call.name === 'open' && isTemp(call),
    (call) => call.name === 'unlink' && isTemp(call),
  );
  let published = false;
  let phase: Phase = 'resolve';
  return calls.map((call, index): Expected => {
    if (published) {
      return {
        phase: call.name === 'unlink' ? 'unlink-temp' : 'fsync-dir',
        path: 'dest',
        committed: true,
      };
    }
    if (call.subject === dest && call.name === 'close') {
      // The replaced file, opened read-only for its ACL and attributes: a failed close is ignored.
      return { phase: undefined, path: 'dest', committed: false };
    }
    if ((call.subject === dest && call.name === 'open') || XATTR_OPS.has(call.name)) {
      return { phase: 'xattrs', path: 'dest', committed: false };
    }
    if (creation.dropped(index) && isTemp(call) && ['close', 'unlink'].includes(call.name)) {
      // The probe of a new file's mode, dropped before its first byte: a failed close is
      // ignored, its unlink is part of creating the temp.
      return {
        phase: call.name === 'close' ? undefined : 'create-temp',
        path: 'dest',
        committed: false,
      };
    }
    if (isTemp(call) && call.name === 'open') {
      phase = 'create-temp';
    } else if (creation.mkdirs(index)) {
      phase = 'mkdirs'; // the first open met ENOENT: making the parents, then open again
    } else if (call.name === 'write') {
      phase = 'write';
    } else if (['fstat', 'stat'].includes(call.name) && dest.startsWith(`${call.subject}/`)) {
      // Pinning the directory when the download's turn begins (or, missing, the one above).
      phase = 'resolve';
    } else if (call.name === 'fstat' || call.name === 'fchmod') {
      phase = 'chmod';
    } else if (call.name === 'fchown') {
      phase = 'chown';
    } else if (isTemp(call) && call.name === 'fsync') {
      phase = 'fsync';
    } else if (isTemp(call) && call.name === 'close') {
      phase = 'close';
    } else if (call.name === 'rename' || call.name === 'link') {
      phase = call.name;
      published = true;
    } else if (call.subject === dest) {
      phase = 'resolve';
    }
    return { phase, path: 'dest', committed: false };
  });
}

let server: TestServer;
let total = 0;

describe('fault table: download', () => {
  before(async () => {
    server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
  });
  after(() => server.close());

  const scenarios = {
    existing: (dir: string) => {
      const dest = join(dir, 'data.bin');
      fs.writeFileSync(dest, OLD);
      fs.chmodSync(dest, 0o640);
      return { dest };
    },
    new: (dir: string) => ({ dest: join(dir, 'data.bin') }),
    'new, mkdirs': (dir: string) => ({ dest: join(dir, 'a', 'b', 'data.bin') }),
  };
  const cases: [string, keyof typeof scenarios, Parameters<typeof download>[2]][] = [
    ['existing destination', 'existing', {}],
    ['new destination, mode 0o600', 'new', { mode: 0o600 }],
    ['new destination, mkdirs', 'new, mkdirs', { mkdirs: true }],
    ['create-only', 'new', { overwrite: false }],
  ];
  for (const [name, scenario, options] of cases) {
    test(name, async (t) => {
      total += await runTable(t, `download, ${name}`, {
        setup: scenarios[scenario],
        run: (dest) => download(server.base, dest, options),
        expected: BODY,
        steps: (calls, dest) => downloadSteps(calls, dest),
      });
    });
  }
  test('table size', { skip: !isLinux && 'descriptor counting needs /proc' }, () => {
    process.stdout.write(`# download fault-table cases run: ${total}\n`);
    assert.ok(total > 100, `only ${total} cases ran`);
  });
});
