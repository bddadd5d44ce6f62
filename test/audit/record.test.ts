/** The in-process recorder sees every seam operation that can change a file, or refuses. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type OpName, restoreSeam, seam } from '../../src/engine/fs.js';
import { audit } from '../../src/audit/index.js';
import { PASSIVE_OPS } from '../../src/audit/record.js';
import { tempDir } from '../support/helpers.js';

test('every seam operation is either recorded or known to change nothing', async (t) => {
  const real = { sync: { ...seam.sync }, async: { ...seam.async } };
  const seen: Record<string, string> = {};
  await audit(
    () => {
      for (const name of Object.keys(real.sync) as OpName[]) {
        const wrapped =
          seam.sync[name] !== real.sync[name] && seam.async[name] !== real.async[name];
        seen[name] = PASSIVE_OPS.has(name)
          ? wrapped
            ? 'passive but wrapped'
            : 'passive'
          : wrapped
            ? 'recorded'
            : 'MISSED';
      }
    },
    { dir: tempDir(t) },
  );
  const missed = Object.entries(seen).filter(([, how]) => how !== 'passive' && how !== 'recorded');
  assert.deepEqual(missed, []);
  assert.ok(Object.values(seen).filter((how) => how === 'recorded').length >= 13);
});

test('a seam operation the recorder does not model fails the recording loudly', async (t) => {
  const dir = tempDir(t);
  t.after(restoreSeam);
  // A new operation someone adds to the seam without teaching the recorder about it.
  const sync = seam.sync as unknown as Record<string, () => void>;
  const async = seam.async as unknown as Record<string, () => Promise<void>>;
  sync.zap = () => undefined;
  async.zap = () => Promise.resolve();
  let caught: unknown;
  await audit(
    () => {
      try {
        (seam.sync as unknown as Record<string, () => void>).zap?.();
      } catch (error) {
        caught = error;
      }
    },
    { dir },
  );
  assert.match(String(caught), /'zap' is not modelled/);
});
