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
  cp: { summary: 'copy a file atomically and durably', load: () => import('./cp.js') },
  get: {
    summary: 'download a URL into a file atomically, verified',
    load: () => import('./get.js'),
  },
  ln: { summary: 'point a symlink at a new target atomically', load: () => import('./ln.js') },
  clean: {
    summary: 'remove temp files left by crashed writers',
    load: () => import('./clean.js'),
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
