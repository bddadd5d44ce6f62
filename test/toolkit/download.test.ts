/**
 * download against real HTTP servers on 127.0.0.1 started by each test: bodies fast, slow,
 * truncated and dropped; wrong lengths; redirects (relative, chains, loops, to other origins
 * and other schemes); 404s; checksums; aborts and stalls; and a 1 GiB body in bounded memory.
 * Every failure: destination untouched, no temp file, no file descriptor left open.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { AtomicFsError, download } from '../../src/index.js';
import { fdsUnder, tempsUnder } from '../faults/table.js';
import { instrument, isLinux, list, tempDir } from '../support/helpers.js';
import { type TestServer, serve, stream } from '../support/http.js';

const BODY = Buffer.from('{"version":2,"data":"'.concat('x'.repeat(5000), '"}\n'));
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function server(
  t: { after: (fn: () => Promise<void>) => void },
  handler: Parameters<typeof serve>[0],
): Promise<TestServer> {
  const s = await serve(handler);
  t.after(() => s.close());
  return s;
}

/** A directory with an existing destination holding OLD. */
function place(t: Parameters<typeof tempDir>[0]): { dir: string; dest: string } {
  const dir = tempDir(t);
  const dest = join(dir, 'data.json');
  fs.writeFileSync(dest, 'OLD');
  return { dir, dest };
}

/** Run a download that must fail; check the guarantees; return the error. */
async function fails(dir: string, dest: string, run: () => Promise<void>): Promise<AtomicFsError> {
  let error: unknown;
  try {
    await run();
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof AtomicFsError, `expected an AtomicFsError, got ${String(error)}`);
  assert.equal(error.path, dest);
  assert.equal(fs.readFileSync(dest, 'utf8'), 'OLD', 'destination untouched');
  assert.deepEqual(tempsUnder(dir), [], 'no temp file');
  if (isLinux) assert.deepEqual(fdsUnder(dir), [], 'no descriptor left open');
  return error;
}

