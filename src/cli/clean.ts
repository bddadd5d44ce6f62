/** `atomic-fs clean`: remove the temp files crashed writers left (cleanupTemps). */
import { isAbsolute, relative } from 'node:path';
import { cleanupTemps } from '../toolkit/cleanup-temps.js';
import { seam } from '../engine/fs.js';
import { absolutePath } from '../core/target.js';
import { type Command, flag, positionalsOf, stringOption } from './command.js';
import { durationOf } from './flags.js';

export const help = `Usage: atomic-fs clean [options] DIR

Remove what atomic-fs writers killed by a signal or cut off by a power cut left in DIR:
temp files and temp links (.data.txt.afs-1f2e-4242-0123456789abcdef.tmp; a link is never
followed) and trees staged by writeDirectory (.site.afs-1f2e-4242-0123456789abcdef.stage).
A temp written on this host is removed when its process is gone, never while it runs; a
temp written from another host (a shared file system), whose process cannot be checked,
once it is older than --older-than. No other file is ever touched. Prints each one removed.

Options:
  --older-than AGE     the age for temps whose writer cannot be checked: 30s, 15m, 1h, 2d
                       (default 1h)
  --age-only           decide by age alone, also for this host's temps (for containers
                       that share DIR and a host name, but not process ids)
  -r, --recursive      also look in subdirectories, at any depth (not following symlinks)
  -n, --dry-run        remove nothing; print what would be removed
  -h, --help           show this help

Exit status: 0 done (also when nothing was found), 1 failure (one line naming the path and
the error code), 2 usage error.
`;

/**
 * The directory as the kernel resolves it (realpath() is exactly that for an existing one): a
 * `..` after a symlink names the physical parent, where the temps are looked for and removed.
 */
async function physical(dir: string): Promise<string> {
  try {
    return await seam.async.realpath(dir);
  } catch {
    return dir; // cleanupTemps reports the problem in its own words.
  }
}

export const command: Command = {
  help,
  positionals: true,
  options: {
    'older-than': { type: 'string' },
    'age-only': { type: 'boolean' },
    recursive: { type: 'boolean', short: 'r' },
    'dry-run': { type: 'boolean', short: 'n' },
  },
  async run(args, io) {
    const [dir = ''] = positionalsOf(args, ['DIR']);
    const dryRun = flag(args, 'dry-run');
    const found = await cleanupTemps(await physical(absolutePath(dir, io.cwd)), {
      olderThanMs: durationOf(stringOption(args, 'older-than'), '--older-than'),
      byOwner: !flag(args, 'age-only'),
      recursive: flag(args, 'recursive'),
      dryRun,
    });
    // Paths as the user wrote DIR: relative stays relative.
    const shown = found.map((path) => (isAbsolute(dir) ? path : relative(io.cwd, path)));
    for (const path of shown) io.stdout.write(`${dryRun ? 'would remove' : 'removed'} ${path}\n`);
    if (found.length === 0) io.stdout.write(`no abandoned temp files in ${dir}\n`);
    return 0;
  },
};
