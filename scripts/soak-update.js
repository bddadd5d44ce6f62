#!/usr/bin/env node
// `npm run soak:update`: the multi-process updateJson tests with bigger numbers (8 × 1,000
// increments, 200 kills of the settings saver) and the unlocked control. Not part of CI.
import { spawnSync } from 'node:child_process';

const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', 'build/test/processes/update.test.js'],
  { stdio: 'inherit', env: { ...process.env, ATOMIC_FS_SOAK: '1' } },
);
process.exit(result.status ?? 1);
