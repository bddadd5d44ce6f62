/**
 * What an audit looks at. Some paths are left out of the model on purpose — by default every
 * `.git` and `node_modules`, at any depth, because they are large and rarely what a user
 * audits — and the user can change that list. Whatever is left out is said in the report:
 * which skipped paths existed, and how many recorded operations fell there, so that a check
 * that needs a skipped path (`git fsck` needs `.git`) is never silently run without it.
 */
import { posix } from 'node:path';
import { AUDIT_EXCLUDED_NAMES } from './constants.js';
import { AuditSetupError } from './errors.js';
import { type Bytes, bytesOf, display } from './model.js';

/** Options that choose the audited scope. */
export interface ScopeOptions {
  /**
   * Paths left out of the audit, on top of the defaults (`.git`, `node_modules`). A name
   * without a slash is skipped at any depth; a path with a slash is relative to the audited
   * directory and skips that one path (and everything below it).
   * @default []
   * @example
   * import { auditCommand } from 'atomic-fs/audit';
   * const report = await auditCommand(['make'], { exclude: ['build', 'logs/debug'] });
   */
  readonly exclude?: readonly string[] | undefined;
  /**
   * Exclusions to drop, default ones included: `include: ['.git']` audits `.git` too (what
   * `git fsck` needs to run in a crash state).
   * @default []
   * @example
   * import { auditCommand } from 'atomic-fs/audit';
   * const report = await auditCommand(['git', 'commit', '-m', 'x'], {
   *   include: ['.git'],
   *   check: 'git fsck --full',
   * });
   */
  readonly include?: readonly string[] | undefined;
}

/** A pattern as given, normalised: a bare name, or a relative path without `./` or `/` ends. */
function normalized(pattern: string, option: 'exclude' | 'include'): string {
  if (typeof pattern !== 'string' || pattern === '') {
    throw new AuditSetupError(`--${option}: expected a name or a relative path, got '${pattern}'`);
  }
  const path = posix
    .normalize(pattern)
    .replace(/^\.\/+/, '')
    .replace(/\/+$/, '');
  if (path === '.' || path === '' || path.startsWith('/') || path.split('/').includes('..')) {
    throw new AuditSetupError(
      `--${option} ${pattern}: expected a name or a path inside the audited directory`,
    );
  }
  return bytesOf(path);
}

export class Scope {
  /** The exclusions in force (as bytes), in the order given (defaults first). */
  readonly excluded: readonly Bytes[];
  /** The same, for people. */
  readonly shown: readonly string[];
  readonly #names: ReadonlySet<string>;
  readonly #paths: readonly string[];

  constructor(options: ScopeOptions = {}) {
    const include = (options.include ?? []).map((pattern) => normalized(pattern, 'include'));
    const exclude = (options.exclude ?? []).map((pattern) => normalized(pattern, 'exclude'));
    const all = [...new Set([...AUDIT_EXCLUDED_NAMES, ...exclude])];
    for (const pattern of include) {
      if (!all.includes(pattern)) {
        throw new AuditSetupError(
          `--include ${display(pattern)}: nothing by that name is excluded (excluded: ${all.map(display).join(', ')})`,
        );
      }
    }
    this.excluded = all.filter((pattern) => !include.includes(pattern));
    this.shown = this.excluded.map(display);
    this.#names = new Set(this.excluded.filter((pattern) => !pattern.includes('/')));
    this.#paths = this.excluded.filter((pattern) => pattern.includes('/'));
  }

  /**
   * The skipped path that `rel` (relative to the audited directory, `''` for the directory
   * itself) lies in or is, or `undefined` when it is audited.
   */
  skippedAt(rel: Bytes): Bytes | undefined {
    if (rel === '') return undefined;
    const parts = rel.split('/');
    for (let end = 1; end <= parts.length; end += 1) {
      const prefix = parts.slice(0, end).join('/');
      if (this.#names.has(parts[end - 1] ?? '') || this.#paths.includes(prefix)) return prefix;
    }
    return undefined;
  }
}

/** The scope an audit runs with when the caller chose nothing. */
export const DEFAULT_SCOPE = new Scope();
