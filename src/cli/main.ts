/**
 * The `atomic-fs` command line: `main(argv)` returns the exit status, so it is tested
 * in-process with captured output as well as through the built binary.
 *
 * Exit status: 0 success, 1 a runtime failure (one line; the stack only with `--debug`) or
 * a negative result (an audit that found violations), 2 bad usage or a setup problem.
 */
import { parseArgs } from 'node:util';
import { VERSION } from './constants.js';
import { AuditSetupError } from '../audit/errors.js';
import { errorCode } from '../engine/errors.js';
import { closestKey } from '../engine/option-keys.js';
import { type CliIo, type OptionsConfig, type ParsedArgs, UsageError } from './command.js';
import { COMMANDS, type CommandEntry } from './commands.js';

const NAME = 'atomic-fs';

/** The top-level `--help` text. */
export function topHelp(commands: Readonly<Record<string, CommandEntry>> = COMMANDS): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((name) => name.length));
  const lines = Object.entries(commands).map(
    ([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`,
  );
  return (
    `Usage: ${NAME} <command> [options]\n\n` +
    'Replace files atomically and durably, and prove it under simulated power cuts.\n\n' +
    `Commands:\n${lines.join('\n')}\n\n` +
    'Options:\n' +
    '  -h, --help     show this help (also: atomic-fs <command> --help)\n' +
    '  -v, --version  print the version\n' +
    '  --debug        print the stack of an unexpected error\n'
  );
}

function hint(command?: string): string {
  return `Run '${NAME}${command === undefined ? '' : ` ${command}`} --help' for usage.\n`;
}

/**
 * A Node-style argument error (TypeError/RangeError with ERR_INVALID_ARG_* or
 * ERR_OUT_OF_RANGE) from the library: a value the command passed on unchecked, so bad usage.
 */
function isArgumentError(error: unknown): boolean {
  return (
    (error instanceof TypeError || error instanceof RangeError) &&
    /^ERR_(?:INVALID_ARG_|OUT_OF_RANGE)/.test(errorCode(error) ?? '')
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The library's hints name its options ("pass mkdirs: true"); a user passes flags. */
function inFlags(text: string, options: OptionsConfig): string {
  return text.replace(/\bpass (\w+): true\b/g, (whole, name: string) => {
    const option = name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    return Object.hasOwn(options, option) ? `pass --${option}` : whole;
  });
}

/**
 * A flag the command line could not take, in our words: Node's parseArgs messages quote
 * unevenly ("Option '-f, --force' does not take an argument") and suggest `--` for what is
 * nearly always a misspelt flag. An unknown flag is named, with the nearest known one when
 * there is one; every message names one flag or argument, quoted once.
 */
function parseProblem(error: unknown, options: OptionsConfig): string {
  const code = errorCode(error);
  const text = message(error).split('\n')[0] ?? '';
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // Node: "Option '-f, --force' does not take an argument", "Option '--mode <value>' argument missing".
    const name = /--([\w-]+)/.exec(text)?.[1];
    if (name !== undefined && text.endsWith('does not take an argument')) {
      return `option '--${name}' takes no value`;
    }
    if (name !== undefined && text.endsWith('argument missing')) {
      return `option '--${name}' needs a value`;
    }
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const argument = /^Unexpected argument '(.*)'\. This command does not take/s.exec(text)?.[1];
    if (argument !== undefined) return `unexpected argument '${argument}'`;
  }
  if (code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return text;
  const flag = /'(-[^']*)'/.exec(text)?.[1] ?? text;
  const meant = closestKey(flag.replace(/^-+/, '').split('=')[0] ?? '', [
    ...Object.keys(options),
    'help',
  ]);
  return meant === undefined
    ? `unknown option '${flag}' (an argument that starts with '-' goes after '--')`
    : `unknown option '${flag}'. Did you mean '--${meant}'?`;
}

/**
 * Run the command line `argv` (without the node and script paths); returns the exit status.
 * `commands` is the table of subcommands (commands.ts; a test may pass its own).
 */
export async function main(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
  commands: Readonly<Record<string, CommandEntry>> = COMMANDS,
): Promise<number> {
  const ctx: Required<CliIo> = {
    // Read lazily: touching process.stdin opens it.
    get stdin() {
      return io.stdin ?? process.stdin;
    },
    stdout: io.stdout,
    stderr: io.stderr,
    cwd: io.cwd ?? process.cwd(),
    env: io.env ?? process.env,
  };
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const debug = argv.slice(0, end).includes('--debug');
  const args = [...argv.slice(0, end).filter((arg) => arg !== '--debug'), ...argv.slice(end)];
  const first = args[0];
  if (first === undefined) {
    ctx.stderr.write(topHelp(commands));
    return 2;
  }
  if (first === '-h' || first === '--help') {
    ctx.stdout.write(topHelp(commands));
    return 0;
  }
  if (first === '-v' || first === '--version') {
    ctx.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const entry = Object.hasOwn(commands, first) ? commands[first] : undefined;
  if (entry === undefined) {
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    ctx.stderr.write(`${NAME}: ${what}\n${hint()}`);
    return 2;
  }
  const { command } = await entry.load();
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({
      args: args.slice(1),
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.positionals,
      strict: true,
    });
  } catch (error) {
    ctx.stderr.write(`${NAME} ${first}: ${parseProblem(error, command.options)}\n${hint(first)}`);
    return 2;
  }
  if (parsed.values.help === true) {
    ctx.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(parsed, ctx);
  } catch (error) {
    if (error instanceof UsageError || isArgumentError(error)) {
      ctx.stderr.write(`${NAME} ${first}: ${message(error).split('\n')[0] ?? ''}\n${hint(first)}`);
      return 2;
    }
    if (error instanceof AuditSetupError) {
      ctx.stderr.write(`${NAME} ${first}: ${error.message}\n`);
      if (debug && error.stack !== undefined) ctx.stderr.write(`${error.stack}\n`);
      return 2;
    }
    const line = inFlags(message(error).split('\n')[0] ?? '', command.options);
    ctx.stderr.write(`${NAME} ${first}: ${line}\n`);
    if (debug && error instanceof Error && error.stack !== undefined) {
      ctx.stderr.write(`${error.stack}\n`);
    }
    return 1;
  }
}
