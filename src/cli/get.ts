/** `atomic-fs get`: an atomic, verified download (download), with a progress bar on a terminal. */
import { DOWNLOAD_MAX_REDIRECTS, DOWNLOAD_TIMEOUT_MS } from '../toolkit/constants.js';
import { download } from '../toolkit/download.js';
import { absolutePath } from '../core/target.js';
import { type Command, flag, positionalsOf, stringOption } from './command.js';
import { WRITE_FLAGS, headersOf, httpUrlOf, secondsOf, sha256Of, writeFlagsOf } from './flags.js';
import { progressBar } from './progress.js';

export const help = `Usage: atomic-fs get [options] URL DEST

Download URL (http or https) into the file DEST atomically and durably. The body streams
into a temp file beside DEST; DEST is replaced only when the final status is 2xx, the body
has the length the server announced (Content-Length) and, with --sha256, the expected
checksum. On any failure DEST stays as it was. Redirects are followed (at most ${DOWNLOAD_MAX_REDIRECTS}). On a
terminal, a progress bar (bytes, rate, time left when the size is known) is drawn on
standard error.

Options:
  --sha256 HEX         the body's expected SHA-256 (64 hexadecimal digits)
  --header 'N: V'      send the request header N with the value V (repeatable)
  --timeout SECONDS    give up when the server sends nothing for this long: a stall,
                       not a deadline (default ${DOWNLOAD_TIMEOUT_MS / 1000}; 0: never)
  --mode MODE          permission bits of DEST in octal (644, 0o600); default: DEST's
                       current mode, or 0666 minus the umask for a new file
  --no-overwrite       fail with EEXIST if DEST exists, or appears before the end
  --mkdirs             create missing parent directories of DEST
  --durability LEVEL   full (default), file or none (see atomic-fs write --help)
  -q, --quiet          no progress bar
  -h, --help           show this help

Exit status: 0 saved, 1 failure (one line with the error code: ERR_ATOMIC_HTTP_STATUS,
ERR_ATOMIC_SIZE_MISMATCH, ERR_ATOMIC_CHECKSUM, ERR_ATOMIC_TIMEOUT, ERR_ATOMIC_NETWORK, or a
file-system code such as ENOSPC), 2 usage error.
`;

export const command: Command = {
  help,
  positionals: true,
  options: {
    sha256: { type: 'string' },
    header: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    ...WRITE_FLAGS,
    quiet: { type: 'boolean', short: 'q' },
  },
  async run(args, io) {
    const [url = '', dest = ''] = positionalsOf(args, ['URL', 'DEST']);
    const options = {
      ...writeFlagsOf(args),
      headers: headersOf(args, 'header'),
      sha256: sha256Of(stringOption(args, 'sha256')),
      timeoutMs: secondsOf(stringOption(args, 'timeout'), '--timeout'),
    };
    const href = httpUrlOf(url);
    const bar = progressBar(io.stderr, flag(args, 'quiet'));
    try {
      await download(href, absolutePath(dest, io.cwd), { ...options, onProgress: bar?.update });
    } catch (error) {
      bar?.clear();
      throw error;
    }
    bar?.finish();
    return 0;
  },
};
