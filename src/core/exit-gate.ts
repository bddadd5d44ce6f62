/**
 * The handshake between the exit handler (core/exit-handler.ts) and the I/O thread, so that no temp
 * file is created after the exit handler has looked for the temps to remove.
 *
 * The exit handler runs on the calling thread while the I/O thread goes on running plans. It
 * removes every tracked temp; a temp the I/O thread creates a moment later would be left
 * behind. So the two share one word of memory: the number of temp creations in flight on I/O
 * threads, and a bit the exit handler sets. A creation first raises the count, refused once the
 * bit is set; the exit handler sets the bit, then waits (bounded) for the count to fall to
 * zero. After that no I/O thread can create a temp, and every temp it did create exists and
 * is tracked (the calling thread tracks a temp's name before it sends the plan): the exit
 * handler's removal sees them all.
 */

/** Bit of the word: the exit handler has run; no new creation may start. */
const EXITING = 1 << 30;
/** Bit of the word: the exit handler stopped waiting; a creation still in flight cleans up itself. */
const DONE_WAITING = 1 << 29;
/** The count of creations in flight, below the bits. */
const COUNT = DONE_WAITING - 1;

let word = new Int32Array(new SharedArrayBuffer(4));

/** The shared word, to hand to an I/O thread when it starts. */
export function gateMemory(): SharedArrayBuffer {
  return word.buffer;
}

/** On an I/O thread: use the word of the thread that started it. */
export function joinGate(memory: SharedArrayBuffer): void {
  word = new Int32Array(memory);
}

/** Before a creation: false once the exit handler has run (the creation must not happen). */
export function enterCreate(): boolean {
  for (;;) {
    const seen = Atomics.load(word, 0);
    if ((seen & EXITING) !== 0) return false;
    if (Atomics.compareExchange(word, 0, seen, seen + 1) === seen) return true;
  }
}

/**
 * After a creation, whether it succeeded or failed. False when the exit handler stopped
 * waiting for it: what it created may have been missed, and its creator must remove it.
 */
export function leaveCreate(): boolean {
  const before = Atomics.sub(word, 0, 1);
  Atomics.notify(word, 0);
  return (before & DONE_WAITING) === 0;
}

/**
 * In the exit handler: refuse every creation from now on, and wait up to `waitMs` for those in
 * flight to finish (a creation is one open(): it only outlasts the wait on a file system that
 * hangs). Returns whether none was left in flight.
 */
export function closeGate(waitMs: number): boolean {
  const deadline = performance.now() + waitMs;
  let seen = Atomics.or(word, 0, EXITING) | EXITING;
  while ((seen & COUNT) !== 0) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    Atomics.wait(word, 0, seen, left);
    seen = Atomics.load(word, 0);
  }
  // Atomic with the creators' decrements: each one still counted here sees the bit when it ends.
  return (Atomics.or(word, 0, DONE_WAITING) & COUNT) === 0;
}