describe('download', () => {
  test('seed use case: download into place, replacing the old version', async (t) => {
    const s = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
    const { dir, dest } = place(t);
    const seen: { bytes: number; total: number | undefined }[] = [];
    await download(`${s.base}/data.json`, dest, {
      sha256: sha(BODY),
      onProgress: (p) => seen.push(p),
    });
    assert.deepEqual(fs.readFileSync(dest), BODY);
    assert.deepEqual(list(dir), ['data.json']);
    assert.deepEqual(seen[0], { bytes: 0, total: BODY.length });
    assert.deepEqual(seen.at(-1), { bytes: BODY.length, total: BODY.length });
    // The request asked for the bytes as served.
    assert.equal(s.requests[0]?.headers['accept-encoding'], 'identity');
    // A second, failing download (bad checksum) leaves the good one in place.
    await assert.rejects(download(`${s.base}/data.json`, dest, { sha256: 'a'.repeat(64) }), {
      code: 'ERR_ATOMIC_CHECKSUM',
    });
    assert.deepEqual(fs.readFileSync(dest), BODY);
    assert.deepEqual(list(dir), ['data.json']);
  });

  test('a new file, with mode and mkdirs; a chunked body (no Content-Length)', async (t) => {
    const s = await server(t, (_req, res) => {
      res.writeHead(200);
      res.write(BODY.subarray(0, 100));
      setTimeout(() => res.end(BODY.subarray(100)), 20);
    });
    const dir = tempDir(t);
    const dest = join(dir, 'cache', 'v2', 'data.json');
    const seen: (number | undefined)[] = [];
    await download(s.base, dest, {
      mode: 0o600,
      mkdirs: true,
      onProgress: ({ total }) => seen.push(total),
    });
    assert.deepEqual(fs.readFileSync(dest), BODY);
    assert.equal(fs.statSync(dest).mode & 0o777, 0o600);
    assert.ok(seen.every((total) => total === undefined));
  });

  test('a 404 and a 500: ERR_ATOMIC_HTTP_STATUS, and no temp file is ever created', async (t) => {
    const s = await server(t, (req, res) => {
      res.writeHead(req.url === '/gone' ? 404 : 500, { 'content-type': 'text/plain' });
      res.end('error page that must not be saved');
    });
    const { dir, dest } = place(t);
    const recorder = instrument(t);
    for (const [path, status] of [
      ['/gone', 404],
      ['/broken', 500],
    ] as const) {
      const error = await fails(dir, dest, () => download(`${s.base}${path}`, dest));
      assert.equal(error.code, 'ERR_ATOMIC_HTTP_STATUS');
      assert.equal(error.phase, 'fetch');
      assert.equal((error.cause as { status?: number }).status, status);
      assert.match(error.message, new RegExp(`${status}`));
    }
    assert.ok(!recorder.calls.some((call) => call.name === 'open'), 'no file was opened');
  });

  test('a body cut short of its Content-Length: ERR_ATOMIC_SIZE_MISMATCH', async (t) => {
    const s = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.write(BODY.subarray(0, 1000));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { dir, dest } = place(t);
    const error = await fails(dir, dest, () => download(s.base, dest));
    assert.equal(error.code, 'ERR_ATOMIC_SIZE_MISMATCH');
    assert.equal(error.phase, 'verify');
    // Under load the client may see the connection drop before the 1000 bytes sent first.
    const ended = new RegExp(`announced ${BODY.length} bytes, the body ended after (\\d+)`).exec(
      error.message,
    );
    assert.ok(ended !== null, error.message);
    assert.ok(Number(ended[1]) <= 1000, error.message);
  });

  test('a dropped connection without Content-Length: ERR_ATOMIC_NETWORK', async (t) => {
    const s = await server(t, (_req, res) => {
      res.writeHead(200); // chunked
      res.write(BODY.subarray(0, 1000));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { dir, dest } = place(t);
    const error = await fails(dir, dest, () => download(s.base, dest));
    assert.equal(error.code, 'ERR_ATOMIC_NETWORK');
    assert.equal(error.phase, 'read-source');
  });

  test('a body longer than its Content-Length: HTTP framing keeps exactly Content-Length bytes', async (t) => {
    const s = await server(t, (req) => {
      req.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\n0123456789');
    });
    const dir = tempDir(t);
    const dest = join(dir, 'out');
    await download(s.base, dest);
    assert.equal(fs.readFileSync(dest, 'utf8'), '01234');
  });

  test('a compressed body is saved decoded; its Content-Length is not compared', async (t) => {
    const gz = gzipSync(BODY);
    const s = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(gz.length) });
      res.end(gz);
    });
    const dir = tempDir(t);
    await download(s.base, join(dir, 'out'), { sha256: sha(BODY) });
    assert.deepEqual(fs.readFileSync(join(dir, 'out')), BODY);
  });

  test('a slow body within the stall timeout succeeds, however long it takes in all', async (t) => {
    const s = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      void stream(res, BODY, BODY.length, 0).then(() => undefined);
    });
    const slow = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(BODY.length) });
      void (async () => {
        for (let i = 0; i < BODY.length; i += 1000) {
          res.write(BODY.subarray(i, i + 1000));
          await new Promise((resolve) => setTimeout(resolve, 60));
        }
        res.end();
      })();
    });
    const dir = tempDir(t);
    await download(s.base, join(dir, 'fast'));
    const started = Date.now();
    await download(slow.base, join(dir, 'slow'), { timeoutMs: 250 });
    assert.ok(Date.now() - started >= 250, 'took longer than the stall timeout in all');
    assert.deepEqual(fs.readFileSync(join(dir, 'slow')), BODY);
  });

  test('a stall, before the headers or within the body: ERR_ATOMIC_TIMEOUT', async (t) => {
    const s = await server(t, (req, res) => {
      if (req.url === '/headers') return; // never answers
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.write(BODY.subarray(0, 100)); // then nothing
    });
    const { dir, dest } = place(t);
    const before = await fails(dir, dest, () =>
      download(`${s.base}/headers`, dest, { timeoutMs: 150 }),
    );
    assert.equal(before.code, 'ERR_ATOMIC_TIMEOUT');
    assert.equal(before.phase, 'fetch');
    const within = await fails(dir, dest, () =>
      download(`${s.base}/body`, dest, { timeoutMs: 150 }),
    );
    assert.equal(within.code, 'ERR_ATOMIC_TIMEOUT');
    assert.equal(within.phase, 'read-source');
  });

  test('redirects: relative, absolute, chains of 301/302/303/307/308 are followed', async (t) => {
    const s = await server(t, (req, res) => {
      const hops: Record<string, [number, string]> = {
        '/a': [301, '/b'],
        '/b': [302, 'c'],
        '/c': [303, '/d?x=1'],
        '/d?x=1': [307, '/e'],
        '/e': [308, '/final'],
      };
      const hop = hops[req.url ?? ''];
      if (hop !== undefined) {
        res.writeHead(hop[0], { location: hop[1] });
        res.end('moved');
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
    const dir = tempDir(t);
    await download(`${s.base}/a`, join(dir, 'out'));
    assert.deepEqual(fs.readFileSync(join(dir, 'out')), BODY);
    assert.deepEqual(
      s.requests.map((r) => r.url),
      ['/a', '/b', '/c', '/d?x=1', '/e', '/final'],
    );
  });

  test('a redirect loop and too many redirects: ERR_ATOMIC_TOO_MANY_REDIRECTS', async (t) => {
    const s = await server(t, (req, res) => {
      res.writeHead(302, { location: req.url === '/ping' ? '/pong' : '/ping' });
      res.end();
    });
    const { dir, dest } = place(t);
    const loop = await fails(dir, dest, () => download(`${s.base}/ping`, dest));
    assert.equal(loop.code, 'ERR_ATOMIC_TOO_MANY_REDIRECTS');
    assert.equal(s.requests.length, 11, 'the first request and 10 redirects');
    const none = await fails(dir, dest, () =>
      download(`${s.base}/ping`, dest, { maxRedirects: 0 }),
    );
    assert.equal(none.code, 'ERR_ATOMIC_TOO_MANY_REDIRECTS');
  });

  test('a redirect to another scheme is refused: ERR_ATOMIC_BAD_REDIRECT', async (t) => {
    const s = await server(t, (_req, res) => {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
    });
    const { dir, dest } = place(t);
    const error = await fails(dir, dest, () => download(s.base, dest));
    assert.equal(error.code, 'ERR_ATOMIC_BAD_REDIRECT');
  });

  test('credentials are kept on same-origin redirects and dropped across origins', async (t) => {
    const other = await server(t, (_req, res) => {
      res.end('elsewhere');
    });
    const s = await server(t, (req, res) => {
      if (req.url === '/same') {
        res.writeHead(302, { location: '/final' });
      } else if (req.url === '/cross') {
        res.writeHead(302, { location: `${other.base}/final` });
      } else {
        res.end('here');
        return;
      }
      res.end();
    });
    const dir = tempDir(t);
    const headers = { authorization: 'Bearer secret', cookie: 'a=b', 'x-custom': 'kept' };
    await download(`${s.base}/same`, join(dir, 'same'), { headers });
    assert.equal(s.requests[1]?.headers.authorization, 'Bearer secret');
    await download(`${s.base}/cross`, join(dir, 'cross'), { headers });
    assert.equal(fs.readFileSync(join(dir, 'cross'), 'utf8'), 'elsewhere');
    const far = other.requests[0]?.headers;
    assert.equal(far?.authorization, undefined);
    assert.equal(far?.cookie, undefined);
    assert.equal(far?.['x-custom'], 'kept');
  });

  test('a checksum mismatch: ERR_ATOMIC_CHECKSUM; upper-case hex is accepted', async (t) => {
    const s = await server(t, (_req, res) => {
      res.end(BODY);
    });
    const { dir, dest } = place(t);
    const wrong = sha(Buffer.from('something else'));
    const error = await fails(dir, dest, () => download(s.base, dest, { sha256: wrong }));
    assert.equal(error.code, 'ERR_ATOMIC_CHECKSUM');
    assert.equal(error.phase, 'verify');
    assert.match(error.message, new RegExp(sha(BODY)));
    await download(s.base, dest, { sha256: sha(BODY).toUpperCase() });
    assert.deepEqual(fs.readFileSync(dest), BODY);
  });

  test('abort: before the call, before the headers, and mid-body', async (t) => {
    const s = await server(t, (req, res) => {
      if (req.url === '/late') {
        setTimeout(() => res.end(BODY), 2000).unref();
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY.length * 10) });
      void stream(res, BODY, BODY.length * 10, 30);
    });
    const { dir, dest } = place(t);
    const already = await fails(dir, dest, () =>
      download(s.base, dest, { signal: AbortSignal.abort() }),
    );
    assert.equal(already.code, 'ABORT_ERR');
    const early = new AbortController();
    setTimeout(() => {
      early.abort();
    }, 50);
    const headers = await fails(dir, dest, () =>
      download(`${s.base}/late`, dest, { signal: early.signal }),
    );
    assert.equal(headers.code, 'ABORT_ERR');
    const mid = new AbortController();
    const body = await fails(dir, dest, () =>
      download(`${s.base}/body`, dest, {
        signal: mid.signal,
        onProgress: ({ bytes }) => {
          if (bytes > BODY.length) mid.abort(new Error('enough'));
        },
      }),
    );
    assert.equal(body.code, 'ABORT_ERR');
    assert.equal(body.name, 'AbortError');
  });

  test('an onProgress that throws stops the download: ERR_ATOMIC_CALLBACK', async (t) => {
    const s = await server(t, (_req, res) => {
      res.end(BODY);
    });
    const { dir, dest } = place(t);
    const error = await fails(dir, dest, () =>
      download(s.base, dest, {
        onProgress: ({ bytes }) => {
          if (bytes > 0) throw new Error('no thanks');
        },
      }),
    );
    assert.equal(error.code, 'ERR_ATOMIC_CALLBACK');
  });

  test('a refused connection: ERR_ATOMIC_NETWORK, phase fetch', async (t) => {
    const s = await serve((_req, res) => res.end());
    const base = s.base;
    await s.close(); // nothing listens on that port any more
    const { dir, dest } = place(t);
    const error = await fails(dir, dest, () => download(base, dest));
    assert.equal(error.code, 'ERR_ATOMIC_NETWORK');
    assert.equal(error.phase, 'fetch');
  });

  test('create-only: EEXIST, the body is not kept', async (t) => {
    const s = await server(t, (_req, res) => {
      res.end(BODY);
    });
    const { dir, dest } = place(t);
    const error = await fails(dir, dest, () => download(s.base, dest, { overwrite: false }));
    assert.equal(error.code, 'EEXIST');
  });

  test('validates its arguments before any request', async (t) => {
    const s = await server(t, (_req, res) => {
      res.end('x');
    });
    const dest = join(tempDir(t), 'out');
    const bad: [unknown[], string][] = [
      [['ftp://example.com/x', dest], 'ERR_INVALID_ARG_VALUE'],
      [['not a url', dest], 'ERR_INVALID_ARG_TYPE'],
      [[42, dest], 'ERR_INVALID_ARG_TYPE'],
      [[s.base, ''], 'ERR_INVALID_ARG_VALUE'],
      [[s.base, dest, { sha256: 'abc' }], 'ERR_INVALID_ARG_VALUE'],
      [[s.base, dest, { timeoutMs: -1 }], 'ERR_OUT_OF_RANGE'],
      [[s.base, dest, { maxRedirects: 1.5 }], 'ERR_OUT_OF_RANGE'],
      [[s.base, dest, { headers: { 'bad header': 'x' } }], 'ERR_INVALID_ARG_VALUE'],
      [[s.base, dest, { onProgress: 1 }], 'ERR_INVALID_ARG_TYPE'],
      [[s.base, dest, { timeoutMs: '5s' }], 'ERR_INVALID_ARG_TYPE'],
      [[s.base, dest, { maxRedirects: Infinity }], 'ERR_OUT_OF_RANGE'],
      [[s.base, dest, 'utf8'], 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [args, code] of bad) {
      await assert.rejects(
        (download as (...a: unknown[]) => Promise<void>)(...args),
        (error: unknown) =>
          (error instanceof TypeError || error instanceof RangeError) &&
          (error as { code?: string }).code === code,
        JSON.stringify(args),
      );
    }
    assert.equal(s.requests.length, 0);
    await download(s.base, dest, { timeoutMs: Infinity, maxRedirects: 0 });
    assert.equal(fs.readFileSync(dest, 'utf8'), 'x');
  });

  test('a 1 GiB body streams through in bounded memory', async (t) => {
    const GiB = 1024 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x5a);
    const s = await server(t, (_req, res) => {
      res.writeHead(200, { 'content-length': String(GiB) });
      void stream(res, chunk, GiB).then(() => res.end());
    });
    const dir = tempDir(t);
    const dest = join(dir, 'big.bin');
    global.gc?.();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    let calls = 0;
    const started = Date.now();
    await download(s.base, dest, {
      durability: 'file',
      onProgress: () => {
        calls += 1;
        if (calls % 64 === 0) peak = Math.max(peak, process.memoryUsage.rss());
      },
    });
    peak = Math.max(peak, process.memoryUsage.rss());
    const growth = (peak - baseline) / (1024 * 1024);
    process.stdout.write(
      `# 1 GiB download: ${((Date.now() - started) / 1000).toFixed(1)} s, peak RSS growth ${growth.toFixed(1)} MiB\n`,
    );
    assert.equal(fs.statSync(dest).size, GiB);
    const fd = fs.openSync(dest, 'r');
    const probe = Buffer.alloc(16);
    fs.readSync(fd, probe, 0, 16, GiB - 16);
    fs.closeSync(fd);
    assert.deepEqual(probe, Buffer.alloc(16, 0x5a));
    fs.unlinkSync(dest);
    assert.ok(growth < 128, `peak RSS grew by ${growth.toFixed(1)} MiB`);
  });
});
