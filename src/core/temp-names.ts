/**
 * Temp file names: `.<name>.afs-<host>-<pid>-<random>.tmp`, in the destination's own
 * directory. The leading dot hides them from casual listings; `afs` marks the library; the
 * host tag and pid name the owning process, so `cleanupTemps` can tell a crashed writer's
 * leftovers from a live writer's work; 64 random bits from the system CSPRNG make the name
 * unpredictable, so another user cannot plant a file or symlink at it in advance, and two
 * processes with the same pid in different containers never collide.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { hostname } from 'node:os';
import { TEMP_BASE_MAX_BYTES, TEMP_TAG } from './constants.js';

/**
 * This process's id, read once: `process.pid` asks the kernel each time, and a Node process
 * keeps its pid (it cannot fork).
 */
const PID = process.pid;

/** Four hex digits identifying this host (a hash of its name). */
export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 4);

const TEMP_NAME = new RegExp(
  `^\\.([\\s\\S]*)\\.${TEMP_TAG}-([0-9a-f]{4})-([0-9]+)-([0-9a-f]{16})\\.tmp$`,
);

/**
 * Random bits for names, drawn from the system CSPRNG 4 KiB at a time: the same
 * unpredictability as one `randomBytes(8)` per name, without a call into the CSPRNG (and a
 * Buffer) for every write. A forked child does not inherit this pool (Node cannot fork).
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** 16 hex digits (64 bits) of fresh randomness. */
function randomHex(): string {
  if (poolOffset + 8 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + 8);
  // Never hand out the same bytes twice.
  pool.fill(0, poolOffset, poolOffset + 8);
  poolOffset += 8;
  return hex;
}

/** Cut `text` to at most `maxBytes` of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/** A fresh temp name for a destination called `base` (a file name, not a path). */
export function tempName(base: string, pid: number = PID): string {
  const kept = truncateUtf8(base, TEMP_BASE_MAX_BYTES);
  return `.${kept}.${TEMP_TAG}-${HOST_TAG}-${pid}-${randomHex()}.tmp`;
}

export interface TempNameParts {
  /** The destination's name (possibly truncated). */
  readonly base: string;
  readonly host: string;
  readonly pid: number;
  readonly random: string;
}

/** The parts of a temp name made by `tempName`, or `undefined` for any other name. */
export function parseTempName(name: string): TempNameParts | undefined {
  const match = TEMP_NAME.exec(name);
  if (match === null) return undefined;
  const [, base = '', host = '', pid = '', random = ''] = match;
  return { base, host, pid: Number(pid), random };
}

// writeDirectory's staged directory trees.

const STAGING_NAME = new RegExp(
  `^\\.([\\s\\S]*)\\.${TEMP_TAG}-([0-9a-f]{4})-([0-9]+)-([0-9a-f]{16})\\.stage$`,
);

/**
 * A fresh name for a staged directory tree beside the directory called `base`:
 * `.<name>.afs-<host>-<pid>-<random>.stage`. Same parts as a temp file name, so the owner
 * can be told the same way; a different suffix, because it is a directory and is removed
 * recursively. After a swap the same name holds the *previous* tree until it is removed:
 * whatever is found under a staging name is never the live tree.
 */
export function stagingName(base: string, pid: number = PID): string {
  const kept = truncateUtf8(base, TEMP_BASE_MAX_BYTES);
  return `.${kept}.${TEMP_TAG}-${HOST_TAG}-${pid}-${randomHex()}.stage`;
}

/** The parts of a staging name made by `stagingName`, or `undefined` for any other name. */
export function parseStagingName(name: string): TempNameParts | undefined {
  const match = STAGING_NAME.exec(name);
  if (match === null) return undefined;
  const [, base = '', host = '', pid = '', random = ''] = match;
  return { base, host, pid: Number(pid), random };
}
