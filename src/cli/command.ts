/**
 * What every subcommand of the `atomic-fs` binary provides, and the context it runs in.
 * A subcommand is one file exporting `command: Command`, plus one line in commands.ts.
 */
import type { ParseArgsConfig } from 'node:util';

/** Where a command writes, and the process facts it may use (tests pass their own). */
export interface CliIo {
  /** Standard input (for commands that read data, like a future `write`). @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream | undefined;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** The working directory. @default process.cwd() */
  readonly cwd?: string | undefined;
  /** The environment (PATH for strace, …). @default process.env */
  readonly env?: NodeJS.ProcessEnv | undefined;
}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Parsed arguments, as `util.parseArgs` returns them. */
export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
}

export interface Command {
  /** The full `--help` text (also the README's CLI section). */
  readonly help: string;
  /** Options for `util.parseArgs` (`--help` is added to every command). */
  readonly options: OptionsConfig;
  /** Whether the command takes positional arguments (after `--` they always are). */
  readonly positionals: boolean;
  /** Run; returns the exit status. Throw `UsageError` for bad arguments (exit 2). */
  run(args: ParsedArgs, io: Required<CliIo>): Promise<number>;
}

/** Bad arguments: one line, a hint to `--help`, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A string option's value (the last one if repeated). */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name];
  if (Array.isArray(value)) {
    const last = value.at(-1);
    return typeof last === 'string' ? last : undefined;
  }
  return typeof value === 'string' ? value : undefined;
}

/** A repeatable string option's values. */
export function stringsOption(args: ParsedArgs, name: string): string[] {
  const value = args.values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter(
    (item): item is string => typeof item === 'string',
  );
}

/** A boolean flag. */
export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
