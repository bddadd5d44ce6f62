/**
 * Flag values shared by the subcommands, read from their text form (`--mode 644`,
 * `--older-than 1h`, …). A bad value is a UsageError naming the flag and what it accepts, so
 * the user sees one line and exit status 2, never a library TypeError.
 */
import { DURABILITIES } from '../core/constants.js';
import type { Durability } from '../core/options.js';
import {
  type OptionsConfig,
  type ParsedArgs,
  UsageError,
  flag,
  stringOption,
  stringsOption,
} from './command.js';

/** The flags of every command that writes a file: `write`, `cp`, `get`. */
export const WRITE_FLAGS = {
  mode: { type: 'string' },
  'no-overwrite': { type: 'boolean' },
  mkdirs: { type: 'boolean' },
  durability: { type: 'string' },
} as const satisfies OptionsConfig;

/** The library options those flags stand for. */
export interface WriteFlags {
  readonly mode: number | undefined;
  readonly overwrite: boolean;
  readonly mkdirs: boolean;
  readonly durability: Durability | undefined;
}

/** Permission bits in octal, as chmod takes them: `644`, `0644`, `0o644` (at most 0o7777). */
export function modeOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const digits = text.replace(/^0o/i, '');
  const mode = /^[0-7]+$/.test(digits) ? Number.parseInt(digits, 8) : NaN;
  if (!(mode <= 0o7777)) {
    throw new UsageError(
      `--mode must be octal permission bits such as 644 or 0o600, not '${text}'`,
    );
  }
  return mode;
}

export function durabilityOf(text: string | undefined): Durability | undefined {
  if (text === undefined) return undefined;
  const durability = DURABILITIES.find((name) => name === text);
  if (durability === undefined) {
    throw new UsageError(`--durability must be one of ${DURABILITIES.join(', ')}, not '${text}'`);
  }
  return durability;
}

export function writeFlagsOf(args: ParsedArgs): WriteFlags {
  return {
    mode: modeOf(stringOption(args, 'mode')),
    overwrite: !flag(args, 'no-overwrite'),
    mkdirs: flag(args, 'mkdirs'),
    durability: durabilityOf(stringOption(args, 'durability')),
  };
}

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
};

/** A duration with its unit, in milliseconds: `500ms`, `30s`, `15m`, `1h`, `2d`, `1.5h`. */
export function durationOf(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  const unit = match?.[2] === undefined ? undefined : DURATION_UNITS[match[2]];
  if (match?.[1] === undefined || unit === undefined) {
    throw new UsageError(`${name} must be a duration such as 30s, 15m, 1h or 2d, not '${text}'`);
  }
  return Math.round(Number(match[1]) * unit);
}

/** Largest timer the library accepts (setTimeout's limit), in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A number of seconds (decimals allowed), in milliseconds; `0` stays 0 ("never"). */
export function secondsOf(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d+(?:\.\d+)?$/.test(text) ? Math.round(Number(text) * 1000) : NaN;
  if (!(ms <= MAX_TIMER_MS)) {
    throw new UsageError(
      `${name} must be a number of seconds from 0 to ${Math.floor(MAX_TIMER_MS / 1000)}, not '${text}'`,
    );
  }
  return ms;
}

/** `--header 'Name: value'` flags, as `[name, value]` pairs; names and values are checked. */
export function headersOf(args: ParsedArgs, name: string): [string, string][] {
  return stringsOption(args, name).map((text) => {
    const colon = text.indexOf(':');
    const header = colon > 0 ? text.slice(0, colon).trim() : '';
    const value = text.slice(colon + 1).trim();
    try {
      if (header === '') throw new Error('no NAME before the colon');
      new Headers([[header, value]]);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new UsageError(`--${name} must look like 'NAME: VALUE', not '${text}' (${why})`);
    }
    return [header, value];
  });
}

/** A SHA-256 digest: 64 hexadecimal digits. */
export function sha256Of(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9a-f]{64}$/i.test(text)) {
    throw new UsageError(`--sha256 must be 64 hexadecimal digits, not '${text}'`);
  }
  return text.toLowerCase();
}

/** An http: or https: URL. */
export function httpUrlOf(text: string): URL {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`URL must be an http:// or https:// URL, not '${text}'`);
  }
  return url;
}
