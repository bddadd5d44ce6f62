/** `atomic-fs demo`: four ways to save a file, each audited for power cuts, in one table. */
import { runDemo } from './demo-writers.js';
import { type Command, flag } from './command.js';

export const help = `Usage: atomic-fs demo [--in-process]

Audit four ways to save a settings file side by side and print one table: (1) in-place
fs.writeFileSync, (2) temp file + rename without fsync, (3) fsync + rename without a
directory fsync, (4) atomic-fs writeFile. Each is explored for a power cut at every step;
the table gives the crash states explored and the violations found, by kind.

Options:
  --in-process   use the in-process front end even when strace is available
  -h, --help     show this help
`;

export const command: Command = {
  help,
  positionals: false,
  options: { 'in-process': { type: 'boolean' } },
  async run(args, io) {
    await runDemo({
      frontEnd: flag(args, 'in-process') ? 'in-process' : 'auto',
      env: io.env,
      write: (text) => {
        io.stdout.write(text);
      },
    });
    return 0;
  },
};
