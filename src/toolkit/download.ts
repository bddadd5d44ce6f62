/**
 * download: stream an HTTP(S) response body into place atomically, with Node's built-in
 * `fetch`. The body goes to a temp file beside the destination (core/call.ts, core/buffered-writer.ts);
 * nothing is published unless the final status is 2xx, the byte count equals Content-Length
 * when one was sent, and the optional SHA-256 matches. Redirects are followed by this module
 * (bounded, credentials dropped across origins) rather than by fetch, so that the limit and
 * its error are ours.
 */
import { createHash } from 'node:crypto';
import type { ReadableStreamReadResult as ReadResult } from 'node:stream/web';
import { DOWNLOAD_MAX_REDIRECTS, DOWNLOAD_TIMEOUT_MS } from './constants.js';
import {
  type AtomicFsError,
  type Phase,
  abortError,
  invalidArgument,
  ownError,
  wrapError,
} from '../engine/errors.js';
import { type PreparedCall, discardAsync, openTempAsync, resolveCall } from '../core/call.js';
import { type OptionKeys, omitKeys, optionList, optionsObject } from '../engine/option-keys.js';
import { type WriteOptions, WRITE_KEYS, normalizeOptions, pathOf } from '../core/options.js';
import { type Progress, type ProgressCallback, progressOf, report } from './progress.js';
import { BufferedWriter } from '../core/buffered-writer.js';
import { type TempFile, withLeftover } from '../core/replace-plans.js';
import { publishFilled } from '../core/write-file.js';

/** Request headers: a plain object, `[name, value]` pairs, or a `Headers` instance. */
export type DownloadHeaders =
  Readonly<Record<string, string>> | readonly (readonly [string, string])[] | Headers;

/** Options of `download`: the common write options (except `encoding`, `coalesce`), plus these. */
export interface DownloadOptions extends Omit<WriteOptions, 'encoding' | 'coalesce'> {
  /**
   * Request headers. `Accept-Encoding: identity` is sent unless you set it, so that the bytes
   * saved are the bytes served. `Authorization`, `Cookie` and `Proxy-Authorization` are not
   * sent again after a redirect to another origin.
   * @default {}
   * @example
   * import { download } from 'atomic-fs';
   * await download(url, 'release.tar.gz', { headers: { authorization: `Bearer ${token}` } });
   */
  readonly headers?: DownloadHeaders | undefined;

  /**
   * Expected SHA-256 of the body, as 64 hex digits. A mismatch rejects with
   * `ERR_ATOMIC_CHECKSUM` and publishes nothing.
   * @default undefined (not checked)
   * @example
   * import { download } from 'atomic-fs';
   * await download(url, 'node.tar.xz', { sha256: 'e3b0c44298fc1c149afbf4c8996fb924…' });
   */
  readonly sha256?: string | undefined;

  /**
   * Give up with `ERR_ATOMIC_TIMEOUT` when the server sends nothing for this many
   * milliseconds: neither response headers nor body bytes. It is a stall timeout, not a
   * deadline (for a deadline pass `signal: AbortSignal.timeout(ms)`). `0` or `Infinity`:
   * never.
   * @default 30000
   * @example
   * import { download } from 'atomic-fs';
   * await download(url, 'data.csv', { timeoutMs: 5000 });
   */
  readonly timeoutMs?: number | undefined;

  /**
   * Redirects (301, 302, 303, 307, 308) followed before giving up with
   * `ERR_ATOMIC_TOO_MANY_REDIRECTS`. `0` refuses every redirect.
   * @default 10
   * @example
   * import { download } from 'atomic-fs';
   * await download(url, 'file.bin', { maxRedirects: 0 });
   */
  readonly maxRedirects?: number | undefined;

  /**
   * Called with `{ bytes, total }` (total: Content-Length, when sent) once the headers arrive
   * and after each chunk of the body. If it throws, the download stops, nothing is published
   * and the call rejects with `ERR_ATOMIC_CALLBACK`.
   * @default undefined
   * @example
   * import { download } from 'atomic-fs';
   * await download(url, 'big.iso', { onProgress: ({ bytes, total }) => bar.update(bytes, total) });
   */
  readonly onProgress?: ((progress: Progress) => void) | undefined;
}

