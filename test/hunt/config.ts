/**
 * The hunter's switches. Each known defect class of the issue that opened the hunter has a
 * switch: on, the generator makes programs that reach it (to confirm the hunter catches it on
 * code that still has it); off, it steers around it, so that a long hunt looks for new ones.
 *
 * ATOMIC_FS_HUNT_CLASSES: a comma list of class names (see `CLASSES`), `all` or `none`
 * (default: `none`). ATOMIC_FS_HUNT_RUNS: programs per run. ATOMIC_FS_HUNT_SEED: the seed
 * (else a random one, printed). ATOMIC_FS_HUNT_SYNC_RULE: what a synchronous write of a file
 * with an asynchronous write still in flight must do (see `SyncRule`).
 */

/** The known classes a switch can turn on, by the short name used in the environment. */
const CLASSES = {
  /** `..` after a symlink, `regular/.`, `nonexistent/..`: paths as the kernel resolves them. */
  dotdot: 'class 4: paths resolved lexically',
  /** A FIFO, a character device at the destination, directly or through a link. */
  special: 'class 3: special files replaced, reads that block',
  /** Calls for the same file from inside update's fn (openAtomic, streams, writeFiles…). */
  nestedSame: 'class 2: refused re-entry leaks or never settles',
  /** update(A) whose fn writes B while writeFiles({A, B}) waits; updates nested crosswise. */
  nestedCycle: 'class 9: silent deadlock',
  /** writeFiles queued behind writeFile with a mode. */
  writeFilesMode: 'class 6: writeFiles inspects metadata before its turn',
  /** A synchronous write while an asynchronous one of the same file is in flight. */
  syncAfterAsync: 'class 10: writeFileSync after an un-awaited writeFile is lost',
  /** A burst of coalescing writes with a fault injected: who is blamed for it. */
  coalescedFault: 'class 10: a coalesced-away write rejected with the newer write’s error',
  /** Nested update of a different file whose name shares its first 200 bytes. */
  longNames: 'class 10: nested update of a long-named sibling refused as re-entrant',
  /**
   * Found by the hunter (new): `commit()` of an openAtomic handle takes its place in the file's
   * queue only after it has flushed, so a write called after `commit()` can run before it.
   */
  commitOrder: 'new: a handle commit is ordered after writes called after it',
  /**
   * Found by the hunter (new): the in-process lock lanes are keyed by the sidecar's path as
   * written, so `updateSync('dirlink/f')` while `update('f')` holds the lock is not refused:
   * it waits in the kernel for a lock its own process holds, and the process hangs for good.
   */
  syncLockAlias: 'new: updateSync through another name of a locked file blocks forever',
  /**
   * Found by the hunter (new): a handle, a streamed writeFile and a download create their temp
   * file at once, with the mode the file has then; a write queued before them that narrows the
   * mode makes that temp wider than the final mode while the data is written.
   */
  earlyMode: 'new: temps of handles, streams and downloads wider than the final mode',
  /**
   * Found by the hunter (new): when an openAtomic handle's signal aborts, the handle discards
   * itself in the background; `commit()` rejects with ABORT_ERR before that discard has
   * removed the temp file and closed its descriptor.
   */
  abortCleanup: 'new: an aborted handle rejects before its temp is removed',
  /**
   * Found by the hunter (new): `discard()` of a handle resolves although its temp file could
   * not be removed (an unlink that fails): no error and no `leftover` tell the caller.
   */
  discardLeftover: 'new: discard() is silent about a temp it could not remove',
} as const;

export type ClassName = keyof typeof CLASSES;

/**
 * A synchronous write (`writeFileSync`, `writeJsonSync`, `updateSync`, …) of a file with an
 * asynchronous write still in flight: `'refuse'` — it fails with an own code at once and
 * changes nothing (the rule being introduced); `'order'` — it must still apply in call order.
 */
type SyncRule = 'refuse' | 'order';

export interface HuntConfig {
  readonly classes: ReadonlySet<ClassName>;
  readonly syncRule: SyncRule;
  /** Codes a refused synchronous call may carry under `'refuse'` (`undefined`: any own code). */
  readonly syncRefusalCodes: ReadonlySet<string> | undefined;
  /** Count the owner's bits too when checking that no temp is wider than its final mode. */
  readonly ownerBits: boolean;
  /** How long every call of a program gets to settle before it counts as a hang. */
  readonly settleMs: number;
}

function parseClasses(text: string | undefined): Set<ClassName> {
  const names = Object.keys(CLASSES) as ClassName[];
  if (text === undefined || text === '' || text === 'none') return new Set();
  if (text === 'all') return new Set(names);
  const chosen = new Set<ClassName>();
  for (const part of text.split(',').map((s) => s.trim())) {
    if (!(names as string[]).includes(part)) {
      throw new Error(
        `ATOMIC_FS_HUNT_CLASSES: unknown class '${part}' (known: ${names.join(', ')})`,
      );
    }
    chosen.add(part as ClassName);
  }
  return chosen;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): HuntConfig {
  const rule = env.ATOMIC_FS_HUNT_SYNC_RULE ?? 'refuse';
  if (rule !== 'refuse' && rule !== 'order') {
    throw new Error(`ATOMIC_FS_HUNT_SYNC_RULE must be 'refuse' or 'order', not '${rule}'`);
  }
  const codes = env.ATOMIC_FS_HUNT_SYNC_CODES?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    classes: parseClasses(env.ATOMIC_FS_HUNT_CLASSES),
    syncRule: rule,
    syncRefusalCodes: codes === undefined || codes.length === 0 ? undefined : new Set(codes),
    ownerBits: env.ATOMIC_FS_HUNT_OWNER_BITS === '1',
    settleMs: Number(env.ATOMIC_FS_HUNT_SETTLE_MS ?? 3000),
  };
}

/** Whether `code` is one a refused synchronous call may carry. */
export function isSyncRefusal(config: HuntConfig, code: string | undefined): boolean {
  if (code === undefined) return false;
  return config.syncRefusalCodes?.has(code) ?? code.startsWith('ERR_ATOMIC_');
}
