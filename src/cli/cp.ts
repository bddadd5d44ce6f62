/** `atomic-fs cp`: an atomic, durable copy (copyFile), with a progress bar on a terminal. */
import { basename, join } from 'node:path';
import { CLI_COPY_PROGRESS_MIN_BYTES } from './constants.js';
import { AtomicFsError } from '../engine/errors.js';
import { copyFile } from '../toolkit/copy-file.js';
import { seam } from '../engine/fs.js';
import { absolutePath } from '../core/target.js';
import { type Command, flag, positionalsOf } from './command.js';
import { WRITE_FLAGS, writeFlagsOf } from './flags.js';
import { progressBar } from './progress.js';

export const help = `Usage: atomic-fs cp [options] SRC DEST

Copy the regular file SRC to DEST atomically and durably: DEST holds its old content or the
complete copy, never a part of it, also after a crash or power cut. DEST names the copy
itself (not a directory to copy into). The kernel's copy is used where it can be (reflink,
copy_file_range). A FIFO, socket or device, as SRC or DEST, is refused (a stream is piped
into atomic-fs write instead).

On a terminal, a progress bar (bytes, rate, time left) is drawn on standard error when SRC
has ${CLI_COPY_PROGRESS_MIN_BYTES / 1024 / 1024} MiB or more. The bar needs a read/write loop instead of the kernel's copy; --quiet
keeps the kernel's copy.

Options:
  --mode MODE          permission bits of DEST in octal (644, 0o444); default: SRC's
  --no-overwrite       fail with EEXIST if DEST exists, or appears before the end
  --mkdirs             create missing parent directories of DEST
  --durability LEVEL   full (default), file or none (see atomic-fs write --help)
  -q, --quiet          no progress bar
  -h, --help           show this help

Exit status: 0 copied, 1 failure (one line naming the path and the error code), 2 usage
error.
`;

/** Whether `path` is a directory now (EISDIR also means "a path ending in / names no directory"). */
async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await seam.async.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Whether a copy of `src` is worth a progress bar (only a regular file is copied). */
async function large(src: string): Promise<boolean> {
  try {
    const stats = await seam.async.lstat(await seam.async.realpath(src));
    return stats.isFile() && stats.size >= CLI_COPY_PROGRESS_MIN_BYTES;
  } catch {
    return false; // copyFile reports the problem with the source in its own words.
  }
}

export const command: Command = {
  help,
  positionals: true,
  options: { ...WRITE_FLAGS, quiet: { type: 'boolean', short: 'q' } },
  async run(args, io) {
    const [src = '', dest = ''] = positionalsOf(args, ['SRC', 'DEST']);
    // Not path.resolve: `..` after a symlink is for the kernel to resolve, as for any command.
    const source = absolutePath(src, io.cwd);
    const options = writeFlagsOf(args);
    let bar = progressBar(io.stderr, flag(args, 'quiet'));
    if (bar !== undefined && !(await large(source))) bar = undefined;
    const target = absolutePath(dest, io.cwd);
    try {
      await copyFile(source, target, { ...options, onProgress: bar?.update });
    } catch (error) {
      bar?.clear();
      // DEST is the copy itself: an atomic replace of one name, never "into" a directory.
      if (
        error instanceof AtomicFsError &&
        error.code === 'EISDIR' &&
        (await isDirectory(target))
      ) {
        throw Object.assign(
          new Error(
            `EISDIR: DEST '${dest}' is a directory: name the copy itself, such as '${join(dest, basename(src))}'`,
          ),
          { code: 'EISDIR' },
        );
      }
      throw error;
    }
    bar?.finish();
    return 0;
  },
};
