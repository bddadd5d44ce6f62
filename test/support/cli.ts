/**
 * Running the command line in tests: in-process (`main(argv, io)` with captured output and a
 * given standard input) and as the built binary (a child process, asynchronous so that an
 * HTTP server in the test process keeps answering), optionally under a pseudo-terminal.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Standard input (default: empty). */
  readonly stdin?: NodeJS.ReadableStream;
  /** Pretend standard error is a terminal this wide. */
  readonly tty?: { readonly columns: number };
}

/** `main(argv)` in this process, output captured. */
export async function cli(argv: string[], options: CliOptions = {}): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdin: options.stdin ?? Readable.from([]),
    stdout: { write: (text: string) => (stdout += text) },
    stderr: {
      write: (text: string) => (stderr += text),
      isTTY: options.tty !== undefined,
      columns: options.tty?.columns,
    },
    cwd: options.cwd,
    env: options.env,
  });
  return { code, stdout, stderr };
}

/** The built binary (build/src/cli/bin.js, the same code as dist/cli/bin.js). */
export const BIN = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));

export interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface SpawnOptions {
  readonly cwd?: string;
  /** Standard input: bytes, a stream piped in, or a file descriptor (default: empty). */
  readonly input?: Uint8Array | Readable | number;
  /** Arguments for node before the script (e.g. `--import`). */
  readonly nodeArgs?: readonly string[];
}

/** Run `file args` as a child process; resolves when it exits. */
export function spawnProcess(
  file: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<Spawned> {
  const { input } = options;
  const child = spawn(file, args, {
    cwd: options.cwd,
    stdio: [typeof input === 'number' ? input : 'pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  let stderr = '';
  assert.ok(child.stdout !== null && child.stderr !== null);
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  if (child.stdin !== null) {
    // The child may exit before reading everything (a usage error): not our failure.
    child.stdin.on('error', () => undefined);
    if (input instanceof Readable) input.pipe(child.stdin);
    else child.stdin.end(input);
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr });
    });
  });
}

/** Run the built binary with `args`. */
export function spawnCli(args: readonly string[], options: SpawnOptions = {}): Promise<Spawned> {
  return spawnProcess(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], options);
}

/** Quote for `sh`. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Whether util-linux `script` (Debian package bsdutils) can give a command a terminal. */
export const hasScript =
  process.platform === 'linux' &&
  spawnSync('script', ['-qec', 'true', '/dev/null'], { stdio: 'ignore' }).status === 0;

/**
 * Run the built binary on a pseudo-terminal (`script -qec … /dev/null`): its standard output
 * and error both reach the terminal, whose output is what `stdout` holds here.
 */
export function spawnCliOnTerminal(args: readonly string[], cwd: string): Promise<Spawned> {
  const command = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
  return spawnProcess('script', ['-qec', command, '/dev/null'], { cwd });
}

/** The lines of a terminal's output, each as the last frame drawn on it (after `\r`). */
export function screenLines(output: string): string[] {
  return output
    .split(/\r?\n/)
    .map((line) => line.split('\r').at(-1) ?? '')
    .map((line) => line.replaceAll('\x1b[K', ''));
}
