/**
 * The subcommands of `atomic-fs`. Adding one: a file exporting `command: Command`, and one
 * line here (loaded only when used, so `atomic-fs --help` stays fast).
 */
import type { Command } from './command.js';

export interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<{ readonly command: Command }>;
}

export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  write: {
    summary: 'replace a file with standard input, atomically (a crash-safe sponge)',
    load: () => import('./write.js'),
  },
  audit: {
    summary: 'explore the crash states of a command under strace',
    load: () => import('./audit.js'),
  },
  demo: {
    summary: 'audit four ways to save a file, side by side',
    load: () => import('./demo.js'),
  },
};
