/**
 * `atomic-fs get` against a real HTTP server on 127.0.0.1: the body saved exactly, headers
 * sent, and one clear line with exit status 1 for an HTTP error status, a size mismatch, a
 * checksum mismatch and a stall — DEST left as it was each time.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { temps, tempDir } from '../support/helpers.js';
import { serve, type TestServer } from '../support/http.js';
import { cli, screenLines, spawnCli } from '../support/cli.js';

const BODY = randomBytes(200_000);
const SHA = createHash('sha256').update(BODY).digest('hex');

/**
 * /file: BODY; /short: announces more than it sends; /stall: never answers; /echo: the
 * request headers (chunked); anything else: 404.
 */
async function server(t: { after: (fn: () => Promise<void>) => void }): Promise<TestServer> {
  const started = await serve((req, res) => {
    switch (req.url) {
      case '/file':
        res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
        return;
      case '/short':
        res.writeHead(200, { 'content-length': BODY.length });
        res.write(BODY.subarray(0, 1000), () => res.destroy());
        return;
      case '/stall':
        return;
      case '/echo': // chunked: no Content-Length
        res.writeHead(200).write(JSON.stringify(req.headers));
        res.end();
        return;
      default:
        res.writeHead(404).end('no such thing');
    }
  });
  t.after(() => started.close());
  return started;
}

test('get: the body is saved exactly, with --sha256 and --mode; nothing printed', async (t) => {
  const { base } = await server(t);
  const dir = tempDir(t);
  const result = await cli(
    ['get', '--sha256', SHA.toUpperCase(), '--mode', '600', `${base}/file`, 'out'],
    {
      cwd: dir,
    },
  );
  assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
  assert.ok(fs.readFileSync(join(dir, 'out')).equals(BODY));
  assert.equal(fs.statSync(join(dir, 'out')).mode & 0o777, 0o600);
  assert.deepEqual(temps(dir), []);
});

test('get: --header is sent (repeatable)', async (t) => {
  const { base } = await server(t);
  const dir = tempDir(t);
  const result = await cli(
    [
      'get',
      '--header',
      'Authorization: Bearer abc',
      '--header',
      'x-trace:  42 ',
      `${base}/echo`,
      'h.json',
    ],
    { cwd: dir },
  );
  assert.equal(result.code, 0, result.stderr);
  const seen = JSON.parse(fs.readFileSync(join(dir, 'h.json'), 'utf8')) as Record<string, string>;
  assert.equal(seen.authorization, 'Bearer abc');
  assert.equal(seen['x-trace'], '42');
});

