/**
 * What every subcommand of the `atomic-fs` binary provides, and the context it runs in.
 * A subcommand is one file exporting `command: Command`, plus one line in commands.ts.
 */
import type { ParseArgsConfig } from 'node:util';

/** Where a command writes text; `isTTY` and `columns` as on `process.stderr`. */
export interface CliOutput {
  write(text: string): unknown;
  /** Whether this is a terminal (progress bars are drawn only there). @default false */
  readonly isTTY?: boolean | undefined;
  /** The terminal's width in characters (0 or absent: unknown). */
  readonly columns?: number | undefined;
}

/** Where a command writes, and the process facts it may use (tests pass their own). */
export interface CliIo {
  /** Standard input (read by `write`). @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream | undefined;
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
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
  /** The full `--help` text (also docs/cli.md, checked by the tests). */
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

/**
 * The positional arguments, exactly as many as `names` (used in the messages): a missing,
 * empty or extra one is a UsageError. (An empty path would resolve to the working directory.)
 */
export function positionalsOf(args: ParsedArgs, names: readonly string[]): string[] {
  const given = args.positionals;
  const missing = names[given.length];
  if (missing !== undefined) throw new UsageError(`missing ${missing}`);
  const extra = given[names.length];
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  const empty = given.findIndex((value) => value === '');
  if (empty !== -1) throw new UsageError(`${names[empty] ?? 'an argument'} must not be empty`);
  return [...given];
}
