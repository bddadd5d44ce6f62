/**
 * Reading strace's output (`strace -f -qq -xx -y -o FILE`): lines into complete system calls.
 * With `-f` every line starts with the thread id; a call interrupted by another thread's line
 * is split into `name(args <unfinished ...>` and `<... name resumed>rest) = result`, and the
 * two halves are joined here. With `-xx` every string and every `-y` path annotation is
 * `\xNN` escapes only, so quotes, parentheses, spaces, newlines and bytes that are not UTF-8
 * never break a line apart. A trace cut short (the command killed, the disk full) ends in a
 * partial line or calls never resumed: those are reported, not guessed.
 */
import type { Bytes } from './model.js';

/** One argument value, as strace prints it. */
export type Value =
  | { readonly t: 'str'; readonly bytes: Bytes; readonly truncated: boolean }
  /** A number, a flag set, a constant, NULL — with the `<path>` strace -y adds to descriptors. */
  | { readonly t: 'word'; readonly text: string; readonly path?: Bytes | undefined }
  | { readonly t: 'list'; readonly open: '{' | '['; readonly items: readonly Value[] }
  | { readonly t: 'field'; readonly key: string; readonly value: Value }
  /** `[0] => [4096]`: a value before and after the call. */
  | { readonly t: 'arrow'; readonly before: Value; readonly after: Value };

export interface CallResult {
  /** The return value; undefined for `?`. */
  readonly value: number | undefined;
  /** The `-y` path of a returned descriptor. */
  readonly path?: Bytes | undefined;
  readonly errno?: string | undefined;
}

/** A complete system call. */
export interface Syscall {
  readonly pid: number;
  readonly name: string;
  readonly args: readonly Value[];
  readonly result: CallResult;
  /** Line numbers (1-based) where it started and where it finished. */
  readonly line: number;
  readonly endLine: number;
}

export interface TraceProblems {
  /** Lines that could not be read (a cut line at the end of a truncated trace). */
  unreadable: number;
  /** Calls that started but never finished in the trace. */
  unfinished: { pid: number; name: string; line: number }[];
  /** `resumed` lines with no matching start. */
  orphans: number;
}

const HEX = /^(?:\\x[0-9a-fA-F]{2})+$/;

/** Decode the inside of a C string as strace prints it. */
export function unescape(text: string): Bytes {
  let out = '';
  for (let at = 0; at < text.length; at += 1) {
    const char = text[at] ?? '';
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = text[at + 1] ?? '';
    at += 1;
    if (next === 'x') {
      out += String.fromCharCode(Number.parseInt(text.slice(at + 1, at + 3), 16));
      at += 2;
    } else if (next >= '0' && next <= '7') {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(text[at + 1] ?? '')) {
        at += 1;
        digits += text[at] ?? '';
      }
      out += String.fromCharCode(Number.parseInt(digits, 8) & 0xff);
    } else {
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f' };
      out += simple[next] ?? next;
    }
  }
  return out;
}

/** Decode a `-y` annotation: hex escapes (a path), or plain text such as `pipe:[1234]`. */
export function annotation(text: string): Bytes {
  return HEX.test(text) ? unescape(text) : text;
}

/** Parse the argument list of a call (the text between its parentheses). */
export function parseArgs(text: string): Value[] {
  const parser = new ArgParser(text);
  return parser.list(')');
}

