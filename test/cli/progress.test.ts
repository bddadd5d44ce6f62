/**
 * The progress bar: its text (units, durations, widths), its redraw throttle and rate window
 * on a fake clock, and the real thing — drawn by the built binary on a pseudo-terminal
 * (util-linux `script`), absent when standard error is a pipe or with --quiet.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ProgressBar,
  REDRAW_MS,
  formatBytes,
  formatDuration,
  progressBar,
  renderFrame,
} from '../../src/cli/progress.js';
import { CLI_COPY_PROGRESS_MIN_BYTES } from '../../src/cli/constants.js';
import { needs, tempDir } from '../support/helpers.js';
import { serve } from '../support/http.js';
import { hasScript, screenLines, spawnCli, spawnCliOnTerminal } from '../support/cli.js';

const MiB = 1024 * 1024;

test('formatBytes: binary units, one decimal, never "1024.0"', () => {
  const cases: [number, string][] = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1536, '1.5 KiB'],
    [1024 * 1024 - 1, '1.0 MiB'],
    [32 * MiB, '32.0 MiB'],
    [5.25 * 1024 * MiB, '5.3 GiB'],
    [3 * 1024 ** 4, '3.0 TiB'],
    [2048 * 1024 ** 5, '2048.0 PiB'],
  ];
  for (const [bytes, text] of cases) assert.equal(formatBytes(bytes), text, String(bytes));
});

test('formatDuration: seconds with a decimal, then minutes, then hours', () => {
  const cases: [number, string][] = [
    [-5, '0.0s'],
    [0, '0.0s'],
    [420, '0.4s'],
    [42_000, '42.0s'],
    [59_949, '59.9s'],
    [59_950, '1m00s'],
    [185_000, '3m05s'],
    [3_599_400, '59m59s'],
    [3_600_000, '1h00m'],
    [7_620_000, '2h07m'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

test('renderFrame: bar, bytes, rate and time left; fits the width', () => {
  const frame = { bytes: 8 * MiB, total: 32 * MiB, rate: 4 * MiB, elapsedMs: 2000, done: false };
  assert.equal(
    renderFrame(frame, 100),
    ` 25% [#######-----------------------]  8.0 MiB / 32.0 MiB  4.0 MiB/s  ETA 6.0s`,
  );
  // Narrower: a shorter bar, then none, then the text cut to the width.
  assert.equal(
    renderFrame(frame, 60),
    ` 25% [##---------]  8.0 MiB / 32.0 MiB  4.0 MiB/s  ETA 6.0s`,
  );
  assert.equal(renderFrame(frame, 50), ` 25%  8.0 MiB / 32.0 MiB  4.0 MiB/s  ETA 6.0s`);
  assert.equal(renderFrame(frame, 20), ` 25%  8.0 MiB / 32.`);
  // Unknown width: 80 columns.
  assert.equal(renderFrame(frame, 0), renderFrame(frame, 80));
  assert.equal(
    renderFrame({ ...frame, bytes: 32 * MiB, rate: 16 * MiB, done: true }, 100),
    `100% [##############################]  32.0 MiB / 32.0 MiB  16.0 MiB/s  in 2.0s`,
  );
  assert.equal(
    renderFrame({ ...frame, rate: undefined }, 100),
    ` 25% [#######-----------------------]  8.0 MiB / 32.0 MiB  -- B/s  ETA ?`,
  );
  assert.match(renderFrame({ ...frame, total: 0, bytes: 0 }, 100), /^100% \[#{30}\]/);
  assert.equal(renderFrame({ ...frame, total: undefined }, 100), '8.0 MiB  4.0 MiB/s  2.0s');
  assert.equal(
    renderFrame({ ...frame, total: undefined, done: true }, 100),
    '8.0 MiB  4.0 MiB/s  in 2.0s',
  );
});

test('ProgressBar: at most one frame per REDRAW_MS, the rate over a recent window', () => {
  let now = 1000;
  let out = '';
  const bar = new ProgressBar(
    { write: (text: string) => (out += text), isTTY: true, columns: 100 },
    () => now,
  );
  bar.update({ bytes: 0, total: 100 * MiB });
  assert.equal(out.split('\r').length, 2, 'the first update draws');
  now += REDRAW_MS / 2;
  bar.update({ bytes: MiB, total: 100 * MiB });
  assert.equal(out.split('\r').length, 2, 'too soon: no frame');
  // 10 s at 1 MiB/s, then 1 s at 10 MiB/s: the rate follows the recent past.
  for (let i = 0; i < 20; i += 1) {
    now += 500;
    bar.update({ bytes: MiB + (i + 1) * 0.5 * MiB, total: 100 * MiB });
  }
  now += 1000;
  bar.update({ bytes: 21 * MiB, total: 100 * MiB });
  const last = screenLines(out)[0] ?? '';
  assert.match(last, /^ 21% \[/);
  // Over the last 5 s: 10 MiB + 4 MiB in 5 s = 2.8 MiB/s (the whole run: 2.0 MiB/s).
  assert.match(last, / 2\.8 MiB\/s {2}ETA 28\.2s$/);
  now += 50;
  bar.finish();
  assert.ok(out.endsWith(`in 11.1s\x1b[K\n`), JSON.stringify(out.slice(-60)));
  bar.clear();
  assert.ok(out.endsWith('\n'), 'nothing to erase after the final line');
});

test('progressBar: only on a terminal, and not when quiet', () => {
  const write = (): boolean => true;
  assert.ok(progressBar({ write, isTTY: true }, false) instanceof ProgressBar);
  assert.equal(progressBar({ write, isTTY: true }, true), undefined);
  assert.equal(progressBar({ write, isTTY: false }, false), undefined);
  assert.equal(progressBar({ write }, false), undefined);
});

test('cp and get (spawned): a progress bar on a pseudo-terminal, none in a pipe', async (t) => {
  if (!needs(t, hasScript, 'util-linux script (Debian package bsdutils) is not available')) return;
  const dir = tempDir(t);
  fs.writeFileSync(join(dir, 'large'), Buffer.alloc(CLI_COPY_PROGRESS_MIN_BYTES, 3));
  const body = Buffer.alloc(4 * MiB, 9);
  const server = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  t.after(() => server.close());

  const copied = await spawnCliOnTerminal(['cp', 'large', 'copy'], dir);
  assert.equal(copied.code, 0, copied.stdout.toString());
  const copyScreen = copied.stdout.toString();
  assert.match(copyScreen, /\r +0% \[-+\] {2}0 B \/ 32\.0 MiB {2}/);
  const copyLines = screenLines(copyScreen).filter((line) => line !== '');
  assert.equal(copyLines.length, 1, JSON.stringify(copyLines));
  assert.match(
    copyLines[0] ?? '',
    /^100% \[#+\] {2}32\.0 MiB \/ 32\.0 MiB {2}[\d.]+ [KMG]iB\/s {2}in [\d.]+s$/,
  );
  assert.equal(fs.statSync(join(dir, 'copy')).size, CLI_COPY_PROGRESS_MIN_BYTES);

  const got = await spawnCliOnTerminal(['get', `${server.base}/x`, 'got'], dir);
  assert.equal(got.code, 0, got.stdout.toString());
  const getLines = screenLines(got.stdout.toString()).filter((line) => line !== '');
  assert.match(getLines[0] ?? '', /^100% \[#+\] {2}4\.0 MiB \/ 4\.0 MiB {2}.* in [\d.]+s$/);
  assert.equal(fs.statSync(join(dir, 'got')).size, 4 * MiB);

  const quiet = await spawnCliOnTerminal(['cp', '--quiet', 'large', 'copy'], dir);
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stdout.toString(), '');

  // Standard error is a pipe here: no bar, nothing at all.
  for (const args of [
    ['cp', 'large', 'copy'],
    ['get', `${server.base}/x`, 'got'],
  ]) {
    const piped = await spawnCli(args, { cwd: dir });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stderr, '');
    assert.equal(piped.stdout.length, 0);
  }
});
