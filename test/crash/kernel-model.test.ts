/**
 * The audit's models against real power cuts (kernel-model.ts), a few cuts per workload: a
 * gallery row that is unsafe (Python's temp file and rename without fsync) and atomic-fs
 * writes, on ext4 and XFS. Every state the kernel leaves must be one each model enumerates
 * for the recording of that run. `npm run kernel-check` runs every gallery workload and
 * self-audited path with more cuts, and prints the table the README quotes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import type { PersistenceModel } from '../../src/audit/model.js';
import { isLinux, isRoot, needs } from '../support/helpers.js';
import { hasCommand, missingTools } from '../support/loopfs.js';
import {
  type Workload,
  galleryWorkloads,
  selfWorkloads,
  traceBefore,
  trial,
} from './kernel-model.js';

const MODELS: readonly PersistenceModel[] = ['posix', 'ext4-ordered'];
const CUTS = Number(process.env.ATOMIC_FS_KERNEL_TEST_CUTS ?? 2);

test('traceBefore: calls that entered before the cut, unstamped; a call begun after it is dropped whole', () => {
  const trace = [
    '10 1700000000.000100 openat(AT_FDCWD, "a", O_RDONLY) = 3',
    '10 1700000000.000200 write(3, "x", 1 <unfinished ...>',
    '11 1700000000.000300 fsync(4 <unfinished ...>',
    '10 1700000000.000400 <... write resumed>) = 1',
    '11 1700000000.000900 <... fsync resumed>) = 0',
    '10 1700000000.000600 rename("a", "b") = 0',
    '12 1700000000.000700 fsync(5 <unfinished ...>',
    '12 1700000000.000800 <... fsync resumed>) = 0',
    'not a trace line',
  ].join('\n');
  assert.equal(
    traceBefore(trace, 1_700_000_000_000_500),
    [
      '10 openat(AT_FDCWD, "a", O_RDONLY) = 3',
      '10 write(3, "x", 1 <unfinished ...>',
      '11 fsync(4 <unfinished ...>',
      '10 <... write resumed>) = 1',
      '11 <... fsync resumed>) = 0',
      '',
    ].join('\n'),
  );
});

function ready(t: Parameters<typeof needs>[0]): boolean {
  if (!needs(t, isLinux && isRoot, 'loop devices and mounts need Linux and root')) return false;
  const tools = [...missingTools('ext4'), ...missingTools('xfs')];
  if (!needs(t, tools.length === 0, `missing ${tools.join(', ')}`)) return false;
  const strace = spawnSync('strace', ['-V']).status === 0;
  return needs(t, strace && hasCommand('python3'), 'needs strace and python3');
}

async function check(workload: Workload): Promise<void> {
  for (const kind of ['ext4', 'xfs'] as const) {
    const whole = await trial(workload, kind, 60_000, MODELS);
    const [from, to] = whole.window ?? [0, whole.seconds * 1000];
    for (let cut = 0; cut <= CUTS; cut += 1) {
      const t =
        cut === 0 ? whole : await trial(workload, kind, from + Math.random() * (to - from), MODELS);
      for (const model of MODELS) {
        const { keys } = t.models[model];
        assert.ok(keys.size > 0, `${workload.id} on ${kind}: the ${model} model enumerated states`);
        assert.ok(
          keys.has(t.real),
          `${workload.id} on ${kind}, cut ${cut} (${t.during ? 'during' : 'after'} the run, ${t.ops} ops): the kernel left a state the ${model} model does not enumerate`,
        );
      }
    }
  }
}

test('the kernel leaves only states the models enumerate: Python temp file + rename, no fsync', async (t) => {
  if (!ready(t)) return;
  const workload = galleryWorkloads().find((w) => w.id === 'python-atomic-write');
  assert.ok(workload !== undefined, 'the gallery row python-atomic-write');
  await check(workload);
});

test('the kernel leaves only states the models enumerate: atomic-fs writeFile', async (t) => {
  if (!ready(t)) return;
  for (const id of ['atomic-fs writeFile (buffer)']) {
    const workload = selfWorkloads().find((w) => w.id === id);
    assert.ok(workload !== undefined, id);
    await check(workload);
  }
});