class ArgParser {
  readonly #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  #peek(): string {
    return this.#text[this.#at] ?? '';
  }

  #skipSpace(): void {
    for (;;) {
      while (this.#peek() === ' ') this.#at += 1;
      if (this.#text.startsWith('/*', this.#at)) {
        const end = this.#text.indexOf('*/', this.#at + 2);
        this.#at = end === -1 ? this.#text.length : end + 2;
        continue;
      }
      return;
    }
  }

  /** Values separated by commas, up to `close` (or the end). */
  list(close: string): Value[] {
    const items: Value[] = [];
    for (;;) {
      this.#skipSpace();
      const char = this.#peek();
      if (char === '' || char === close) {
        if (char !== '') this.#at += 1;
        return items;
      }
      if (char === ',') {
        this.#at += 1;
        continue;
      }
      const before = this.#at;
      items.push(this.#value(close));
      if (this.#at === before) this.#at += 1; // never loop on unexpected input
    }
  }

  #value(close: string): Value {
    const first = this.#single(close);
    this.#skipSpace();
    if (this.#text.startsWith('=>', this.#at)) {
      this.#at += 2;
      this.#skipSpace();
      return { t: 'arrow', before: first, after: this.#single(close) };
    }
    return first;
  }

  #single(close: string): Value {
    const char = this.#peek();
    if (char === '"') return this.#string();
    if (char === '{' || char === '[') {
      this.#at += 1;
      return { t: 'list', open: char, items: this.list(char === '{' ? '}' : ']') };
    }
    const start = this.#at;
    while (this.#at < this.#text.length) {
      const c = this.#peek();
      if (
        c === ',' ||
        c === close ||
        c === '<' ||
        c === ' ' ||
        c === '=' ||
        c === '}' ||
        c === ']'
      ) {
        break;
      }
      if (c === '(') {
        // A call-like value, e.g. makedev(0x1, 0x3) or st_mode=S_IFREG|0644: keep it whole.
        const end = this.#text.indexOf(')', this.#at);
        this.#at = end === -1 ? this.#text.length : end + 1;
        continue;
      }
      this.#at += 1;
    }
    const text = this.#text.slice(start, this.#at);
    if (this.#peek() === '=' && !this.#text.startsWith('=>', this.#at)) {
      this.#at += 1;
      return { t: 'field', key: text, value: this.#value(close) };
    }
    if (this.#peek() === '<') {
      const end = this.#text.indexOf('>', this.#at);
      const inner = this.#text.slice(this.#at + 1, end === -1 ? this.#text.length : end);
      this.#at = end === -1 ? this.#text.length : end + 1;
      if (this.#text.startsWith('(deleted)', this.#at)) this.#at += '(deleted)'.length;
      return { t: 'word', text, path: annotation(inner) };
    }
    return { t: 'word', text };
  }

  #string(): Value {
    this.#at += 1;
    const start = this.#at;
    while (this.#at < this.#text.length && this.#peek() !== '"') {
      this.#at += this.#peek() === '\\' ? 2 : 1;
    }
    const bytes = unescape(this.#text.slice(start, this.#at));
    this.#at += 1;
    let truncated = false;
    if (this.#text.startsWith('...', this.#at)) {
      truncated = true;
      this.#at += 3;
    }
    return { t: 'str', bytes, truncated };
  }
}

/** Parse the text after ` = `. */
export function parseResult(text: string): CallResult {
  const match =
    /^(\?|-?0x[0-9a-fA-F]+|-?\d+)(?:<([^>]*)>(?:\(deleted\))?)?(?:\s+(E[A-Z0-9]+))?/.exec(
      text.trim(),
    );
  if (match === null) return { value: undefined };
  const [, raw = '?', path, errno] = match;
  const value = raw === '?' ? undefined : Number(raw.replace(/^(-?)0x/, '$10x'));
  return {
    value: Number.isNaN(value) ? undefined : value,
    path: path === undefined ? undefined : annotation(path),
    errno,
  };
}

const PREFIX = /^(?:\[pid\s+)?(\d+)\]?\s+/;
const START = /^([a-z_0-9]+)\((.*)$/;
const RESUMED = /^<\.\.\. ([a-z_0-9]+) resumed>(.*)$/;
const UNFINISHED = ' <unfinished ...>';

const RESULT = /\)\s+= /g;

/** Split `args) = result` at the last `) = ` (strace pads short calls with spaces before `=`). */
function splitResult(text: string): [string, string] | undefined {
  let found: RegExpExecArray | undefined;
  for (const match of text.matchAll(RESULT)) found = match;
  if (found === undefined) return undefined;
  return [text.slice(0, found.index), text.slice(found.index + found[0].length)];
}

/**
 * Turn trace lines into complete calls, in the order they finished, joining unfinished and
 * resumed halves per thread. `problems` collects what could not be read.
 */
export function* readSyscalls(
  lines: Iterable<string>,
  problems: TraceProblems,
  rootPid = 0,
): Generator<Syscall> {
  const pending = new Map<number, { name: string; args: string; line: number }>();
  let number = 0;
  for (const raw of lines) {
    number += 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const prefix = PREFIX.exec(line);
    const pid = prefix === null ? rootPid : Number(prefix[1]);
    const body = prefix === null ? line : line.slice(prefix[0].length);
    if (body.startsWith('+++') || body.startsWith('---')) continue;
    const resumed = RESUMED.exec(body);
    if (resumed !== null) {
      const [, name = '', rest = ''] = resumed;
      const start = pending.get(pid);
      if (start === undefined || start.name !== name) {
        problems.orphans += 1;
        continue;
      }
      pending.delete(pid);
      if (rest.endsWith(UNFINISHED)) {
        // Resumed and interrupted again.
        pending.set(pid, { ...start, args: start.args + rest.slice(0, -UNFINISHED.length) });
        continue;
      }
      const split = splitResult(start.args + rest);
      if (split === undefined) {
        problems.unreadable += 1;
        continue;
      }
      yield {
        pid,
        name,
        args: parseArgs(split[0]),
        result: parseResult(split[1]),
        line: start.line,
        endLine: number,
      };
      continue;
    }
    const started = START.exec(body);
    if (started === null) {
      problems.unreadable += 1;
      continue;
    }
    const [, name = '', rest = ''] = started;
    if (rest.endsWith(UNFINISHED)) {
      pending.set(pid, { name, args: rest.slice(0, -UNFINISHED.length), line: number });
      continue;
    }
    const split = splitResult(rest);
    if (split === undefined) {
      problems.unreadable += 1;
      continue;
    }
    yield {
      pid,
      name,
      args: parseArgs(split[0]),
      result: parseResult(split[1]),
      line: number,
      endLine: number,
    };
  }
  for (const [pid, start] of pending) {
    problems.unfinished.push({ pid, name: start.name, line: start.line });
  }
}

/** The text of a word value, or undefined. */
export function word(value: Value | undefined): string | undefined {
  return value?.t === 'word' ? value.text : undefined;
}

/** A number printed by strace (decimal, 0x hex, or 0-prefixed octal). */
export function numberOf(value: Value | undefined): number | undefined {
  const text = word(value);
  if (text === undefined) return undefined;
  if (/^-?0x[0-9a-fA-F]+$/.test(text)) return Number(text.replace(/^(-?)0x/, '$10x'));
  if (/^0[0-7]+$/.test(text)) return Number.parseInt(text, 8);
  if (/^-?\d+$/.test(text)) return Number(text);
  return undefined;
}

/** The flags of a `A|B|C` word (numbers in it are kept as text). */
export function flagsOf(value: Value | undefined): Set<string> {
  return new Set((word(value) ?? '').split('|'));
}

/** A field of a `{…}` value by key (of its `before` side for `{…} => {…}`). */
export function field(value: Value | undefined, key: string): Value | undefined {
  const inner = value?.t === 'arrow' ? value.before : value;
  if (inner?.t !== 'list') return undefined;
  for (const item of inner.items) if (item.t === 'field' && item.key === key) return item.value;
  return undefined;
}

/** The value inside `[n]`, or `[n] => [m]` (its `before` side). */
export function boxed(value: Value | undefined): number | undefined {
  const inner = value?.t === 'arrow' ? value.before : value;
  if (inner?.t !== 'list' || inner.open !== '[') return undefined;
  return numberOf(inner.items[0]);
}