test('get: HTTP status, size and checksum mismatch, stall: exit 1, one line, DEST kept', async (t) => {
  const { base } = await server(t);
  const dir = tempDir(t);
  const dest = join(dir, 'dest');
  fs.writeFileSync(dest, 'previous');
  const wrong = '0'.repeat(64);
  const cases: [string[], RegExp][] = [
    [
      [`${base}/missing`],
      /^atomic-fs get: ERR_ATOMIC_HTTP_STATUS: http:\/\/127\.0\.0\.1:\d+\/missing answered 404 Not Found \('[^']*\/dest'\)\n$/,
    ],
    [
      [`${base}/short`],
      /^atomic-fs get: ERR_ATOMIC_SIZE_MISMATCH: Content-Length announced 200000 bytes, the body ended after \d+ \('[^']*\/dest'\)\n$/,
    ],
    [
      ['--sha256', wrong, `${base}/file`],
      new RegExp(
        `^atomic-fs get: ERR_ATOMIC_CHECKSUM: SHA-256 of the body is ${SHA}, expected ${wrong} \\('[^']*/dest'\\)\\n$`,
      ),
    ],
    [
      ['--timeout', '0.2', `${base}/stall`],
      /^atomic-fs get: ERR_ATOMIC_TIMEOUT: the server sent nothing for 200 ms \('[^']*\/dest'\)\n$/,
    ],
    [['http://127.0.0.1:1/refused'], /^atomic-fs get: ERR_ATOMIC_NETWORK: .*\('[^']*\/dest'\)\n$/],
  ];
  for (const [args, expected] of cases) {
    const result = await cli(['get', ...args, 'dest'], { cwd: dir });
    assert.equal(result.code, 1, args.join(' '));
    assert.equal(result.stdout, '');
    assert.match(result.stderr, expected);
    assert.equal(fs.readFileSync(dest, 'utf8'), 'previous');
    assert.deepEqual(temps(dir), []);
  }
});

test('get: usage errors exit 2 before any request', async (t) => {
  const server = await serve((_req, res) => res.end('x'));
  t.after(() => server.close());
  const dir = tempDir(t);
  const url = `${server.base}/x`;
  const cases: [string[], RegExp][] = [
    [['get', url], /^atomic-fs get: missing DEST\n/],
    [
      ['get', 'ftp://example.com/x', 'd'],
      /^atomic-fs get: URL must be an http:\/\/ or https:\/\/ URL, not 'ftp:\/\/example\.com\/x'\n/,
    ],
    [['get', 'not a url', 'd'], /^atomic-fs get: URL must be/],
    [
      ['get', '--sha256', 'abc', url, 'd'],
      /^atomic-fs get: --sha256 must be 64 hexadecimal digits, not 'abc'\n/,
    ],
    [
      ['get', '--header', 'no colon', url, 'd'],
      /^atomic-fs get: --header must look like 'NAME: VALUE', not 'no colon'/,
    ],
    [['get', '--header', ': v', url, 'd'], /^atomic-fs get: --header must look like 'NAME: VALUE'/],
    [
      ['get', '--header', 'bad name: v', url, 'd'],
      /^atomic-fs get: --header must look like 'NAME: VALUE'/,
    ],
    [['get', '--timeout=-1', url, 'd'], /^atomic-fs get: --timeout must be a number of seconds/],
    [
      ['get', '--timeout', '1e9', url, 'd'],
      /^atomic-fs get: --timeout must be a number of seconds/,
    ],
    [
      ['get', '--timeout', '9999999', url, 'd'],
      /^atomic-fs get: --timeout must be a number of seconds/,
    ],
  ];
  for (const [argv, expected] of cases) {
    const result = await cli(argv, { cwd: dir });
    assert.equal(result.code, 2, argv.join(' '));
    assert.match(result.stderr, expected);
    assert.match(result.stderr, /\nRun 'atomic-fs get --help' for usage\.\n$/);
  }
  assert.equal(server.requests.length, 0);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('get: on a terminal, a progress bar with the total; none with --quiet', async (t) => {
  const { base } = await server(t);
  const dir = tempDir(t);
  const tty = { columns: 120 };
  const drawn = await cli(['get', `${base}/file`, 'out'], { cwd: dir, tty });
  assert.equal(drawn.code, 0, drawn.stderr);
  assert.match(drawn.stderr, /^\r +0% \[-{30}\] {2}0 B \/ 195\.3 KiB {2}/);
  assert.match(
    screenLines(drawn.stderr)[0] ?? '',
    /^100% \[#{30}\] {2}195\.3 KiB \/ 195\.3 KiB {2}.*in [\d.]+s$/,
  );
  assert.ok(drawn.stderr.endsWith('\n'));
  const quiet = await cli(['get', '--quiet', `${base}/file`, 'out'], { cwd: dir, tty });
  assert.deepEqual(quiet, { code: 0, stdout: '', stderr: '' });
  // Without Content-Length: bytes and rate, no percentage.
  const open = await cli(['get', `${base}/echo`, 'echo'], { cwd: dir, tty });
  assert.equal(open.code, 0, open.stderr);
  assert.match(screenLines(open.stderr)[0] ?? '', /^\d+ B {2}[\d.]+ [KMG]?i?B\/s {2}in [\d.]+s$/);
  const failed = await cli(['get', `${base}/short`, 'out'], { cwd: dir, tty });
  assert.equal(failed.code, 1);
  // The bar's line is erased before the error, which stands alone.
  assert.ok(failed.stderr.includes('\r\x1b[Katomic-fs get: ERR_ATOMIC_SIZE_MISMATCH: '));
});

test('get (spawned): saves, and reports a 404 in one line with exit status 1', async (t) => {
  const { base } = await server(t);
  const dir = tempDir(t);
  const saved = await spawnCli(['get', '--sha256', SHA, `${base}/file`, 'out'], { cwd: dir });
  assert.equal(saved.code, 0, saved.stderr);
  assert.equal(saved.stderr, '');
  assert.ok(fs.readFileSync(join(dir, 'out')).equals(BODY));
  const missing = await spawnCli(['get', `${base}/missing`, 'out'], { cwd: dir });
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^atomic-fs get: ERR_ATOMIC_HTTP_STATUS: [^\n]* 404 Not Found [^\n]*\n$/,
  );
  assert.ok(fs.readFileSync(join(dir, 'out')).equals(BODY));
});
