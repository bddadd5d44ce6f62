#!/usr/bin/env node
// Runs every compiled test file (build/test/**/*.test.js) with Node's built-in test runner.
// A script rather than a shell glob, so that it works the same on every platform and Node 20.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

const only = process.argv.slice(2);
const files = find('build/test')
  .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
  .sort();
// Two test files at a time, whatever the core count (Node's default is one fewer than the
// cores: one on CI's two): most of the suite waits on fsync and child processes, not the CPU,
// and each file is its own process, so descriptor counts and seams stay per file.
// ATOMIC_FS_TEST_CONCURRENCY=1 runs them one by one.
const concurrency = process.env.ATOMIC_FS_TEST_CONCURRENCY ?? '2';
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