interface DownloadSettings {
  readonly url: URL;
  readonly headers: Headers;
  readonly sha256: string | undefined;
  readonly timeoutMs: number;
  readonly maxRedirects: number;
  readonly onProgress: ProgressCallback | undefined;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
const TIMED_OUT = Symbol('timed out');

function causeText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause === undefined) return message;
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : '';
  return `${message} (${code !== '' ? code : causeText(cause)})`;
}

/**
 * One AbortController for every request and body read of a download: aborted by the
 * caller's signal, or by the stall timer, which runs only while waiting for the network.
 */
class Watchdog {
  readonly #controller = new AbortController();
  readonly #ms: number;
  readonly #user: AbortSignal | undefined;
  readonly #dest: string;
  #timer: NodeJS.Timeout | undefined;
  readonly #onUserAbort = (): void => {
    this.#controller.abort(this.#user?.reason);
  };

  constructor(ms: number, user: AbortSignal | undefined, dest: string) {
    this.#ms = ms;
    this.#user = user;
    this.#dest = dest;
    if (user?.aborted === true) this.#controller.abort(user.reason);
    else user?.addEventListener('abort', this.#onUserAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Start (or restart) the stall timer. */
  arm(): void {
    this.disarm();
    if (this.#ms === 0 || this.#ms === Infinity) return;
    this.#timer = setTimeout(() => {
      this.#controller.abort(TIMED_OUT);
    }, this.#ms);
  }

  disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Stop everything; with `cancel`, tear down a connection whose body was not read. */
  stop(cancel: boolean): void {
    this.disarm();
    this.#user?.removeEventListener('abort', this.#onUserAbort);
    if (cancel && !this.#controller.signal.aborted) this.#controller.abort();
  }

  /** The error for a failed request or read: timeout, abort, or `otherwise`. */
  failure(error: unknown, phase: Phase, otherwise: () => AtomicFsError): AtomicFsError {
    const { signal } = this.#controller;
    if (signal.aborted && signal.reason === TIMED_OUT) {
      return ownError(
        'ERR_ATOMIC_TIMEOUT',
        phase,
        this.#dest,
        `the server sent nothing for ${this.#ms} ms`,
        error,
      );
    }
    if (this.#user?.aborted === true) {
      return abortError(this.#dest, this.#user.reason);
    }
    return otherwise();
  }
}

async function cancelBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

/** Request `settings.url`, following redirects; resolves with a 2xx response. */
async function request(
  settings: DownloadSettings,
  watchdog: Watchdog,
  dest: string,
): Promise<Response> {
  let url = settings.url;
  let headers = settings.headers;
  for (let redirects = 0; ; redirects += 1) {
    let response: Response;
    watchdog.arm();
    try {
      response = await fetch(url, { headers, signal: watchdog.signal, redirect: 'manual' });
    } catch (error) {
      throw watchdog.failure(error, 'fetch', () =>
        ownError('ERR_ATOMIC_NETWORK', 'fetch', dest, `${url.href}: ${causeText(error)}`, error),
      );
    } finally {
      watchdog.disarm();
    }
    const location = response.headers.get('location');
    if (REDIRECT_STATUSES.has(response.status) && location !== null) {
      await cancelBody(response);
      if (redirects >= settings.maxRedirects) {
        throw ownError(
          'ERR_ATOMIC_TOO_MANY_REDIRECTS',
          'fetch',
          dest,
          `more than ${settings.maxRedirects} redirects (the last from ${url.href} to ${location})`,
        );
      }
      const next = URL.canParse(location, url.href) ? new URL(location, url) : undefined;
      if (next === undefined || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
        throw ownError(
          'ERR_ATOMIC_BAD_REDIRECT',
          'fetch',
          dest,
          `${url.href} redirects to ${JSON.stringify(location)}, which is not an http(s) URL`,
        );
      }
      if (next.origin !== url.origin) {
        headers = new Headers(headers);
        for (const name of CREDENTIAL_HEADERS) headers.delete(name);
      }
      url = next;
      continue;
    }
    if (response.status < 200 || response.status > 299) {
      await cancelBody(response);
      const status = Object.assign(
        new Error(`HTTP ${response.status} ${response.statusText}`.trim()),
        { status: response.status, url: url.href },
      );
      throw ownError(
        'ERR_ATOMIC_HTTP_STATUS',
        'fetch',
        dest,
        `${url.href} answered ${response.status} ${response.statusText}`.trim(),
        status,
      );
    }
    return response;
  }
}

/** The body's length from Content-Length, when the bytes we read are the bytes it counts. */
function expectedLength(headers: Headers): number | undefined {
  const encoding = headers.get('content-encoding');
  // fetch decodes compressed bodies; Content-Length then counts the encoded bytes.
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return undefined;
  const value = headers.get('content-length');
  return value !== null && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
}

function sizeMismatch(dest: string, bytes: number, total: number, cause?: unknown): AtomicFsError {
  return ownError(
    'ERR_ATOMIC_SIZE_MISMATCH',
    'verify',
    dest,
    `Content-Length announced ${total} bytes, ${bytes === total ? 'but the body failed' : `the body ${cause === undefined ? 'had' : 'ended after'} ${bytes}`}`,
    cause,
  );
}

/** Read the body into the temp file `fd`, then check its length and checksum. */
async function receive(
  call: PreparedCall,
  response: Response,
  fd: number,
  settings: DownloadSettings,
  watchdog: Watchdog,
): Promise<void> {
  const { job, options } = call;
  const dest = job.dest;
  const total = expectedLength(response.headers);
  const hash = settings.sha256 === undefined ? undefined : createHash('sha256');
  const writer = new BufferedWriter(job, fd, options.signal);
  let bytes = 0;
  report(settings.onProgress, dest, bytes, total);
  const reader = response.body?.getReader();
  if (reader !== undefined) {
    for (;;) {
      let step: ReadResult<Uint8Array>;
      watchdog.arm();
      try {
        step = await reader.read();
      } catch (error) {
        throw watchdog.failure(error, 'read-source', () =>
          total !== undefined
            ? sizeMismatch(dest, bytes, total, error)
            : ownError('ERR_ATOMIC_NETWORK', 'read-source', dest, causeText(error), error),
        );
      } finally {
        watchdog.disarm();
      }
      if (step.done) break;
      const chunk = step.value;
      bytes += chunk.byteLength;
      if (total !== undefined && bytes > total) throw sizeMismatch(dest, bytes, total);
      hash?.update(chunk);
      await writer.add(chunk);
      report(settings.onProgress, dest, bytes, total);
    }
  }
  await writer.flush();
  if (total !== undefined && bytes !== total) throw sizeMismatch(dest, bytes, total);
  if (hash !== undefined && settings.sha256 !== undefined) {
    const actual = hash.digest('hex');
    if (actual !== settings.sha256) {
      throw ownError(
        'ERR_ATOMIC_CHECKSUM',
        'verify',
        dest,
        `SHA-256 of the body is ${actual}, expected ${settings.sha256}`,
      );
    }
  }
}

/** Request, then fill a temp file with the verified body; the temp is not yet published. */
async function fetchInto(call: PreparedCall, settings: DownloadSettings): Promise<TempFile> {
  const { job, options } = call;
  const watchdog = new Watchdog(settings.timeoutMs, options.signal, job.dest);
  let consumed = false;
  try {
    const response = await request(settings, watchdog, job.dest);
    // Created only now: a failed request never makes a temp file.
    let temp: TempFile;
    try {
      temp = await openTempAsync(job);
    } catch (error) {
      await cancelBody(response);
      throw error;
    }
    try {
      await receive(call, response, temp.fd, settings, watchdog);
      consumed = true;
    } catch (error) {
      const failure = wrapError(error, 'read-source', job.dest);
      throw withLeftover(failure, await discardAsync(job, temp.fd, temp.created));
    }
    return temp;
  } finally {
    watchdog.stop(!consumed);
  }
}

function urlOf(value: unknown): URL {
  let url: URL;
  if (value instanceof URL) url = new URL(value.href);
  else if (typeof value === 'string' && URL.canParse(value)) url = new URL(value);
  else {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The "url" argument must be an http(s) URL string or an instance of URL. Received ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `The "url" argument must use http: or https:. Received ${url.protocol}`,
    );
  }
  return url;
}

function countOf(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') {
    throw invalidArgument(
      'ERR_INVALID_ARG_TYPE',
      `The option "${name}" must be of type number. Received type ${typeof value}`,
    );
  }
  if (value !== Infinity && (!Number.isInteger(value) || value < 0 || value > max)) {
    throw invalidArgument(
      'ERR_OUT_OF_RANGE',
      `The option "${name}" must be an integer from 0 to ${max}${name === 'timeoutMs' ? ', or Infinity' : ''}. Received ${String(value)}`,
    );
  }
  if (value === Infinity && name !== 'timeoutMs') {
    throw invalidArgument(
      'ERR_OUT_OF_RANGE',
      `The option "${name}" must be an integer from 0 to ${max}. Received Infinity`,
    );
  }
  return value;
}

function settingsOf(url: URL, options: DownloadOptions | undefined): DownloadSettings {
  let headers: Headers;
  try {
    headers = new Headers(options?.headers as ConstructorParameters<typeof Headers>[0]);
  } catch (error) {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `The option "headers" is not valid: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (!headers.has('accept-encoding')) headers.set('accept-encoding', 'identity');
  const sha256 = options?.sha256;
  if (sha256 !== undefined && (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(sha256))) {
    throw invalidArgument(
      'ERR_INVALID_ARG_VALUE',
      `The option "sha256" must be 64 hexadecimal digits. Received ${typeof sha256 === 'string' ? JSON.stringify(sha256) : typeof sha256}`,
    );
  }
  return {
    url,
    headers,
    sha256: sha256?.toLowerCase(),
    timeoutMs: countOf('timeoutMs', options?.timeoutMs, DOWNLOAD_TIMEOUT_MS, 2 ** 31 - 1),
    maxRedirects: countOf('maxRedirects', options?.maxRedirects, DOWNLOAD_MAX_REDIRECTS, 1000),
    onProgress: progressOf(options?.onProgress),
  };
}

const DOWNLOAD = optionList('download', {
  ...omitKeys(WRITE_KEYS, 'encoding', 'coalesce'),
  headers: true,
  sha256: true,
  timeoutMs: true,
  maxRedirects: true,
  onProgress: true,
} satisfies OptionKeys<DownloadOptions>);

/**
 * Download `url` into `dest` atomically and durably. The body streams to a temp file beside
 * `dest` in bounded memory; `dest` is replaced only when the status is 2xx, the length
 * matches Content-Length (when sent) and the SHA-256 matches (when given). On any failure —
 * a 404, a dropped connection, a wrong checksum, an abort, a timeout — `dest` is untouched and
 * no temp file remains.
 *
 * @example
 * import { download } from 'atomic-fs';
 * await download('https://example.com/data.json', 'cache/data.json', { timeoutMs: 10_000 });
 */
export async function download(
  url: string | URL,
  dest: string | URL,
  options?: DownloadOptions,
): Promise<void> {
  const href = urlOf(url);
  const destination = pathOf(dest, 'dest');
  const o = optionsObject<DownloadOptions>(options, DOWNLOAD);
  const settings = settingsOf(href, o);
  const call = resolveCall({ dest: destination, options: normalizeOptions(o, DOWNLOAD) });
  // The body streams in now (unless the call is refused: then nothing is requested);
  // publishing waits for earlier writes to the same file.
  return publishFilled(call.job, call.options.signal, () => fetchInto(call, settings));
}
