/**
 * The hostile neighbour, made deterministic: the names the library creates are random, so an
 * attacker cannot know them in advance — but a test can. `plantBefore` patches the fs seam so
 * that, just before the call that creates a name the library chose (a temp file, a staging
 * directory, a temp symlink, a lock sidecar), the test puts its own object at exactly that
 * name: a symlink to a victim, a file, a directory. The library's call then runs against the
 * real kernel with the planted object in place.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { TestContext } from 'node:test';
import { type OpName, restoreSeam, seam } from '../../src/engine/fs.js';

/**
 * A path named through a pinned directory's descriptor (`/proc/self/fd/<fd>/<name>`, see
 * src/engine/pinned-dir.ts) as the directory's path now, so that rules can match its names.
 */
export function pathNow(path: string): string {
  const match = /^\/proc\/self\/fd\/(\d+)\/(.+)$/.exec(path);
  if (match === null) return path;
  try {
    return `${fs.readlinkSync(`/proc/self/fd/${match[1] ?? ''}`)}/${match[2] ?? ''}`;
  } catch {
    return path;
  }
}

/** The path a seam call is about to create (or open), by operation. */
function createdPath(name: OpName, args: readonly unknown[]): string | undefined {
  const at = (index: number): string | undefined => {
    const value = args[index];
    return typeof value === 'string' ? pathNow(value) : undefined;
  };
  switch (name) {
    case 'open':
    case 'mkdir':
      return at(0);
    case 'copyFile':
    case 'symlink':
    case 'rename':
    case 'link':
      return at(1);
    default:
      return undefined;
  }
}

export interface PlantRule {
  /** Which call to intercept: true for the call whose created path is `path`. */
  readonly when: (name: OpName, path: string, args: readonly unknown[]) => boolean;
  /** Put the hostile object at `path` (the call has not run yet). */
  readonly plant: (path: string) => void;
  /** Replace the call's arguments (a control that weakens the call on purpose). */
  readonly weaken?: (name: OpName, args: readonly unknown[]) => readonly unknown[];
}

type AnyFn = (...args: readonly unknown[]) => unknown;

/**
 * Patch every seam operation so that the first call matching `rule` first gets the planted
 * object at its path. Returns the paths planted at (at most one). The seam is restored after
 * the test.
 */
export function plantBefore(t: TestContext, rule: PlantRule): string[] {
  const planted: string[] = [];
  const realSync = { ...seam.sync };
  const realAsync = { ...seam.async };
  const intercept = (name: OpName, args: readonly unknown[]): readonly unknown[] => {
    if (planted.length > 0) return args;
    const path = createdPath(name, args);
    if (path === undefined || !rule.when(name, path, args)) return args;
    rule.plant(path);
    planted.push(path);
    return rule.weaken?.(name, args) ?? args;
  };
  for (const name of Object.keys(realSync) as OpName[]) {
    const sync = realSync[name] as AnyFn;
    const asyncOp = realAsync[name] as AnyFn;
    (seam.sync as unknown as Record<OpName, AnyFn>)[name] = (...args) =>
      sync(...intercept(name, args));
    (seam.async as unknown as Record<OpName, AnyFn>)[name] = (...args) =>
      asyncOp(...intercept(name, args));
  }
  t.after(restoreSeam);
  return planted;
}

/** What a victim looked like; `assertUntouched` compares against it. */
export interface Snapshot {
  readonly path: string;
  readonly entries: ReadonlyMap<string, { bytes: string; mode: number; ino: number }>;
}

/** Every regular file under `path` (or `path` itself), with bytes, mode and inode. */
export function snapshot(path: string): Snapshot {
  const entries = new Map<string, { bytes: string; mode: number; ino: number }>();
  const visit = (at: string, name: string): void => {
    const stats = fs.lstatSync(at);
    if (stats.isDirectory()) {
      entries.set(name, { bytes: '<dir>', mode: stats.mode & 0o7777, ino: stats.ino });
      for (const child of fs.readdirSync(at).sort()) visit(`${at}/${child}`, `${name}/${child}`);
      return;
    }
    const bytes = stats.isFile() ? fs.readFileSync(at, 'latin1') : '<other>';
    entries.set(name, { bytes, mode: stats.mode & 0o7777, ino: stats.ino });
  };
  visit(path, '.');
  return { path, entries };
}

export function assertUntouched(before: Snapshot, message = 'the victim is untouched'): void {
  assert.deepEqual(snapshot(before.path).entries, before.entries, message);
}

/** A victim file outside the directory under attack (0644, known bytes). */
export function victimFile(dir: string, name = 'victim'): string {
  const path = `${dir}/${name}`;
  fs.writeFileSync(path, 'the victim file: must never change\n');
  fs.chmodSync(path, 0o644);
  return path;
}

/** A victim directory holding one file. */
export function victimDirectory(dir: string, name = 'victim-dir'): string {
  const path = `${dir}/${name}`;
  fs.mkdirSync(path);
  fs.writeFileSync(`${path}/precious`, 'precious bytes\n');
  return path;
}

/** Plant a symlink pointing at `target`. */
export function symlinkTo(target: string): (path: string) => void {
  return (path) => {
    fs.symlinkSync(target, path);
  };
}
