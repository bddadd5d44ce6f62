/** `atomic-fs write`: a crash-safe `sponge` — standard input, to its end, replaces FILE. */
import { pipeline } from 'node:stream/promises';
import { openAtomic } from '../core/open-atomic.js';
import { AtomicFsError, wrapError } from '../engine/errors.js';
import { seam } from '../engine/fs.js';
import { errnoError } from '../engine/errors.js';
import { absolutePath } from '../core/target.js';
import { type Command, positionalsOf } from './command.js';
import { WRITE_FLAGS, writeFlagsOf } from './flags.js';

export const help = `Usage: atomic-fs write [options] FILE

Read standard input to its end, then replace FILE with it atomically and durably: a
crash-safe sponge. The input streams into a temp file beside FILE, and FILE itself is not
touched until the input has ended, so the input may come from FILE:

  sort data.txt | atomic-fs write data.txt

Readers of FILE, and FILE after a crash or power cut, see the old content or the new, never
a mix. If reading the input fails or this command is interrupted, FILE stays as it was.
A pipe does not say how the command before it ended: if that command fails halfway, what it
printed until then becomes FILE.

Options:
  --mode MODE          permission bits in octal (644, 0600, 0o644); default: FILE's
                       current mode, or 0666 minus the umask for a new file
  --no-overwrite       fail with EEXIST if FILE exists, or appears before the end
  --mkdirs             create missing parent directories
  --durability LEVEL   full (default): FILE and its directory entry are on disk when the
                       command ends; file: FILE's data only (a power cut may bring the
                       old file back); none: no fsync (atomic, but not durable)
  -h, --help           show this help

Exit status: 0 FILE replaced, 1 failure (one line naming FILE and the error code), 2 usage
error.
`;

/**
 * Refuse a directory as standard input (`< dir`): Node reads it as empty input, which would
 * replace FILE with nothing.
 */
async function checkInput(input: NodeJS.ReadableStream, path: string): Promise<void> {
  // Standard input of this process (Node sets `fd` on it); a test's own stream is not checked.
  if ((input as { fd?: unknown }).fd !== 0) return;
  const stats = await seam.async.fstat(0).catch(() => undefined);
  if (stats?.isDirectory() === true) {
    const error = errnoError('EISDIR', 'read', '<stdin>', 'standard input is a directory');
    throw wrapError(error, 'read-source', path);
  }
}

export const command: Command = {
  help,
  positionals: true,
  options: WRITE_FLAGS,
  async run(args, io) {
    const [file = ''] = positionalsOf(args, ['FILE']);
    // Not path.resolve: `..` after a symlink is for the kernel to resolve, as for any command.
    const path = absolutePath(file, io.cwd);
    const input = io.stdin;
    await checkInput(input, path);
    const handle = await openAtomic(path, writeFlagsOf(args));
    try {
      // Streamed, not buffered: memory stays bounded whatever the input's size.
      await pipeline(input, handle.writable());
    } catch (error) {
      await handle.discard();
      throw error instanceof AtomicFsError ? error : wrapError(error, 'read-source', path);
    }
    await handle.commit();
    return 0;
  },
};
