/** `atomic-fs audit`: the crash-state explorer on any command (strace front end). */
import { auditCommand } from '../audit/audit.js';
import { type PersistenceModel, PERSISTENCE_MODELS } from '../audit/model.js';
import { AUDIT_EXIT_STATUS, formatReport } from '../audit/report.js';
import { AUDIT_MAX_STATES } from '../audit/constants.js';
import { type Command, UsageError, flag, stringOption, stringsOption } from './command.js';

export const help = `Usage: atomic-fs audit [options] -- COMMAND [ARGS...]

Run COMMAND under strace, enumerate the states a power cut could leave in the audited
directory at every step, and check each one: every watched file must hold one of its
complete versions (never empty, torn or missing), and once the command reported done, its
final version.

Options:
  --watch PATH         a file to check (repeatable); default: every regular file the
                       command wrote, replaced, removed or created
  --dir DIR            the audited directory (default: the current directory)
  --exclude PATTERN    leave PATTERN out of the audit (repeatable): a name is skipped at
                       any depth, a path with a slash is relative to the audited directory
  --include PATTERN    audit PATTERN after all (repeatable): drops it from the exclusions,
                       default ones included (.git, node_modules)
  --check CMD          replace the built-in check: run the shell command CMD inside each
                       rebuilt crash state; exit status 0 means the state is consistent
                       (ATOMIC_FS_AUDIT_AFTER_DONE=1 in its environment when the crash
                       came after the command reported done, else 0)
  --jobs N             run N checks at once (default: the number of CPUs); the report
                       is the same whatever N
  --done-marker TEXT   the command reports done when it prints a line containing TEXT
                       (default: when it exits with status 0)
  --model MODEL        posix (default): only fsync makes data durable, only a directory
                       fsync makes an entry durable; ext4-ordered: also, data reaches disk
                       before the metadata that exposes it
  --max-states N       candidate crash states generated at most (default ${AUDIT_MAX_STATES})
  --json               print the report as JSON (the command's stdout goes to stderr)
  -h, --help           show this help

The report lists what was skipped and how many recorded operations fell there.

Exit status:
  0  safe: the watched files (or the --check) held in every crash state explored
  1  unsafe: a crash state violates the check
  2  usage or setup error (strace missing, io_uring in use, a directory too large)
  3  nothing checked: no file watched and no --check, or no file operation recorded
  4  the command failed (non-zero exit status) and no crash state was inconsistent
  5  the directory changed in ways the recording did not see (e.g. memory-mapped
     writes, another process): the states explored are not all a crash could leave
`;

function positiveInteger(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(text))
    throw new UsageError(`${name} must be a positive integer, not '${text}'`);
  return Number(text);
}

function modelOf(text: string | undefined): PersistenceModel | undefined {
  if (text === undefined) return undefined;
  const model = PERSISTENCE_MODELS.find((name) => name === text);
  if (model === undefined) {
    throw new UsageError(`--model must be one of ${PERSISTENCE_MODELS.join(', ')}, not '${text}'`);
  }
  return model;
}

export const command: Command = {
  help,
  positionals: true,
  options: {
    watch: { type: 'string', multiple: true },
    dir: { type: 'string' },
    exclude: { type: 'string', multiple: true },
    include: { type: 'string', multiple: true },
    check: { type: 'string' },
    'done-marker': { type: 'string' },
    model: { type: 'string' },
    'max-states': { type: 'string' },
    jobs: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    if (args.positionals.length === 0) throw new UsageError('missing COMMAND (after --)');
    const json = flag(args, 'json');
    const report = await auditCommand(args.positionals, {
      cwd: io.cwd,
      env: io.env,
      dir: stringOption(args, 'dir'),
      watch: args.values.watch === undefined ? undefined : stringsOption(args, 'watch'),
      exclude: args.values.exclude === undefined ? undefined : stringsOption(args, 'exclude'),
      include: args.values.include === undefined ? undefined : stringsOption(args, 'include'),
      check: stringOption(args, 'check'),
      doneMarker: stringOption(args, 'done-marker'),
      model: modelOf(stringOption(args, 'model')),
      maxStates: positiveInteger(stringOption(args, 'max-states'), '--max-states'),
      jobs: positiveInteger(stringOption(args, 'jobs'), '--jobs'),
      output: json ? 'stderr' : 'inherit',
    });
    io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return AUDIT_EXIT_STATUS[report.status];
  },
};
