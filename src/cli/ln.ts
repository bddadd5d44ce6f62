/** `atomic-fs ln`: the atomic symlink switch (replaceSymlink). */
import { replaceSymlink } from '../tree/replace-symlink.js';
import { absolutePath } from '../core/target.js';
import { type Command, flag, positionalsOf, stringOption } from './command.js';
import { durabilityOf } from './flags.js';

export const help = `Usage: atomic-fs ln [options] TARGET LINK

Point the symlink LINK at TARGET atomically and durably, the deployment switch:

  atomic-fs ln releases/42 current

A new symlink is made under a temp name beside LINK and renamed over it in one step, so a
reader resolving LINK finds the old target or the new one, never nothing. TARGET is stored
as given (a relative TARGET is relative to LINK's directory, as with ln -s) and need not
exist. A symlink at LINK is replaced, never followed; anything else there is refused unless
--force.

Options:
  -f, --force          replace LINK even if it is a file, or an empty directory (exchanged
                       atomically with the new link); a non-empty directory is refused
  --mkdirs             create missing parent directories of LINK
  --durability LEVEL   full (default): the switch survives a power cut once the command
                       ends; file or none: no directory fsync (a power cut may undo it)
  -h, --help           show this help

Exit status: 0 switched, 1 failure (one line naming LINK and the error code), 2 usage error.
`;

export const command: Command = {
  help,
  positionals: true,
  options: {
    force: { type: 'boolean', short: 'f' },
    mkdirs: { type: 'boolean' },
    durability: { type: 'string' },
  },
  async run(args, io) {
    const [target = '', link = ''] = positionalsOf(args, ['TARGET', 'LINK']);
    const options = {
      force: flag(args, 'force'),
      mkdirs: flag(args, 'mkdirs'),
      durability: durabilityOf(stringOption(args, 'durability')),
    };
    await replaceSymlink(target, absolutePath(link, io.cwd), options);
    return 0;
  },
};
