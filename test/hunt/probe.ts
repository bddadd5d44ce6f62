/**
 * What differs between the file systems of the hunter's matrix, for this library: prints one
 * line per file system (Linux, root): unnamed temp files (O_TMPFILE), `user.*` extended
 * attributes, POSIX ACLs, the atomic exchange (renameat2 RENAME_EXCHANGE, what writeDirectory
 * uses), reflinks (copyFile's FICLONE), birth times (statx), and on overlayfs what becomes of a
 * hard link whose two names come from the lower layer once one name is written (copy-up).
 *
 * Usage: node build/test/hunt/probe.js
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LoopFs } from '../support/loopfs.js';
import { MATRIX, type MatrixKind, unavailable } from './matrix.js';

const native = createRequire(import.meta.url)('fs-native-extensions') as {
  swapSync(a: string, b: string): void;
};

/** O_TMPFILE on x86-64 and arm64 Linux (__O_TMPFILE | O_DIRECTORY); Node has no constant. */
const O_TMPFILE = 0o20200000;

function tried(run: () => unknown): string {
  try {
    const result = run();
    return typeof result === 'string' ? result : 'yes';
  } catch (error) {
    return `no (${(error as { code?: string }).code ?? (error as Error).message.split('\n')[0] ?? ''})`;
  }
}

function sh(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw Object.assign(new Error(result.stderr.trim()), {
      code: result.stderr.trim().split(':').at(-1)?.trim(),
    });
  }
}

export function probe(root: string, kind: MatrixKind, lower?: string): Record<string, string> {
  const dir = fs.mkdtempSync(join(root, 'probe-'));
  const file = join(dir, 'f');
  fs.writeFileSync(file, 'x');
  const out: Record<string, string> = {};
  out.O_TMPFILE = tried(() => {
    const fd = fs.openSync(dir, O_TMPFILE | fs.constants.O_RDWR, 0o600);
    fs.closeSync(fd);
  });
  out['user.* xattr'] = tried(() => {
    sh('setfattr', ['-n', 'user.probe', '-v', '1', file]);
  });
  out['POSIX ACL'] = tried(() => {
    sh('setfacl', ['-m', 'u:nobody:r', file]);
  });
  out.RENAME_EXCHANGE = tried(() => {
    fs.mkdirSync(join(dir, 'a'));
    fs.mkdirSync(join(dir, 'b'));
    native.swapSync(join(dir, 'a'), join(dir, 'b'));
  });
  out.reflink = tried(() => {
    sh('cp', ['--reflink=always', file, join(dir, 'clone')]);
  });
  out['birth time'] = tried(() =>
    fs.statSync(file, { bigint: true }).birthtimeNs > 0n ? 'yes' : 'no (0)',
  );
  if (kind === 'overlay' && lower !== undefined) {
    const a = join(root, 'lower-a');
    const b = join(root, 'lower-b');
    const before = fs.statSync(a).ino === fs.statSync(b).ino ? 'one inode' : 'two inodes';
    fs.writeFileSync(a, 'written through a');
    const after = fs.readFileSync(b, 'utf8') === 'written through a' ? 'still one file' : 'split';
    out['lower hard link, one name written'] = `${before} before; ${after} after (copy-up)`;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return out;
}

const lines: string[] = [];
for (const kind of MATRIX) {
  const why = unavailable(kind);
  if (why !== undefined) {
    lines.push(`${kind}: skipped (${why})`);
    continue;
  }
  const mounted = new LoopFs(kind, { sizeMiB: kind === 'xfs' ? 300 : 128 });
  try {
    if (kind === 'overlay' && mounted.lower !== undefined) {
      // A hard link that lives in the lower layer (as in an image's layer).
      mounted.unmount();
      fs.writeFileSync(join(mounted.lower, 'lower-a'), 'lower');
      fs.linkSync(join(mounted.lower, 'lower-a'), join(mounted.lower, 'lower-b'));
      mounted.mount();
    }
    const found = probe(mounted.mnt, kind, mounted.lower);
    lines.push(
      `${kind}: ${Object.entries(found)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ')}`,
    );
  } finally {
    mounted.destroy();
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
